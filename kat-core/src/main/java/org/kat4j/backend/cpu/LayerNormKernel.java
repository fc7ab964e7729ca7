package org.kat4j.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Fused LayerNorm over the last axis of float32 rows on the JDK vector API (callers check
 * {@link Simd#available()}). Forward: y = (x - mean) rstd w + b, keeping mean and rstd per row
 * (two passes over the row: mean, then the centred variance). Backward, with xhat recomputed from
 * x: dx = rstd (g w - mean(g w) - xhat mean(g w xhat)), dw = sum over rows of g xhat, db = sum of g.
 * Rows go in {@link Chunks} over all cores; the weight and bias gradients are summed in float per
 * chunk and the chunks combined in double in chunk order, so results do not depend on thread
 * timing. Composed of ND4J ops, LayerNorm was ~12% of a vit_micro training step. The rows are
 * read and written in the arrays' bytes in place: copying each chunk into an array and back was
 * 2% of a micro-KAT training step's samples beside the kernels' own 2.4% (2 cores of an Intel Xeon
 * with AVX-512, 2026-12-03).
 */
public final class LayerNormKernel {
    /** Elements per chunk of rows (at least one row). */
    private static final int CHUNK = 1 << 14;
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    private LayerNormKernel() {
    }

    /**
     * y from x (n = rows * d; native-order float32 bytes, read and written in place); mean and
     * rstd get one value per row.
     */
    public static void forward(ByteBuffer x, ByteBuffer y, int n, int d, float[] w, float[] b, float eps, float[] mean,
                               float[] rstd) {
        // Java 22 and later (Segments): the buffers as memory segments, made once here
        Object xSeg = Segments.ON ? Segments.of(x) : null;
        Object ySeg = Segments.ON ? Segments.of(y) : null;
        Chunks.forEach(n, d, CHUNK, (c, r0, rows) -> forwardRows(x, xSeg, y, ySeg, r0, rows, d, w, b, eps, mean, rstd));
    }

    /**
     * Rows r0 .. r0 + rows - 1, in three passes over all of them: the means, the reciprocal
     * standard deviations, then y. Each row's arithmetic is its own (the same bits as row after
     * row); a row's steps wait on each other (a sum across lanes, then the squares around the
     * mean, another sum across lanes, a square root), and passes over all rows let the processor
     * overlap different rows' waits: 1.10-1.19x with 16 lanes and 1.08-1.15x with 8 at 544x64 and
     * 6304x192 (in one process alternating the two forms, 2 cores of an AMD EPYC Zen 5,
     * 2026-12-07). The backward in two passes (the sums, then dx) ran 0.80-0.98x and stays row by
     * row.
     */
    private static void forwardRows(ByteBuffer x, Object xSeg, ByteBuffer y, Object ySeg, int r0, int rows, int d, float[] w,
                                    float[] b, float eps, float[] mean, float[] rstd) {
        int vb = S.loopBound(d);
        for (int row = r0; row < r0 + rows; row++) {
            int from = row * d;
            FloatVector acc = FloatVector.zero(S);
            int i;
            for (i = 0; i < vb; i += L) {
                FloatVector xv = Segments.ON ? Segments.load(S, xSeg, 4 * (from + i))
                        : FloatVector.fromByteBuffer(S, x, 4 * (from + i), NATIVE);
                acc = acc.add(xv);
            }
            float sum = Lanes.sum(acc);
            for (; i < d; i++) {
                sum += x.getFloat(4 * (from + i));
            }
            mean[row] = sum / d;
        }
        for (int row = r0; row < r0 + rows; row++) {
            int from = row * d;
            float mu = mean[row];
            FloatVector acc = FloatVector.zero(S);
            int i;
            for (i = 0; i < vb; i += L) {
                FloatVector xv = Segments.ON ? Segments.load(S, xSeg, 4 * (from + i))
                        : FloatVector.fromByteBuffer(S, x, 4 * (from + i), NATIVE);
                FloatVector c = xv.sub(mu);
                acc = c.fma(c, acc);
            }
            float sq = Lanes.sum(acc);
            for (; i < d; i++) {
                float c = x.getFloat(4 * (from + i)) - mu;
                sq += c * c;
            }
            rstd[row] = (float) (1.0 / Math.sqrt(sq / d + eps));
        }
        for (int row = r0; row < r0 + rows; row++) {
            int from = row * d;
            float mu = mean[row];
            float rs = rstd[row];
            int i;
            for (i = 0; i < vb; i += L) {
                FloatVector xv = Segments.ON ? Segments.load(S, xSeg, 4 * (from + i))
                        : FloatVector.fromByteBuffer(S, x, 4 * (from + i), NATIVE);
                FloatVector xh = xv.sub(mu).mul(rs);
                if (Segments.ON) {
                    Segments.store(xh.fma(FloatVector.fromArray(S, w, i), FloatVector.fromArray(S, b, i)), ySeg, 4 * (from + i));
                } else {
                    xh.fma(FloatVector.fromArray(S, w, i), FloatVector.fromArray(S, b, i)).intoByteBuffer(y, 4 * (from + i), NATIVE);
                }
            }
            for (; i < d; i++) {
                y.putFloat(4 * (from + i), (x.getFloat(4 * (from + i)) - mu) * rs * w[i] + b[i]);
            }
        }
    }

    /**
     * gx (may be null) from x, g and the forward's mean and rstd (native-order float32 bytes, read
     * and written in place); adds sum(g xhat) into dw and sum(g) into db (either may be null).
     */
    public static void backward(ByteBuffer x, ByteBuffer g, ByteBuffer gx, int n, int d, float[] w, float[] mean,
                                float[] rstd, double[] dw, double[] db) {
        // Java 22 and later (Segments): the buffers as memory segments, made once here
        Object xSeg = Segments.ON ? Segments.of(x) : null;
        Object gSeg = Segments.ON ? Segments.of(g) : null;
        Object gxSeg = Segments.ON && gx != null ? Segments.of(gx) : null;
        int chunks = Chunks.count(n, d, CHUNK);
        float[][] pw = new float[chunks][];
        float[][] pb = new float[chunks][];
        Chunks.forEach(n, d, CHUNK, (c, r0, rows) -> {
            float[] sw = new float[d];
            float[] sb = new float[d];
            for (int r = r0; r < r0 + rows; r++) {
                backwardRow(x, xSeg, g, gSeg, gx, gxSeg, r * d, d, w, mean[r], rstd[r], sw, sb);
            }
            pw[c] = sw;
            pb[c] = sb;
        });
        for (int c = 0; c < chunks; c++) {
            for (int j = 0; j < d; j++) {
                if (dw != null) {
                    dw[j] += pw[c][j];
                }
                if (db != null) {
                    db[j] += pb[c][j];
                }
            }
        }
    }

    /** dx into gx's row (when gx is not null), this row's g xhat and g into sw and sb. */
    private static void backwardRow(ByteBuffer x, Object xSeg, ByteBuffer g, Object gSeg, ByteBuffer gx, Object gxSeg, int from,
                                    int d, float[] w, float mu, float rs, float[] sw, float[] sb) {
        int vb = S.loopBound(d);
        FloatVector a1 = FloatVector.zero(S);
        FloatVector a2 = FloatVector.zero(S);
        int i;
        for (i = 0; i < vb; i += L) {
            FloatVector xv = Segments.ON ? Segments.load(S, xSeg, 4 * (from + i))
                    : FloatVector.fromByteBuffer(S, x, 4 * (from + i), NATIVE);
            FloatVector xh = xv.sub(mu).mul(rs);
            FloatVector gv = Segments.ON ? Segments.load(S, gSeg, 4 * (from + i))
                    : FloatVector.fromByteBuffer(S, g, 4 * (from + i), NATIVE);
            FloatVector dxh = gv.mul(FloatVector.fromArray(S, w, i));
            a1 = a1.add(dxh);
            a2 = dxh.fma(xh, a2);
            gv.fma(xh, FloatVector.fromArray(S, sw, i)).intoArray(sw, i);
            gv.add(FloatVector.fromArray(S, sb, i)).intoArray(sb, i);
        }
        float m1 = Lanes.sum(a1);
        float m2 = Lanes.sum(a2);
        for (; i < d; i++) {
            float xh = (x.getFloat(4 * (from + i)) - mu) * rs;
            float gi = g.getFloat(4 * (from + i));
            float dxh = gi * w[i];
            m1 += dxh;
            m2 += dxh * xh;
            sw[i] += gi * xh;
            sb[i] += gi;
        }
        if (gx == null) {
            return;
        }
        m1 /= d;
        m2 /= d;
        for (i = 0; i < vb; i += L) {
            FloatVector xv = Segments.ON ? Segments.load(S, xSeg, 4 * (from + i))
                    : FloatVector.fromByteBuffer(S, x, 4 * (from + i), NATIVE);
            FloatVector xh = xv.sub(mu).mul(rs);
            FloatVector gv = Segments.ON ? Segments.load(S, gSeg, 4 * (from + i))
                    : FloatVector.fromByteBuffer(S, g, 4 * (from + i), NATIVE);
            FloatVector dxh = gv.mul(FloatVector.fromArray(S, w, i));
            if (Segments.ON) {
                Segments.store(dxh.sub(m1).sub(xh.mul(m2)).mul(rs), gxSeg, 4 * (from + i));
            } else {
                dxh.sub(m1).sub(xh.mul(m2)).mul(rs).intoByteBuffer(gx, 4 * (from + i), NATIVE);
            }
        }
        for (; i < d; i++) {
            float xh = (x.getFloat(4 * (from + i)) - mu) * rs;
            float dxh = g.getFloat(4 * (from + i)) * w[i];
            gx.putFloat(4 * (from + i), (dxh - m1 - xh * m2) * rs);
        }
    }
}
