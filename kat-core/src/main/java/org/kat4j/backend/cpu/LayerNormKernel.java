package org.kat4j.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.nio.FloatBuffer;

/**
 * Fused LayerNorm over the last axis of float32 rows on the JDK vector API (callers check
 * {@link Simd#available()}). Forward: y = (x - mean) rstd w + b, keeping mean and rstd per row
 * (two passes over the row: mean, then the centred variance). Backward, with xhat recomputed from
 * x: dx = rstd (g w - mean(g w) - xhat mean(g w xhat)), dw = sum over rows of g xhat, db = sum of g.
 * Rows go in {@link Chunks} over all cores; the weight and bias gradients are summed in float per
 * chunk and the chunks combined in double in chunk order, so results do not depend on thread
 * timing. Composed of ND4J ops, LayerNorm was ~12% of a vit_micro training step.
 */
public final class LayerNormKernel {
    /** Elements per chunk of rows (at least one row). */
    private static final int CHUNK = 1 << 14;
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    private LayerNormKernel() {
    }

    /** y from x (n = rows * d); mean and rstd get one value per row. */
    public static void forward(FloatBuffer x, FloatBuffer y, int n, int d, float[] w, float[] b, float eps, float[] mean,
                               float[] rstd) {
        Chunks.forEach(n, d, CHUNK, (c, r0, rows) -> {
            float[][] s = Chunks.scratch(2, rows * d);
            float[] v = s[0];
            x.get(r0 * d, v, 0, rows * d);
            for (int r = 0; r < rows; r++) {
                forwardRow(v, r * d, d, w, b, eps, mean, rstd, r0 + r);
            }
            y.put(r0 * d, v, 0, rows * d);
        });
    }

    private static void forwardRow(float[] v, int from, int d, float[] w, float[] b, float eps, float[] mean,
                                   float[] rstd, int row) {
        int vb = S.loopBound(d);
        FloatVector acc = FloatVector.zero(S);
        int i;
        for (i = 0; i < vb; i += L) {
            acc = acc.add(FloatVector.fromArray(S, v, from + i));
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < d; i++) {
            sum += v[from + i];
        }
        float mu = sum / d;
        acc = FloatVector.zero(S);
        for (i = 0; i < vb; i += L) {
            FloatVector c = FloatVector.fromArray(S, v, from + i).sub(mu);
            acc = c.fma(c, acc);
        }
        float sq = acc.reduceLanes(VectorOperators.ADD);
        for (; i < d; i++) {
            float c = v[from + i] - mu;
            sq += c * c;
        }
        float rs = (float) (1.0 / Math.sqrt(sq / d + eps));
        mean[row] = mu;
        rstd[row] = rs;
        for (i = 0; i < vb; i += L) {
            FloatVector xh = FloatVector.fromArray(S, v, from + i).sub(mu).mul(rs);
            xh.fma(FloatVector.fromArray(S, w, i), FloatVector.fromArray(S, b, i)).intoArray(v, from + i);
        }
        for (; i < d; i++) {
            v[from + i] = (v[from + i] - mu) * rs * w[i] + b[i];
        }
    }

    /**
     * gx (may be null) from x, g and the forward's mean and rstd; adds sum(g xhat) into dw and
     * sum(g) into db (either may be null).
     */
    public static void backward(FloatBuffer x, FloatBuffer g, FloatBuffer gx, int n, int d, float[] w, float[] mean,
                                float[] rstd, double[] dw, double[] db) {
        int chunks = Chunks.count(n, d, CHUNK);
        float[][] pw = new float[chunks][];
        float[][] pb = new float[chunks][];
        Chunks.forEach(n, d, CHUNK, (c, r0, rows) -> {
            float[][] s = Chunks.scratch(2, rows * d);
            float[] xv = s[0];
            float[] gv = s[1];
            x.get(r0 * d, xv, 0, rows * d);
            g.get(r0 * d, gv, 0, rows * d);
            float[] sw = new float[d];
            float[] sb = new float[d];
            for (int r = 0; r < rows; r++) {
                backwardRow(xv, gv, r * d, d, w, mean[r0 + r], rstd[r0 + r], sw, sb);
            }
            if (gx != null) {
                gx.put(r0 * d, gv, 0, rows * d);
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

    /** dx into g's row (in place), this row's g xhat and g into sw and sb. */
    private static void backwardRow(float[] x, float[] g, int from, int d, float[] w, float mu, float rs, float[] sw,
                                    float[] sb) {
        int vb = S.loopBound(d);
        FloatVector a1 = FloatVector.zero(S);
        FloatVector a2 = FloatVector.zero(S);
        int i;
        for (i = 0; i < vb; i += L) {
            FloatVector xh = FloatVector.fromArray(S, x, from + i).sub(mu).mul(rs);
            FloatVector gv = FloatVector.fromArray(S, g, from + i);
            FloatVector dxh = gv.mul(FloatVector.fromArray(S, w, i));
            a1 = a1.add(dxh);
            a2 = dxh.fma(xh, a2);
            gv.fma(xh, FloatVector.fromArray(S, sw, i)).intoArray(sw, i);
            gv.add(FloatVector.fromArray(S, sb, i)).intoArray(sb, i);
        }
        float m1 = a1.reduceLanes(VectorOperators.ADD);
        float m2 = a2.reduceLanes(VectorOperators.ADD);
        for (; i < d; i++) {
            float xh = (x[from + i] - mu) * rs;
            float dxh = g[from + i] * w[i];
            m1 += dxh;
            m2 += dxh * xh;
            sw[i] += g[from + i] * xh;
            sb[i] += g[from + i];
        }
        m1 /= d;
        m2 /= d;
        for (i = 0; i < vb; i += L) {
            FloatVector xh = FloatVector.fromArray(S, x, from + i).sub(mu).mul(rs);
            FloatVector dxh = FloatVector.fromArray(S, g, from + i).mul(FloatVector.fromArray(S, w, i));
            dxh.sub(m1).sub(xh.mul(m2)).mul(rs).intoArray(g, from + i);
        }
        for (; i < d; i++) {
            float xh = (x[from + i] - mu) * rs;
            float dxh = g[from + i] * w[i];
            g[from + i] = (dxh - m1 - xh * m2) * rs;
        }
    }
}
