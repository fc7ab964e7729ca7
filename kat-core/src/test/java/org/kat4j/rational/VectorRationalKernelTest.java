package org.kat4j.rational;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.kat4j.backend.cpu.Simd;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The vector-API backward against the float64 reference ({@link Rational}) and the plain-Java
 * kernel, and its forward against the plain kernel's bits: group widths that are whole vectors, that are not (a partial first vector), and that are
 * narrower than a vector (lane by lane, or handed to the plain kernel); NaN and +-0 inputs; several chunks; float
 * buffers and native-order byte buffers giving the same bits; wrong byte order or size refused.
 */
class VectorRationalKernelTest {
    static void check(int rows, int d, int groups, long seed) {
        Random r = new Random(seed);
        int n = rows * d;
        float[] x = new float[n];
        float[] g = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) ((r.nextDouble() - 0.5) * 8);
            g[i] = (float) r.nextGaussian();
        }
        float[] num = new float[6];
        float[] den = new float[4 * groups];
        for (int i = 0; i < 6; i++) {
            num[i] = (float) (r.nextGaussian() * 0.5);
        }
        for (int i = 0; i < den.length; i++) {
            den[i] = (float) (r.nextGaussian() * 0.5); // negative b included
        }
        x[0] = -0.0f;
        x[1] = 0.0f;
        float[] gx = new float[n];
        double[] ga = new double[6];
        double[] gd = new double[4 * groups];
        VectorRationalKernel.INSTANCE.backward(FloatBuffer.wrap(x), FloatBuffer.wrap(g), FloatBuffer.wrap(gx), n, d, groups,
                num, den, ga, gd);
        // the same through native-order direct byte buffers (what GroupRational passes): same bits
        ByteBuffer xb = direct(x);
        ByteBuffer gb = direct(g);
        ByteBuffer gxb = direct(new float[n]);
        double[] ga2 = new double[6];
        double[] gd2 = new double[4 * groups];
        VectorRationalKernel.INSTANCE.backward(xb, gb, gxb, n, d, groups, num, den, ga2, gd2);
        float[] gx2 = new float[n];
        gxb.asFloatBuffer().get(gx2);
        String path = rows + "x" + d + " G=" + groups + " bytes vs floats";
        assertArrayEquals(gx, gx2, path + " dx");
        assertArrayEquals(ga, ga2, path + " da");
        assertArrayEquals(gd, gd2, path + " db");
        double[] ga3 = new double[6];
        double[] gd3 = new double[4 * groups];
        VectorRationalKernel.INSTANCE.backward(xb, gb, null, n, d, groups, num, den, ga3, gd3);
        assertArrayEquals(ga, ga3, path + " da without dx");
        assertArrayEquals(gd, gd3, path + " db without dx");
        // the forward on bytes in place: the plain kernel's bits, whole, partial and narrow groups alike
        float[] y = new float[n];
        CpuRationalKernel.INSTANCE.forward(FloatBuffer.wrap(x), FloatBuffer.wrap(y), n, d, groups, num, den);
        ByteBuffer yb = direct(new float[n]);
        VectorRationalKernel.INSTANCE.forward(xb, yb, n, d, groups, num, den);
        float[] y2 = new float[n];
        yb.asFloatBuffer().get(y2);
        assertArrayEquals(y, y2, path + " forward");
        // float64 reference on the same float32 inputs
        double[] xd = new double[n];
        double[] gdd = new double[n];
        for (int i = 0; i < n; i++) {
            xd[i] = x[i];
            gdd[i] = g[i];
        }
        double[] a = new double[6];
        double[] b = new double[den.length];
        for (int i = 0; i < 6; i++) {
            a[i] = num[i];
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = den[i];
        }
        double[] gxRef = new double[n];
        double[] gaRef = new double[6];
        double[] gbRef = new double[b.length];
        Rational.backward(xd, gdd, gxRef, d, groups, a, b, gaRef, gbRef);
        // the sums cancel: bound their error by float rounding of the sum of |terms|
        double[] absA = new double[6];
        double[] absB = new double[b.length];
        int cpg = d / groups;
        for (int i = 0; i < n; i++) {
            int off = 4 * ((i % d) / cpg);
            double q = Rational.q(xd[i], b, off);
            double ax = Math.abs(xd[i]);
            for (int k = 0; k < 6; k++) {
                absA[k] += Math.abs(gdd[i] / q) * Math.pow(ax, k);
            }
            for (int k = 0; k < 4; k++) {
                absB[off + k] += Math.abs(gdd[i] * Rational.p(xd[i], a) / (q * q)) * Math.pow(ax, k + 1);
            }
        }
        String where = rows + "x" + d + " G=" + groups;
        for (int i = 0; i < n; i++) {
            assertEquals(gxRef[i], gx[i], 1e-5 * Math.max(1, Math.abs(gxRef[i])), where + " dx at " + i);
        }
        for (int i = 0; i < 6; i++) {
            assertEquals(gaRef[i], ga[i], 1e-6 * absA[i] + 1e-9, where + " da" + i);
        }
        for (int i = 0; i < b.length; i++) {
            assertEquals(gbRef[i], gd[i], 1e-6 * absB[i] + 1e-9, where + " db" + i);
        }
    }

    @Test
    void matchesFloat64ForWholePartialAndNarrowGroups() {
        Assumptions.assumeTrue(Simd.available(), "needs --add-modules jdk.incubator.vector");
        // groups narrower than a vector: whole groups per vector and vectors per row take the lane
        // path (d = 64 in 8 groups on 16 lanes, over several chunks and flushes of the float sums),
        // the others the plain kernel
        int[][] shapes = {{197, 768, 8}, {33, 192, 8}, {5, 40, 2}, {7, 100, 4}, {3, 8, 8}, {300, 64, 1}, {2, 17, 1},
            {1, 48, 3}, {2100, 64, 8}, {97, 64, 16}, {41, 32, 16}, {9, 128, 64}, {1, 64, 8}, {3, 96, 24}, {5, 80, 2},
            {6, 144, 3}, {3, 56, 1}};
        long seed = 1;
        for (int[] s : shapes) {
            check(s[0], s[1], s[2], seed++);
        }
    }

    static ByteBuffer direct(float[] v) {
        ByteBuffer b = ByteBuffer.allocateDirect(4 * v.length).order(ByteOrder.nativeOrder());
        b.asFloatBuffer().put(v);
        return b;
    }

    @Test
    void byteBuffersInTheWrongOrderOrTooSmallAreRefused() {
        float[] num = new float[6];
        float[] den = new float[8];
        ByteBuffer ok = direct(new float[64]);
        ByteBuffer big = ByteBuffer.allocateDirect(256).order(ByteOrder.BIG_ENDIAN);
        ByteBuffer wrong = ByteOrder.nativeOrder() == ByteOrder.BIG_ENDIAN
                ? ByteBuffer.allocateDirect(256).order(ByteOrder.LITTLE_ENDIAN) : big;
        for (RationalKernel k : new RationalKernel[] {VectorRationalKernel.INSTANCE, CpuRationalKernel.INSTANCE}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> k.backward(wrong, ok, ok, 64, 32, 2, num, den, new double[6], new double[8]));
            assertTrue(e.getMessage().contains("buffer x") && e.getMessage().contains("native order"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> k.backward(ok, ok, direct(new float[63]), 64, 32, 2, num, den, new double[6], new double[8]));
            assertTrue(e.getMessage().contains("buffer gx holds 252 bytes, expected 256"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> k.forward(ok, direct(new float[8]), 64, 32, 2, num, den));
            assertTrue(e.getMessage().contains("buffer y holds 32 bytes"), e.getMessage());
        }
    }

    @Test
    void nanStaysInItsOwnElementsAndGroup() {
        Assumptions.assumeTrue(Simd.available(), "needs --add-modules jdk.incubator.vector");
        int d = 48;
        int groups = 2; // 24 channels: a partial first vector on 16-lane machines
        float[] x = new float[4 * d];
        float[] g = new float[4 * d];
        for (int i = 0; i < x.length; i++) {
            x[i] = (i % 7) * 0.3f - 1f;
            g[i] = 1f;
        }
        x[d + 30] = Float.NaN; // group 1 of row 1
        float[] gx = new float[x.length];
        float[] num = {0.1f, 0.5f, 0.2f, 0.05f, 0.01f, 0.001f};
        float[] den = {0.5f, -0.1f, 0.05f, 0.01f, 0.4f, 0.2f, -0.05f, 0.02f};
        double[] ga = new double[6];
        double[] gd = new double[8];
        VectorRationalKernel.INSTANCE.backward(FloatBuffer.wrap(x), FloatBuffer.wrap(g), FloatBuffer.wrap(gx), x.length, d,
                groups, num, den, ga, gd);
        for (int i = 0; i < x.length; i++) {
            assertEquals(i == d + 30, Float.isNaN(gx[i]), "dx NaN only where x is NaN, at " + i);
        }
        for (int k = 0; k < 4; k++) {
            assertTrue(Double.isFinite(gd[k]), "group 0 untouched by group 1's NaN");
            assertTrue(Double.isNaN(gd[4 + k]), "group 1 gets NaN");
        }
        ByteBuffer yb = direct(new float[x.length]);
        VectorRationalKernel.INSTANCE.forward(direct(x), yb, x.length, d, groups, num, den);
        for (int i = 0; i < x.length; i++) {
            assertEquals(i == d + 30, Float.isNaN(yb.getFloat(4 * i)), "forward NaN only where x is NaN, at " + i);
        }
        // and the vector kernel agrees with the plain one where finite
        float[] gx2 = new float[x.length];
        double[] gd2 = new double[8];
        CpuRationalKernel.INSTANCE.backward(FloatBuffer.wrap(x), FloatBuffer.wrap(g), FloatBuffer.wrap(gx2), x.length, d,
                groups, num, den, new double[6], gd2);
        assertArrayEquals(gx2, gx, 1e-5f);
        assertArrayEquals(java.util.Arrays.copyOf(gd2, 4), java.util.Arrays.copyOf(gd, 4), 1e-4);
    }

    @Test
    void bothBackwardFormsGiveTheSameBits() {
        Assumptions.assumeTrue(Simd.available(), "needs --add-modules jdk.incubator.vector");
        // two vectors at a time with the sums in registers (AVX-512's form) and one at a time with
        // sums in memory (the 16-register form), whichever this machine uses; odd vector counts
        // per group with and without a partial first vector (80 / 2 and 144 / 3 channels, on 16
        // and 8 lanes), and odd row counts down the lane path
        VectorRationalKernel inRegisters = new VectorRationalKernel(false);
        VectorRationalKernel inMemory = new VectorRationalKernel(true);
        int[][] shapes = {{197, 768, 8}, {33, 192, 8}, {5, 40, 2}, {7, 100, 4}, {2100, 64, 8}, {97, 64, 16}, {41, 32, 16},
            {9, 128, 64}, {3, 96, 24}, {4, 48, 2}, {5, 80, 2}, {6, 144, 3}, {3, 56, 1}, {2, 24, 1}};
        Random r = new Random(7);
        for (int[] s : shapes) {
            int n = s[0] * s[1];
            int groups = s[2];
            float[] x = new float[n];
            float[] g = new float[n];
            for (int i = 0; i < n; i++) {
                x[i] = (float) ((r.nextDouble() - 0.5) * 8);
                g[i] = (float) r.nextGaussian();
            }
            x[0] = -0.0f;
            float[] num = new float[6];
            float[] den = new float[4 * groups];
            for (int i = 0; i < 6; i++) {
                num[i] = (float) (r.nextGaussian() * 0.5);
            }
            for (int i = 0; i < den.length; i++) {
                den[i] = (float) (r.nextGaussian() * 0.5);
            }
            ByteBuffer xb = direct(x);
            ByteBuffer gb = direct(g);
            ByteBuffer gx1 = direct(new float[n]);
            ByteBuffer gx2 = direct(new float[n]);
            double[] ga1 = new double[6];
            double[] gd1 = new double[den.length];
            double[] ga2 = new double[6];
            double[] gd2 = new double[den.length];
            inRegisters.backward(xb, gb, gx1, n, s[1], groups, num, den, ga1, gd1);
            inMemory.backward(xb, gb, gx2, n, s[1], groups, num, den, ga2, gd2);
            String where = s[0] + "x" + s[1] + " G=" + groups;
            assertEquals(gx1, gx2, where + " dx");
            assertArrayEquals(ga1, ga2, 0, where + " da");
            assertArrayEquals(gd1, gd2, 0, where + " db");
        }
    }
}
