package org.kat4j.onnx;

import com.google.protobuf.UnsafeByteOperations;
import org.kat4j.io.AtomicFiles;
import org.kat4j.models.VisionTransformer;
import org.kat4j.models.VitConfig;
import org.kat4j.nn.Attention;
import org.kat4j.nn.GrKan;
import org.kat4j.nn.GroupRational;
import org.kat4j.nn.LayerNorm;
import org.kat4j.nn.Linear;
import org.kat4j.nn.Mlp;
import org.kat4j.nn.Module;
import org.kat4j.onnx.proto.OnnxProto.AttributeProto;
import org.kat4j.onnx.proto.OnnxProto.GraphProto;
import org.kat4j.onnx.proto.OnnxProto.ModelProto;
import org.kat4j.onnx.proto.OnnxProto.NodeProto;
import org.kat4j.onnx.proto.OnnxProto.OperatorSetIdProto;
import org.kat4j.onnx.proto.OnnxProto.StringStringEntryProto;
import org.kat4j.onnx.proto.OnnxProto.TensorProto;
import org.kat4j.onnx.proto.OnnxProto.TensorShapeProto;
import org.kat4j.onnx.proto.OnnxProto.TypeProto;
import org.kat4j.onnx.proto.OnnxProto.ValueInfoProto;
import org.kat4j.tensor.Tensor;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Writes a ViT or KAT model as an ONNX file (opset 17) that any ONNX runtime runs: input
 * {@code images} [batch, C, H, W] float32, output {@code logits} [batch, classes], the batch size
 * free. Only standard operators: Conv for the patch embedding, MatMul, LayerNormalization,
 * Softmax, Erf for GELU, and the group-rational activation as Abs, Mul, Add and Div with each
 * group's denominator broadcast over its channels by a Reshape of the input to [.., groups,
 * channels / groups]:
 *
 * <pre>
 * F(x) = (a0 + x (a1 + x (a2 + x (a3 + x (a4 + x a5))))) / (1 + |x| (|b0| + |x| (|b1| + |x| (|b2| + |x| |b3|))))
 * </pre>
 *
 * <p>The parameters are stored under their kat4j (timm) names exactly as in a checkpoint; weights
 * that the graph needs transposed or in absolute value get a Transpose or Abs node, which runtimes
 * fold once when they load the model. Dropout and drop path are left out (inference).
 *
 * <pre>{@code
 * VisionTransformer model = Models.fromPretrained(dir);
 * Onnx.export(model, Path.of("kat.onnx"));
 * }</pre>
 */
public final class Onnx {
    /** The operator set the graph is written against. */
    public static final int OPSET = 17;
    /** ONNX IR version 8 (the one opset 17 came with). */
    public static final int IR_VERSION = 8;
    /** The graph's input and output names. */
    public static final String INPUT = "images";
    public static final String OUTPUT = "logits";

    private Onnx() {
    }

    /**
     * Writes {@code model} to {@code path} (replacing it atomically).
     *
     * @throws IllegalArgumentException for a module this exporter cannot express, naming it
     */
    public static void export(Module model, Path path) throws IOException {
        AtomicFiles.writeStream(path, toModel(model)::writeTo);
    }

    /** The ONNX model of {@code model}, in memory. */
    public static ModelProto toModel(Module model) {
        if (!(model instanceof VisionTransformer vit)) {
            throw new IllegalArgumentException("ONNX export: " + describe(model)
                    + " is not a model the exporter knows; it writes kat4j's VisionTransformer (ViT and KAT)");
        }
        VitConfig cfg = vit.config();
        Graph g = new Graph(vit.namedParameters());
        String h = g.patchEmbed(cfg);
        for (int i = 0; i < vit.blocks.length; i++) {
            h = g.block(vit.blocks[i], "blocks." + i, h);
        }
        h = g.layerNorm(vit.norm, "norm", h);
        String cls = g.node("Gather", "cls_out", new String[]{h, g.int64Scalar(0)}, attr("axis", 1));
        String logits = g.linear(vit.head, "head", cls);
        g.graph.addNode(NodeProto.newBuilder().setOpType("Identity").setName("output").addInput(logits).addOutput(OUTPUT));
        g.graph.setName("kat4j_vision_transformer")
                .addInput(valueInfo(INPUT, "batch", cfg.inChans(), cfg.imgSize(), cfg.imgSize()))
                .addOutput(valueInfo(OUTPUT, "batch", cfg.numClasses()));
        String kind = cfg.blockKind() == VitConfig.BlockKind.GR_KAN ? "KAT" : "ViT";
        return ModelProto.newBuilder()
                .setIrVersion(IR_VERSION)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET))
                .setProducerName("kat4j")
                .setProducerVersion(version())
                .setDocString(String.format(Locale.ROOT, "%s: %dx%d images, %d channels, patch %d, dim %d, depth %d, %d heads,"
                                + " %d classes%s", kind, cfg.imgSize(), cfg.imgSize(), cfg.inChans(), cfg.patchSize(),
                        cfg.embedDim(), cfg.depth(), cfg.numHeads(), cfg.numClasses(),
                        cfg.blockKind() == VitConfig.BlockKind.GR_KAN ? ", " + cfg.groups() + " rational groups" : ""))
                .addMetadataProps(StringStringEntryProto.newBuilder().setKey("kat4j.block").setValue(kind))
                .setGraph(g.graph)
                .build();
    }

    private static String describe(Module m) {
        return m == null ? "null" : m.getClass().getName();
    }

    private static String version() {
        String v = Onnx.class.getPackage().getImplementationVersion();
        return v != null ? v : "dev";
    }

    static AttributeProto attr(String name, long v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v).build();
    }

    static AttributeProto attr(String name, float v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOAT).setF(v).build();
    }

    static AttributeProto attr(String name, long... v) {
        AttributeProto.Builder b = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
        for (long x : v) {
            b.addInts(x);
        }
        return b.build();
    }

    private static ValueInfoProto valueInfo(String name, String batch, long... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder()
                .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam(batch));
        for (long d : dims) {
            shape.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(shape))).build();
    }

    /** The graph being written: nodes in order, initializers by name, unique value names. */
    private static final class Graph {
        final GraphProto.Builder graph = GraphProto.newBuilder();
        private final Map<String, Tensor> params;
        private final Map<String, String> constants = new HashMap<>();
        private final Map<String, Integer> uses = new HashMap<>();

        Graph(Map<String, Tensor> params) {
            this.params = params;
        }

        /** A fresh value name starting with {@code base}. */
        String fresh(String base) {
            int n = uses.merge(base, 1, Integer::sum);
            return n == 1 ? base : base + "_" + n;
        }

        String node(String op, String out, String[] inputs, AttributeProto... attrs) {
            String o = fresh(out);
            NodeProto.Builder b = NodeProto.newBuilder().setOpType(op).setName(o);
            for (String in : inputs) {
                b.addInput(in);
            }
            for (AttributeProto a : attrs) {
                b.addAttribute(a);
            }
            graph.addNode(b.addOutput(o));
            return o;
        }

        String node(String op, String out, String a, String b) {
            return node(op, out, new String[]{a, b});
        }

        String unary(String op, String out, String x) {
            return node(op, out, new String[]{x});
        }

        /** The parameter {@code name} as an initializer (once), by its checkpoint name. */
        String param(String name) {
            Tensor t = params.get(name);
            if (t == null) {
                throw new IllegalArgumentException("ONNX export: the model has no parameter " + name);
            }
            if (constants.putIfAbsent("param:" + name, name) == null) {
                float[] v = t.toFloatArray();
                ByteBuffer bytes = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
                for (float x : v) {
                    bytes.putFloat(x); // no float view of a heap buffer: see Safetensors.write
                }
                TensorProto.Builder tp = TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.FLOAT_VALUE)
                        .setRawData(UnsafeByteOperations.unsafeWrap(bytes.array())); // ours alone, never changed
                for (long d : t.shape()) {
                    tp.addDims(d);
                }
                graph.addInitializer(tp);
                uses.put(name, 1);
            }
            return name;
        }

        String floatScalar(float v) {
            return constants.computeIfAbsent("f:" + Float.floatToRawIntBits(v), k -> {
                String name = fresh("const_f32");
                graph.addInitializer(TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.FLOAT_VALUE)
                        .addFloatData(v));
                return name;
            });
        }

        String int64Scalar(long v) {
            return constants.computeIfAbsent("i:" + v, k -> {
                String name = fresh("const_i64");
                graph.addInitializer(TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.INT64_VALUE)
                        .addInt64Data(v));
                return name;
            });
        }

        String int64s(long... v) {
            StringBuilder key = new StringBuilder("is:");
            for (long x : v) {
                key.append(x).append(',');
            }
            return constants.computeIfAbsent(key.toString(), k -> {
                String name = fresh("const_shape");
                TensorProto.Builder tp = TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.INT64_VALUE)
                        .addDims(v.length);
                for (long x : v) {
                    tp.addInt64Data(x);
                }
                graph.addInitializer(tp);
                return name;
            });
        }

        /** images -&gt; Conv (stride = kernel) -&gt; [B, N, D] -&gt; prepend CLS, add position embedding. */
        String patchEmbed(VitConfig cfg) {
            int p = cfg.patchSize();
            String conv = node("Conv", "patch_embed", new String[]{INPUT, param("patch_embed.proj.weight"),
                    param("patch_embed.proj.bias")}, attr("kernel_shape", (long) p, p), attr("strides", (long) p, p));
            String flat = node("Reshape", "patch_embed.flat", conv, int64s(0, cfg.embedDim(), -1));
            String tokens = node("Transpose", "patch_embed.tokens", new String[]{flat}, attr("perm", 0L, 2, 1));
            // [B, 1, D] from the tokens' batch size: the CLS token broadcast to it
            String first = node("Slice", "patch_embed.first", new String[]{tokens, int64s(0), int64s(1), int64s(1)});
            String cls = node("Expand", "cls", param("cls_token"), node("Shape", "cls.shape", new String[]{first}));
            String seq = node("Concat", "tokens", new String[]{cls, tokens}, attr("axis", 1));
            return node("Add", "embedded", seq, param("pos_embed"));
        }

        String block(VisionTransformer.Block b, String prefix, String x) {
            String a = attention(b.attn, prefix + ".attn", layerNorm(b.norm1, prefix + ".norm1", x));
            x = node("Add", prefix + ".residual1", x, a);
            String n2 = layerNorm(b.norm2, prefix + ".norm2", x);
            String m;
            if (b.mlp instanceof Mlp mlp) {
                m = linear(mlp.fc2, prefix + ".mlp.fc2", gelu(prefix + ".mlp.act", linear(mlp.fc1, prefix + ".mlp.fc1", n2)));
            } else if (b.mlp instanceof GrKan kan) {
                String h = rational(kan.act1, prefix + ".mlp.act1", n2);
                h = linear(kan.fc1, prefix + ".mlp.fc1", h);
                h = rational(kan.act2, prefix + ".mlp.act2", h);
                m = linear(kan.fc2, prefix + ".mlp.fc2", h);
            } else {
                throw new IllegalArgumentException("ONNX export: " + prefix + ".mlp is a " + describe(b.mlp)
                        + ", not a module the exporter knows (Mlp or GrKan)");
            }
            return node("Add", prefix + ".residual2", x, m);
        }

        String layerNorm(LayerNorm ln, String prefix, String x) {
            return node("LayerNormalization", prefix, new String[]{x, param(prefix + ".weight"), param(prefix + ".bias")},
                    attr("axis", -1L), attr("epsilon", (float) ln.eps()));
        }

        /** x @ W^T + b with W [out, in] as stored. */
        String linear(Linear l, String prefix, String x) {
            String wt = node("Transpose", prefix + ".weight_t", new String[]{param(prefix + ".weight")}, attr("perm", 1L, 0));
            String y = node("MatMul", prefix + ".matmul", x, wt);
            return l.bias == null ? y : node("Add", prefix, y, param(prefix + ".bias"));
        }

        /** x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), the exact GELU. */
        String gelu(String prefix, String x) {
            String e = unary("Erf", prefix + ".erf", node("Mul", prefix + ".x_over_sqrt2", x, floatScalar((float) (1 / Math.sqrt(2)))));
            e = node("Add", prefix + ".one_plus", e, floatScalar(1f));
            return node("Mul", prefix, node("Mul", prefix + ".half_x", x, floatScalar(0.5f)), e);
        }

        String attention(Attention at, String prefix, String x) {
            int heads = at.heads();
            long dim = params.get(prefix + ".proj.weight").size(0);
            long headDim = dim / heads;
            String qkv = linear(at.qkv, prefix + ".qkv", x);
            String split = node("Reshape", prefix + ".qkv_heads", qkv, int64s(0, 0, 3, heads, headDim));
            String perm = node("Transpose", prefix + ".qkv_t", new String[]{split}, attr("perm", 2L, 0, 3, 1, 4));
            String q = node("Gather", prefix + ".q", new String[]{perm, int64Scalar(0)}, attr("axis", 0));
            String k = node("Gather", prefix + ".k", new String[]{perm, int64Scalar(1)}, attr("axis", 0));
            String v = node("Gather", prefix + ".v", new String[]{perm, int64Scalar(2)}, attr("axis", 0));
            String qs = node("Mul", prefix + ".q_scaled", q, floatScalar((float) at.scale()));
            String kt = node("Transpose", prefix + ".k_t", new String[]{k}, attr("perm", 0L, 1, 3, 2));
            String w = node("Softmax", prefix + ".weights", new String[]{node("MatMul", prefix + ".scores", qs, kt)},
                    attr("axis", -1));
            String o = node("MatMul", prefix + ".context", w, v);
            String ot = node("Transpose", prefix + ".context_t", new String[]{o}, attr("perm", 0L, 2, 1, 3));
            String merged = node("Reshape", prefix + ".merged", ot, int64s(0, 0, dim));
            return linear(at.proj, prefix + ".proj", merged);
        }

        /** The group rational over the last axis of [B, N, C]: numerator on x, denominator per group. */
        String rational(GroupRational r, String prefix, String x) {
            int groups = r.groups();
            long channels = r.channels();
            String a = param(prefix + ".weight_numerator");    // [1, 6]
            String b = unary("Abs", prefix + ".abs_denominator", param(prefix + ".weight_denominator")); // [G, 4]
            String[] ak = new String[6];
            for (int i = 0; i < 6; i++) {
                ak[i] = node("Gather", prefix + ".a" + i, new String[]{a, int64Scalar(i)}, attr("axis", 1)); // [1]
            }
            String[] bk = new String[4];
            for (int i = 0; i < 4; i++) {
                String col = node("Gather", prefix + ".b" + i, new String[]{b, int64Scalar(i)}, attr("axis", 1)); // [G]
                bk[i] = node("Reshape", prefix + ".b" + i + "_g", col, int64s(groups, 1));                 // [G, 1]
            }
            // P(x) by Horner from a5 down, as kat4j evaluates it
            String p = node("Mul", prefix + ".p", x, ak[5]);
            for (int i = 4; i >= 1; i--) {
                p = node("Mul", prefix + ".p", x, node("Add", prefix + ".p", p, ak[i]));
            }
            p = node("Add", prefix + ".p", p, ak[0]);
            // Q(x) on [B, N, G, C/G], each group's |b| broadcast over its channels
            String shape = int64s(0, 0, groups, channels / groups);
            String ax = unary("Abs", prefix + ".abs_x", node("Reshape", prefix + ".x_groups", x, shape));
            String q = node("Mul", prefix + ".q", ax, bk[3]);
            for (int i = 2; i >= 0; i--) {
                q = node("Mul", prefix + ".q", ax, node("Add", prefix + ".q", q, bk[i]));
            }
            q = node("Add", prefix + ".q", q, floatScalar(1f));
            String f = node("Div", prefix + ".f", node("Reshape", prefix + ".p_groups", p, shape), q);
            return node("Reshape", prefix, f, int64s(0, 0, channels));
        }
    }
}
