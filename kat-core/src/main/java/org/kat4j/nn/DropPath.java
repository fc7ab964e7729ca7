package org.kat4j.nn;

import org.kat4j.autograd.Ops;
import org.kat4j.tensor.Tensor;

import java.util.Random;

/** Stochastic depth on a residual branch (per sample), active only in training mode. */
public final class DropPath extends Module {
    private final double p;
    private final Random rng;

    public DropPath(double p, Random rng) {
        if (p < 0 || p >= 1) {
            throw new IllegalArgumentException("DropPath: p = " + p + ", expected 0 <= p < 1");
        }
        this.p = p;
        this.rng = rng;
    }

    @Override
    public Tensor forward(Tensor x) {
        return isTraining() && p > 0 ? Ops.dropPath(x, p, rng) : x;
    }
}
