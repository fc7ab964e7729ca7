package org.kat4j.models;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Model sizes are checked before anything is allocated, with errors naming the field. */
class ModelLimitsTest {
    @TempDir
    Path dir;

    IOException fromConfig(String modelArgs) throws IOException {
        Path cfg = dir.resolve("config.json");
        Files.writeString(cfg, "{\"architecture\": \"kat_micro_patch7_28\", \"num_classes\": 10, \"model_args\": " + modelArgs + "}");
        long t0 = System.nanoTime();
        IOException e = assertThrows(IOException.class, () -> Models.fromConfigJson(cfg, 0));
        assertTrue((System.nanoTime() - t0) / 1e9 < 1, "refused at once");
        assertTrue(e.getMessage().startsWith(cfg.toString()), "names the file: " + e.getMessage());
        return e;
    }

    @Test
    void absurdSizesAreRefusedBeforeAllocation() throws IOException {
        Runtime rt = Runtime.getRuntime();
        long before = rt.totalMemory() - rt.freeMemory();
        String d = fromConfig("{\"depth\": 1000000}").getMessage();
        assertTrue(d.contains("depth 1000000"), d);
        String m = fromConfig("{\"embed_dim\": 1000000000, \"num_heads\": 1}").getMessage();
        assertTrue(m.contains("embed_dim"), m);
        assertTrue(fromConfig("{\"depth\": 1e12}").getMessage().contains("expected an integer below 2^31"));
        String p = fromConfig("{\"img_size\": 280000}").getMessage();
        assertTrue(p.contains("img_size 280000 / patch_size 7 (1,600,000,000 patches)"), p);
        long after = rt.totalMemory() - rt.freeMemory();
        assertTrue(after - before < 64L << 20, "heap grew by " + (after - before) / 1e6 + " MB");
    }

    @Test
    void wrongTypesAndRangesNameTheField() throws IOException {
        assertTrue(fromConfig("{\"depth\": 0}").getMessage().contains("depth 0, expected >= 1"));
        assertTrue(fromConfig("{\"patch_size\": -7}").getMessage().contains("patch_size -7"));
        assertTrue(fromConfig("{\"qkv_bias\": \"yes\"}").getMessage().contains("'qkv_bias' = yes, expected true or false"));
        assertTrue(fromConfig("{\"mlp_ratio\": \"big\"}").getMessage().contains("'mlp_ratio' = big"));
        assertTrue(fromConfig("{\"drop_path_rate\": 1.5}").getMessage().contains("drop_path_rate 1.5, expected in [0, 1)"));
        assertTrue(fromConfig("{\"embed_dim\": 63}").getMessage().contains("not divisible"));
    }

    @Test
    void theEstimateIsTheExactCountForRegisteredModels() {
        for (String name : new String[]{"kat_tiny_patch16_224", "vit_tiny_patch16_224", "kat_micro_patch7_28"}) {
            VitConfig c = Models.config(name, Map.of());
            assertEquals(Models.create(name, Map.of()).parameterCount(), c.parameterCountEstimate(), 0, name);
        }
    }
}
