package org.kat4j.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class IdxTest {
    static byte[] images(int n, int r, int c, byte[] px) {
        ByteBuffer b = ByteBuffer.allocate(16 + px.length);
        b.putInt(0x803).putInt(n).putInt(r).putInt(c).put(px);
        return b.array();
    }

    static byte[] gzip(byte[] raw) throws IOException {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        try (GZIPOutputStream g = new GZIPOutputStream(o)) {
            g.write(raw);
        }
        return o.toByteArray();
    }

    @Test
    void readsRawAndGzip() throws IOException {
        byte[] px = new byte[2 * 3 * 4];
        new Random(1).nextBytes(px);
        for (byte[] f : new byte[][]{images(2, 3, 4, px), gzip(images(2, 3, 4, px))}) {
            Idx.Images im = Idx.readImages(new ByteArrayInputStream(f), "x");
            assertEquals(2, im.count());
            assertEquals(3, im.rows());
            assertArrayEquals(px, im.pixels());
        }
        ByteBuffer l = ByteBuffer.allocate(8 + 3).putInt(0x801).putInt(3).put(new byte[]{7, 0, (byte) 9});
        assertArrayEquals(new int[]{7, 0, 9}, Idx.readLabels(new ByteArrayInputStream(gzip(l.array())), "y"));
    }

    @Test
    void badFilesNameTheFileAndTheProblem() {
        byte[] px = new byte[24];
        byte[] full = images(2, 3, 4, px);
        var e = assertThrows(IOException.class,
                () -> Idx.readImages(new ByteArrayInputStream(java.util.Arrays.copyOf(full, full.length - 5)), "train-images"));
        assertTrue(e.getMessage().contains("train-images") && e.getMessage().contains("truncated"), e.getMessage());
        e = assertThrows(IOException.class, () -> Idx.readLabels(new ByteArrayInputStream(full), "labels.gz"));
        assertTrue(e.getMessage().contains("labels.gz") && e.getMessage().contains("magic 0x803"), e.getMessage());
        e = assertThrows(IOException.class, () -> Idx.readImages(new ByteArrayInputStream(new byte[2]), "empty"));
        assertTrue(e.getMessage().contains("empty") && e.getMessage().contains("header"), e.getMessage());
    }

    @Test
    void aSmallFileClaimingMillionsOfImagesIsRefusedWithoutTakingTheirMemory() {
        // 800 bytes of header and pixels claiming 2.7M images of 28x28 (2.1 GB)
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(800);
        b.putInt(Idx.IMAGES_MAGIC).putInt(2_700_000).putInt(28).putInt(28);
        Runtime rt = Runtime.getRuntime();
        long before = rt.totalMemory() - rt.freeMemory();
        var e = assertThrows(IOException.class, () -> Idx.readImages(new ByteArrayInputStream(b.array()), "huge-idx"));
        long grown = rt.totalMemory() - rt.freeMemory() - before;
        assertTrue(e.getMessage().contains("huge-idx: truncated: 784 of 2116800000 bytes"), e.getMessage());
        assertTrue(grown < 64L << 20, "heap grew by " + grown / 1e6 + " MB");
    }

    @Test
    void builtInSubsetIsBalancedAndDirectoriesLoad(@TempDir Path dir) throws IOException {
        Splits s = FashionMnist.load(null, true);
        assertEquals(12000, s.train().size());
        assertEquals(2000, s.test().size());
        for (int c : s.train().classCounts()) {
            assertEquals(1200, c);
        }
        // a directory with raw (uncompressed) files
        Files.write(dir.resolve("train-images-idx3-ubyte"), images(1, 28, 28, new byte[784]));
        Files.write(dir.resolve("train-labels-idx1-ubyte"), ByteBuffer.allocate(9).putInt(0x801).putInt(1).put((byte) 3).array());
        Files.write(dir.resolve("t10k-images-idx3-ubyte"), images(1, 28, 28, new byte[784]));
        Files.write(dir.resolve("t10k-labels-idx1-ubyte"), ByteBuffer.allocate(9).putInt(0x801).putInt(1).put((byte) 12).array());
        var e = assertThrows(IOException.class, () -> FashionMnist.load(dir, false));
        assertTrue(e.getMessage().contains("label 12"), e.getMessage());
        assertThrows(IOException.class, () -> FashionMnist.load(dir.resolve("nope"), false));
    }

    @Test
    void batcherNormalisesShufflesAndAugments() {
        byte[] px = new byte[4 * 4 * 4];
        for (int i = 0; i < px.length; i++) {
            px[i] = (byte) 255;
        }
        ImageDataset d = new ImageDataset("t", px, new int[]{0, 1, 2, 3}, 1, 4, 4, 4, new float[]{0.5f}, new float[]{0.5f});
        Batcher b = new Batcher(d, 3, true, 0, false, new Random(1));
        assertEquals(2, b.batchesPerEpoch());
        Batcher.Batch first = b.next();
        assertArrayEquals(new long[]{3, 1, 4, 4}, first.images().shape());
        assertEquals(1.0, first.images().get(0, 0, 1, 1), 1e-6); // (1 - 0.5) / 0.5
        assertEquals(1, b.next().labels().length);
        Batcher padded = new Batcher(d, 4, false, 2, true, new Random(3));
        float[] v = padded.next().images().toFloatArray();
        long padding = java.util.stream.IntStream.range(0, v.length).filter(i -> v[i] == -1f).count(); // zero pixels
        assertTrue(padding > 0, "random crops with padding bring in zero pixels");
    }

    @Test
    void augmentedBatchesHoldTheShiftedMirroredNormalisedPixels() {
        // 2 channels of 5 x 6 with distinct levels; crops of up to 2 pixels and flips, against the
        // formula (level / 255 - mean) / std per pixel, 0 outside the image, with the same draws
        int c = 2, h = 5, w = 6, n = 3, pad = 2;
        byte[] px = new byte[n * c * h * w];
        for (int i = 0; i < px.length; i++) {
            px[i] = (byte) (i * 37 + 11);
        }
        float[] mean = {0.3f, 0.6f};
        float[] std = {0.2f, 0.35f};
        ImageDataset d = new ImageDataset("t", px, new int[]{0, 1, 2}, c, h, w, n, mean, std);
        float[] got = new Batcher(d, n, false, pad, true, new Random(9)).next().images().toFloatArray();
        Random r = new Random(9);
        for (int k = 0; k < n; k++) {
            int dy = r.nextInt(2 * pad + 1) - pad;
            int dx = r.nextInt(2 * pad + 1) - pad;
            boolean mirror = r.nextBoolean();
            for (int ch = 0; ch < c; ch++) {
                for (int y = 0; y < h; y++) {
                    for (int x = 0; x < w; x++) {
                        int sy = y + dy;
                        int sx = (mirror ? w - 1 - x : x) + dx;
                        float v = sy < 0 || sy >= h || sx < 0 || sx >= w ? 0f : (px[((k * c + ch) * h + sy) * w + sx] & 0xff) / 255f;
                        int at = ((k * c + ch) * h + y) * w + x;
                        assertEquals((v - mean[ch]) * (1f / std[ch]), got[at], 0f, "image " + k + " channel " + ch + " at " + y + "," + x);
                    }
                }
            }
        }
    }
}
