package org.kat4j.cuda;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CUDA backend's launch arithmetic without a GPU: each plan is run by a Java transcription of
 * the kernel (or of cuBLAS's column-major GEMM) and compared with a direct computation.
 */
class PlansTest {
    private final Random rng = new Random(11);

    private double[] values(long n) {
        double[] v = new double[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) {
            v[i] = rng.nextInt(2000) - 1000;
        }
        return v;
    }

    private static long numel(long[] s) {
        long n = 1;
        for (long v : s) {
            n *= v;
        }
        return n;
    }

    /** The multi-index of running index i over shape (C order). */
    private static long[] unravel(long i, long[] shape) {
        long[] idx = new long[shape.length];
        for (int k = shape.length - 1; k >= 0; k--) {
            idx[k] = i % shape[k];
            i /= shape[k];
        }
        return idx;
    }

    /** The dense C-order offset of idx (right-aligned, broadcasting size-1 dimensions) in an array of shape. */
    private static long at(long[] idx, long[] shape) {
        long off = 0;
        int lead = idx.length - shape.length;
        for (int k = 0; k < shape.length; k++) {
            off = off * shape[k] + (shape[k] == 1 ? 0 : idx[lead + k]);
        }
        return off;
    }

    /** kernels.cu's binary loop in Java: y[so . i] = a[sa . i] + 1000 * b[sb . i]. */
    private static void runBinary(Plans.Strided p, double[] y, double[] a, double[] b) {
        runBinary(p, y, 0, a, b);
    }

    /** The same with y's first element at {@code yBase} (an output pointer moved along, as concat does). */
    private static void runBinary(Plans.Strided p, double[] y, long yBase, double[] a, double[] b) {
        for (long i = 0; i < p.numel(); i++) {
            y[(int) (yBase + p.offset(0, i))] = a[(int) p.offset(1, i)] + 1000 * b[(int) p.offset(2, i)];
        }
    }

    @Test
    void broadcastingThroughCollapsedStridesMatchesDirectIndexing() {
        long[][][] cases = {
            {{6304, 768}, {768}}, {{2, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {3, 1}}, {{2, 1, 4}, {5, 1}}, {{1}, {3, 4}},
            {{4, 1, 3, 1, 2}, {1, 5, 3, 1, 1}}, {{7}, {1}}, {{2, 3}, {2, 1}}, {{1, 1}, {1, 1}}, {{3, 4, 5}, {4, 1}},
        };
        for (long[][] c : cases) {
            long[] as = c[0];
            long[] bs = c[1];
            long[] out = org.kat4j.backend.Shapes.broadcast("add", as, bs);
            double[] a = values(numel(as));
            double[] b = values(numel(bs));
            Plans.Strided p = Plans.collapse(out, Plans.contiguous(out), Plans.broadcastStrides(as, out),
                    Plans.broadcastStrides(bs, out));
            assertEquals(numel(out), p.numel(), Arrays.deepToString(c));
            double[] y = new double[Math.toIntExact(numel(out))];
            Arrays.fill(y, Double.NaN);
            runBinary(p, y, a, b);
            for (int i = 0; i < y.length; i++) {
                long[] idx = unravel(i, out);
                double expected = a[(int) at(idx, as)] + 1000 * b[(int) at(idx, bs)];
                assertEquals(expected, y[i], 0, Arrays.deepToString(c) + " element " + i);
            }
        }
        // a bias over rows collapses to two dimensions, same shapes to one dense loop
        assertEquals(2, Plans.collapse(new long[]{64, 197, 192}, Plans.contiguous(new long[]{64, 197, 192}),
                Plans.broadcastStrides(new long[]{64, 197, 192}, new long[]{64, 197, 192}),
                Plans.broadcastStrides(new long[]{192}, new long[]{64, 197, 192})).rank());
        long[] s = {8, 3, 5};
        assertTrue(Plans.collapse(s, Plans.contiguous(s), Plans.contiguous(s), Plans.contiguous(s)).dense());
    }

    @Test
    void permutesNarrowsAndConcatsAsStridedCopies() {
        // permute [2, 3, 4, 5] by (2, 0, 3, 1): out[i0, i1, i2, i3] = x[i1, i3, i0, i2]
        long[] xs = {2, 3, 4, 5};
        int[] dims = {2, 0, 3, 1};
        double[] x = values(numel(xs));
        long[] st = Plans.contiguous(xs);
        long[] shape = new long[4];
        long[] sa = new long[4];
        for (int i = 0; i < 4; i++) {
            shape[i] = xs[dims[i]];
            sa[i] = st[dims[i]];
        }
        Plans.Strided p = Plans.collapse(shape, Plans.contiguous(shape), sa, new long[4]);
        double[] y = new double[x.length];
        double[] zero = new double[1];
        runBinary(p, y, x, zero);
        for (int i = 0; i < y.length; i++) {
            long[] o = unravel(i, shape);
            long[] src = new long[4];
            for (int k = 0; k < 4; k++) {
                src[dims[k]] = o[k];
            }
            assertEquals(x[(int) at(src, xs)], y[i], 0, "permute element " + i);
        }
        // attention's packed layout [B, N, 3, H, hd] -> [3, B, H, N, hd]: no two neighbours are neighbours in the input
        long[] qkv = {2, 5, 3, 4, 6};
        int[] pd = {2, 0, 3, 1, 4};
        long[] qst = Plans.contiguous(qkv);
        long[] qshape = new long[5];
        long[] qsa = new long[5];
        for (int i = 0; i < 5; i++) {
            qshape[i] = qkv[pd[i]];
            qsa[i] = qst[pd[i]];
        }
        assertEquals(5, Plans.collapse(qshape, Plans.contiguous(qshape), qsa, new long[5]).rank());
        // transposing the last two of [B, H, N, hd] merges B and H
        long[] bh = {2, 3, 5, 4};
        long[] bst = Plans.contiguous(bh);
        assertEquals(3, Plans.collapse(new long[]{2, 3, 4, 5}, Plans.contiguous(new long[]{2, 3, 4, 5}),
                new long[]{bst[0], bst[1], bst[3], bst[2]}, new long[4]).rank());

        // concat along dim 1 of [2, 3, 4] and [2, 1, 4]: each piece copied at the output's strides
        long[] out = {2, 4, 4};
        long[] so = Plans.contiguous(out);
        double[] a = values(24);
        double[] b = values(8);
        double[] c = new double[32];
        Plans.Strided pa = Plans.collapse(new long[]{2, 3, 4}, so, Plans.contiguous(new long[]{2, 3, 4}), new long[3]);
        runBinary(pa, c, a, zero);
        Plans.Strided pb = Plans.collapse(new long[]{2, 1, 4}, so, Plans.contiguous(new long[]{2, 1, 4}), new long[3]);
        runBinary(pb, c, 3 * so[1], b, zero);
        for (int i = 0; i < 32; i++) {
            long[] o = unravel(i, out);
            double expected = o[1] < 3 ? a[(int) (o[0] * 12 + o[1] * 4 + o[2])] : b[(int) (o[0] * 4 + o[2])];
            assertEquals(expected, c[i], 0, "concat element " + i);
        }
        assertThrows(IllegalArgumentException.class, () -> Plans.collapse(new long[]{2, 2, 2, 2, 2, 2, 2, 2, 2},
                new long[]{1, 2, 4, 8, 16, 32, 64, 128, 256}, Plans.contiguous(new long[]{2, 2, 2, 2, 2, 2, 2, 2, 2})));
    }

    /** kernels.cu's two reductions (rows and cols, with parts and the second pass) in Java. */
    private static double[] runReduce(double[] x, long[] shape, int[] axes, int sms) {
        double[] cur = x;
        for (Plans.ReduceStep s : Plans.reduce(shape, axes, sms)) {
            double[] partial = new double[Math.toIntExact(s.outer() * s.parts() * s.inner())];
            long chunk = (s.r() + s.parts() - 1) / s.parts();
            for (long o = 0; o < s.outer(); o++) {
                for (long p = 0; p < s.parts(); p++) {
                    for (long i = 0; i < s.inner(); i++) {
                        double acc = 0;
                        for (long k = p * chunk; k < Math.min(s.r(), (p + 1) * chunk); k++) {
                            acc += cur[(int) ((o * s.r() + k) * s.inner() + i)];
                        }
                        partial[(int) ((o * s.parts() + p) * s.inner() + i)] = acc;
                    }
                }
            }
            double[] next = new double[Math.toIntExact(s.outer() * s.inner())];
            for (long o = 0; o < s.outer(); o++) {
                for (long i = 0; i < s.inner(); i++) {
                    double acc = 0;
                    for (long p = 0; p < s.parts(); p++) {
                        acc += partial[(int) ((o * s.parts() + p) * s.inner() + i)];
                    }
                    next[(int) (o * s.inner() + i)] = acc;
                }
            }
            cur = next;
        }
        return cur;
    }

    @Test
    void reductionStepsSumTheRightElements() {
        Object[][] cases = {
            {new long[]{6304, 192}, new int[]{0}}, {new long[]{64, 197, 192}, new int[]{0, 1}}, {new long[]{3, 4, 5}, new int[]{1}},
            {new long[]{3, 4, 5}, new int[]{0, 2}}, {new long[]{3, 4, 5}, new int[]{0, 1, 2}}, {new long[]{2, 1, 3}, new int[]{1}},
            {new long[]{5, 7}, new int[]{1}}, {new long[]{100000}, new int[]{0}}, {new long[]{2, 3, 4, 5}, new int[]{1, 3}},
            {new long[]{1, 9, 1}, new int[]{0, 2}},
        };
        for (Object[] c : cases) {
            long[] shape = (long[]) c[0];
            int[] axes = (int[]) c[1];
            double[] x = values(numel(shape));
            for (int sms : new int[]{1, 132}) {
                double[] got = runReduce(x, shape, axes, sms);
                boolean[] red = new boolean[shape.length];
                for (int a : axes) {
                    red[a] = true;
                }
                long[] kept = new long[shape.length];
                for (int k = 0; k < shape.length; k++) {
                    kept[k] = red[k] ? 1 : shape[k];
                }
                double[] expected = new double[Math.toIntExact(numel(kept))];
                for (int i = 0; i < x.length; i++) {
                    long[] idx = unravel(i, shape);
                    for (int k = 0; k < shape.length; k++) {
                        if (red[k]) {
                            idx[k] = 0;
                        }
                    }
                    expected[(int) at(idx, kept)] += x[i];
                }
                assertArrayEquals(expected, got, 0, Arrays.toString(shape) + " over " + Arrays.toString(axes) + ", " + sms + " SMs");
            }
        }
        assertTrue(Plans.reduce(new long[]{4, 1, 3}, new int[]{1}, 132).isEmpty(), "a size-1 axis needs no launch");
        List<Plans.ReduceStep> bias = Plans.reduce(new long[]{6304, 192}, new int[]{0}, 132);
        assertEquals(List.of(new Plans.ReduceStep(1, 6304, 192, bias.get(0).parts())), bias);
        assertTrue(bias.get(0).parts() > 1, "a bias gradient's 192 columns alone would leave most of the GPU idle");
    }

    /** cuBLAS's column-major GEMM (what the plan's call computes), batched with strides, in Java. */
    private static void colMajorGemm(Plans.Gemm g, double[] first, double[] second, double[] c, boolean accumulate) {
        // C (n x m, ld ldc) = opFirst(first) (n x k) * opSecond(second) (k x m)
        for (int bt = 0; bt < g.batch(); bt++) {
            for (int col = 0; col < g.m(); col++) {
                for (int row = 0; row < g.n(); row++) {
                    double s = 0;
                    for (int p = 0; p < g.k(); p++) {
                        double f = g.transFirst() ? first[(int) (bt * g.strideFirst() + row * g.ldFirst() + p)]
                                : first[(int) (bt * g.strideFirst() + p * g.ldFirst() + row)];
                        double q = g.transSecond() ? second[(int) (bt * g.strideSecond() + p * g.ldSecond() + col)]
                                : second[(int) (bt * g.strideSecond() + col * g.ldSecond() + p)];
                        s += f * q;
                    }
                    int at = (int) (bt * g.strideC() + col * g.ldc() + row);
                    c[at] = (accumulate ? c[at] : 0) + s;
                }
            }
        }
    }

    @Test
    void rowMajorProductsMapOntoColumnMajorGemm() {
        int m = 5;
        int n = 3;
        int k = 4;
        for (boolean ta : new boolean[]{false, true}) {
            for (boolean tb : new boolean[]{false, true}) {
                for (int[] batches : new int[][]{{1, 1}, {3, 3}, {3, 1}, {1, 2}}) {
                    int ba = batches[0];
                    int bb = batches[1];
                    int batch = Math.max(ba, bb);
                    double[] a = values((long) ba * m * k); // stored [m, k], or [k, m] when ta
                    double[] b = values((long) bb * k * n); // stored [k, n], or [n, k] when tb
                    double[] c = new double[batch * m * n];
                    Arrays.fill(c, 1);
                    Plans.Gemm g = Plans.gemm(m, n, k, ta, tb, ba, bb);
                    colMajorGemm(g, b, a, c, true);
                    for (int t = 0; t < batch; t++) {
                        int oa = ba == 1 ? 0 : t * m * k;
                        int ob = bb == 1 ? 0 : t * k * n;
                        for (int i = 0; i < m; i++) {
                            for (int j = 0; j < n; j++) {
                                double s = 1;
                                for (int p = 0; p < k; p++) {
                                    s += (ta ? a[oa + p * m + i] : a[oa + i * k + p]) * (tb ? b[ob + j * k + p] : b[ob + p * n + j]);
                                }
                                assertEquals(s, c[t * m * n + i * n + j], 0, "ta " + ta + " tb " + tb + " batches "
                                        + Arrays.toString(batches) + " at " + t + "," + i + "," + j);
                            }
                        }
                    }
                }
            }
        }
        assertThrows(IllegalArgumentException.class, () -> Plans.gemm(2, 2, 2, false, false, 2, 3));
    }

    @Test
    void inverseIndexListsEachSourceInOrder() {
        long[] index = {2, 0, 2, 2, 4};
        long[] inv = Plans.inverseIndex(index, 5);
        // starts [0, 1, 1, 4, 4, 5], then k grouped by target: 1 | - | 0 2 3 | - | 4
        assertArrayEquals(new long[]{0, 1, 1, 4, 4, 5, 1, 0, 2, 3, 4}, inv);
        assertArrayEquals(new long[]{0, 0, 0}, Plans.inverseIndex(new long[0], 2));
        assertThrows(IllegalArgumentException.class, () -> Plans.inverseIndex(new long[]{5}, 5));
    }

    @Test
    void sizeClassesHoldTheRequestAndWasteAtMostAQuarter() {
        long prev = 0;
        for (long bytes = 1; bytes < 1L << 34; bytes = bytes * 3 / 2 + 1) {
            long c = DeviceMemory.sizeClass(bytes);
            assertTrue(c >= bytes && c >= prev, bytes + " -> " + c);
            assertTrue(c <= Math.max(512 + bytes, bytes + bytes / 4), bytes + " -> " + c);
            assertEquals(c, DeviceMemory.sizeClass(c), "a class is its own class");
            prev = c;
        }
        assertEquals(512, DeviceMemory.sizeClass(1));
        assertEquals(4096, DeviceMemory.sizeClass(4096));
        assertEquals(5120, DeviceMemory.sizeClass(4097));
        assertEquals(6L << 20, DeviceMemory.sizeClass((5L << 20) + 1));
    }
}
