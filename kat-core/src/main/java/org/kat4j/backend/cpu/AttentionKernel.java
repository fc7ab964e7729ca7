package org.kat4j.backend.cpu;

import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * Multi-head self-attention fused on float32, forward and backward, reading timm's packed
 * projections qkv [B, N, 3 D] in place: per sample, one bulk read of its N rows, then per head
 * q (scaled), k and v gathered from their columns, the scores, the softmax and the weighted sum
 * computed in thread-local arrays, and one bulk write of the sample's output rows and
 * probabilities. The composed form (reshape, permute into [3, B, H, N, hd], three slices, a scale,
 * two batched products, a softmax, a permute back) writes five intermediate tensors the size of
 * qkv or the scores each way; this writes only the output and the probabilities.
 *
 * <p>Same arithmetic as the composed form: q is scaled first (in float32), the products are
 * {@link SmallMatmulKernel}'s (sums over k in order), the softmax rows {@link SoftmaxKernel}'s,
 * and the query gradient is scaled after its product, so results equal the composed ops' wherever
 * those take the same kernels (the micro models' shapes), and stay within float32 rounding of
 * them elsewhere. Samples go in {@link Chunks} over the cores; every sample's arithmetic is the
 * same on every run.
 */
final class AttentionKernel {
    /** Multiply-adds per chunk of samples (a chunk is at least one sample). */
    private static final long CHUNK = 1L << 16;
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[14][0]);

    private AttentionKernel() {
    }

    /** Array i of this thread's scratch, at least {@code length} long (contents undefined). */
    private static float[] scratch(int i, int length) {
        float[][] s = SCRATCH.get();
        if (s[i].length < length) {
            s[i] = new float[length];
        }
        return s[i];
    }

    /**
     * The row length of the score and probability scratch: n, or n rounded up to whole vectors
     * where fewer than two vectors and a tail of scalar multiply-adds would cover it (17 tokens on
     * 16 lanes: the tail column cost as much as the vector; padded, the products took 385-426
     * instead of 550-648 ns on 2 cores of an Intel Xeon with AVX-512, 2026-12-03; on 8 lanes two
     * vectors and a tail beat three vectors, 417-423 against 432-440 ns, so wider rows stay as
     * they are; with the tail column in six-row blocks the scores' product took 203-214 against
     * 205-214 ns, 2 cores of an AMD EPYC Zen 5, 2026-12-07). The padding columns of the key and
     * value scratch are zero and nothing reads the scores' padding; every element gets the same
     * multiply-adds in the same order as unpadded, so the same bits.
     */
    static int padded(int n) {
        int l = SmallMatmulKernel.L;
        return n < 2 * l && n % l != 0 ? (n / l + 1) * l : n;
    }

    private static int samplesPerChunk(int n, int heads, int hd) {
        long work = 4L * heads * n * n * hd;
        return (int) Math.max(1, Math.min(Integer.MAX_VALUE, CHUNK / Math.max(1, work)));
    }

    /**
     * out [B, N, D] and the probabilities p [B, heads, N, N] from qkv [B, N, 3 D] (D = heads * hd):
     * for each head, softmax((scale q) k^T) v into that head's columns of out.
     */
    static void forward(FloatBuffer qkv, FloatBuffer out, FloatBuffer p, int b, int n, int heads, int hd, float scale) {
        int d = heads * hd;
        int row = 3 * d;
        int nn = n * n;
        int np = padded(n);
        Chunks.forEach(b, 1, samplesPerChunk(n, heads, hd), (c, first, count) -> {
            float[] x = scratch(0, n * row);
            float[] o = scratch(1, n * d);
            float[] pb = scratch(2, heads * nn);
            float[] q = scratch(3, n * hd);
            float[] kt = scratch(4, hd * np);
            float[] v = scratch(5, n * hd);
            float[] sp = scratch(12, n * np);
            float[] rowScratch = scratch(13, n);
            Arrays.fill(kt, 0, hd * np, 0f);
            for (int s = first; s < first + count; s++) {
                qkv.get(s * n * row, x, 0, n * row);
                for (int h = 0; h < heads; h++) {
                    for (int t = 0; t < n; t++) {
                        int base = t * row + h * hd;
                        for (int e = 0; e < hd; e++) {
                            q[t * hd + e] = x[base + e] * scale;
                            kt[e * np + t] = x[base + d + e];
                            v[t * hd + e] = x[base + 2 * d + e];
                        }
                    }
                    int ph = h * nn;
                    SmallMatmulKernel.product(q, 0, hd, 1, kt, 0, sp, 0, np, n, np, hd);
                    SoftmaxKernel.forwardRows(sp, 0, np, n, n, rowScratch);
                    for (int t = 0; t < n; t++) {
                        System.arraycopy(sp, t * np, pb, ph + t * n, n);
                    }
                    // straight into the head's columns of the sample's output rows
                    SmallMatmulKernel.product(sp, 0, np, 1, v, 0, o, h * hd, d, n, hd, n);
                }
                out.put(s * n * d, o, 0, n * d);
                p.put(s * heads * nn, pb, 0, heads * nn);
            }
        });
    }

    /**
     * gqkv [B, N, 3 D], the gradient of {@link #forward}'s out for upstream gradient g [B, N, D],
     * from qkv and the probabilities p; every element of gqkv is written.
     */
    static void backward(FloatBuffer qkv, FloatBuffer p, FloatBuffer g, FloatBuffer gqkv, int b, int n, int heads, int hd,
                         float scale) {
        int d = heads * hd;
        int row = 3 * d;
        int nn = n * n;
        int np = padded(n);
        Chunks.forEach(b, 1, samplesPerChunk(n, heads, hd), (c, first, count) -> {
            float[] x = scratch(0, n * row);
            float[] go = scratch(1, n * d);
            float[] pb = scratch(2, heads * nn);
            float[] gx = scratch(3, n * row);
            float[] ds = scratch(4, n * np);
            float[] q = scratch(5, n * hd);
            float[] k = scratch(6, n * hd);
            float[] vt = scratch(7, hd * np);
            float[] pp = scratch(12, n * np);
            Arrays.fill(vt, 0, hd * np, 0f);
            float[] goh = scratch(8, n * hd);
            float[] gq = scratch(9, n * hd);
            for (int s = first; s < first + count; s++) {
                qkv.get(s * n * row, x, 0, n * row);
                g.get(s * n * d, go, 0, n * d);
                p.get(s * heads * nn, pb, 0, heads * nn);
                for (int h = 0; h < heads; h++) {
                    for (int t = 0; t < n; t++) {
                        int base = t * row + h * hd;
                        for (int e = 0; e < hd; e++) {
                            q[t * hd + e] = x[base + e] * scale;
                            k[t * hd + e] = x[base + d + e];
                            vt[e * np + t] = x[base + 2 * d + e];
                        }
                        System.arraycopy(go, t * d + h * hd, goh, t * hd, hd);
                        System.arraycopy(pb, h * nn + t * n, pp, t * np, n);
                    }
                    // gv = p^T go; gp = go v^T; gs = softmax backward; gq = scale (gs k); gk = gs^T (scale q);
                    // gv and gk go straight into their columns of the sample's gradient rows
                    SmallMatmulKernel.product(pp, 0, 1, np, goh, 0, gx, h * hd + 2 * d, row, n, hd, n);
                    SmallMatmulKernel.product(goh, 0, hd, 1, vt, 0, ds, 0, np, n, np, hd);
                    for (int t = 0; t < n; t++) {
                        SoftmaxKernel.backwardRow(pp, ds, t * np, n);
                    }
                    SmallMatmulKernel.product(ds, 0, np, 1, k, 0, gq, 0, hd, n, hd, n);
                    SmallMatmulKernel.product(ds, 0, 1, np, q, 0, gx, h * hd + d, row, n, hd, n);
                    for (int t = 0; t < n; t++) {
                        int base = t * row + h * hd;
                        for (int e = 0; e < hd; e++) {
                            gx[base + e] = gq[t * hd + e] * scale;
                        }
                    }
                }
                gqkv.put(s * n * row, gx, 0, n * row);
            }
        });
    }
}
