package org.kat4j.nn;

import org.kat4j.autograd.Ops;
import org.kat4j.tensor.Tensor;

/** LayerNorm over the last dim (fused op); parameters {@code weight} (ones), {@code bias} (zeros). */
public final class LayerNorm extends Module {
    private final double eps;
    public final Tensor weight;
    public final Tensor bias;

    public LayerNorm(int dim, double eps) {
        this.eps = eps;
        this.weight = param("weight", Init.ones(dim));
        this.bias = param("bias", Init.zeros(dim));
    }

    /** The epsilon added to the variance. */
    public double eps() {
        return eps;
    }

    @Override
    public Tensor forward(Tensor x) {
        return Ops.layerNorm(x, weight, bias, eps);
    }
}
