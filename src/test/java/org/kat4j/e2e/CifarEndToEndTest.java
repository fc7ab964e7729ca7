package org.kat4j.e2e;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.kat4j.cli.Kat;
import org.kat4j.data.Cifar10;
import org.kat4j.io.Safetensors;
import org.kat4j.models.Models;
import org.kat4j.models.VisionTransformer;
import org.kat4j.predict.Predictor;
import org.kat4j.train.Checkpoint;
import picocli.CommandLine;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * CIFAR-10's binary batches through the command line: found in a {@code --data} directory (or the
 * {@code cifar-10-batches-bin} directory inside it), trained on the 32x32 micro KAT by default,
 * evaluated, and predicted with CIFAR-10's class names.
 */
class CifarEndToEndTest {
    /** One record per image: the label, then 1,024 red, 1,024 green and 1,024 blue bytes. */
    static byte[] batch(int n, Random rng) {
        byte[] b = new byte[n * (1 + 3072)];
        for (int i = 0; i < n; i++) {
            int label = i % 10;
            int off = i * (1 + 3072);
            b[off] = (byte) label;
            for (int c = 0; c < 3; c++) {
                for (int p = 0; p < 1024; p++) {
                    int y = p / 32;
                    int x = p % 32;
                    // each class a bright stripe of 8 rows in its own place and colour, on noise (the
                    // pair (label mod 4, label mod 3) differs for every label; flips keep it)
                    boolean block = y / 8 == label % 4 && x >= 4 && x < 28 && c == label % 3;
                    b[off + 1 + c * 1024 + p] = (byte) (block ? 200 + rng.nextInt(56) : rng.nextInt(80));
                }
            }
        }
        return b;
    }

    static Path cifar(Path dir) throws IOException {
        Path bin = Files.createDirectories(dir.resolve("cifar-10-batches-bin"));
        Random rng = new Random(3);
        Files.write(bin.resolve("data_batch_1.bin"), batch(1000, rng));
        Files.write(bin.resolve("data_batch_2.bin"), batch(1000, rng));
        Files.write(bin.resolve("test_batch.bin"), batch(200, rng));
        Files.writeString(bin.resolve("batches.meta.txt"), String.join("\n", Cifar10.CLASSES) + "\n");
        return dir;
    }

    record Run(int rc, String out, String err) {
    }

    static Run kat(String... args) {
        CommandLine cl = Kat.commandLine();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        cl.setErr(new java.io.PrintWriter(err, true));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream old = System.out;
        int rc;
        try {
            System.setOut(new PrintStream(out, true));
            rc = cl.execute(args);
        } finally {
            System.setOut(old);
        }
        return new Run(rc, out.toString(), err.toString().strip());
    }

    @Test
    void trainsEvaluatesAndPredictsOnCifarBatches(@TempDir Path dir) throws IOException {
        Path data = cifar(Files.createDirectories(dir.resolve("data")));
        Path out = dir.resolve("run");
        Run train = kat("train", "--data", data.toString(), "--epochs", "3", "--batch-size", "32", "--warmup", "10",
                "--out", out.toString(), "--quiet");
        assertEquals(0, train.rc(), train.out() + train.err());
        assertTrue(train.out().startsWith("model kat_micro_patch4_32: 208,378 parameters"), train.out());
        assertTrue(train.out().contains("data: CIFAR-10 in " + data.resolve("cifar-10-batches-bin") + ", 2000 train / 200 test"),
                train.out());
        Matcher best = Pattern.compile("\\(best ([0-9.]+)%\\)").matcher(train.out());
        assertTrue(best.find(), train.out());
        // ten classes told apart by a stripe's place and colour: far above chance (10%) after 3 epochs
        // (90% with 16 and 8 lanes, 2 replicas or 1; the colour alone gives 30%)
        assertTrue(Double.parseDouble(best.group(1)) > 75, train.out());

        Path ckpt = out.resolve("best.safetensors");
        Map<String, String> meta = Safetensors.readMetadata(ckpt);
        assertEquals("cifar-10 train", meta.get(Checkpoint.DATA));
        float[][] norm = Checkpoint.dataNormalization(ckpt, meta, 3);
        assertEquals(3, norm[0].length);
        assertEquals(0.4914f, norm[0][0]);
        assertEquals(0.2616f, norm[1][2]);

        Run eval = kat("eval", "--checkpoint", ckpt.toString(), "--data", data.toString());
        assertEquals(0, eval.rc(), eval.err());
        assertTrue(eval.out().contains("accuracy " + best.group(1) + "%"), "the best epoch's accuracy again: " + eval.out()
                + " vs " + best.group(1));

        Run grey = kat("eval", "--checkpoint", ckpt.toString(), "--builtin");
        assertEquals("kat: model kat_micro_patch4_32 takes 3x32x32 images, the data has 1x28x28 (its weights were trained on"
                + " cifar-10 train)", grey.err());

        // a test image as a PNG: CIFAR-10's names, the numbers of a Predictor made from the checkpoint
        BufferedImage img = new BufferedImage(32, 32, BufferedImage.TYPE_INT_RGB);
        byte[] test = Files.readAllBytes(data.resolve("cifar-10-batches-bin/test_batch.bin"));
        for (int p = 0; p < 1024; p++) {
            int r = test[1 + p] & 0xff;
            int g = test[1 + 1024 + p] & 0xff;
            int b = test[1 + 2048 + p] & 0xff;
            img.setRGB(p % 32, p / 32, (r << 16) | (g << 8) | b);
        }
        Path png = dir.resolve("test0.png");
        ImageIO.write(img, "png", png.toFile());
        Run predict = kat("predict", "--checkpoint", ckpt.toString(), "--top", "10", png.toString());
        assertEquals(0, predict.rc(), predict.err());
        for (String c : Cifar10.CLASSES) {
            assertTrue(predict.out().contains(c + " ("), "all ten CIFAR-10 classes named: " + predict.out());
        }
        VisionTransformer m = Models.create("kat_micro_patch4_32", Map.of("num_classes", 10), 0);
        m.loadStateDict(Checkpoint.weights(Safetensors.read(ckpt)), true);
        var top = Predictor.of(m, norm[0], norm[1], List.of(Cifar10.CLASSES)).predict(Predictor.read(png), 1);
        assertTrue(predict.out().contains(top.get(0).toString()), top + " in " + predict.out());
    }

    @Test
    void dataThatFitsNoModelOrNoFormatIsRefusedWithOneLine(@TempDir Path dir) throws IOException {
        Path data = cifar(Files.createDirectories(dir.resolve("data")));
        Run wrong = kat("train", "--data", data.toString(), "--model", "kat_micro_patch7_28", "--out", dir.resolve("a").toString());
        assertEquals(1, wrong.rc());
        assertEquals("kat: model kat_micro_patch7_28 takes 1x28x28 images, the data has 3x32x32 (these take them:"
                + " vit_micro_patch4_32, kat_micro_patch4_32)", wrong.err());
        Run compare = kat("compare", "--data", data.toString(), "--size", "micro_patch7_28", "--out", dir.resolve("b").toString());
        assertEquals("kat: model vit_micro_patch7_28 takes 1x28x28 images, the data has 3x32x32 (try --size micro_patch4_32)",
                compare.err());
        Path empty = Files.createDirectories(dir.resolve("empty"));
        Run none = kat("train", "--data", empty.toString(), "--out", dir.resolve("c").toString());
        assertEquals(1, none.rc());
        assertEquals("kat: --data " + empty + ": neither Fashion-MNIST's IDX files (train-images-idx3-ubyte[.gz],"
                + " train-labels-idx1-ubyte[.gz], t10k-...), CIFAR-10's binary batches (data_batch_1.bin ..."
                + " data_batch_5.bin, test_batch.bin) nor image folders (train/CLASS/*.png|jpg, val/CLASS/...) are there",
                none.err());
        for (String d : new String[]{"a", "b", "c"}) {
            assertFalse(Files.exists(dir.resolve(d)), "nothing written for " + d);
        }
    }

    @Test
    void aResumedRunKeepsItsCheckpointsModel(@TempDir Path dir) throws IOException {
        Path data = cifar(Files.createDirectories(dir.resolve("data")));
        VisionTransformer m = Models.create("kat_micro_patch7_28", Map.of("num_classes", 10), 1);
        Path last = dir.resolve("last.safetensors");
        Checkpoint.save(last, m, org.kat4j.optim.AdamW.builder(m.parameters()).build(), null, Map.of("kat4j.model",
                "kat_micro_patch7_28", "kat4j.epoch", "2", "kat4j.adam_steps", "10", "kat4j.data", "fashion-mnist train"));
        // without --model the checkpoint's model, not the one the data would pick
        Run other = kat("train", "--data", data.toString(), "--resume", last.toString(), "--out", dir.resolve("a").toString());
        assertEquals(1, other.rc());
        assertEquals("kat: model kat_micro_patch7_28 takes 1x28x28 images, the data has 3x32x32 (--resume " + last
                + " was trained on fashion-mnist train)", other.err());
        Run done = kat("train", "--builtin", "--resume", last.toString(), "--epochs", "2", "--out", dir.resolve("b").toString());
        assertEquals(0, done.rc(), done.err());
        assertEquals("nothing to do: " + last + " is at epoch 2 of 2 (a larger --epochs continues it)", done.out().strip());
        assertFalse(Files.exists(dir.resolve("a")) || Files.exists(dir.resolve("b")), "nothing written");
    }
}
