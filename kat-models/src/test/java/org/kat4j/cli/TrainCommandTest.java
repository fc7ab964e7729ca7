package org.kat4j.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.kat4j.io.Safetensors;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** kat train says so when its output directory holds an earlier run that it is about to replace. */
class TrainCommandTest {
    @Test
    void anEarlierRunInTheOutputDirectoryIsNamed(@TempDir Path dir) throws IOException {
        Path last = dir.resolve("last.safetensors");
        assertNull(TrainCommand.earlierRun(last), "an empty directory holds no run");
        Safetensors.write(last, Map.of("w", Tensor.ones(DType.FLOAT32, 4)), Map.of("kat4j.model", "kat_micro_patch7_28",
                "kat4j.epoch", "3", "kat4j.best_acc", "0.8125"));
        assertEquals("note: " + dir + " holds an earlier run (kat_micro_patch7_28 at epoch 3, best 81.25%); its files are"
                + " replaced as this run's epochs end (--out DIR trains elsewhere, --resume continues it)", TrainCommand.earlierRun(last));
        Files.write(last, new byte[]{1, 2, 3});
        String broken = TrainCommand.earlierRun(last);
        assertTrue(broken.contains("a checkpoint that does not read: ") && broken.contains("too short"), broken);
    }
}
