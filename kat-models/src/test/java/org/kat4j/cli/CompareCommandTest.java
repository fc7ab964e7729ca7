package org.kat4j.cli;

import org.junit.jupiter.api.Test;
import org.kat4j.train.Trainer.EpochResult;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** kat compare's table: images/s leaves out the first epoch, which carries the JIT's compilation. */
class CompareCommandTest {
    @Test
    void imagesPerSecondLeavesOutTheFirstEpoch() {
        Map<String, List<EpochResult>> runs = new LinkedHashMap<>();
        runs.put("vit_x", List.of(new EpochResult(1, 1.0, 0.5, 0.9, 0.6, 1e-3, 1000, 12),
                new EpochResult(2, 0.8, 0.6, 0.7, 0.7, 1e-3, 3000, 4), new EpochResult(3, 0.7, 0.7, 0.6, 0.75, 1e-4, 4000, 3)));
        runs.put("kat_x", List.of(new EpochResult(1, 1.0, 0.5, 0.9, 0.62, 1e-3, 2000, 6),
                new EpochResult(2, 0.8, 0.6, 0.7, 0.8, 1e-3, 3200, 3.75), new EpochResult(3, 0.7, 0.7, 0.65, 0.78, 1e-4, 3600, 3.3)));
        String t = CompareCommand.table(runs, Map.of("vit_x", 1234L, "kat_x", 1300L));
        assertEquals(List.of(
                "| model | params | test acc (last) | test acc (best) | test loss | train loss | images/s (epochs 2-3) | train time |",
                "|---|---|---|---|---|---|---|---|",
                "| vit_x | 1,234 | 75.00% | 75.00% | 0.6000 | 0.7000 | 3500 | 19 s |",
                "| kat_x | 1,300 | 78.00% | 80.00% | 0.6500 | 0.7000 | 3400 | 13 s |"), t.lines().toList());
        // two epochs: the second
        Map<String, List<EpochResult>> two = Map.of("kat_x", runs.get("kat_x").subList(0, 2));
        List<String> t2 = CompareCommand.table(two, Map.of("kat_x", 1300L)).lines().toList();
        assertEquals("| model | params | test acc (last) | test acc (best) | test loss | train loss | images/s (epoch 2) | train time |",
                t2.get(0));
        assertEquals("| kat_x | 1,300 | 80.00% | 80.00% | 0.7000 | 0.8000 | 3200 | 10 s |", t2.get(2));
        // one epoch: that epoch
        String one = CompareCommand.table(Map.of("vit_x", List.of(runs.get("vit_x").get(0))), Map.of("vit_x", 1234L));
        assertEquals("| vit_x | 1,234 | 60.00% | 60.00% | 0.9000 | 1.0000 | 1000 | 12 s |", one.lines().toList().get(2));
    }
}
