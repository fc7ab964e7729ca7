package org.kat4j.e2e;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.kat4j.cli.Kat;
import org.kat4j.io.Safetensors;
import org.kat4j.models.Models;
import org.kat4j.models.VisionTransformer;
import org.kat4j.optim.AdamW;
import org.kat4j.tensor.Tensor;
import org.kat4j.train.Checkpoint;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bad state in checkpoints and flags is refused with one line; no library text reaches the user. */
class StateAndMessagesTest {
    static final Map<String, Object> TINY = Map.of("depth", 1, "embed_dim", 16, "num_heads", 2);

    @TempDir
    Path dir;

    Path checkpoint(String epoch, String steps) throws IOException {
        VisionTransformer m = Models.create("kat_micro_patch7_28", TINY, 1);
        Path f = dir.resolve("last-" + epoch + "-" + steps + ".safetensors");
        Checkpoint.save(f, m, AdamW.builder(m.parameters()).build(), null,
                Map.of("kat4j.epoch", epoch, "kat4j.adam_steps", steps, "kat4j.best_acc", "0.5"));
        return f;
    }

    String loadError(Path f) {
        VisionTransformer m = Models.create("kat_micro_patch7_28", TINY, 2);
        return assertThrows(IOException.class, () -> Checkpoint.load(f, m, AdamW.builder(m.parameters()).build(), null))
                .getMessage();
    }

    @Test
    void checkpointMetadataIsRangeChecked() throws IOException {
        assertTrue(loadError(checkpoint("-5", "0")).contains("metadata kat4j.epoch = -5, expected a whole number in [0, 1000000]"));
        assertTrue(loadError(checkpoint("2.5", "0")).contains("kat4j.epoch = 2.5"));
        assertTrue(loadError(checkpoint("two", "0")).contains("kat4j.epoch = 'two', expected a number"));
        assertTrue(loadError(checkpoint("3", "-1")).contains("kat4j.adam_steps = -1"));
        VisionTransformer m = Models.create("kat_micro_patch7_28", TINY, 2);
        assertEquals(3, Checkpoint.load(checkpoint("3", "60"), m, AdamW.builder(m.parameters()).build(), null).epoch());
    }

    @Test
    void nonFiniteWeightsAreRefusedUnlessAllowed() throws IOException {
        VisionTransformer m = Models.create("kat_micro_patch7_28", TINY, 1);
        Map<String, Tensor> w = new LinkedHashMap<>(m.stateDict());
        float[] v = w.get("head.weight").toFloatArray();
        v[3] = Float.NaN;
        v[7] = Float.POSITIVE_INFINITY;
        w.put("head.weight", Tensor.of(v, w.get("head.weight").shape()));
        Path f = dir.resolve("nan.safetensors");
        Safetensors.write(f, w, Map.of());
        VisionTransformer fresh = Models.create("kat_micro_patch7_28", TINY, 2);
        var e = assertThrows(IllegalArgumentException.class, () -> fresh.loadStateDict(Safetensors.read(f).tensors(), true));
        assertTrue(e.getMessage().contains("head.weight holds 2 NaN or infinite value(s), the first at element 3"), e.getMessage());
        System.setProperty("kat4j.allowNonFinite", "true");
        try {
            fresh.loadStateDict(Safetensors.read(f).tensors(), true);
        } finally {
            System.clearProperty("kat4j.allowNonFinite");
        }
        assertTrue(Float.isNaN(fresh.stateDict().get("head.weight").toFloatArray()[3]));
    }

    String kat(String... args) {
        CommandLine cl = Kat.commandLine();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        cl.setErr(new java.io.PrintWriter(err, true));
        PrintStream old = System.out;
        try {
            System.setOut(new PrintStream(new ByteArrayOutputStream()));
            assertEquals(1, cl.execute(args), "fails: " + String.join(" ", args));
        } finally {
            System.setOut(old);
        }
        return err.toString().strip();
    }

    @Test
    void errorsAreOneLineSayingWhatCame() throws IOException {
        assertEquals("kat: --lr Infinity: expected a finite value in (0, 10.0]", kat("train", "--builtin", "--lr", "Infinity"));
        assertEquals("kat: --epochs 0: expected a whole number in [1, 100000]", kat("train", "--builtin", "--epochs", "0"));
        assertEquals("kat: --autocast fp16: expected bf16 or none", kat("train", "--builtin", "--autocast", "fp16"));
        assertEquals("kat: --cuda-graphs records a CUDA device's work; the model is on cpu (add --device cuda)",
                kat("train", "--builtin", "--cuda-graphs", "--out", dir.resolve("graphs").toString()));
        assertEquals("kat: --cuda-graphs records a CUDA device's work; the model is on cpu (add --device cuda)",
                kat("compare", "--builtin", "--cuda-graphs", "--out", dir.resolve("graphs-compare").toString()));
        // kat compare checks its options as kat train does, before anything is loaded or trained
        assertEquals("kat: --epochs 0: expected a whole number in [1, 100000]", kat("compare", "--builtin", "--epochs", "0"));
        assertEquals("kat: --lr -1.0: expected a finite value in (0, 10.0]", kat("compare", "--builtin", "--lr", "-1"));
        String size = kat("compare", "--builtin", "--size", "nope");
        assertTrue(size.startsWith("kat: --size nope: expected one of ") && size.contains("micro_patch7_28")
                && size.contains("tiny_patch16_224, ") && !size.contains("kat_micro") && !size.contains("vit_tiny"), size);
        assertEquals("kat: model vit_tiny_patch16_224 takes 3x224x224 images, the data has 1x28x28 (try --size micro_patch4_28 or --size micro_patch7_28)",
                kat("compare", "--builtin", "--size", "tiny_patch16_224", "--out", dir.resolve("cmp").toString()));
        assertFalse(Files.exists(dir.resolve("cmp")), "nothing written");
        // weights of one model evaluated as another: the checkpoint's own model named, not a list of missing tensors
        VisionTransformer vit = Models.create("vit_micro_patch7_28", Map.of("num_classes", 10), 1);
        Path vitCkpt = dir.resolve("vit.safetensors");
        Safetensors.write(vitCkpt, vit.namedParameters(), Map.of("kat4j.model", "vit_micro_patch7_28"));
        assertEquals("kat: " + vitCkpt + " holds vit_micro_patch7_28 weights (its kat4j.model), which do not fit kat_micro_patch7_28;"
                + " leave out --model to load them as vit_micro_patch7_28",
                kat("eval", "--checkpoint", vitCkpt.toString(), "--model", "kat_micro_patch7_28", "--builtin"));
        Path model = Files.createDirectories(dir.resolve("model"));
        Files.writeString(model.resolve("config.json"), "{\"architecture\": \"kat_micro_patch7_28\", \"model_args\": {\"depth\": }");
        Files.writeString(model.resolve("model.safetensors"), "");
        String bad = kat("predict", "--model-dir", model.toString(), "x.png");
        assertTrue(bad.startsWith("kat: " + model.resolve("config.json") + ": not a JSON object"), bad);
        assertFalse(bad.contains("setStrictness") || bad.contains("https://") || bad.contains("\n") || bad.contains("com.google"), bad);
        // the file and the system's reason, where Java's message is the path alone
        Path file = Files.writeString(dir.resolve("a-file"), "");
        String out = kat("train", "--builtin", "--epochs", "1", "--out", file.resolve("run").toString());
        assertTrue(out.startsWith("kat: " + file.resolve("run") + ": ") && out.length() > ("kat: " + file.resolve("run") + ": ").length(),
                out);
        assertEquals("kat: --resume " + file.resolve("none") + ": no such file",
                kat("train", "--builtin", "--resume", file.resolve("none").toString()));
        assertEquals("kat: no registered model matches 'zzz*'; kat models lists them all", kat("models", "zzz*"));
        assertEquals("/x/y: no such file or directory", Kat.describe(new java.nio.file.NoSuchFileException("/x/y")));
        assertEquals("/x: permission denied", Kat.describe(new java.nio.file.AccessDeniedException("/x")));
        assertEquals("/a -> /b: Read-only file system",
                Kat.describe(new java.nio.file.FileSystemException("/a", "/b", "Read-only file system")));
        assertEquals("internal error (ArithmeticException); rerun with --verbose for the details",
                Kat.describe(new ArithmeticException("/ by zero")));
        assertEquals("internal error (NegativeArraySizeException); rerun with --verbose for the details",
                Kat.describe(new NegativeArraySizeException("-749934592")));
    }
}
