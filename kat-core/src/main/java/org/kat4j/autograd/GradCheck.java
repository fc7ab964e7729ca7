package org.kat4j.autograd;

import org.kat4j.tensor.DType;
import org.kat4j.tensor.Tensor;
import org.kat4j.backend.Backend;
import org.kat4j.backend.Storage;

import java.util.Arrays;
import java.util.Random;
import java.util.function.Function;

/**
 * Finite-difference gradient check in float64: compares the gradients that backward computes for
 * {@code sum(f(inputs) * R)} (R random, fixed) with central differences. Use it for custom ops.
 */
public final class GradCheck {
    private GradCheck() {
    }

    /** Outcome of a check: the worst mismatch seen, and where. */
    public record Result(double maxError, String where, int checked) {
        public boolean passed(double tol) {
            return maxError <= tol;
        }
    }

    /**
     * Checks every element of every float64 input that requires grad (at most {@code maxPerInput}
     * elements each, spread evenly). Error per element: |analytic - numeric| / max(1, |numeric|).
     */
    public static Result check(Function<Tensor[], Tensor> f, Tensor[] inputs, double h, int maxPerInput, long seed) {
        for (Tensor t : inputs) {
            if (t.dtype() != DType.FLOAT64) {
                throw new IllegalArgumentException("GradCheck needs float64 inputs, got " + t.dtype());
            }
            t.clearGrad();
        }
        Tensor y0 = f.apply(inputs);
        Tensor r = Tensor.rand(new Random(seed), DType.FLOAT64, -1, 1, y0.shape()).to(y0.device());
        Tensor loss = y0.mul(r).sum();
        loss.backward();
        double worst = 0;
        String where = "";
        int checked = 0;
        for (int k = 0; k < inputs.length; k++) {
            Tensor t = inputs[k];
            if (!t.requiresGrad()) {
                continue;
            }
            Backend be = t.backend();
            Storage v = t.storage();
            Tensor gt = t.grad();
            Storage g = gt == null ? null : gt.storage();
            long n = v.numel();
            long step = Math.max(1, n / maxPerInput);
            for (long i = 0; i < n; i += step) {
                double orig = be.getDouble(v, i);
                double lp;
                double lm;
                try (var ng = Autograd.noGrad()) {
                    be.setDouble(v, i, orig + h);
                    lp = f.apply(inputs).mul(r).sum().item();
                    be.setDouble(v, i, orig - h);
                    lm = f.apply(inputs).mul(r).sum().item();
                } finally {
                    be.setDouble(v, i, orig);
                }
                double numeric = (lp - lm) / (2 * h);
                double analytic = g == null ? 0.0 : be.getDouble(g, i);
                double err = Math.abs(analytic - numeric) / Math.max(1.0, Math.abs(numeric));
                checked++;
                if (err > worst || Double.isNaN(err)) {
                    worst = Double.isNaN(err) ? Double.POSITIVE_INFINITY : err;
                    where = "input " + k + " " + Arrays.toString(t.shape()) + " element " + i + ": analytic " + analytic
                            + ", numeric " + numeric;
                }
            }
        }
        return new Result(worst, where, checked);
    }

    /** {@link #check} with h = 1e-6, up to 64 elements per input, and an assertion at {@code tol}. */
    public static Result assertGradients(Function<Tensor[], Tensor> f, double tol, Tensor... inputs) {
        Result res = check(f, inputs, 1e-6, 64, 1234);
        if (!res.passed(tol)) {
            throw new AssertionError("gradient check failed: error " + res.maxError() + " > " + tol + " at " + res.where());
        }
        return res;
    }
}
