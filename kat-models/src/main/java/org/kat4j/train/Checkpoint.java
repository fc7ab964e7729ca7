package org.kat4j.train;

import org.kat4j.io.Safetensors;
import org.kat4j.models.VisionTransformer;
import org.kat4j.optim.AdamW;
import org.kat4j.tensor.Tensor;

import java.io.IOException;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Training checkpoints: the model's tensors under their timm names, AdamW's moments under
 * {@code optim.m.NAME} / {@code optim.v.NAME}, the EMA (if on) under {@code ema.NAME}, and epoch,
 * step count, best accuracy and the training data's name, normalisation and class names
 * ({@link #DATA}, {@link #DATA_MEAN}, {@link #DATA_STD}, {@link #DATA_CLASSES}) in the metadata; one
 * safetensors file, written atomically.
 */
public final class Checkpoint {
    /** Metadata key: the name of the data set the weights were trained on. */
    public static final String DATA = "kat4j.data";
    /** Metadata key: the training data's per-channel mean of pixel/255, comma-separated. */
    public static final String DATA_MEAN = "kat4j.data.mean";
    /** Metadata key: the training data's per-channel standard deviation of pixel/255, comma-separated. */
    public static final String DATA_STD = "kat4j.data.std";
    /** Metadata key: the training data's class names, label by label, as a JSON array of strings. */
    public static final String DATA_CLASSES = "kat4j.data.classes";
    static final String CSV_HEADER = "epoch,train_loss,train_acc,test_loss,test_acc,lr,images_per_s,seconds";

    private Checkpoint() {
    }

    /** What a resume needs beyond the tensors. */
    public record Loaded(int epoch, double bestAcc, Map<String, String> metadata) {
    }

    public static void save(Path path, VisionTransformer model, AdamW opt, ModelEma ema, Map<String, String> metadata)
            throws IOException {
        Map<String, Tensor> all = new LinkedHashMap<>(model.namedParameters());
        if (ema != null) {
            ema.tensors().forEach((k, v) -> all.put("ema." + k, v));
        }
        Map<Tensor, Tensor[]> state = opt.state();
        for (var e : model.namedParameters().entrySet()) {
            Tensor[] mv = state.get(e.getValue());
            if (mv != null) {
                all.put("optim.m." + e.getKey(), mv[0]);
                all.put("optim.v." + e.getKey(), mv[1]);
            }
        }
        Safetensors.write(path, all, metadata);
    }

    /** The model weights of a checkpoint or a weights file (optimizer entries left out). */
    public static Map<String, Tensor> weights(Safetensors.Contents c) throws IOException {
        Map<String, Tensor> w = new LinkedHashMap<>();
        c.floatTensors().forEach((k, v) -> {
            if (!k.startsWith("optim.") && !k.startsWith("ema.")) {
                w.put(k, v);
            }
        });
        return w;
    }

    /** Loads weights (strict) and, when present, the optimizer moments. */
    public static Loaded load(Path path, VisionTransformer model, AdamW opt, ModelEma ema) throws IOException {
        Safetensors.Contents c = Safetensors.read(path);
        try {
            model.loadStateDict(weights(c), true);
        } catch (IllegalArgumentException e) {
            throw new IOException(path + ": does not fit the model: " + e.getMessage(), e);
        }
        String epoch = c.metadata().get("kat4j.epoch");
        if (epoch == null) {
            throw new IOException(path + ": no kat4j.epoch in the metadata: not a kat4j training checkpoint");
        }
        int epochNumber = (int) metadataNumber(path, "kat4j.epoch", epoch, 0, 1_000_000);
        long steps = (long) metadataNumber(path, "kat4j.adam_steps", c.metadata().getOrDefault("kat4j.adam_steps", "0"), 0, 1e15);
        for (var e : model.namedParameters().entrySet()) {
            Tensor m = c.tensors().get("optim.m." + e.getKey());
            Tensor v = c.tensors().get("optim.v." + e.getKey());
            if (m != null && v != null && opt != null) {
                opt.restore(e.getValue(), m, v, steps);
            }
        }
        if (ema != null) {
            Map<String, Tensor> saved = new LinkedHashMap<>();
            c.tensors().forEach((k, v) -> {
                if (k.startsWith("ema.")) {
                    saved.put(k.substring(4), v);
                }
            });
            ema.load(saved.isEmpty() ? weights(c) : saved);
        }
        double best = metadataNumber(path, "kat4j.best_acc", c.metadata().getOrDefault("kat4j.best_acc", "-1"), -1, 1);
        return new Loaded(epochNumber, best, c.metadata());
    }

    /** Class names as {@link #DATA_CLASSES} holds them. */
    static String names(List<String> names) {
        com.google.gson.JsonArray a = new com.google.gson.JsonArray();
        names.forEach(a::add);
        return a.toString();
    }

    /**
     * The class names of the data the weights of {@code path} were trained on ({@link
     * #DATA_CLASSES}), or an empty list where the metadata has none (checkpoints written before
     * kat4j recorded them); an error naming the file where the value is not a JSON array of strings.
     */
    public static List<String> classNames(Path path, Map<String, String> metadata) throws IOException {
        String value = metadata.get(DATA_CLASSES);
        if (value == null) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        try {
            for (com.google.gson.JsonElement e : com.google.gson.JsonParser.parseString(value).getAsJsonArray()) {
                out.add(e.getAsString());
            }
        } catch (RuntimeException e) {
            throw new IOException(path + ": metadata " + DATA_CLASSES + " = '" + value + "', expected a JSON array of strings");
        }
        return out;
    }

    /** Values as {@link #DATA_MEAN} and {@link #DATA_STD} hold them. */
    static String floats(float[] v) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < v.length; i++) {
            s.append(i == 0 ? "" : ",").append(v[i]);
        }
        return s.toString();
    }

    /**
     * The per-channel {mean, std} of the data the weights of {@code path} were trained on
     * ({@link #DATA_MEAN}, {@link #DATA_STD}), {@code channels} values each, or an error naming
     * the file and what it lacks.
     */
    public static float[][] dataNormalization(Path path, Map<String, String> metadata, int channels) throws IOException {
        float[][] out = new float[2][];
        String[] keys = {DATA_MEAN, DATA_STD};
        for (int k = 0; k < 2; k++) {
            String value = metadata.get(keys[k]);
            if (value == null) {
                throw new IOException(path + ": no " + keys[k] + " in its metadata (written before kat4j recorded the"
                        + " training data's normalisation): use a model directory, or train again");
            }
            String[] parts = value.split(",", -1);
            if (parts.length != channels) {
                throw new IOException(path + ": metadata " + keys[k] + " = '" + value + "', expected " + channels
                        + " comma-separated values (one per input channel)");
            }
            out[k] = new float[channels];
            for (int c = 0; c < channels; c++) {
                out[k][c] = (float) metadataNumber(path, keys[k], parts[c], k == 0 ? 0 : Double.MIN_VALUE, k == 0 ? 1 : 10);
            }
        }
        return out;
    }

    /** A metadata value as a number in [lo, hi] (whole where lo and hi are), or an error naming file, key and value. */
    static double metadataNumber(Path path, String key, String value, double lo, double hi) throws IOException {
        double v;
        try {
            v = Double.parseDouble(value.trim());
        } catch (NumberFormatException e) {
            throw new IOException(path + ": metadata " + key + " = '" + value + "', expected a number");
        }
        boolean whole = key.equals("kat4j.epoch") || key.equals("kat4j.adam_steps");
        if (!(v >= lo && v <= hi) || (whole && v != Math.rint(v))) {
            throw new IOException(path + ": metadata " + key + " = " + value + ", expected " + (whole ? "a whole number" : "a number")
                    + " in [" + (whole ? String.valueOf((long) lo) : String.valueOf(lo)) + ", "
                    + (whole ? String.valueOf((long) hi) : String.valueOf(hi)) + "]");
        }
        return v;
    }

    /** Replaces {@code csv} (atomically) with the header and {@code rows}. */
    static void writeMetricsFile(Path csv, List<Trainer.EpochResult> rows) throws IOException {
        java.io.StringWriter w = new java.io.StringWriter();
        w.write(CSV_HEADER + "\n");
        writeMetrics(w, rows);
        org.kat4j.io.AtomicFiles.writeString(csv, w.toString());
    }

    static void writeMetrics(Writer csv, List<Trainer.EpochResult> rows) throws IOException {
        for (Trainer.EpochResult r : rows) {
            csv.write(String.format(Locale.ROOT, "%d,%.6f,%.6f,%.6f,%.6f,%.6g,%.1f,%.2f%n", r.epoch(), r.trainLoss(), r.trainAcc(),
                    r.testLoss(), r.testAcc(), r.lr(), r.imagesPerSecond(), r.seconds()));
        }
    }

    /** The rows of metrics.csv up to {@code lastEpoch} (for the curves of a resumed run). */
    static List<Trainer.EpochResult> readMetrics(Path csv, int lastEpoch) throws IOException {
        List<Trainer.EpochResult> out = new ArrayList<>();
        if (!Files.exists(csv)) {
            return out;
        }
        for (String line : Files.readAllLines(csv)) {
            if (line.startsWith("epoch") || line.isBlank()) {
                continue;
            }
            String[] f = line.split(",");
            int e = Integer.parseInt(f[0]);
            if (e <= lastEpoch) {
                out.add(new Trainer.EpochResult(e, Double.parseDouble(f[1]), Double.parseDouble(f[2]), Double.parseDouble(f[3]),
                        Double.parseDouble(f[4]), Double.parseDouble(f[5]), Double.parseDouble(f[6]), Double.parseDouble(f[7])));
            }
        }
        return out;
    }
}
