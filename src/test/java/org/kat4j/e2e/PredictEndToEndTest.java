package org.kat4j.e2e;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.kat4j.cli.Kat;
import org.kat4j.io.Safetensors;
import org.kat4j.models.Models;
import org.kat4j.models.VisionTransformer;
import org.kat4j.predict.Predictor;
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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A model directory, a PNG and a broken file through Predictor and kat predict. */
class PredictEndToEndTest {
    static Path modelDir(Path dir) throws IOException {
        VisionTransformer m = Models.create("kat_micro_patch4_32", Map.of("num_classes", 4), 1);
        Files.writeString(dir.resolve("config.json"), "{\"architecture\": \"kat_micro_patch4_32\", \"num_classes\": 4,"
                + " \"pretrained_cfg\": {\"mean\": [0.5, 0.5, 0.5], \"std\": [0.25, 0.25, 0.25], \"crop_pct\": 0.875}}");
        Safetensors.write(dir.resolve("model.safetensors"), m.namedParameters(), Map.of("format", "pt"));
        Files.write(dir.resolve("labels.txt"), List.of("cat", "dog", "ship", "tree"));
        return dir;
    }

    static Path png(Path dir, int w, int h) throws IOException {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                img.setRGB(x, y, ((x * 255 / w) << 16) | ((y * 255 / h) << 8) | 128);
            }
        }
        Path f = dir.resolve("photo.png");
        ImageIO.write(img, "png", f.toFile());
        return f;
    }

    @Test
    void predictsTopClassesAndSkipsBrokenImages(@TempDir Path dir) throws IOException {
        Path md = modelDir(Files.createDirectories(dir.resolve("model")));
        Path photo = png(dir, 60, 45);
        Predictor p = Predictor.load(md);
        // eval transform: shorter side to floor(32 / 0.875) = 36, center crop 32
        var x = p.preprocess(Predictor.read(photo));
        assertEquals(List.of(1L, 3L, 32L, 32L), java.util.Arrays.stream(x.shape()).boxed().toList());
        var top = p.predict(Predictor.read(photo), 3);
        assertEquals(3, top.size());
        assertTrue(top.get(0).probability() >= top.get(1).probability());
        assertTrue(List.of("cat", "dog", "ship", "tree").contains(top.get(0).label()));
        Path broken = dir.resolve("broken.png");
        Files.write(broken, new byte[]{1, 2, 3});
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream old = System.out;
        int rc;
        try {
            System.setOut(new PrintStream(out));
            rc = new CommandLine(new Kat()).execute("predict", "--model-dir", md.toString(), broken.toString(), photo.toString());
        } finally {
            System.setOut(old);
        }
        assertEquals(1, rc, "a failed image makes the exit code non-zero");
        assertTrue(out.toString().contains("photo.png:"), "the good image still ran: " + out);
        List<String> names = Predictor.imagenetClasses();
        assertEquals(1000, names.size());
        assertEquals("tench", names.get(0));
        assertEquals("golden retriever", names.get(207));
        assertEquals("toilet tissue", names.get(999));
    }

    @Test
    void checkpointsOfKatTrainPredictWithTheirDatasNormalisation(@TempDir Path dir) throws IOException {
        VisionTransformer m = Models.create("kat_micro_patch7_28", Map.of("num_classes", 10), 1);
        Path ckpt = dir.resolve("best.safetensors");
        Safetensors.write(ckpt, m.namedParameters(), Map.of("kat4j.model", "kat_micro_patch7_28", "kat4j.data",
                "fashion-mnist train", "kat4j.data.mean", "0.286", "kat4j.data.std", "0.353"));
        Path photo = png(dir, 28, 28);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream old = System.out;
        int rc;
        int rcOld;
        try {
            System.setOut(new PrintStream(out));
            rc = Kat.commandLine().execute("predict", "--checkpoint", ckpt.toString(), "--top", "10", photo.toString());
            Path older = dir.resolve("older.safetensors");
            Safetensors.write(older, m.namedParameters(), Map.of("kat4j.model", "kat_micro_patch7_28"));
            CommandLine cl = Kat.commandLine();
            cl.setErr(new java.io.PrintWriter(err, true));
            rcOld = cl.execute("predict", "--checkpoint", older.toString(), photo.toString());
        } finally {
            System.setOut(old);
        }
        assertEquals(0, rc, out.toString());
        for (String c : org.kat4j.data.FashionMnist.CLASSES) {
            assertTrue(out.toString().contains(c + " ("), "all ten Fashion-MNIST classes named: " + out);
        }
        // the same numbers as the Predictor made from the model and that normalisation
        var top = Predictor.of(m, new float[]{0.286f}, new float[]{0.353f}, List.of(org.kat4j.data.FashionMnist.CLASSES))
                .predict(Predictor.read(photo), 1);
        assertTrue(out.toString().contains(top.get(0).toString()), top + " in " + out);
        assertEquals(1, rcOld);
        assertTrue(err.toString().contains("older.safetensors: no kat4j.data.mean in its metadata"), err.toString());
    }

    @Test
    void decompressionBombsAreRefusedBeforeTheirPixelsAreTaken(@TempDir Path dir) throws IOException {
        Path md = modelDir(Files.createDirectories(dir.resolve("model")));
        Predictor p = Predictor.load(md);
        Runtime rt = Runtime.getRuntime();
        long before = rt.totalMemory() - rt.freeMemory();
        // a 1,000,000 x 1 PNG is a few KB; its eval resize would be 36,000,000 x 36 pixels
        Path thin = dir.resolve("thin.png");
        ImageIO.write(new BufferedImage(1_000_000, 1, BufferedImage.TYPE_BYTE_GRAY), "png", thin.toFile());
        long t0 = System.nanoTime();
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> p.preprocess(Predictor.read(thin)));
        assertTrue(e.getMessage().contains("more than the limit"), e.getMessage());
        // a header claiming 100,000 x 100,000 pixels is refused by its dimensions alone
        Path big = dir.resolve("big.png");
        byte[] header = pngHeader(100_000, 100_000);
        Files.write(big, header);
        var e2 = org.junit.jupiter.api.Assertions.assertThrows(IOException.class, () -> Predictor.read(big));
        assertTrue(e2.getMessage().contains("10,000,000,000 pixels, more than the limit of 89,478,485"), e2.getMessage());
        assertTrue((System.nanoTime() - t0) / 1e9 < 1, "refused at once");
        assertTrue(rt.totalMemory() - rt.freeMemory() - before < 64L << 20, "no pixel memory taken");
    }

    /** A PNG signature and an IHDR chunk of the given size (no pixel data: the header is all a reader needs for the size). */
    static byte[] pngHeader(int w, int h) {
        java.nio.ByteBuffer ihdr = java.nio.ByteBuffer.allocate(17);
        ihdr.put("IHDR".getBytes()).putInt(w).putInt(h).put((byte) 8).put((byte) 2).put((byte) 0).put((byte) 0).put((byte) 0);
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update(ihdr.array());
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(8 + 4 + 17 + 4);
        b.put(new byte[]{(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}).putInt(13).put(ihdr.array()).putInt((int) crc.getValue());
        return b.array();
    }
}
