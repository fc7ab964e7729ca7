package org.kat4j.e2e;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.kat4j.data.ImageFolder;
import org.kat4j.data.Splits;
import org.kat4j.io.Safetensors;
import org.kat4j.train.Checkpoint;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Images in one folder per class ({@code train/CLASS/*}, {@code val/CLASS/*}) through the command
 * line: read at the model's size, trained, evaluated, and predicted with the folders' names.
 */
class ImageFolderEndToEndTest {
    static final String[] CLASSES = {"cat", "dog", "ship"};
    static final int[][] COLOURS = {{220, 40, 40}, {40, 200, 60}, {50, 60, 230}};

    /** A noisy image of class c's colour, of a random size, as PNG or JPEG. */
    static void image(Path file, int c, Random rng) throws IOException {
        int w = 20 + rng.nextInt(50);
        int h = 20 + rng.nextInt(50);
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int[] rgb = new int[3];
                for (int k = 0; k < 3; k++) {
                    rgb[k] = Math.max(0, Math.min(255, COLOURS[c][k] + rng.nextInt(121) - 60));
                }
                img.setRGB(x, y, (rgb[0] << 16) | (rgb[1] << 8) | rgb[2]);
            }
        }
        String name = file.getFileName().toString();
        ImageIO.write(img, name.endsWith(".png") ? "png" : "jpg", file.toFile());
    }

    static Path folders(Path dir, int train, int val) throws IOException {
        Random rng = new Random(1);
        Files.createDirectories(dir.resolve("train/.ipynb_checkpoints"));
        for (String split : new String[]{"train", "val"}) {
            for (int c = 0; c < CLASSES.length; c++) {
                Path d = Files.createDirectories(dir.resolve(split).resolve(CLASSES[c]));
                for (int i = 0; i < (split.equals("train") ? train : val); i++) {
                    image(d.resolve(i + (i % 2 == 0 ? ".png" : ".JPG")), c, rng);
                }
                Files.writeString(d.resolve("notes.txt"), "not an image");
                Files.writeString(d.resolve("._0.png"), "macOS metadata, not an image");
            }
        }
        return dir;
    }

    @Test
    void trainsEvaluatesAndPredictsWithTheFoldersClasses(@TempDir Path dir) throws IOException {
        Path data = folders(Files.createDirectories(dir.resolve("data")), 40, 10);
        Path out = dir.resolve("run");
        CifarEndToEndTest.Run train = CifarEndToEndTest.kat("train", "--data", data.toString(), "--epochs", "3",
                "--batch-size", "16", "--warmup", "5", "--out", out.toString(), "--quiet");
        assertEquals(0, train.rc(), train.out() + train.err());
        assertTrue(train.out().matches("(?s)reading the images of " + Pattern.quote(data.toString()) + " at 32x32\nread 150"
                + " images in [0-9.]+ s\nmodel kat_micro_patch4_32: 207,923 parameters.*"), train.out());
        assertTrue(train.out().contains("data: image folders in " + data + " (3 classes), 120 train / 30 test"), train.out());
        Matcher best = Pattern.compile("\\(best ([0-9.]+)%\\)").matcher(train.out());
        assertTrue(best.find(), train.out());
        // three colours under noise: far above chance (33%)
        assertTrue(Double.parseDouble(best.group(1)) > 90, train.out());

        Path ckpt = out.resolve("best.safetensors");
        Map<String, String> meta = Safetensors.readMetadata(ckpt);
        assertEquals(List.of(CLASSES), Checkpoint.classNames(ckpt, meta));
        float[][] norm = Checkpoint.dataNormalization(ckpt, meta, 3);
        assertTrue(norm[0][0] > 0.3 && norm[0][0] < 0.6 && norm[1][0] > 0.1, "the training images' own statistics: "
                + norm[0][0] + ", " + norm[1][0]);

        CifarEndToEndTest.Run eval = CifarEndToEndTest.kat("eval", "--checkpoint", ckpt.toString(), "--data", data.toString(),
                "--per-class");
        assertEquals(0, eval.rc(), eval.err());
        // one line per class, by name, whose counts add up to the accuracy line's
        Matcher perClass = Pattern.compile("(?m)^  (\\S+) +[0-9.]+%  \\((\\d+) of 10\\)$").matcher(eval.out());
        int right = 0;
        for (String c : CLASSES) {
            assertTrue(perClass.find() && perClass.group(1).equals(c), c + " in " + eval.out());
            right += Integer.parseInt(perClass.group(2));
        }
        assertEquals(Double.parseDouble(best.group(1)), 100.0 * right / 30, 0.005, eval.out());
        // the validation images alone, normalised with the checkpoint's recorded statistics
        assertTrue(eval.out().startsWith("reading the test images of " + data + " at 32x32\nread 30 images in "), eval.out());
        assertTrue(eval.out().contains("accuracy " + best.group(1) + "%"), eval.out());

        Path photo = dir.resolve("dog.png");
        image(photo, 1, new Random(9));
        CifarEndToEndTest.Run predict = CifarEndToEndTest.kat("predict", "--checkpoint", ckpt.toString(), photo.toString());
        assertEquals(0, predict.rc(), predict.err());
        String[] lines = predict.out().split("\n");
        assertTrue(lines.length >= 2 && lines[1].strip().endsWith("%  dog (1)"), "the dog first: " + predict.out());
        for (String c : CLASSES) {
            assertTrue(predict.out().contains(c + " ("), predict.out());
        }

        // data with another number of classes: refused, not scored
        Path cifar = CifarEndToEndTest.cifar(Files.createDirectories(dir.resolve("cifar")));
        CifarEndToEndTest.Run ten = CifarEndToEndTest.kat("eval", "--checkpoint", ckpt.toString(), "--data", cifar.toString());
        assertEquals("kat: " + ckpt + ": a head of 3 classes, the data has 10", ten.err());

        // folders whose classes are not the checkpoint's: refused, not scored against other labels
        for (String split : new String[]{"train", "val"}) {
            Files.move(data.resolve(split).resolve("ship"), data.resolve(split).resolve("boat"));
        }
        CifarEndToEndTest.Run other = CifarEndToEndTest.kat("eval", "--checkpoint", ckpt.toString(), "--data", data.toString());
        assertEquals(1, other.rc());
        assertEquals("kat: " + ckpt + " was trained on the classes cat, dog, ship; " + data + " has boat, cat, dog", other.err());
    }

    @Test
    void readsAtTheRequestedSizeAndRefusesWhatItCannotUse(@TempDir Path dir) throws IOException {
        Path data = folders(Files.createDirectories(dir.resolve("data")), 2, 1);
        java.util.Set<Integer> told = java.util.concurrent.ConcurrentHashMap.newKeySet();
        Splits s = ImageFolder.load(data, 24, 1L << 30, (done, total) -> {
            assertEquals(9, total);
            told.add(done);
        });
        assertEquals(java.util.Set.of(1, 2, 3, 4, 5, 6, 7, 8, 9), told, "told once per image");
        assertEquals(6, s.train().size());
        assertArrayEquals(new int[]{0, 0, 1, 1, 2, 2}, s.train().labels());
        assertEquals(List.of(CLASSES), s.train().classNames());
        assertEquals(24, s.train().height());
        assertEquals(3, s.train().channels());
        // a pixel of the first dog: green dominates
        int plane = 24 * 24;
        byte[] px = s.train().pixels();
        int dog = 2 * 3 * plane + 12 * 24 + 12;
        assertTrue((px[dog + plane] & 0xff) > (px[dog] & 0xff) && (px[dog + plane] & 0xff) > (px[dog + 2 * plane] & 0xff));

        var big = assertThrows(IOException.class, () -> ImageFolder.load(data, 224, 100_000));
        assertEquals(data + ": 9 images at 3x224x224 take 1 MB in memory, more than the 0 MB this JVM can spare (-Xmx raises"
                + " it)", big.getMessage());
        var huge = assertThrows(IOException.class, () -> ImageFolder.load(data, 16_000, Long.MAX_VALUE));
        assertEquals(data.resolve("train") + ": 6 images at 3x16000x16000 take 4,394 MB, more than the 2,047 MB that one split"
                + " of an in-memory data set can hold (use fewer images or a smaller model input)", huge.getMessage());
        Files.write(data.resolve("train/dog/broken.png"), new byte[]{1, 2, 3});
        var broken = assertThrows(IOException.class, () -> ImageFolder.load(data, 24, 1L << 30));
        assertTrue(broken.getMessage().startsWith(data.resolve("train/dog/broken.png") + ": "), broken.getMessage());
        Files.delete(data.resolve("train/dog/broken.png"));
        Files.createDirectories(data.resolve("val/horse"));
        var extra = assertThrows(IOException.class, () -> ImageFolder.load(data, 24, 1L << 30));
        assertEquals(data.resolve("val/horse") + ": a class that " + data.resolve("train") + " does not have (its classes: cat,"
                + " dog, ship)", extra.getMessage());
        CifarEndToEndTest.Run wrong = CifarEndToEndTest.kat("train", "--data", data.toString(), "--model",
                "kat_micro_patch7_28", "--out", dir.resolve("x").toString());
        assertEquals(1, wrong.rc());
        assertTrue(wrong.err().startsWith("kat: " + data.resolve("val/horse")), wrong.err());
    }
}
