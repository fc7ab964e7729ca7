package org.kat4j.e2e;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.kat4j.data.FashionMnist;
import org.kat4j.data.ImageDataset;
import org.kat4j.data.Splits;
import org.kat4j.io.Safetensors;
import org.kat4j.models.Models;
import org.kat4j.train.TrainConfig;
import org.kat4j.train.Trainer;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * kill -9 at random moments of training and of resuming never leaves a run directory a resume
 * cannot use: every checkpoint that exists reads whole, metrics.csv has whole rows of consecutive
 * epochs, and the run then finishes from its last checkpoint.
 */
class KillTest {
    static final int EPOCHS = 6;

    /** The training process the test kills: a tiny KAT, resumed from last.safetensors when one exists. */
    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args[0]);
        Splits s = FashionMnist.load(null, true);
        ImageDataset train = TrainEndToEndTest.head(s.train(), 1024);
        ImageDataset test = TrainEndToEndTest.head(s.test(), 100);
        TrainConfig cfg = new TrainConfig("kat_micro_patch7_28", EPOCHS, 32, 3e-3, 1e-5, 0.05, 2, 0, 1.0, 0, 0, true, 1, dir, 100,
                false, 0);
        Path last = dir.resolve("last.safetensors");
        new Trainer(Models.create("kat_micro_patch7_28", Map.of("depth", 1, "embed_dim", 16, "num_heads", 2), 1), cfg,
                new PrintStream(System.out, true)).fit(train, test, Files.exists(last) ? last : null);
    }

    static Process start(Path dir) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        return new ProcessBuilder(java, "--add-modules", "jdk.incubator.vector", "-XX:PerMethodTrapLimit=10000", "-XX:PerMethodRecompilationCutoff=10000", "-Xmx512m", "-cp",
                System.getProperty("java.class.path"), KillTest.class.getName(), dir.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolveSibling(dir.getFileName() + ".log").toFile()).start();
    }

    /** What a resume relies on: readable checkpoints, whole metrics rows of epochs 1..n. */
    static int validate(Path dir) throws IOException {
        for (String f : new String[]{"best.safetensors", "last.safetensors"}) {
            if (Files.exists(dir.resolve(f))) {
                Safetensors.read(dir.resolve(f)).tensors().values().forEach(t -> assertTrue(t.numel() > 0, f));
            }
        }
        Path csv = dir.resolve("metrics.csv");
        if (!Files.exists(csv)) {
            return 0;
        }
        List<String> lines = Files.readAllLines(csv);
        assertTrue(lines.get(0).startsWith("epoch,"), "header: " + lines);
        for (int i = 1; i < lines.size(); i++) {
            String[] cells = lines.get(i).split(",");
            assertEquals(8, cells.length, "a whole row: " + lines.get(i));
            assertEquals(i, Integer.parseInt(cells[0]), "consecutive epochs: " + lines);
        }
        return lines.size() - 1;
    }

    @Test
    void killedRunsAlwaysLeaveAResumableDirectory(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("run"));
        Random rng = new Random(11);
        List<Integer> killedAfter = new java.util.ArrayList<>();
        for (int kill = 0; kill < 4; kill++) {
            Process p = start(dir);
            // wait until this process has started (the first time: printed anything; later: finished
            // an epoch), then a random moment more: before the first epoch, inside an epoch, in
            // evaluation or while checkpoints are written. Waiting for output rather than a fixed
            // time keeps the kills inside the run on fast machines too.
            Path log = tmp.resolve("run.log");
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (p.isAlive() && System.nanoTime() < deadline && (!Files.exists(log)
                    || (kill == 0 ? Files.size(log) == 0 : !Files.readString(log).contains("train loss")))) {
                Thread.sleep(10);
            }
            if (p.waitFor(rng.nextInt(kill == 0 ? 2000 : 500), TimeUnit.MILLISECONDS)) {
                break; // finished before the kill
            }
            p.destroyForcibly().waitFor(); // SIGKILL
            killedAfter.add(validate(dir));
        }
        System.out.println("KillTest: epochs recorded at each kill: " + killedAfter);
        // the kills landed at different points of the run (before the first epoch, between epochs)
        assertTrue(killedAfter.stream().distinct().count() > 1, "epochs done at each kill: " + killedAfter);
        Process last = start(dir);
        assertTrue(last.waitFor(120, TimeUnit.SECONDS), "the final run finishes");
        String log = Files.readString(tmp.resolve("run.log"));
        assertEquals(0, last.exitValue(), log);
        assertTrue(killedAfter.get(killedAfter.size() - 1) == 0 || log.contains("resumed from"), log);
        assertEquals(EPOCHS, validate(dir), "all epochs recorded once");
        assertTrue(Files.exists(dir.resolve("best.safetensors")));
        try (var files = Files.list(dir)) {
            assertTrue(files.noneMatch(f -> f.getFileName().toString().endsWith(".tmp")), "no temporary file left");
        }
    }
}
