package org.kat4j.nn;

import org.kat4j.autograd.Ops;
import org.kat4j.tensor.Tensor;

import java.util.Random;

/** y = x W^T + b, weight [out, in] as in PyTorch; parameters {@code weight}, {@code bias}. */
public final class Linear extends Module {
    private final String name;
    public final Tensor weight;
    public final Tensor bias;

    /** timm init (trunc_normal 0.02, zero bias). */
    public Linear(String name, int in, int out, boolean bias, Random rng) {
        this(name, in, out, bias, Init.truncNormal(rng, 0.02, out, in));
    }

    /** Normal init with the given std (variance-preserving init computes it), zero bias. */
    public Linear(String name, int in, int out, boolean bias, Random rng, double std) {
        this(name, in, out, bias, Init.normal(rng, std, out, in));
    }

    private Linear(String name, int in, int out, boolean hasBias, Tensor w) {
        if (in < 1 || out < 1) {
            throw new IllegalArgumentException("Linear " + name + ": sizes in=" + in + " out=" + out + " must be >= 1");
        }
        this.name = name;
        this.weight = param("weight", w);
        this.bias = hasBias ? param("bias", Init.zeros(out)) : null;
    }

    @Override
    public Tensor forward(Tensor x) {
        if (x.size(-1) != weight.size(1)) {
            throw new IllegalArgumentException("Linear " + name + ": input " + shape(x) + ", expected last dim " + weight.size(1));
        }
        return Ops.linear(x, weight, bias);
    }
}
