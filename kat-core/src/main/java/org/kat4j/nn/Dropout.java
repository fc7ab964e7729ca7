package org.kat4j.nn;

import org.kat4j.autograd.Ops;
import org.kat4j.tensor.Tensor;

import java.util.Random;

/** Inverted dropout, active only in training mode; identity when p = 0. */
public final class Dropout extends Module {
    private final double p;
    private final Random rng;

    public Dropout(double p, Random rng) {
        if (p < 0 || p >= 1) {
            throw new IllegalArgumentException("Dropout: p = " + p + ", expected 0 <= p < 1");
        }
        this.p = p;
        this.rng = rng;
    }

    /** Whether {@link #forward} changes its input now: in training mode with p &gt; 0. */
    public boolean active() {
        return isTraining() && p > 0;
    }

    @Override
    public Tensor forward(Tensor x) {
        return active() ? Ops.dropout(x, p, rng) : x;
    }
}
