package org.kat4j.predict;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.kat4j.autograd.Autograd;
import org.kat4j.data.Images;
import org.kat4j.models.Models;
import org.kat4j.models.VisionTransformer;
import org.kat4j.tensor.Tensor;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Image classification with a model directory (config.json + model.safetensors; class names from
 * labels.txt beside them, or ImageNet-1k's for 1000-class heads), timm's eval
 * transform: resize the shorter side to size / crop_pct (bicubic), center crop, normalise with the
 * config's mean/std. {@link #of} makes one for a model in memory (the weights of kat train, whose
 * checkpoints record the training data's mean/std), without the crop.
 *
 * <pre>{@code
 * var p = Predictor.load(Path.of("kat_tiny"));
 * for (var top : p.predict(ImageIO.read(file), 5)) System.out.println(top);
 * }</pre>
 */
public final class Predictor {
    private final VisionTransformer model;
    private final double cropPct;
    private final float[] mean;
    private final float[] std;
    private final List<String> labels;

    /** One ranked class. */
    public record Prediction(int index, String label, double probability) {
        @Override
        public String toString() {
            return String.format(java.util.Locale.ROOT, "%6.2f%%  %s (%d)", 100 * probability, label, index);
        }
    }

    private Predictor(VisionTransformer model, double cropPct, float[] mean, float[] std, List<String> labels) {
        model.train(false);
        this.model = model;
        this.cropPct = cropPct;
        this.mean = mean;
        this.std = std;
        this.labels = labels;
    }

    /**
     * A predictor for {@code model} fed as its training data was: each image resized (bicubic) so
     * that its shorter side is the model's input size, the centre cut out, pixel/255 normalised
     * with the per-channel {@code mean} and {@code std} (images averaged to grey for one-channel
     * models); {@code labels} name the classes (may be shorter than the head: "class i" then).
     */
    public static Predictor of(VisionTransformer model, float[] mean, float[] std, List<String> labels) {
        int c = model.config().inChans();
        if (mean.length != c || std.length != c) {
            throw new IllegalArgumentException("mean/std have " + mean.length + "/" + std.length + " values for a model of "
                    + c + " input channels");
        }
        return new Predictor(model, 1.0, mean.clone(), std.clone(), List.copyOf(labels));
    }

    /** Loads DIR/config.json + DIR/model.safetensors; class names from DIR/labels.txt if present. */
    public static Predictor load(Path dir) throws IOException {
        VisionTransformer m = Models.fromPretrained(dir);
        JsonObject cfg = JsonParser.parseString(Files.readString(dir.resolve("config.json"))).getAsJsonObject();
        JsonObject pre = cfg.has("pretrained_cfg") ? cfg.getAsJsonObject("pretrained_cfg") : new JsonObject();
        double crop = pre.has("crop_pct") ? pre.get("crop_pct").getAsDouble() : 0.875;
        float[] mean = floats(pre, "mean", new float[]{0.485f, 0.456f, 0.406f});
        float[] std = floats(pre, "std", new float[]{0.229f, 0.224f, 0.225f});
        int c = m.config().inChans();
        if (mean.length != c || std.length != c) {
            throw new IOException(dir + "/config.json: mean/std have " + mean.length + "/" + std.length + " values for " + c
                    + " channels");
        }
        List<String> labels = new ArrayList<>();
        Path l = dir.resolve("labels.txt");
        if (Files.exists(l)) {
            labels.addAll(Files.readAllLines(l));
        } else if (m.config().numClasses() == 1000) {
            labels.addAll(imagenetClasses());
        }
        return new Predictor(m, crop, mean, std, labels);
    }

    /** The 1,000 ImageNet-1k class names in class-index order (shipped with kat-models). */
    public static List<String> imagenetClasses() throws IOException {
        try (var in = Predictor.class.getResourceAsStream("imagenet-classes.txt")) {
            if (in == null) {
                throw new IOException("imagenet-classes.txt missing from the kat-models jar");
            }
            return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).lines().toList();
        }
    }

    private static float[] floats(JsonObject o, String key, float[] dflt) {
        if (!o.has(key)) {
            return dflt;
        }
        JsonArray a = o.getAsJsonArray(key);
        float[] v = new float[a.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = a.get(i).getAsFloat();
        }
        return v;
    }

    /** The eval transform: [1, C, size, size] float32. */
    public Tensor preprocess(BufferedImage img) {
        int size = model.config().imgSize();
        BufferedImage crop = Images.resizeAndCrop(img, (int) Math.floor(size / cropPct), size);
        int c = model.config().inChans();
        float[] out = new float[c * size * size];
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                int rgb = crop.getRGB(x, y);
                float[] px = {((rgb >> 16) & 0xff) / 255f, ((rgb >> 8) & 0xff) / 255f, (rgb & 0xff) / 255f};
                if (c == 1) {
                    float grey = (px[0] + px[1] + px[2]) / 3;
                    out[y * size + x] = (grey - mean[0]) / std[0];
                } else {
                    for (int ch = 0; ch < 3; ch++) {
                        out[ch * size * size + y * size + x] = (px[ch] - mean[ch]) / std[ch];
                    }
                }
            }
        }
        return Tensor.of(out, 1, c, size, size);
    }

    /** This predictor with its model on {@code device} (images are moved there for each prediction). */
    public Predictor on(org.kat4j.backend.Device device) {
        model.to(device);
        return this;
    }

    /** The k most probable classes. */
    public List<Prediction> predict(BufferedImage img, int k) {
        double[] p;
        try (var ng = Autograd.noGrad()) {
            p = model.forward(preprocess(img).to(model.device())).softmax().toDoubleArray();
        }
        Integer[] idx = new Integer[p.length];
        for (int i = 0; i < p.length; i++) {
            idx[i] = i;
        }
        java.util.Arrays.sort(idx, (a, b) -> Double.compare(p[b], p[a]));
        List<Prediction> out = new ArrayList<>();
        for (int i = 0; i < Math.min(k, p.length); i++) {
            int c = idx[i];
            out.add(new Prediction(c, c < labels.size() ? labels.get(c) : "class " + c, p[c]));
        }
        return out;
    }

    /** As {@link Images#maxPixels()}. */
    public static long maxPixels() {
        return Images.maxPixels();
    }

    /** As {@link Images#read(Path)}: an image file, or an error naming the file. */
    public static BufferedImage read(Path file) throws IOException {
        return Images.read(file);
    }
}
