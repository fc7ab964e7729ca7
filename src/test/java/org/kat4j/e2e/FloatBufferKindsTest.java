package org.kat4j.e2e;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.kat4j.data.FashionMnist;
import org.kat4j.data.ImageDataset;
import org.kat4j.data.Splits;
import org.kat4j.models.Models;
import org.kat4j.train.TrainConfig;
import org.kat4j.train.Trainer;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A training run (epochs, checkpoints, a resume that reads them back) loads one kind of
 * FloatBuffer: the native-order view of a direct buffer that the CPU kernels read. The JIT
 * compiles the kernels' FloatBuffer calls for the only subclass loaded; the first other one
 * (a float view of a heap or read-only buffer, say in a checkpoint writer) makes it discard every
 * kernel compiled so far and compile them again, about 2 s of the main job on 2 cores.
 */
class FloatBufferKindsTest {

    /** The run the test watches: two epochs of a tiny KAT, then a third resumed from last.safetensors. */
    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args[0]);
        Splits s = FashionMnist.load(null, true);
        ImageDataset train = TrainEndToEndTest.head(s.train(), 256);
        ImageDataset test = TrainEndToEndTest.head(s.test(), 64);
        for (int epochs : new int[]{2, 3}) {
            TrainConfig cfg = new TrainConfig("kat_micro_patch7_28", epochs, 32, 3e-3, 1e-5, 0.05, 2, 0, 1.0, 0, 0, true, 1, dir,
                    100, false, 0);
            Path last = dir.resolve("last.safetensors");
            new Trainer(Models.create("kat_micro_patch7_28", Map.of("depth", 1, "embed_dim", 16, "num_heads", 2), 1), cfg,
                    new PrintStream(System.out, true)).fit(train, test, Files.exists(last) ? last : null);
        }
    }

    @Test
    void trainingCheckpointsAndResumeLoadOneFloatBufferClass(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("run"));
        Path log = tmp.resolve("run.log");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "--add-modules", "jdk.incubator.vector", "-XX:PerMethodTrapLimit=10000", "-XX:PerMethodRecompilationCutoff=10000", "-Xmx512m",
                "-Xlog:class+load=info:stdout", "-cp", System.getProperty("java.class.path"),
                FloatBufferKindsTest.class.getName(), dir.toString())
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(p.waitFor(180, TimeUnit.SECONDS), "the run finishes");
        String out = Files.readString(log);
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("resumed from"), "the third epoch resumed from the checkpoint:\n" + out);
        Set<String> kinds = new TreeSet<>();
        Matcher m = Pattern.compile("\\b(java\\.nio\\.\\w*FloatBuffer\\w*) source").matcher(out);
        while (m.find()) {
            kinds.add(m.group(1));
        }
        assertEquals(Set.of("java.nio.FloatBuffer", "java.nio.DirectFloatBufferU"), kinds);
    }
}
