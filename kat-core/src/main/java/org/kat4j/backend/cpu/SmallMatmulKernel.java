package org.kat4j.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.nio.FloatBuffer;

/**
 * Batched float32 matrix products of small matrices, {@code c[i] = op(a[i]) @ op(b[i])}, on the
 * JDK vector API (callers check {@link Simd#available()}): attention's scores and weighted sums,
 * forward and backward, e.g. 256 products of 17x16 by 16x17 per call in a micro ViT at batch 64.
 * Through ND4J each of those is its own BLAS call with its own sub-array bookkeeping and thread
 * hand-off, about 3.5 us each (0.8-0.95 ms per call on a 2-core Zen 3, where the arithmetic alone
 * takes a few microseconds).
 *
 * <p>A chunk of products is read in one bulk copy per operand; each product is then computed on
 * its own: op(a) used in place or transposed into row-major scratch, op(b) copied into row-major
 * rows zero-padded to whole vectors, and four rows of c accumulated at once in vector registers
 * over k in order. Products go in {@link Chunks}
 * over the cores; every element's sum runs in the same order on every run.
 */
public final class SmallMatmulKernel {
    /** Largest m * n * k of one product that this kernel takes; BLAS does the larger ones. */
    public static final long MAX_VOLUME = 1L << 15;
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Multiply-adds per chunk of products. */
    private static final int CHUNK = 1 << 15;

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
        int np = (n + L - 1) / L * L;
        int perChunk = Math.max(1, CHUNK / Math.max(1, m * n * k));
        int chunks = (batch + perChunk - 1) / perChunk;
        Chunks.forEach(chunks, 1, 1, (chunk, first, one) -> {
            int begin = chunk * perChunk;
            int end = Math.min(batch, begin + perChunk);
            int count = end - begin;
            // the chunk's operands and results in one bulk read and one bulk write each
            float[][] s = Chunks.scratch(5, Math.max(count * Math.max(m * k, Math.max(k * n, m * n)), k * np + m * np));
            float[] ra = s[0];
            float[] rb = s[1];
            float[] rc = s[2];
            float[] as = s[3];
            float[] bs = s[4];
            a.get(begin * m * k, ra, 0, count * m * k);
            b.get(begin * k * n, rb, 0, count * k * n);
            for (int i = 0; i < count; i++) {
                loadA(ra, i * m * k, as, m, k, transA);
                loadB(rb, i * k * n, bs, k, n, np, transB);
                product(transA ? as : ra, transA ? 0 : i * m * k, bs, rc, i * m * n, m, n, np, k);
            }
            c.put(begin * m * n, rc, 0, count * m * n);
        });
    }

    /** op(a) into row-major m x k when it is stored transposed (k x m); otherwise a is read in place. */
    private static void loadA(float[] a, int offset, float[] as, int m, int k, boolean trans) {
        if (!trans) {
            return;
        }
        for (int p = 0; p < k; p++) {
            for (int r = 0; r < m; r++) {
                as[r * k + p] = a[offset + p * m + r];
            }
        }
    }

    /** op(b) into row-major k x np, columns n .. np zero. */
    private static void loadB(float[] b, int offset, float[] bs, int k, int n, int np, boolean trans) {
        for (int p = 0; p < k; p++) {
            int row = p * np;
            if (trans) {
                for (int j = 0; j < n; j++) {
                    bs[row + j] = b[offset + j * k + p];
                }
            } else {
                System.arraycopy(b, offset + p * n, bs, row, n);
            }
            for (int j = n; j < np; j++) {
                bs[row + j] = 0f;
            }
        }
    }

    /**
     * c (m x n, at cOff of cs) = a (m x k, at aOff of av) @ bs (k x np); np a multiple of the
     * vector length, of which only the first n columns are stored.
     */
    private static void product(float[] av, int aOff, float[] bs, float[] cs, int cOff, int m, int n, int np, int k) {
        int base = aOff;
        int full = n / L * L;
        int r = 0;
        for (; r + 4 <= m; r += 4) {
            int a0 = base + r * k;
            int a1 = a0 + k;
            int a2 = a1 + k;
            int a3 = a2 + k;
            for (int j = 0; j < np; j += L) {
                FloatVector c0 = FloatVector.zero(S);
                FloatVector c1 = c0;
                FloatVector c2 = c0;
                FloatVector c3 = c0;
                for (int p = 0; p < k; p++) {
                    FloatVector bv = FloatVector.fromArray(S, bs, p * np + j);
                    c0 = bv.fma(FloatVector.broadcast(S, av[a0 + p]), c0);
                    c1 = bv.fma(FloatVector.broadcast(S, av[a1 + p]), c1);
                    c2 = bv.fma(FloatVector.broadcast(S, av[a2 + p]), c2);
                    c3 = bv.fma(FloatVector.broadcast(S, av[a3 + p]), c3);
                }
                int o = cOff + r * n + j;
                if (j < full) {
                    c0.intoArray(cs, o);
                    c1.intoArray(cs, o + n);
                    c2.intoArray(cs, o + 2 * n);
                    c3.intoArray(cs, o + 3 * n);
                } else {
                    store(c0, cs, o, n - j);
                    store(c1, cs, o + n, n - j);
                    store(c2, cs, o + 2 * n, n - j);
                    store(c3, cs, o + 3 * n, n - j);
                }
            }
        }
        for (; r < m; r++) {
            int a0 = base + r * k;
            for (int j = 0; j < np; j += L) {
                FloatVector c0 = FloatVector.zero(S);
                for (int p = 0; p < k; p++) {
                    c0 = FloatVector.fromArray(S, bs, p * np + j).fma(FloatVector.broadcast(S, av[a0 + p]), c0);
                }
                if (j < full) {
                    c0.intoArray(cs, cOff + r * n + j);
                } else {
                    store(c0, cs, cOff + r * n + j, n - j);
                }
            }
        }
    }

    /** The first {@code count} lanes of v at cs[o ..]. */
    private static void store(FloatVector v, float[] cs, int o, int count) {
        for (int l = 0; l < count; l++) {
            cs[o + l] = v.lane(l);
        }
    }
}
