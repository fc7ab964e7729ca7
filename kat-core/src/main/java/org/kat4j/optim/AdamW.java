package org.kat4j.optim;

import org.kat4j.backend.Backend;
import org.kat4j.backend.Storage;
import org.kat4j.tensor.Scope;
import org.kat4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * AdamW (decoupled weight decay, Loshchilov and Hutter), as torch.optim.AdamW. Parameters listed
 * in {@code noDecay} (1-D parameters, biases, norms, tokens, position embeddings, by the timm
 * convention) get no decay. The update is one fused pass per parameter on the parameter's device,
 * the parameters of one device handed over together ({@link Backend#adamwSteps}: a GPU updates
 * them in a few launches); the moments live there too.
 */
public final class AdamW extends Optimizer {
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private final Set<Tensor> noDecay;
    private final Map<Tensor, Storage[]> state = new IdentityHashMap<>();
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
        // the parameters of one backend go to it together (in list order), so a device can batch them
        List<Tensor> run = new ArrayList<>();
        for (Tensor p : params) {
            if (p.gradBuffer() == null) {
                continue;
            }
            if (!run.isEmpty() && run.get(0).backend() != p.backend()) {
                update(run, bc1, bc2);
                run.clear();
            }
            run.add(p);
        }
        if (!run.isEmpty()) {
            update(run, bc1, bc2);
        }
    }

    private void update(List<Tensor> run, double bc1, double bc2) {
        int n = run.size();
        Storage[] w = new Storage[n];
        Storage[] g = new Storage[n];
        Storage[] m = new Storage[n];
        Storage[] v = new Storage[n];
        Backend.AdamWStep[] steps = new Backend.AdamWStep[n];
        Backend be = run.get(0).backend();
        for (int i = 0; i < n; i++) {
            Tensor p = run.get(i);
            Storage ws = p.storage();
            Storage[] mv = state.computeIfAbsent(p, k -> Scope.detached(() -> new Storage[]{
                    be.zeros(ws.dtype(), ws.shape()), be.zeros(ws.dtype(), ws.shape())}));
            double decay = weightDecay != 0 && !noDecay.contains(p) ? 1 - lr * weightDecay : 1;
            w[i] = ws;
            g[i] = p.gradBuffer();
            m[i] = mv[0];
            v[i] = mv[1];
            steps[i] = new Backend.AdamWStep(beta1, beta2, eps, decay, lr, bc1, bc2);
        }
        be.adamwSteps(w, g, m, v, steps);
    }

    /** Optimizer state by parameter, for checkpoints: [m, v], each on its parameter's device. */
    public Map<Tensor, Tensor[]> state() {
        Map<Tensor, Tensor[]> out = new IdentityHashMap<>();
        state.forEach((p, mv) -> out.put(p, new Tensor[]{Tensor.of(mv[0]), Tensor.of(mv[1])}));
        return out;
    }

    /** Restores one parameter's moments and the step count (checkpoint resume). */
    public void restore(Tensor param, Tensor m, Tensor v, long steps) {
        if (!params.contains(param)) {
            throw new IllegalArgumentException("AdamW.restore: not one of this optimizer's parameters");
        }
        if (!java.util.Arrays.equals(m.shape(), param.shape()) || !java.util.Arrays.equals(v.shape(), param.shape())) {
            throw new IllegalArgumentException("AdamW.restore: moments " + java.util.Arrays.toString(m.shape()) + " for a parameter "
                    + java.util.Arrays.toString(param.shape()));
        }
        Backend be = param.backend();
        state.put(param, Scope.detached(() -> {
            Storage ms = be.empty(param.dtype(), param.shape());
            Storage vs = be.empty(param.dtype(), param.shape());
            be.assign(ms, m.storage());
            be.assign(vs, v.storage());
            return new Storage[]{ms, vs};
        }));
        this.t = steps;
    }

    /** Collects AdamW's settings: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0.01 unless set (torch's defaults). */
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
