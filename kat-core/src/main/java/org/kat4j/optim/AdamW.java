package org.kat4j.optim;

import org.kat4j.tensor.Scope;
import org.kat4j.tensor.Tensor;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

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
            m.muli(beta1).addi(g.mul(1 - beta1));
            v.muli(beta2).addi(g.mul(g).muli(1 - beta2));
            if (weightDecay != 0 && !noDecay.contains(p)) {
                w.muli(1 - lr * weightDecay);
            }
            INDArray denom = Transforms.sqrt(v.div(bc2), false).addi(eps);
            w.subi(m.div(denom).muli(lr / bc1));
        }
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
