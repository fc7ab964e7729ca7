package org.kat4j.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.nio.FloatBuffer;

/**
 * Fused softmax over the last axis of float32 rows, forward {@code y = exp(x - max) / sum} and
 * backward {@code gx = y (g - sum(g y))}, on the JDK vector API (callers check
 * {@link Simd#arrays()}). Rows are independent; they go in {@link Chunks} over all cores,
 * so results do not depend on thread timing. Composed from ND4J ops (max, sub, exp, sum, div, and
 * mul, sum, sub, mul backward) the softmax was ~8% of a vit_tiny training step.
 *
 * <p>exp is evaluated as 2^k e^r, k = round(x log2 e), r = x - k ln 2 in two steps (Cody-Waite, so
 * r keeps its bits for large |x|), e^r by its degree-6 Taylor polynomial on |r| &lt;= ln2 / 2
 * (relative error below 2.5e-7 over the range); arguments are clamped at -87 (softmax arguments
 * are &lt;= 0 after the max is subtracted), where exp is below float32's normal range anyway.
 */
public final class SoftmaxKernel {
    /** Elements per chunk of rows (at least one row). */
    private static final int CHUNK = 1 << 14;
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final float LOG2E = 1.44269504f;
    private static final float ROUND = 12582912f; // 1.5 * 2^23: x + ROUND - ROUND rounds to an integer
    private static final float MIN_ARG = -87f;
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    private static final int ROUND_BITS = Float.floatToRawIntBits(ROUND);
    // e^r's Taylor coefficients, r^0 to r^6
    private static final float C0 = 1f;
    private static final float C1 = 1f;
    private static final float C2 = 0.5f;
    private static final float C3 = 1f / 6;
    private static final float C4 = 1f / 24;
    private static final float C5 = 1f / 120;
    private static final float C6 = 1f / 720;

    private SoftmaxKernel() {
    }

    /**
     * exp(x) for x &lt;= 0 as the vector code computes it, to the bit, one value (the tails of
     * rows, the scalar GELU, tests). The clamp is a comparison rather than Math.max (the same
     * result, NaN included, for these arguments) and k's integer comes from the bits of t + ROUND
     * as in the vector code rather than a float-to-int conversion: 2.51 against 3.31 ns a call, the
     * same bits on every float from -200 to -0 (2 cores of an AMD EPYC Zen 5, 2026-12-07).
     */
    public static float exp(float x) {
        float xc = x < MIN_ARG ? MIN_ARG : x;
        float t = xc * LOG2E + ROUND;
        float k = t - ROUND;
        float f = Math.fma(k, -LN2_LO, Math.fma(k, -LN2_HI, xc));
        float p = Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(C6, f, C5), f, C4), f, C3), f, C2), f, C1), f, C0);
        return Float.intBitsToFloat(Float.floatToRawIntBits(p) + ((Float.floatToRawIntBits(t) - ROUND_BITS) << 23));
    }

    /**
     * exp(x) for x &lt;= 0, lane by lane. Plain arithmetic on purpose: {@code lanewise(EXP)} runs an
     * SVML routine once C2 has compiled the caller and Math.exp per lane before, which differ in
     * the last bits, so results depended on when the JIT got there (GELU's backward used it and
     * made ViT training differ from run to run in the fourth digit of the loss).
     */
    static FloatVector exp(FloatVector x) {
        FloatVector xc = x.max(MIN_ARG);
        FloatVector t = xc.mul(LOG2E);
        FloatVector k = t.add(ROUND).sub(ROUND);
        FloatVector f = k.fma(FloatVector.broadcast(S, -LN2_LO), k.fma(FloatVector.broadcast(S, -LN2_HI), xc));
        FloatVector p = f.fma(C6, C5).fma(f, FloatVector.broadcast(S, C4)).fma(f, FloatVector.broadcast(S, C3))
                .fma(f, FloatVector.broadcast(S, C2)).fma(f, FloatVector.broadcast(S, C1))
                .fma(f, FloatVector.broadcast(S, C0));
        // k as an integer: the low mantissa bits of t + ROUND hold it
        IntVector ki = t.add(ROUND).reinterpretAsInts().sub(ROUND_BITS);
        return p.reinterpretAsInts().add(ki.lanewise(VectorOperators.LSHL, 23)).reinterpretAsFloats();
    }

    /** y = softmax(x) over rows of length {@code d}; n = rows * d. */
    public static void forward(FloatBuffer x, FloatBuffer y, int n, int d) {
        Chunks.forEach(n, d, CHUNK, (c, r0, rows) -> {
            float[][] s = Chunks.scratch(2, rows * d);
            float[] v = s[0];
            x.get(r0 * d, v, 0, rows * d);
            forwardRows(v, 0, d, d, rows, s[1]);
            y.put(r0 * d, v, 0, rows * d);
        });
    }

    /**
     * Softmax of {@code rows} rows of d values in place, the first at {@code from}, each
     * {@code stride} after the one before; t holds at least {@code rows} floats of scratch. Each
     * row's arithmetic is its own (the same bits however many rows go together), in three passes
     * over all the rows: the maxima, the exponentials and their sums, the scaling. A row's steps
     * wait on each other (a maximum across lanes, then the exponentials, then a sum across lanes
     * and a division); passes over all rows let the processor overlap different rows' waits.
     * Attention's rows of 17, row after row: 27-52 ns a row; in passes 25-35 ns (1.1-1.5x; 2 cores
     * of an AMD EPYC Zen 5, 2026-12-07, 8 and 16 lanes).
     */
    static void forwardRows(float[] v, int from, int stride, int d, int rows, float[] t) {
        int whole = S.loopBound(d);
        for (int r = 0; r < rows; r++) {
            int o = from + r * stride;
            int end = o + d;
            int vend = o + whole;
            float max = Float.NEGATIVE_INFINITY;
            int i = o;
            if (vend > o) {
                FloatVector m = FloatVector.fromArray(S, v, i);
                for (i += L; i < vend; i += L) {
                    m = m.max(FloatVector.fromArray(S, v, i));
                }
                max = m.reduceLanes(VectorOperators.MAX);
            }
            for (; i < end; i++) {
                max = Math.max(max, v[i]);
            }
            t[r] = max;
        }
        for (int r = 0; r < rows; r++) {
            int o = from + r * stride;
            int end = o + d;
            int vend = o + whole;
            float max = t[r];
            FloatVector sumv = FloatVector.zero(S);
            int i;
            for (i = o; i < vend; i += L) {
                FloatVector e = exp(FloatVector.fromArray(S, v, i).sub(max));
                e.intoArray(v, i);
                sumv = sumv.add(e);
            }
            float sum = Lanes.sum(sumv);
            for (; i < end; i++) {
                float e = exp(v[i] - max);
                v[i] = e;
                sum += e;
            }
            t[r] = 1f / sum;
        }
        for (int r = 0; r < rows; r++) {
            int o = from + r * stride;
            int end = o + d;
            int vend = o + whole;
            float inv = t[r];
            int i;
            for (i = o; i < vend; i += L) {
                FloatVector.fromArray(S, v, i).mul(inv).intoArray(v, i);
            }
            for (; i < end; i++) {
                v[i] *= inv;
            }
        }
    }

    /** gx = y (g - sum(g y)) over rows of length {@code d}; gx may be g. */
    public static void backward(FloatBuffer y, FloatBuffer g, FloatBuffer gx, int n, int d) {
        Chunks.forEach(n, d, CHUNK, (c, r0, rows) -> {
            float[][] s = Chunks.scratch(2, rows * d);
            float[] yv = s[0];
            float[] gv = s[1];
            y.get(r0 * d, yv, 0, rows * d);
            g.get(r0 * d, gv, 0, rows * d);
            for (int r = 0; r < rows; r++) {
                backwardRow(yv, gv, r * d, d);
            }
            gx.put(r0 * d, gv, 0, rows * d);
        });
    }

    static void backwardRow(float[] y, float[] g, int from, int d) {
        int end = from + d;
        int vend = from + S.loopBound(d);
        FloatVector dv = FloatVector.zero(S);
        int i;
        for (i = from; i < vend; i += L) {
            dv = FloatVector.fromArray(S, g, i).fma(FloatVector.fromArray(S, y, i), dv);
        }
        float dot = Lanes.sum(dv);
        for (; i < end; i++) {
            dot += g[i] * y[i];
        }
        for (i = from; i < vend; i += L) {
            FloatVector.fromArray(S, g, i).sub(dot).mul(FloatVector.fromArray(S, y, i)).intoArray(g, i);
        }
        for (; i < end; i++) {
            g[i] = (g[i] - dot) * y[i];
        }
    }
}
