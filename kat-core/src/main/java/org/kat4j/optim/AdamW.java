package org.kat4j.optim;

import org.kat4j.autograd.Ops;
import org.kat4j.tensor.Scope;
import org.kat4j.tensor.Tensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.nio.FloatBuffer;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.IntStream;

/**
 * AdamW (decoupled weight decay, Loshchilov and Hutter), as torch.optim.AdamW. Parameters listed
 * in {@code noDecay} (1-D parameters, biases, norms, tokens, position embeddings, by the timm
 * convention) get no decay.
 */
public final class AdamW extends Optimizer {
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private final Set<Tensor> noDecay;
    private final Map<Tensor, INDArray[]> state = new IdentityHashMap<>();
    private long t;

    private AdamW(Builder b) {
        super(b.params, b.lr);
        this.beta1 = b.beta1;
        this.beta2 = b.beta2;
        this.eps = b.eps;
        this.weightDecay = b.weightDecay;
        this.noDecay = b.noDecay;
    }

    public static Builder builder(List<Tensor> params) {
        return new Builder(params);
    }

    /** Steps taken so far. */
    public long stepCount() {
        return t;
    }

    @Override
    public void step() {
        t++;
        double bc1 = 1 - Math.pow(beta1, t);
        double bc2 = 1 - Math.pow(beta2, t);
        for (Tensor p : params) {
            INDArray g = p.gradNd();
            if (g == null) {
                continue;
            }
            INDArray w = p.nd();
            INDArray[] mv = state.computeIfAbsent(p, k -> Scope.detached(() -> new INDArray[]{
                    Nd4j.zeros(w.dataType(), w.shape()), Nd4j.zeros(w.dataType(), w.shape())}));
            INDArray m = mv[0];
            INDArray v = mv[1];
            double decay = weightDecay != 0 && !noDecay.contains(p) ? 1 - lr * weightDecay : 1;
            if (w.dataType() == DataType.FLOAT && g.dataType() == DataType.FLOAT && Tensor.isDense(w) && Tensor.isDense(g)
                    && Tensor.isDense(m) && Tensor.isDense(v)) {
                fusedFloat(w, g, m, v, (float) decay, (float) (lr / bc1), (float) Math.sqrt(bc2));
                continue;
            }
            m.muli(beta1).addi(g.mul(1 - beta1));
            v.muli(beta2).addi(g.mul(g).muli(1 - beta2));
            if (decay != 1) {
                w.muli(decay);
            }
            INDArray denom = Transforms.sqrt(v.div(bc2), false).addi(eps);
            w.subi(m.div(denom).muli(lr / bc1));
        }
    }

    private static final int CHUNK = 1 << 14;
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[4][CHUNK]);

    /**
     * One pass over a float32 parameter, its gradient and both moments, in float32 like
     * torch.optim.AdamW: m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2, w = w (1 - lr wd),
     * w -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps). The ND4J composition took eleven native
     * calls and six temporary arrays per parameter: 8% of a vit_micro training step.
     */
    private void fusedFloat(INDArray w, INDArray g, INDArray m, INDArray v, float decay, float stepSize, float bc2Sqrt) {
        FloatBuffer wb = Ops.floats(w);
        FloatBuffer gb = Ops.floats(g);
        FloatBuffer mb = Ops.floats(m);
        FloatBuffer vb = Ops.floats(v);
        int n = (int) w.length();
        float b1 = (float) beta1;
        float b2 = (float) beta2;
        float c1 = (float) (1 - beta1);
        float c2 = (float) (1 - beta2);
        float e = (float) eps;
        int chunks = (n + CHUNK - 1) / CHUNK;
        IntStream range = IntStream.range(0, chunks);
        (chunks > 4 ? range.parallel() : range).forEach(c -> {
            int off = c * CHUNK;
            int len = Math.min(CHUNK, n - off);
            float[][] s = SCRATCH.get();
            float[] ws = s[0];
            float[] gs = s[1];
            float[] ms = s[2];
            float[] vs = s[3];
            wb.get(off, ws, 0, len);
            gb.get(off, gs, 0, len);
            mb.get(off, ms, 0, len);
            vb.get(off, vs, 0, len);
            for (int i = 0; i < len; i++) {
                float gi = gs[i];
                float mi = ms[i] * b1 + c1 * gi;
                float vi = vs[i] * b2 + c2 * gi * gi;
                ms[i] = mi;
                vs[i] = vi;
                ws[i] = ws[i] * decay - stepSize * mi / ((float) Math.sqrt(vi) / bc2Sqrt + e);
            }
            wb.put(off, ws, 0, len);
            mb.put(off, ms, 0, len);
            vb.put(off, vs, 0, len);
        });
    }

    /** Optimizer state by parameter, for checkpoints: [m, v]. */
    public Map<Tensor, INDArray[]> state() {
        return state;
    }

    /** Restores one parameter's moments and the step count (checkpoint resume). */
    public void restore(Tensor param, INDArray m, INDArray v, long steps) {
        if (!params.contains(param)) {
            throw new IllegalArgumentException("AdamW.restore: not one of this optimizer's parameters");
        }
        if (!java.util.Arrays.equals(m.shape(), param.shape()) || !java.util.Arrays.equals(v.shape(), param.shape())) {
            throw new IllegalArgumentException("AdamW.restore: moments " + java.util.Arrays.toString(m.shape()) + " for a parameter "
                    + java.util.Arrays.toString(param.shape()));
        }
        INDArray dt = param.nd();
        state.put(param, Scope.detached(() -> new INDArray[]{m.castTo(dt.dataType()).dup('c'), v.castTo(dt.dataType()).dup('c')}));
        this.t = steps;
    }

    public static final class Builder {
        private final List<Tensor> params;
        private double lr = 1e-3;
        private double beta1 = 0.9;
        private double beta2 = 0.999;
        private double eps = 1e-8;
        private double weightDecay = 0.01;
        private Set<Tensor> noDecay = Set.of();

        private Builder(List<Tensor> params) {
            this.params = params;
        }

        public Builder lr(double lr) {
            this.lr = lr;
            return this;
        }

        public Builder betas(double b1, double b2) {
            this.beta1 = b1;
            this.beta2 = b2;
            return this;
        }

        public Builder eps(double eps) {
            this.eps = eps;
            return this;
        }

        public Builder weightDecay(double wd) {
            this.weightDecay = wd;
            return this;
        }

        /** Parameters exempt from weight decay. */
        public Builder noDecay(Set<Tensor> params) {
            Set<Tensor> s = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
            s.addAll(params);
            this.noDecay = s;
            return this;
        }

        public AdamW build() {
            return new AdamW(this);
        }
    }
}
