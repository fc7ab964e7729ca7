package org.kat4j.e2e;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.kat4j.data.FashionMnist;
import org.kat4j.data.ImageDataset;
import org.kat4j.data.Splits;
import org.kat4j.io.Safetensors;
import org.kat4j.models.Models;
import org.kat4j.models.VisionTransformer;
import org.kat4j.train.TrainConfig;
import org.kat4j.train.Trainer;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Train a small KAT for a few dozen steps, save, load, evaluate; corrupted checkpoints are refused. */
class TrainEndToEndTest {
    static ImageDataset head(ImageDataset d, int n) {
        return new ImageDataset(d.name() + " (first " + n + ")", Arrays.copyOf(d.pixels(), n * d.imageSize()),
                Arrays.copyOf(d.labels(), n), d.channels(), d.height(), d.width(), d.classes(), d.mean(), d.std());
    }

    @Test
    void resumeRepeatsTheLossesOfAnUninterruptedRun(@TempDir Path dir) throws IOException {
        Splits s = FashionMnist.load(null, true);
        ImageDataset train = head(s.train(), 512);
        ImageDataset test = head(s.test(), 200);
        Map<String, Object> small = Map.of("depth", 1, "embed_dim", 32, "num_heads", 2, "drop_path_rate", 0.1);
        PrintStream quiet = new PrintStream(java.io.OutputStream.nullOutputStream());
        java.util.function.Function<String, TrainConfig> cfg = out -> new TrainConfig("kat_micro_patch4_28", 3, 64, 3e-3, 1e-5,
                0.05, 5, 0.1, 1.0, 0.1, 1, true, 5, dir.resolve(out), 200, false, 0.99);
        List<Trainer.EpochResult> full = new Trainer(Models.create("kat_micro_patch4_28", small, 3), cfg.apply("a"), quiet)
                .fit(train, test);
        TrainConfig b = cfg.apply("b");
        new Trainer(Models.create("kat_micro_patch4_28", small, 3), b, quiet).fit(train, test, null, 1);   // "crash" after epoch 1
        // resumed into another directory: the earlier rows and best weights come along
        try (Trainer.Run run = new Trainer(Models.create("kat_micro_patch4_28", small, 77), cfg.apply("d"), quiet).start(train,
                test, dir.resolve("b/last.safetensors"), 3)) {
            assertArrayEquals(Files.readAllBytes(dir.resolve("b/best.safetensors")),
                    Files.readAllBytes(dir.resolve("d/best.safetensors")), "epoch 1's best weights carried over");
            assertEquals(1, run.results().size());
            while (run.hasNext()) {
                run.epoch();
            }
            assertEquals(full.get(2).trainLoss(), run.results().get(2).trainLoss(), 1e-6 * full.get(2).trainLoss());
        }
        assertEquals(4, Files.readAllLines(dir.resolve("d/metrics.csv")).size(), "epoch 1's row and the two new ones");
        // resumed in its own directory
        List<Trainer.EpochResult> resumed = new Trainer(Models.create("kat_micro_patch4_28", small, 77), b, quiet)
                .fit(train, test, dir.resolve("b/last.safetensors"));
        assertEquals(3, resumed.size(), "the resumed run reports all epochs");
        for (int e = 1; e < 3; e++) {
            assertEquals(full.get(e).trainLoss(), resumed.get(e).trainLoss(), 1e-6 * full.get(e).trainLoss(), "epoch " + (e + 1));
            assertEquals(full.get(e).testAcc(), resumed.get(e).testAcc(), 1e-9, "epoch " + (e + 1));
        }
        assertEquals(4, Files.readAllLines(dir.resolve("b/metrics.csv")).size());
        var err = assertThrows(IOException.class, () -> new Trainer(Models.create("kat_micro_patch4_28", Map.of("depth", 2), 1), b,
                quiet).fit(train, test, dir.resolve("b/last.safetensors")));
        assertTrue(err.getMessage().contains("does not fit the model"), err.getMessage());
        assertEquals(4, Files.readAllLines(dir.resolve("b/metrics.csv")).size(), "a failed run leaves the old rows");
    }

    @Test
    void oneRunPerDirectoryAndPlainProgressLinesForLogs(@TempDir Path dir) throws IOException {
        Splits s = FashionMnist.load(null, true);
        ImageDataset train = head(s.train(), 256);
        ImageDataset test = head(s.test(), 100);
        Map<String, Object> small = Map.of("depth", 1, "embed_dim", 16, "num_heads", 2);
        TrainConfig cfg = new TrainConfig("kat_micro_patch7_28", 1, 32, 3e-3, 1e-5, 0.05, 2, 0, 1.0, 0, 0, true, 1, dir, 100,
                true, 0);
        Files.writeString(dir.resolve(".last.safetensors.4711.tmp"), "left by a killed run");
        try (org.kat4j.io.RunLock held = org.kat4j.io.RunLock.acquire(dir)) {
            var e = assertThrows(IOException.class, () -> new Trainer(Models.create("kat_micro_patch7_28", small, 1), cfg,
                    new PrintStream(java.io.OutputStream.nullOutputStream())).fit(train, test));
            assertTrue(e.getMessage().contains("is in use by process"), e.getMessage());
        }
        java.io.ByteArrayOutputStream log = new java.io.ByteArrayOutputStream();
        new Trainer(Models.create("kat_micro_patch7_28", small, 1), cfg, new PrintStream(log, true))
                .withProgress(Trainer.Progress.LINES, 0).fit(train, test);
        String out = log.toString();
        assertTrue(out.contains("epoch 1/1  step 1/8  loss"), out);
        assertTrue(out.contains("epoch 1/1  train loss"), out);
        assertTrue(!out.contains("\r"), "no carriage returns in a log");
        assertTrue(!Files.exists(dir.resolve(".last.safetensors.4711.tmp")), "the stale temporary file was removed");
    }

    @Test
    void replicasTrainAsOneModelDoesAndRepeatToTheBit(@TempDir Path dir) throws IOException {
        Splits s = FashionMnist.load(null, true);
        ImageDataset train = head(s.train(), 384);
        ImageDataset test = head(s.test(), 100);
        Map<String, Object> small = Map.of("depth", 1, "embed_dim", 32, "num_heads", 2);
        PrintStream quiet = new PrintStream(java.io.OutputStream.nullOutputStream());
        double[][] runs = new double[4][];
        int[] replicas = {1, 2, 2, 3};
        for (int i = 0; i < runs.length; i++) {
            TrainConfig cfg = new TrainConfig("kat_micro_patch7_28", 2, 48, 3e-3, 1e-5, 0.05, 2, 0.1, 1.0, 0, 0, true, 4,
                    dir.resolve("r" + i), 50, false, 0);
            List<Trainer.EpochResult> r = new Trainer(Models.create("kat_micro_patch7_28", small, 2), cfg, quiet)
                    .withReplicas(replicas[i]).fit(train, test);
            runs[i] = new double[]{r.get(0).trainLoss(), r.get(1).trainLoss(), r.get(1).testLoss()};
        }
        assertArrayEquals(runs[1], runs[2], 0.0, "two runs with 2 replicas");
        for (int i = 1; i < runs.length; i++) {
            for (int k = 0; k < 3; k++) {
                // 16 steps on float32 gradients summed in another order: 5e-8 relative at most (Zen 3)
                assertEquals(runs[0][k], runs[i][k], 1e-6 * runs[0][k], replicas[i] + " replicas, value " + k);
            }
        }
    }

    @Test
    void runsSteppedInTurnTrainAsTheyDoOneAfterTheOther(@TempDir Path dir) throws IOException {
        Splits s = FashionMnist.load(null, true);
        ImageDataset train = head(s.train(), 256);
        ImageDataset test = head(s.test(), 100);
        Map<String, Object> small = Map.of("depth", 1, "embed_dim", 16, "num_heads", 2);
        PrintStream quiet = new PrintStream(java.io.OutputStream.nullOutputStream());
        String[] names = {"vit_micro_patch7_28", "kat_micro_patch7_28"};
        List<List<Trainer.EpochResult>> alone = new java.util.ArrayList<>();
        for (String name : names) {
            alone.add(new Trainer(Models.create(name, small, 3), config(name, dir.resolve("alone/" + name)), quiet)
                    .withReplicas(2).fit(train, test));
        }
        java.io.ByteArrayOutputStream log = new java.io.ByteArrayOutputStream();
        List<Trainer.Run> runs = new java.util.ArrayList<>();
        try {
            for (String name : names) {
                runs.add(new Trainer(Models.create(name, small, 3), config(name, dir.resolve("turns/" + name)),
                        new PrintStream(log, true)).withReplicas(2).withLabel(name).start(train, test, null, 2));
            }
            var busy = assertThrows(IOException.class, () -> new Trainer(Models.create(names[0], small, 3),
                    config(names[0], dir.resolve("turns/" + names[0])), quiet).start(train, test, null, 2));
            assertTrue(busy.getMessage().contains("is in use by process"), busy.getMessage());
            while (runs.get(0).hasNext()) {
                for (Trainer.Run r : runs) {
                    r.epoch();
                }
            }
            assertThrows(IllegalStateException.class, () -> runs.get(1).epoch());
        } finally {
            for (Trainer.Run r : runs) {
                r.close();
            }
        }
        for (int m = 0; m < names.length; m++) {
            for (int e = 0; e < 2; e++) {
                Trainer.EpochResult a = alone.get(m).get(e);
                Trainer.EpochResult t = runs.get(m).results().get(e);
                assertArrayEquals(new double[]{a.trainLoss(), a.trainAcc(), a.testLoss(), a.testAcc()},
                        new double[]{t.trainLoss(), t.trainAcc(), t.testLoss(), t.testAcc()}, 0.0, names[m] + " epoch " + (e + 1));
            }
            Safetensors.Contents a = Safetensors.read(dir.resolve("alone/" + names[m] + "/last.safetensors"));
            Safetensors.Contents t = Safetensors.read(dir.resolve("turns/" + names[m] + "/last.safetensors"));
            assertEquals(a.tensors().keySet(), t.tensors().keySet());
            for (String k : a.tensors().keySet()) {
                assertArrayEquals(a.tensors().get(k).toFloatArray(), t.tensors().get(k).toFloatArray(), 0f, names[m] + " " + k);
            }
        }
        List<String> lines = log.toString().lines().toList();
        assertEquals(List.of(names[0], names[1], names[0], names[1]), lines.stream().map(l -> l.split("  ")[0]).toList(),
                "each epoch line starts with its run's label, in turn: " + lines);
        assertTrue(lines.get(3).startsWith(names[1] + "  epoch 2/2  train loss"), lines.get(3));
        // the runs were closed: their directories take a new run
        new Trainer(Models.create(names[0], small, 3), config(names[0], dir.resolve("turns/" + names[0])), quiet)
                .start(train, test, null, 0).close();
    }

    private static TrainConfig config(String model, Path out) {
        return new TrainConfig(model, 2, 32, 3e-3, 1e-5, 0.05, 2, 0.1, 1.0, 0.1, 0, true, 5, out, 100, false, 0);
    }

    @Test
    void trainSaveLoadEvaluate(@TempDir Path out) throws IOException {
        Splits s = FashionMnist.load(null, true);
        ImageDataset train = head(s.train(), 2048);
        ImageDataset test = head(s.test(), 400);
        Map<String, Object> small = Map.of("depth", 2, "embed_dim", 32, "num_heads", 2);
        VisionTransformer m = Models.create("kat_micro_patch4_28", small, 1);
        double before = Trainer.evaluate(m, test, 200)[1];
        TrainConfig cfg = new TrainConfig("kat_micro_patch4_28", 2, 64, 3e-3, 1e-5, 0.05, 10, 0.1, 1.0, 0, 2, true, 7, out, 200,
                false, 0);
        List<Trainer.EpochResult> r = new Trainer(m, cfg, new PrintStream(System.out)).fit(train, test);
        assertEquals(2, r.size());
        assertTrue(r.get(1).trainLoss() < r.get(0).trainLoss(), "training loss falls: " + r);
        // chance is 10%; 64 steps of a 2-block model on 2,048 images reach about 27%
        assertTrue(r.get(1).testAcc() > Math.max(0.2, before + 0.1), "learns: " + before + " -> " + r.get(1).testAcc());
        for (String f : new String[]{"metrics.csv", "curves.png", "best.safetensors", "last.safetensors"}) {
            assertTrue(Files.size(out.resolve(f)) > 0, f);
        }
        assertEquals(3, Files.readAllLines(out.resolve("metrics.csv")).size());

        VisionTransformer loaded = Models.create("kat_micro_patch4_28", small, 99);
        Safetensors.Contents c = Safetensors.read(out.resolve("last.safetensors"));
        loaded.loadStateDict(org.kat4j.train.Checkpoint.weights(c), true);
        assertEquals("2", c.metadata().get("kat4j.epoch"));
        assertEquals(Trainer.evaluate(m, test, 200)[1], Trainer.evaluate(loaded, test, 200)[1], 0.0,
                "the loaded model predicts exactly as the trained one");

        // a checkpoint records how its training data was normalised; a predictor fed the same image
        // as a PNG gives the probabilities of the model on the data set's tensor
        float[][] norm = org.kat4j.train.Checkpoint.dataNormalization(out.resolve("best.safetensors"),
                Safetensors.read(out.resolve("best.safetensors")).metadata(), 1);
        assertArrayEquals(train.mean(), norm[0]);
        assertArrayEquals(train.std(), norm[1]);
        java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(28, 28, java.awt.image.BufferedImage.TYPE_BYTE_GRAY);
        for (int i = 0; i < 28 * 28; i++) {
            img.getRaster().setSample(i % 28, i / 28, 0, test.pixels()[i] & 0xff);
        }
        org.kat4j.predict.Predictor p = org.kat4j.predict.Predictor.of(m, norm[0], norm[1], List.of(FashionMnist.CLASSES));
        var top = p.predict(img, 10);
        m.train(false);
        float[] logits;
        try (var ng = org.kat4j.autograd.Autograd.noGrad()) {
            logits = m.forward(new org.kat4j.data.Batcher(test, 1, false, 0, false, new java.util.Random(0)).next().images())
                    .toFloatArray();
        }
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (float v : logits) {
            sum += Math.exp(v - max);
        }
        for (var t : top) {
            // measured: 5.9e-8 at most (the normalisation and the softmax round in another order)
            assertEquals(Math.exp(logits[t.index()] - max) / sum, t.probability(), 2e-7, t.toString());
            assertEquals(FashionMnist.CLASSES[t.index()], t.label());
        }

        Path broken = out.resolve("broken.safetensors");
        byte[] all = Files.readAllBytes(out.resolve("last.safetensors"));
        Files.write(broken, Arrays.copyOf(all, all.length / 2));
        var e = assertThrows(IOException.class, () -> Safetensors.read(broken));
        assertTrue(e.getMessage().contains("broken.safetensors"), e.getMessage());
    }
}
