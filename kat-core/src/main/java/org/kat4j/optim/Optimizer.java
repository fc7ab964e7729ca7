package org.kat4j.optim;

import org.kat4j.tensor.Tensor;

import java.util.List;

/** Updates parameters in place from their gradients. */
public abstract class Optimizer {
    protected final List<Tensor> params;
    protected double lr;

    protected Optimizer(List<Tensor> params, double lr) {
        if (!(lr >= 0)) {
            throw new IllegalArgumentException("learning rate " + lr + ", expected >= 0");
        }
        this.params = List.copyOf(params);
        this.lr = lr;
    }

    /** One update from the current gradients (parameters without a gradient are skipped). */
    public abstract void step();

    public void zeroGrad() {
        for (Tensor p : params) {
            p.zeroGrad();
        }
    }

    public double lr() {
        return lr;
    }

    /** Sets the learning rate (schedules call this each step). */
    public void lr(double lr) {
        this.lr = lr;
    }
}
