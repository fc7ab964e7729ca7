package org.kat4j.rational;

import org.kat4j.autograd.Ops;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Tensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

/**
 * The group-rational op on tensors, with its fused backward: x [..., D] channels-last,
 * numerator [1, 6] shared, denominator [G, 4] per group of D/G contiguous channels.
 * Float32 runs on the selected {@link RationalKernel}; float64 on the reference formula.
 */
public final class RationalOp {
    private RationalOp() {
    }

    public static Tensor apply(Tensor x, Tensor numerator, Tensor denominator) {
        int groups = checkShapes(x, numerator, denominator);
        int d = Math.toIntExact(x.size(-1));
        long n = x.numel();
        if (n > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("GroupRational: " + n + " elements exceed one buffer (2^31 - 1)");
        }
        INDArray xv = x.nd();
        INDArray y;
        if (x.dtype() == DType.FLOAT32) {
            float[] a = floats(numerator);
            float[] b = floats(denominator);
            y = Nd4j.createUninitialized(DataType.FLOAT, x.shape());
            RationalKernels.get().forward(Ops.floats(xv), Ops.floats(y), (int) n, d, groups, a, b);
        } else {
            double[] out = new double[(int) n];
            Rational.forward(x.toDoubleArray(), out, d, groups, numerator.toDoubleArray(), denominator.toDoubleArray());
            y = Nd4j.create(out, x.shape(), 'c');
        }
        return Tensor.result(y).link("groupRational", g -> backward(g, x, numerator, denominator, groups), x, numerator, denominator);
    }

    private static void backward(INDArray g, Tensor x, Tensor numerator, Tensor denominator, int groups) {
        int d = Math.toIntExact(x.size(-1));
        int n = (int) x.numel();
        double[] ga = new double[6];
        double[] gb = new double[groups * 4];
        INDArray gx = null;
        if (x.dtype() == DType.FLOAT32) {
            INDArray gd = g.dataType() == DataType.FLOAT && Tensor.isDense(g) ? g : g.castTo(DataType.FLOAT).dup('c');
            gx = x.requiresGrad() ? Nd4j.createUninitialized(DataType.FLOAT, x.shape()) : null;
            RationalKernels.get().backward(Ops.bytes(x.nd()), Ops.bytes(gd), gx == null ? null : Ops.bytes(gx), n, d, groups,
                    floats(numerator), floats(denominator), ga, gb);
        } else {
            double[] gxs = x.requiresGrad() ? new double[n] : null;
            Rational.backward(x.toDoubleArray(), g.dup('c').data().asDouble(), gxs, d, groups,
                    numerator.toDoubleArray(), denominator.toDoubleArray(), ga, gb);
            if (gxs != null) {
                gx = Nd4j.create(gxs, x.shape(), 'c');
            }
        }
        if (gx != null) {
            x.accumulateGrad(gx, true);
        }
        if (numerator.requiresGrad()) {
            numerator.accumulateGrad(Nd4j.create(ga, numerator.shape(), 'c').castTo(numerator.nd().dataType()), true);
        }
        if (denominator.requiresGrad()) {
            denominator.accumulateGrad(Nd4j.create(gb, denominator.shape(), 'c').castTo(denominator.nd().dataType()), true);
        }
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
        long d = x.size(-1);
        if (d % groups != 0) {
            throw new IllegalArgumentException("GroupRational: channels " + d + " not divisible by groups " + groups
                    + " (input " + Arrays.toString(x.shape()) + ")");
        }
        if (x.dtype() != numerator.dtype() || x.dtype() != denominator.dtype()) {
            throw new IllegalArgumentException("GroupRational: input " + x.dtype() + " but coefficients "
                    + numerator.dtype() + "/" + denominator.dtype());
        }
        return groups;
    }


    private static float[] floats(Tensor t) {
        return t.toFloatArray();
    }
}
