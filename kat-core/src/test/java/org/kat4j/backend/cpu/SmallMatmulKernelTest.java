package org.kat4j.backend.cpu;

import org.junit.jupiter.api.Test;

import java.nio.FloatBuffer;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The batched small-matrix product against a float64 reference and, to the bit, against one chain
 * of fused multiply-adds per element: every transpose and awkward sizes.
 */
class SmallMatmulKernelTest {
    private static final double U = Math.ulp(1f) / 2;

    @Test
    void matchesFloat64OnEveryShapeAndTranspose() {
        assumeTrue(Simd.arrays(), "vector API not resolved (start the JVM with --add-modules jdk.incubator.vector)");
        // rows: fewer than six (a padded block), whole blocks of six, and a last block of six
        // overlapping the one before; columns: two vectors, one vector and single columns on 8
        // and on 16 lanes
        int[] ms = {1, 3, 4, 5, 6, 7, 11, 12, 13, 17};
        int[] ns = {1, 7, 8, 9, 16, 17, 24, 33, 48, 57};
        int[] ks = {1, 16, 17};
        Random rnd = new Random(3);
        for (int m : ms) {
            for (int n : ns) {
                for (int k : ks) {
                    for (int f = 0; f < 4; f++) {
                        check(rnd, 3, m, n, k, (f & 1) != 0, (f & 2) != 0);
                    }
                }
            }
        }
    }

    /** Many products spread over several chunks and threads; the same bits on a second run. */
    @Test
    void manyProductsOverChunksAreDeterministic() {
        assumeTrue(Simd.arrays(), "vector API not resolved");
        Random rnd = new Random(5);
        float[] c1 = check(rnd, 300, 17, 17, 16, false, true);
        rnd = new Random(5);
        float[] c2 = check(rnd, 300, 17, 17, 16, false, true);
        assertArrayEquals(c1, c2);
        check(rnd, 257, 17, 16, 17, false, false);
        check(rnd, 129, 16, 17, 17, true, false);
    }

    /** c's rows further apart than its columns (the columns of one head inside wider rows): the rest untouched. */
    @Test
    void writesRowsAtTheirStrideAndNothingBetween() {
        assumeTrue(Simd.arrays(), "vector API not resolved");
        Random rnd = new Random(11);
        for (int m : new int[]{3, 7, 17}) {
            for (int n : new int[]{9, 16, 17}) {
                int k = 16;
                int ldc = n + 5;
                int cOff = 2;
                float[] a = random(rnd, m * k);
                float[] b = random(rnd, k * n);
                float[] c = new float[cOff + m * ldc];
                java.util.Arrays.fill(c, 42f);
                SmallMatmulKernel.product(a, 0, k, 1, b, 0, c, cOff, ldc, m, n, k);
                for (int i = 0; i < c.length; i++) {
                    int r = (i - cOff) / ldc;
                    int j = (i - cOff) % ldc;
                    if (i < cOff || j >= n) {
                        assertTrue(c[i] == 42f, m + "x" + n + ": wrote " + c[i] + " at " + i + ", outside c");
                        continue;
                    }
                    float chain = 0;
                    for (int p = 0; p < k; p++) {
                        chain = Math.fma(b[p * n + j], a[r * k + p], chain);
                    }
                    assertTrue(c[i] == chain, m + "x" + n + " at [" + r + "," + j + "]: " + c[i] + ", the chain gives " + chain);
                }
            }
        }
    }

    private static float[] check(Random rnd, int batch, int m, int n, int k, boolean ta, boolean tb) {
        float[] a = random(rnd, batch * m * k);
        float[] b = random(rnd, batch * k * n);
        float[] c = new float[batch * m * n + 1];
        c[c.length - 1] = 42f; // written past the end would show here
        SmallMatmulKernel.multiply(FloatBuffer.wrap(a), FloatBuffer.wrap(b), FloatBuffer.wrap(c), batch, m, n, k, ta, tb);
        String what = batch + " x " + m + "x" + k + (ta ? "^T" : "") + " @ " + k + "x" + n + (tb ? "^T" : "");
        assertTrue(c[c.length - 1] == 42f, what + ": wrote past the output");
        for (int i = 0; i < batch; i++) {
            for (int r = 0; r < m; r++) {
                for (int j = 0; j < n; j++) {
                    double sum = 0;
                    double abs = 0;
                    for (int p = 0; p < k; p++) {
                        double av = ta ? a[i * m * k + p * m + r] : a[i * m * k + r * k + p];
                        double bv = tb ? b[i * k * n + j * k + p] : b[i * k * n + p * n + j];
                        sum += av * bv;
                        abs += Math.abs(av * bv);
                    }
                    double got = c[i * m * n + r * n + j];
                    // each element is one chain of float fused multiply-adds over k in order
                    float chain = 0;
                    for (int p = 0; p < k; p++) {
                        float av = ta ? a[i * m * k + p * m + r] : a[i * m * k + r * k + p];
                        float bv = tb ? b[i * k * n + j * k + p] : b[i * k * n + p * n + j];
                        chain = Math.fma(bv, av, chain);
                    }
                    assertTrue(got == chain, what + " at [" + i + "," + r + "," + j + "]: " + got + ", the chain gives " + chain);
                    // float32 accumulation of k products: at most k units of rounding of the absolute sum
                    assertTrue(Math.abs(got - sum) <= k * U * abs + 1e-30,
                            what + " at [" + i + "," + r + "," + j + "]: " + got + " vs " + sum);
                }
            }
        }
        return c;
    }

    private static float[] random(Random rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        return x;
    }
}
