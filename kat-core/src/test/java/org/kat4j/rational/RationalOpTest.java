package org.kat4j.rational;

import org.junit.jupiter.api.Test;
import org.kat4j.autograd.GradCheck;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Tensor;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RationalOpTest {
    // docs/design.md section 1: swish init, one group, g = 1
    static final double[] XS = {-2.0, -0.5, 0.0, 0.5, 2.0};
    static final double[] F = {-0.23840604514786776, -0.18877053079486134, 3.054879741161051e-07, 0.3112295954957557,
            1.7615939957450253};
    static final double[] DF = {-0.09078268838130361, 0.2600397584562548, 0.5000007853731933, 0.739959793494901,
            1.0907827510854369};

    static Tensor coeffs(DType t, double[] v, long... shape) {
        Tensor c = Tensor.of(v, shape);
        return (t == DType.FLOAT32 ? Tensor.of(c.toFloatArray(), shape) : c).requiresGrad(true);
    }

    static void assertRel(double expected, double actual, double rel, String what) {
        double err = Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-300);
        assertTrue(err <= rel || Math.abs(actual - expected) <= rel * 1e-6,
                what + ": expected " + expected + ", got " + actual + " (relative error " + err + ")");
    }

    @Test
    void referenceValuesSwishFloat64AndFloat32() {
        for (DType t : DType.values()) {
            double tol = t == DType.FLOAT64 ? 1e-6 : 1e-5;
            Tensor x = (t == DType.FLOAT64 ? Tensor.of(XS, 1, 5) : Tensor.of(Tensor.of(XS, 1, 5).toFloatArray(), 1, 5))
                    .requiresGrad(true);
            Tensor a = coeffs(t, RationalInit.SWISH.numerator(), 1, 6);
            Tensor b = coeffs(t, RationalInit.SWISH.denominator(), 1, 4);
            Tensor y = RationalOp.apply(x, a, b);
            y.backward(Tensor.ones(t, 1, 5));
            for (int i = 0; i < XS.length; i++) {
                assertRel(F[i], y.get(0, i), tol, t + " F(" + XS[i] + ")");
                assertRel(DF[i], x.grad().get(0, i), tol, t + " F'(" + XS[i] + ")");
            }
        }
    }

    @Test
    void identityInitDenominatorGradientsUseSignOfZeroPlusOne() {
        for (DType t : DType.values()) {
            for (double xv : new double[]{2, -2}) {
                Tensor x = t == DType.FLOAT64 ? Tensor.of(new double[]{xv}, 1, 1) : Tensor.of(new float[]{(float) xv}, 1, 1);
                Tensor a = coeffs(t, RationalInit.IDENTITY.numerator(), 1, 6);
                Tensor b = coeffs(t, RationalInit.IDENTITY.denominator(), 1, 4);
                RationalOp.apply(x, a, b).sum().backward();
                double s = xv > 0 ? -1 : 1;
                assertArrayEquals(new double[]{4 * s, 8 * s, 16 * s, 32 * s}, b.grad().toDoubleArray(), 1e-5, t + " x=" + xv);
                // dL/da_i = x^i / Q with Q = 1
                assertArrayEquals(new double[]{1, xv, xv * xv, xv * xv * xv, xv * xv * xv * xv, xv * xv * xv * xv * xv},
                        a.grad().toDoubleArray(), 1e-5);
            }
        }
    }

    @Test
    void finiteDifferenceGradients() {
        Random r = new Random(5);
        long[][] shapes = {{3, 8}, {2, 3, 8}, {4, 64}, {2, 2, 64}, {2, 192}, {1, 3, 192}};
        for (long[] shape : shapes) {
            for (int groups : new int[]{1, 2, 8}) {
                Tensor x = Tensor.rand(r, DType.FLOAT64, -4, 4, shape).requiresGrad(true);
                Tensor a = Tensor.rand(r, DType.FLOAT64, -1, 1, 1, 6).requiresGrad(true);
                Tensor b = Tensor.rand(r, DType.FLOAT64, -1, 1, groups, 4).requiresGrad(true);
                GradCheck.Result res = GradCheck.assertGradients(t -> RationalOp.apply(t[0], t[1], t[2]), 1e-6, x, a, b);
                assertTrue(res.checked() >= 10, Arrays.toString(shape));
            }
        }
    }

    @Test
    void float32KernelMatchesFloat64Reference() {
        Random r = new Random(9);
        int groups = 8;
        long[] shape = {3, 17, 96};
        Tensor x64 = Tensor.rand(r, DType.FLOAT64, -3, 3, shape).requiresGrad(true);
        Tensor a64 = Tensor.rand(r, DType.FLOAT64, -1, 1, 1, 6).requiresGrad(true);
        Tensor b64 = Tensor.rand(r, DType.FLOAT64, -1, 1, groups, 4).requiresGrad(true);
        Tensor g64 = Tensor.rand(r, DType.FLOAT64, -1, 1, shape);
        // the float64 run uses the float32-rounded inputs so only arithmetic differs
        Tensor x32 = Tensor.of(x64.toFloatArray(), shape).requiresGrad(true);
        Tensor a32 = Tensor.of(a64.toFloatArray(), 1, 6).requiresGrad(true);
        Tensor b32 = Tensor.of(b64.toFloatArray(), groups, 4).requiresGrad(true);
        Tensor g32 = Tensor.of(g64.toFloatArray(), shape);
        x64 = Tensor.of(x32.toDoubleArray(), shape).requiresGrad(true);
        a64 = Tensor.of(a32.toDoubleArray(), 1, 6).requiresGrad(true);
        b64 = Tensor.of(b32.toDoubleArray(), groups, 4).requiresGrad(true);
        g64 = Tensor.of(g32.toDoubleArray(), shape);
        Tensor y64 = RationalOp.apply(x64, a64, b64);
        Tensor y32 = RationalOp.apply(x32, a32, b32);
        y64.backward(g64);
        y32.backward(g32);
        assertClose(y64.toDoubleArray(), y32.toDoubleArray(), 1e-5, "forward");
        assertClose(x64.grad().toDoubleArray(), x32.grad().toDoubleArray(), 1e-5, "dx");
        assertClose(a64.grad().toDoubleArray(), a32.grad().toDoubleArray(), 1e-5, "da");
        assertClose(b64.grad().toDoubleArray(), b32.grad().toDoubleArray(), 1e-5, "db");
    }

    /** max |e - a| / max |e| <= tol. */
    static void assertClose(double[] e, double[] a, double tol, String what) {
        double maxE = 0;
        double maxD = 0;
        for (int i = 0; i < e.length; i++) {
            maxE = Math.max(maxE, Math.abs(e[i]));
            maxD = Math.max(maxD, Math.abs(e[i] - a[i]));
        }
        assertTrue(maxD <= tol * maxE, what + ": max diff " + maxD + " vs scale " + maxE);
    }

    @Test
    void coefficientGradientsAreBitIdenticalAcrossRuns() {
        Random r = new Random(11);
        long[] shape = {16, 197, 64};  // several chunks, split across threads
        Tensor x = Tensor.rand(r, DType.FLOAT32, -3, 3, shape);
        Tensor g = Tensor.rand(r, DType.FLOAT32, -1, 1, shape);
        double[] first = null;
        for (int run = 0; run < 5; run++) {
            Tensor a = Tensor.of(Tensor.rand(new Random(1), DType.FLOAT32, -1, 1, 1, 6).toFloatArray(), 1, 6).requiresGrad(true);
            Tensor b = Tensor.of(Tensor.rand(new Random(2), DType.FLOAT32, -1, 1, 8, 4).toFloatArray(), 8, 4).requiresGrad(true);
            RationalOp.apply(x, a, b).backward(g);
            double[] all = new double[10 * 8];
            double[] ga = a.grad().toDoubleArray();
            double[] gb = b.grad().toDoubleArray();
            System.arraycopy(ga, 0, all, 0, 6);
            System.arraycopy(gb, 0, all, 6, 32);
            if (first == null) {
                first = all;
            } else {
                assertArrayEquals(first, all, 0.0, "run " + run);
            }
        }
    }

    @Test
    void nanPropagatesAndLargeInputsStayFinite() {
        Tensor a = Tensor.of(Tensor.of(RationalInit.SWISH.numerator(), 1, 6).toFloatArray(), 1, 6).requiresGrad(true);
        Tensor b = Tensor.of(Tensor.of(RationalInit.SWISH.denominator(), 1, 4).toFloatArray(), 1, 4).requiresGrad(true);
        Tensor x = Tensor.of(new float[]{Float.NaN, 1e4f, -1e4f, 0f}, 1, 4).requiresGrad(true);
        Tensor y = RationalOp.apply(x, a, b);
        y.sum().backward();
        float[] yv = y.toFloatArray();
        float[] gx = x.grad().toFloatArray();
        assertTrue(Float.isNaN(yv[0]) && Float.isNaN(gx[0]));
        for (int i = 1; i < 4; i++) {
            assertTrue(Float.isFinite(yv[i]) && Float.isFinite(gx[i]), "x=" + x.get(0, i) + " y=" + yv[i] + " gx=" + gx[i]);
        }
        // large inputs without NaN: coefficient gradients finite too
        Tensor x2 = Tensor.of(new float[]{1e4f, -1e4f, 3f, -7f}, 1, 4);
        a.clearGrad();
        b.clearGrad();
        RationalOp.apply(x2, a, b).sum().backward();
        for (double v : a.grad().toDoubleArray()) {
            assertTrue(Double.isFinite(v));
        }
        for (double v : b.grad().toDoubleArray()) {
            assertTrue(Double.isFinite(v));
        }
        assertEquals(RationalInit.SWISH.target(3), RationalOp.apply(x2, a, b).get(0, 2), 1e-5);
    }

    @Test
    void negativeZeroTakesTheSignOfZero() {
        // s(0) = +1, also for -0.0: dF/dx at -0.0 must equal dF/dx at +0.0 when b0 != 0
        float[] num = {0.3f, 0.5f, 0.2f, 0.1f, 0.01f, 0.001f};
        float[] den = {0.7f, 0.1f, 0.05f, 0.01f};
        float[] x = {-0.0f, 0.0f};
        float[] g = {1f, 1f};
        float[] gx = new float[2];
        CpuRationalKernel.INSTANCE.backward(java.nio.FloatBuffer.wrap(x), java.nio.FloatBuffer.wrap(g),
                java.nio.FloatBuffer.wrap(gx), 2, 1, 1, num, den, new double[6], new double[4]);
        double[] a = {0.3, 0.5, 0.2, 0.1, 0.01, 0.001};
        double expected = Rational.derivative(0.0, a, new double[]{0.7, 0.1, 0.05, 0.01}, 0); // 0.5 - 0.3 * 0.7
        assertEquals(expected, gx[0], 1e-6);
        assertEquals(gx[1], gx[0], 0.0);
    }

    @Test
    void badShapesAreRejectedWithTheValues() {
        Tensor a = Tensor.zeros(DType.FLOAT32, 1, 6);
        var e = assertThrows(IllegalArgumentException.class,
                () -> RationalOp.apply(Tensor.zeros(DType.FLOAT32, 2, 190), a, Tensor.zeros(DType.FLOAT32, 8, 4)));
        assertTrue(e.getMessage().contains("channels 190 not divisible by groups 8"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> RationalOp.apply(Tensor.zeros(DType.FLOAT32, 2, 16), Tensor.zeros(DType.FLOAT32, 6), Tensor.zeros(DType.FLOAT32, 8, 4)));
        assertTrue(e.getMessage().contains("[6]") && e.getMessage().contains("[1, 6]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> RationalOp.apply(Tensor.zeros(DType.FLOAT32, 2, 16), a, Tensor.zeros(DType.FLOAT32, 8, 3)));
        assertTrue(e.getMessage().contains("[8, 3]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> RationalOp.apply(Tensor.zeros(DType.FLOAT32, 2, 16), a, Tensor.zeros(DType.FLOAT32, 0, 4)));
        assertTrue(e.getMessage().contains("[0, 4]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CpuRationalKernel.INSTANCE.forward((java.nio.FloatBuffer) null, null, 16, 16, 0, new float[6], new float[0]));
        assertTrue(e.getMessage().contains("groups 0"), e.getMessage());
    }
}
