package org.kat4j.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.nio.FloatBuffer;

/**
 * Batched float32 matrix products of small matrices, {@code c[i] = op(a[i]) @ op(b[i])}, on the
 * JDK vector API (callers check {@link Simd#arrays()}): attention's scores and weighted sums,
 * forward and backward, e.g. 256 products of 17x16 by 16x17 per call in a micro ViT at batch 64.
 * Through ND4J each of those is its own BLAS call with its own sub-array bookkeeping and thread
 * hand-off, about 3.5 us each (0.8-0.95 ms per call on a 2-core Zen 3, where the arithmetic alone
 * takes a few microseconds).
 *
 * <p>A chunk of products is read in one bulk copy per operand; each product is then computed on
 * its own: a read in place in either layout (its elements are broadcast one at a time), op(b)
 * used in place or transposed into row-major scratch, six rows of c at a time in vector
 * registers, every sum over k in order. Products go in {@link Chunks} over the cores; every
 * element's sum runs in the same order on every run.
 */
public final class SmallMatmulKernel {
    /** Largest m * n * k of one product that this kernel takes; BLAS does the larger ones. */
    public static final long MAX_VOLUME = 1L << 15;
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** Float lanes per vector. */
    static final int L = S.length();
    /** Multiply-adds per chunk of products. */
    private static final int CHUNK = 1 << 15;
    /** Per thread, a six-row block of a and of c for products of fewer than six rows. */
    private static final ThreadLocal<float[][]> FEW_ROWS = ThreadLocal.withInitial(() -> new float[][] {new float[0], new float[0]});

    private SmallMatmulKernel() {
    }

    /**
     * Whether a batch of products of this size is this kernel's: small enough per product and
     * enough of them that BLAS's per-call cost dominates.
     */
    public static boolean suits(long batch, long m, long n, long k) {
        return batch >= 2 && m * n * k <= MAX_VOLUME;
    }

    /**
     * c[i] = op(a[i]) @ op(b[i]) for i &lt; batch over dense row-major operands: a[i] is m x k
     * (stored k x m when transA), b[i] is k x n (stored n x k when transB), c[i] is m x n.
     */
    public static void multiply(FloatBuffer a, FloatBuffer b, FloatBuffer c, int batch, int m, int n, int k,
                                boolean transA, boolean transB) {
        int perChunk = Math.max(1, CHUNK / Math.max(1, m * n * k));
        int chunks = (batch + perChunk - 1) / perChunk;
        Chunks.forEach(chunks, 1, 1, (chunk, first, one) -> {
            int begin = chunk * perChunk;
            int end = Math.min(batch, begin + perChunk);
            int count = end - begin;
            // the chunk's operands and results in one bulk read and one bulk write each
            float[][] s = Chunks.scratch(4, count * Math.max(m * k, Math.max(k * n, m * n)));
            float[] ra = s[0];
            float[] rb = s[1];
            float[] rc = s[2];
            float[] bs = s[3];
            a.get(begin * m * k, ra, 0, count * m * k);
            b.get(begin * k * n, rb, 0, count * k * n);
            for (int i = 0; i < count; i++) {
                if (transB) {
                    transpose(rb, i * k * n, bs, n, k);
                }
                // a(r, p) at r * rs + p * ps: a stored transposed is read as it is
                product(ra, i * m * k, transA ? 1 : k, transA ? m : 1, transB ? bs : rb, transB ? 0 : i * k * n,
                        rc, i * m * n, n, m, n, k);
            }
            c.put(begin * m * n, rc, 0, count * m * n);
        });
    }

    /** to (cols x rows, row-major) = the transpose of from (rows x cols at off). */
    private static void transpose(float[] from, int off, float[] to, int rows, int cols) {
        for (int r = 0; r < rows; r++) {
            for (int q = 0; q < cols; q++) {
                to[q * rows + r] = from[off + r * cols + q];
            }
        }
    }

    /**
     * c (m x n at cOff of cs, element (r, j) at r * ldc + j) = a (m x k at aOff of av, element
     * (r, p) at r * rs + p * ps) @ b (k x n at bOff of bv, row-major), six rows of c at a time
     * ({@link #sixRows}).
     * The last m mod 6 rows go in a block of the last six rows, which overlaps the block before
     * it: the rows both blocks hold are written twice with the same value. The rows of a product
     * of fewer than six are copied into a six-row block (its other rows' results are dropped). c
     * must not overlap a or b. Every element of c is one chain of fused multiply-adds over k in
     * order from zero, whichever block computes it.
     *
     * <p>Taking the last rows four and one at a time instead is slower: one row's sums over 16 or
     * 17 terms wait on the multiply-add latency about as long as six rows' do. In one process
     * alternating the two forms (this one second), best of 6 rounds, 2 cores of an AMD EPYC Zen 5 (2026-12-07):
     * with 8 lanes (-XX:UseAVX=2) 1.06-1.42x on every attention shape (17x16x17 146-163 -> 119-127
     * ns, 17x17x16 285-305 -> 203-214 ns, 197x64x197 55.9-61.7 -> 51.7-55.5 us); with 16 lanes
     * 1.09-1.34x on the 17-token shapes, 0.95-1.04x on the others (rows x columns x sum length).
     */
    static void product(float[] av, int aOff, int rs, int ps, float[] bv, int bOff, float[] cs, int cOff, int ldc, int m,
                        int n, int k) {
        int r = 0;
        for (; r + 6 <= m; r += 6) {
            sixRows(av, aOff + r * rs, rs, ps, bv, bOff, cs, cOff + r * ldc, ldc, n, k);
        }
        if (r < m && m >= 6) {
            sixRows(av, aOff + (m - 6) * rs, rs, ps, bv, bOff, cs, cOff + (m - 6) * ldc, ldc, n, k);
        } else if (r < m) {
            float[][] s = FEW_ROWS.get();
            if (s[0].length < 6 * k) {
                s[0] = new float[6 * k];
            }
            if (s[1].length < 6 * n) {
                s[1] = new float[6 * n];
            }
            float[] a6 = s[0];
            float[] c6 = s[1];
            for (int i = 0; i < m; i++) {
                int from = aOff + i * rs;
                for (int p = 0; p < k; p++) {
                    a6[i * k + p] = av[from + p * ps];
                }
            }
            sixRows(a6, 0, k, 1, bv, bOff, c6, 0, n, n, k);
            for (int i = 0; i < m; i++) {
                System.arraycopy(c6, i * n, cs, cOff + i * ldc, n);
            }
        }
    }

    /**
     * Six rows of c (a's first row at a0, c's at o): the columns that whole vectors cover two
     * vectors at a time (twelve accumulators), then one vector, then the last n mod L columns one
     * at a time in six scalar chains. With sums over k of 16 or 17 terms (attention's head width
     * and token count) a block of fewer chains waits on the multiply-add latency: six rows cost
     * about what one row costs, which is why the last rows are padded to six rather than taken
     * one by one.
     */
    private static void sixRows(float[] av, int a0, int rs, int ps, float[] bv, int bOff, float[] cs, int o, int ldc, int n,
                                int k) {
        int a1 = a0 + rs;
        int a2 = a1 + rs;
        int a3 = a2 + rs;
        int a4 = a3 + rs;
        int a5 = a4 + rs;
        int j = 0;
        for (; j + 2 * L <= n; j += 2 * L) {
            FloatVector c0 = FloatVector.zero(S);
            FloatVector c1 = c0;
            FloatVector c2 = c0;
            FloatVector c3 = c0;
            FloatVector c4 = c0;
            FloatVector c5 = c0;
            FloatVector d0 = c0;
            FloatVector d1 = c0;
            FloatVector d2 = c0;
            FloatVector d3 = c0;
            FloatVector d4 = c0;
            FloatVector d5 = c0;
            for (int p = 0; p < k; p++) {
                FloatVector x = FloatVector.fromArray(S, bv, bOff + p * n + j);
                FloatVector y = FloatVector.fromArray(S, bv, bOff + p * n + j + L);
                FloatVector s0 = FloatVector.broadcast(S, av[a0 + p * ps]);
                c0 = x.fma(s0, c0);
                d0 = y.fma(s0, d0);
                FloatVector s1 = FloatVector.broadcast(S, av[a1 + p * ps]);
                c1 = x.fma(s1, c1);
                d1 = y.fma(s1, d1);
                FloatVector s2 = FloatVector.broadcast(S, av[a2 + p * ps]);
                c2 = x.fma(s2, c2);
                d2 = y.fma(s2, d2);
                FloatVector s3 = FloatVector.broadcast(S, av[a3 + p * ps]);
                c3 = x.fma(s3, c3);
                d3 = y.fma(s3, d3);
                FloatVector s4 = FloatVector.broadcast(S, av[a4 + p * ps]);
                c4 = x.fma(s4, c4);
                d4 = y.fma(s4, d4);
                FloatVector s5 = FloatVector.broadcast(S, av[a5 + p * ps]);
                c5 = x.fma(s5, c5);
                d5 = y.fma(s5, d5);
            }
            c0.intoArray(cs, o + j);
            d0.intoArray(cs, o + j + L);
            c1.intoArray(cs, o + ldc + j);
            d1.intoArray(cs, o + ldc + j + L);
            c2.intoArray(cs, o + 2 * ldc + j);
            d2.intoArray(cs, o + 2 * ldc + j + L);
            c3.intoArray(cs, o + 3 * ldc + j);
            d3.intoArray(cs, o + 3 * ldc + j + L);
            c4.intoArray(cs, o + 4 * ldc + j);
            d4.intoArray(cs, o + 4 * ldc + j + L);
            c5.intoArray(cs, o + 5 * ldc + j);
            d5.intoArray(cs, o + 5 * ldc + j + L);
        }
        if (j + L <= n) {
            FloatVector c0 = FloatVector.zero(S);
            FloatVector c1 = c0;
            FloatVector c2 = c0;
            FloatVector c3 = c0;
            FloatVector c4 = c0;
            FloatVector c5 = c0;
            for (int p = 0; p < k; p++) {
                FloatVector x = FloatVector.fromArray(S, bv, bOff + p * n + j);
                c0 = x.fma(FloatVector.broadcast(S, av[a0 + p * ps]), c0);
                c1 = x.fma(FloatVector.broadcast(S, av[a1 + p * ps]), c1);
                c2 = x.fma(FloatVector.broadcast(S, av[a2 + p * ps]), c2);
                c3 = x.fma(FloatVector.broadcast(S, av[a3 + p * ps]), c3);
                c4 = x.fma(FloatVector.broadcast(S, av[a4 + p * ps]), c4);
                c5 = x.fma(FloatVector.broadcast(S, av[a5 + p * ps]), c5);
            }
            c0.intoArray(cs, o + j);
            c1.intoArray(cs, o + ldc + j);
            c2.intoArray(cs, o + 2 * ldc + j);
            c3.intoArray(cs, o + 3 * ldc + j);
            c4.intoArray(cs, o + 4 * ldc + j);
            c5.intoArray(cs, o + 5 * ldc + j);
            j += L;
        }
        for (; j < n; j++) {
            float c0 = 0;
            float c1 = 0;
            float c2 = 0;
            float c3 = 0;
            float c4 = 0;
            float c5 = 0;
            for (int p = 0; p < k; p++) {
                float x = bv[bOff + p * n + j];
                c0 = Math.fma(x, av[a0 + p * ps], c0);
                c1 = Math.fma(x, av[a1 + p * ps], c1);
                c2 = Math.fma(x, av[a2 + p * ps], c2);
                c3 = Math.fma(x, av[a3 + p * ps], c3);
                c4 = Math.fma(x, av[a4 + p * ps], c4);
                c5 = Math.fma(x, av[a5 + p * ps], c5);
            }
            cs[o + j] = c0;
            cs[o + ldc + j] = c1;
            cs[o + 2 * ldc + j] = c2;
            cs[o + 3 * ldc + j] = c3;
            cs[o + 4 * ldc + j] = c4;
            cs[o + 5 * ldc + j] = c5;
        }
    }
}
