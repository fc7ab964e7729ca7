package org.kat4j.e2e;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.kat4j.io.Safetensors;
import org.kat4j.models.Models;
import org.kat4j.models.VisionTransformer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * PyTorch .pth -> tools/convert_checkpoint.py -> kat4j -> safetensors -> PyTorch: identical
 * tensors. Needs /usr/bin/python3 with torch (Debian's python3-torch); skipped without it.
 */
class ConverterRoundTripTest {
    static final Path ROOT = Path.of(System.getProperty("user.dir")).resolve("../..").normalize();

    static String run(Path dir, String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "timed out: " + String.join(" ", cmd));
        assertEquals(0, p.exitValue(), String.join(" ", cmd) + ":\n" + out);
        return out;
    }

    static boolean torchAvailable() {
        try {
            Process p = new ProcessBuilder("/usr/bin/python3", "-c", "import torch").start();
            return p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }

    @Test
    void pytorchToKat4jAndBackIsIdentical(@TempDir Path tmp) throws Exception {
        assumeTrue(Files.exists(ROOT.resolve("tools/convert_checkpoint.py")), "tools/ not found from " + ROOT);
        assumeTrue(torchAvailable(), "no PyTorch at /usr/bin/python3 (apt-get install python3-torch)");
        Path pth = tmp.resolve("ref.pth");
        run(ROOT, "/usr/bin/python3", "tools/roundtrip_check.py", "make", pth.toString());
        Path dir = tmp.resolve("converted");
        String out = run(ROOT, "/usr/bin/python3", "tools/convert_checkpoint.py", pth.toString(), "kat_micro_patch4_32",
                dir.toString());
        assertTrue(out.contains("model.safetensors"), out);
        // the reference config is not a registered size: give its arguments as model_args
        String cfg = Files.readString(dir.resolve("config.json")).replaceFirst("\\{", "{\"model_args\": {\"patch_size\": 8,"
                + " \"embed_dim\": 64, \"depth\": 2, \"num_heads\": 2},");
        Files.writeString(dir.resolve("config.json"), cfg);
        VisionTransformer m = Models.fromPretrained(dir);
        Path back = tmp.resolve("back.safetensors");
        Safetensors.write(back, m.namedParameters(), Map.of("format", "pt"));
        out = run(ROOT, "/usr/bin/python3", "tools/roundtrip_check.py", "compare", pth.toString(), back.toString());
        assertTrue(out.contains("round trip identical"), out);
        assertEquals(10, m.config().numClasses());
        // the converted model predicts on a photo-like PNG
        java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(48, 40, java.awt.image.BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 40; y++) {
            for (int x = 0; x < 48; x++) {
                img.setRGB(x, y, (x * 5 << 16) | (y * 6 << 8) | 90);
            }
        }
        var top = org.kat4j.predict.Predictor.load(dir).predict(img, 5);
        assertEquals(5, top.size());
        assertTrue(top.get(0).probability() > 0 && top.get(0).probability() < 1);
        assertTrue(List.of(out.split("\n")).stream().anyMatch(l -> l.contains("tensors")));
    }
}
