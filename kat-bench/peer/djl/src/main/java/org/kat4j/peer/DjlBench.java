package org.kat4j.peer;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Linear;
import ai.djl.training.GradientCollector;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The kat-bench workloads on DJL 0.36 with the PyTorch 2.7.1 CPU engine, written the way a DJL
 * user would: the group rational (version A) composed of NDArray ops, the timm Mlp (Linear,
 * GELU, Linear) and the GR-KAN block (rational, Linear, rational, Linear), forward+backward with a
 * GradientCollector. Backward is seeded through sum(y * seed), as DJL's collector takes a scalar.
 * Prints JSON (workload -> milliseconds), the same keys as peer/torch_bench.py.
 *
 * <pre>java -Dai.djl.offline=true -cp ... org.kat4j.peer.DjlBench [threads]</pre>
 */
public final class DjlBench {
    private DjlBench() {
    }

    interface Work {
        void run();
    }

    static double bench(Work w, int warmup, int iters) {
        for (int i = 0; i < warmup; i++) {
            try (NDScope s = new NDScope()) {
                w.run();
            }
        }
        long t = System.nanoTime();
        for (int i = 0; i < iters; i++) {
            try (NDScope s = new NDScope()) {
                w.run();
            }
        }
        return (System.nanoTime() - t) / 1e6 / iters;
    }

    /** F(x) = P(x) / (1 + sum |b_k| |x|^(k+1)); num [1, 6] shared, den [G, 4], x [..., D]. */
    static NDArray groupRational(NDArray x, NDArray num, NDArray den) {
        long[] shape = x.getShape().getShape();
        long g = den.getShape().get(0);
        long[] split = new long[shape.length + 1];
        System.arraycopy(shape, 0, split, 0, shape.length - 1);
        split[shape.length - 1] = g;
        split[shape.length] = shape[shape.length - 1] / g;
        NDArray xs = x.reshape(split);
        NDArray a = num.reshape(6);
        NDArray p = xs.mul(a.get(5)).add(a.get(4)).mul(xs).add(a.get(3)).mul(xs).add(a.get(2)).mul(xs).add(a.get(1))
                .mul(xs).add(a.get(0));
        NDArray ax = xs.abs();
        NDArray b = den.abs();
        NDArray q = ax.mul(b.get(":, 3:4")).add(b.get(":, 2:3")).mul(ax).add(b.get(":, 1:2")).mul(ax)
                .add(b.get(":, 0:1")).mul(ax).add(1);
        return p.div(q).reshape(shape);
    }

    public static void main(String[] args) {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : 2;
        Map<String, Object> out = new LinkedHashMap<>();
        Engine engine = Engine.getEngine("PyTorch");
        out.put("djl", Engine.getDjlVersion());
        out.put("engine", engine.getEngineName() + " " + engine.getVersion());
        out.put("threads", threads);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            for (long[] shape : new long[][]{{32, 197, 768}, {32, 197, 192}}) {
                String key = shape[0] + "x" + shape[1] + "x" + shape[2];
                NDArray x = m.randomUniform(-3f, 3f, new Shape(shape));
                NDArray seed = m.randomUniform(-0.5f, 0.5f, new Shape(shape));
                NDArray num = m.randomNormal(new Shape(1, 6)).mul(0.3f);
                NDArray den = m.randomNormal(new Shape(8, 4)).mul(0.1f);
                out.put("rational_forward_" + key, bench(() -> groupRational(x, num, den), 5, 20));
                NDArray xr = x.duplicate();
                NDArray nr = num.duplicate();
                NDArray dr = den.duplicate();
                for (NDArray p : new NDArray[]{xr, nr, dr}) {
                    p.setRequiresGradient(true);
                }
                out.put("rational_forward_backward_" + key, bench(() -> {
                    try (GradientCollector gc = engine.newGradientCollector()) {
                        gc.backward(groupRational(xr, nr, dr).mul(seed).sum());
                    }
                }, 5, 20));
            }
            for (int dim : new int[]{192, 384}) {
                NDArray x = m.randomNormal(new Shape(32, 197, dim));
                x.setRequiresGradient(true); // as inside a model: dL/dx is computed
                NDArray seed = m.randomNormal(new Shape(32, 197, dim));
                float s1 = (float) (1 / Math.sqrt(dim));
                float s2 = (float) (1 / Math.sqrt(4 * dim));
                NDArray w1 = m.randomUniform(-s1, s1, new Shape(4L * dim, dim));
                NDArray b1 = m.zeros(new Shape(4L * dim));
                NDArray w2 = m.randomUniform(-s2, s2, new Shape(dim, 4L * dim));
                NDArray b2 = m.zeros(new Shape(dim));
                NDArray n1 = m.randomNormal(new Shape(1, 6)).mul(0.3f);
                NDArray d1 = m.randomNormal(new Shape(8, 4)).mul(0.3f);
                NDArray n2 = m.randomNormal(new Shape(1, 6)).mul(0.3f);
                NDArray d2 = m.randomNormal(new Shape(8, 4)).mul(0.3f);
                for (NDArray p : new NDArray[]{w1, b1, w2, b2, n1, d1, n2, d2}) {
                    p.setRequiresGradient(true);
                }
                out.put("block_mlp_" + dim, bench(() -> {
                    try (GradientCollector gc = engine.newGradientCollector()) {
                        NDArray h = Activation.gelu(Linear.linear(x, w1, b1).singletonOrThrow());
                        gc.backward(Linear.linear(h, w2, b2).singletonOrThrow().mul(seed).sum());
                    }
                }, 3, 10));
                out.put("block_grkan_" + dim, bench(() -> {
                    try (GradientCollector gc = engine.newGradientCollector()) {
                        NDArray h = groupRational(Linear.linear(groupRational(x, n1, d1), w1, b1).singletonOrThrow(), n2, d2);
                        gc.backward(Linear.linear(h, w2, b2).singletonOrThrow().mul(seed).sum());
                    }
                }, 3, 10));
            }
        }
        StringBuilder json = new StringBuilder("{");
        out.forEach((k, v) -> json.append(json.length() > 1 ? ",\n " : "\n ").append('"').append(k).append("\": ")
                .append(v instanceof String ? "\"" + v + "\"" : v));
        System.out.println(json.append("\n}"));
    }
}
