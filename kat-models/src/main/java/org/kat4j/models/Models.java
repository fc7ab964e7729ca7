package org.kat4j.models;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.kat4j.models.VitConfig.BlockKind;
import org.kat4j.nn.LinearInit;
import org.kat4j.rational.RationalInit;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The model registry, by timm name: {@code Models.create("kat_tiny_patch16_224", Map.of("num_classes", 10))}.
 * Names accept globs in {@link #list(String)} ({@code kat_*}).
 */
public final class Models {
    private static final Map<String, VitConfig> REGISTRY = new LinkedHashMap<>();

    static {
        for (BlockKind kind : BlockKind.values()) {
            String p = kind == BlockKind.MLP ? "vit" : "kat";
            REGISTRY.put(p + "_tiny_patch16_224", VitConfig.of(kind, 224, 16, 3, 1000, 192, 12, 3));
            REGISTRY.put(p + "_small_patch16_224", VitConfig.of(kind, 224, 16, 3, 1000, 384, 12, 6));
            REGISTRY.put(p + "_base_patch16_224", VitConfig.of(kind, 224, 16, 3, 1000, 768, 12, 12));
            // small images: Fashion-MNIST (28x28 grey) and CIFAR (32x32 colour), sized for minutes on 2 cores
            REGISTRY.put(p + "_micro_patch4_28", VitConfig.of(kind, 28, 4, 1, 10, 64, 4, 4));
            REGISTRY.put(p + "_micro_patch4_32", VitConfig.of(kind, 32, 4, 3, 10, 64, 4, 4));
            // 7x7 patches: 16 tokens instead of 49, about 3x cheaper per image than patch 4
            REGISTRY.put(p + "_micro_patch7_28", VitConfig.of(kind, 28, 7, 1, 10, 64, 4, 4));
        }
    }

    private Models() {
    }

    /** Registered names matching a glob ({@code *} and {@code ?}); all names for null. */
    public static List<String> list(String glob) {
        List<String> out = new ArrayList<>();
        Pattern p = glob == null ? null : globPattern(glob);
        for (String name : REGISTRY.keySet()) {
            if (p == null || p.matcher(name).matches()) {
                out.add(name);
            }
        }
        return out;
    }

    /** A shell-style glob as a pattern: * any run of characters, ? one, every other character itself. */
    private static Pattern globPattern(String glob) {
        StringBuilder re = new StringBuilder();
        for (int i = 0; i < glob.length(); i++) {
            char c = glob.charAt(i);
            re.append(c == '*' ? ".*" : c == '?' ? "." : Pattern.quote(String.valueOf(c)));
        }
        return Pattern.compile(re.toString());
    }

    /** The configuration of a registered model, with overrides (timm model_args names). */
    public static VitConfig config(String name, Map<String, ?> overrides) {
        VitConfig c = REGISTRY.get(name);
        if (c == null) {
            throw new IllegalArgumentException("unknown model '" + name + "'; known: " + String.join(", ", REGISTRY.keySet()));
        }
        return apply(c, overrides);
    }

    public static VisionTransformer create(String name, Map<String, ?> overrides, long seed) {
        VitConfig c = config(name, overrides);
        c.checkFits(memoryBytes());
        return new VisionTransformer(c, seed);
    }

    /** The machine's physical memory (what a model's training state must fit in). */
    static long memoryBytes() {
        java.lang.management.OperatingSystemMXBean os = java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean sun) {
            return sun.getTotalMemorySize();
        }
        return Runtime.getRuntime().maxMemory() * 4;
    }

    public static VisionTransformer create(String name, Map<String, ?> overrides) {
        return create(name, overrides, 0L);
    }

    /**
     * A model from a timm-style config.json: {@code architecture} (a registered name), optional
     * {@code model_args} (overrides) and {@code num_classes}.
     */
    public static VisionTransformer fromConfigJson(Path configJson, long seed) throws IOException {
        JsonObject o;
        try {
            o = JsonParser.parseString(Files.readString(configJson)).getAsJsonObject();
        } catch (RuntimeException e) {
            throw new IOException(configJson + ": not a JSON object (" + jsonError(e) + ")", e);
        }
        if (!o.has("architecture")) {
            throw new IOException(configJson + ": no \"architecture\" field");
        }
        Map<String, Object> overrides = new LinkedHashMap<>();
        if (o.has("model_args")) {
            if (!o.get("model_args").isJsonObject()) {
                throw new IOException(configJson + ": \"model_args\" is " + o.get("model_args") + ", expected an object");
            }
            for (Map.Entry<String, JsonElement> e : o.getAsJsonObject("model_args").entrySet()) {
                overrides.put(e.getKey(), jsonValue(e.getValue()));
            }
        }
        if (o.has("num_classes")) {
            overrides.put("num_classes", jsonValue(o.get("num_classes")));
        }
        JsonElement arch = o.get("architecture");
        if (!arch.isJsonPrimitive() || !arch.getAsJsonPrimitive().isString()) {
            throw new IOException(configJson + ": \"architecture\" is " + arch + ", expected a model name");
        }
        try {
            return create(arch.getAsString(), overrides, seed);
        } catch (IllegalArgumentException | IllegalStateException | UnsupportedOperationException e) {
            throw new IOException(configJson + ": " + e.getMessage(), e);
        }
    }

    /**
     * A model directory in the Hugging Face timm layout: {@code config.json} (architecture,
     * num_classes, model_args) and {@code model.safetensors}, loaded strictly (every key, every shape).
     */
    public static VisionTransformer fromPretrained(Path dir) throws IOException {
        Path cfg = dir.resolve("config.json");
        Path weights = dir.resolve("model.safetensors");
        if (!Files.exists(cfg) || !Files.exists(weights)) {
            throw new IOException(dir + ": expected config.json and model.safetensors (convert a timm checkpoint first)");
        }
        VisionTransformer m = fromConfigJson(cfg, 0);
        try {
            m.loadStateDict(org.kat4j.io.Safetensors.read(weights).floatTensors(), true);
        } catch (IllegalArgumentException e) {
            throw new IOException(weights + " does not match " + cfg + ": " + e.getMessage(), e);
        }
        return m;
    }

    /** Gson's message without its advice (the first line, "malformed JSON" for its strictness hint). */
    static String jsonError(RuntimeException e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        int nl = m.indexOf('\n');
        if (nl >= 0) {
            m = m.substring(0, nl);
        }
        m = m.replaceFirst("^[a-z]+(\\.[a-z]+)+\\.[A-Za-z]+Exception: ", ""); // a wrapped exception's class name
        return m.replace("Use JsonReader.setStrictness(Strictness.LENIENT) to accept malformed JSON", "malformed JSON").strip();
    }

    private static Object jsonValue(JsonElement e) {
        if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isNumber()) {
            return e.getAsDouble();
        }
        if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isBoolean()) {
            return e.getAsBoolean();
        }
        return e.isJsonPrimitive() ? e.getAsString() : e.toString();
    }

    static VitConfig apply(VitConfig c, Map<String, ?> o) {
        if (o == null || o.isEmpty()) {
            return c;
        }
        int img = c.imgSize(), patch = c.patchSize(), chans = c.inChans(), classes = c.numClasses(), dim = c.embedDim();
        int depth = c.depth(), heads = c.numHeads(), groups = c.groups();
        double ratio = c.mlpRatio(), drop = c.dropRate(), attnDrop = c.attnDropRate(), dropPath = c.dropPathRate();
        boolean qkvBias = c.qkvBias();
        RationalInit a1 = c.act1Init(), a2 = c.act2Init();
        LinearInit li = c.linearInit();
        for (Map.Entry<String, ?> e : o.entrySet()) {
            Object v = e.getValue();
            switch (e.getKey()) {
                case "img_size" -> img = num(e.getKey(), v);
                case "patch_size" -> patch = num(e.getKey(), v);
                case "in_chans" -> chans = num(e.getKey(), v);
                case "num_classes" -> classes = num(e.getKey(), v);
                case "embed_dim" -> dim = num(e.getKey(), v);
                case "depth" -> depth = num(e.getKey(), v);
                case "num_heads" -> heads = num(e.getKey(), v);
                case "mlp_ratio" -> ratio = real(e.getKey(), v);
                case "qkv_bias" -> qkvBias = bool(e.getKey(), v);
                case "drop_rate" -> drop = real(e.getKey(), v);
                case "attn_drop_rate" -> attnDrop = real(e.getKey(), v);
                case "drop_path_rate" -> dropPath = real(e.getKey(), v);
                case "groups", "num_groups" -> groups = num(e.getKey(), v);
                case "act1_init" -> a1 = RationalInit.parse(v.toString());
                case "act2_init", "act_init" -> a2 = RationalInit.parse(v.toString());
                case "init_scheme", "linear_init" -> li = LinearInit.parse(v.toString());
                default -> throw new IllegalArgumentException("unknown model argument '" + e.getKey() + "'");
            }
        }
        return new VitConfig(img, patch, chans, classes, dim, depth, heads, ratio, qkvBias, drop, attnDrop, dropPath,
                c.blockKind(), groups, a1, a2, li);
    }

    private static int num(String key, Object v) {
        if (!(v instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue())
                || Math.abs(n.doubleValue()) > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("model argument '" + key + "' = " + v + ", expected an integer below 2^31");
        }
        return n.intValue();
    }

    private static double real(String key, Object v) {
        if (!(v instanceof Number n) || !Double.isFinite(n.doubleValue())) {
            throw new IllegalArgumentException("model argument '" + key + "' = " + v + ", expected a finite number");
        }
        return n.doubleValue();
    }

    private static boolean bool(String key, Object v) {
        if (!(v instanceof Boolean b)) {
            throw new IllegalArgumentException("model argument '" + key + "' = " + v + ", expected true or false");
        }
        return b;
    }
}
