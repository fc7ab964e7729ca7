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
 * <p>Each product is computed on its own: op(a) and op(b) are copied into row-major scratch
 * (transposing where the flag says), op(b)'s rows zero-padded to whole vectors, and four rows of
 * c are accumulated at once in vector registers over k in order. Products go in {@link Chunks}
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
            float[][] s = Chunks.scratch(3, Math.max(m * k, k * np + m * np));
            float[] as = s[0];
            float[] bs = s[1];
            float[] cs = s[2];
            int end = Math.min(batch, (chunk + 1) * perChunk);
            for (int i = chunk * perChunk; i < end; i++) {
                loadA(a, i * m * k, as, m, k, transA);
                loadB(b, i * k * n, bs, k, n, np, transB);
                product(as, bs, cs, m, np, k);
                for (int r = 0; r < m; r++) {
                    c.put(i * m * n + r * n, cs, r * np, n);
                }
            }
        });
    }

    /** op(a) into row-major m x k. */
    private static void loadA(FloatBuffer a, int offset, float[] as, int m, int k, boolean trans) {
        if (!trans) {
            a.get(offset, as, 0, m * k);
            return;
        }
        for (int p = 0; p < k; p++) {
            for (int r = 0; r < m; r++) {
                as[r * k + p] = a.get(offset + p * m + r);
            }
        }
    }

    /** op(b) into row-major k x np, columns n .. np zero. */
    private static void loadB(FloatBuffer b, int offset, float[] bs, int k, int n, int np, boolean trans) {
        for (int p = 0; p < k; p++) {
            int row = p * np;
            if (trans) {
                for (int j = 0; j < n; j++) {
                    bs[row + j] = b.get(offset + j * k + p);
                }
            } else {
                b.get(offset + p * n, bs, row, n);
            }
            for (int j = n; j < np; j++) {
                bs[row + j] = 0f;
            }
        }
    }

    /** cs (m x np) = as (m x k) @ bs (k x np); np a multiple of the vector length. */
    private static void product(float[] as, float[] bs, float[] cs, int m, int np, int k) {
        int r = 0;
        for (; r + 4 <= m; r += 4) {
            int a0 = r * k;
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
                    c0 = bv.fma(FloatVector.broadcast(S, as[a0 + p]), c0);
                    c1 = bv.fma(FloatVector.broadcast(S, as[a1 + p]), c1);
                    c2 = bv.fma(FloatVector.broadcast(S, as[a2 + p]), c2);
                    c3 = bv.fma(FloatVector.broadcast(S, as[a3 + p]), c3);
                }
                c0.intoArray(cs, r * np + j);
                c1.intoArray(cs, (r + 1) * np + j);
                c2.intoArray(cs, (r + 2) * np + j);
                c3.intoArray(cs, (r + 3) * np + j);
            }
        }
        for (; r < m; r++) {
            int a0 = r * k;
            for (int j = 0; j < np; j += L) {
                FloatVector c0 = FloatVector.zero(S);
                for (int p = 0; p < k; p++) {
                    c0 = FloatVector.fromArray(S, bs, p * np + j).fma(FloatVector.broadcast(S, as[a0 + p]), c0);
                }
                c0.intoArray(cs, r * np + j);
            }
        }
    }
}
