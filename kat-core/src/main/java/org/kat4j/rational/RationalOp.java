package org.kat4j.rational;

import org.kat4j.autograd.Autograd;
import org.kat4j.autograd.Ops;
import org.kat4j.backend.Backend;
import org.kat4j.backend.Storage;
import org.kat4j.tensor.Tensor;

import java.util.Arrays;

/**
 * The group-rational op on tensors, with its fused backward: x [..., D] channels-last,
 * numerator [1, 6] shared, denominator [G, 4] per group of D/G contiguous channels. The formula
 * and its derivatives are in {@link Rational}; the kernels are the backend's
 * ({@link Backend#rationalForward}, {@link Backend#rationalBackward}; on the CPU the selected
 * {@link RationalKernel} for float32 and {@link Rational} for float64).
 */
public final class RationalOp {
    private RationalOp() {
    }

    public static Tensor apply(Tensor x, Tensor numerator, Tensor denominator) {
        int groups = checkShapes(x, numerator, denominator);
        if (x.numel() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("GroupRational: " + x.numel() + " elements exceed one buffer (2^31 - 1)");
        }
        Backend be = Ops.backend("GroupRational", x, numerator, denominator);
        Storage xv = x.storage();
        Storage a = numerator.storage();
        Storage b = denominator.storage();
        Storage y = be.rationalForward(xv, a, b, groups);
        return Autograd.op("groupRational", y, g -> {
            Storage[] grads = be.rationalBackward(xv, g, a, b, groups, x.requiresGrad());
            if (grads[0] != null) {
                Autograd.accumulate(x, grads[0], true);
            }
            Autograd.accumulate(numerator, grads[1], true);
            Autograd.accumulate(denominator, grads[2], true);
        }, x, numerator, denominator);
    }

    /** Validates shapes; returns the group count. */
    static int checkShapes(Tensor x, Tensor numerator, Tensor denominator) {
        if (!Arrays.equals(numerator.shape(), new long[]{1, 6})) {
            throw new IllegalArgumentException("GroupRational: weight_numerator " + Arrays.toString(numerator.shape())
                    + ", expected [1, 6]");
        }
        if (denominator.rank() != 2 || denominator.size(1) != 4 || denominator.size(0) < 1) {
            throw new IllegalArgumentException("GroupRational: weight_denominator " + Arrays.toString(denominator.shape())
                    + ", expected [groups, 4]");
        }
        int groups = Math.toIntExact(denominator.size(0));
        if (x.rank() < 1) {
            throw new IllegalArgumentException("GroupRational: input is a scalar, expected [..., channels]");
        }
        RationalShapes.checkLayout(x.numel(), x.size(-1), groups, " (input " + Arrays.toString(x.shape()) + ")");
        if (x.dtype() != numerator.dtype() || x.dtype() != denominator.dtype()) {
            throw new IllegalArgumentException("GroupRational: input " + x.dtype() + " but coefficients "
                    + numerator.dtype() + "/" + denominator.dtype());
        }
        return groups;
    }
}
