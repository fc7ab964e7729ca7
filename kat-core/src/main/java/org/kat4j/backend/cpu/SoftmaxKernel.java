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
    private static final float[] C = {1f, 1f, 0.5f, 1f / 6, 1f / 24, 1f / 120, 1f / 720};

    private SoftmaxKernel() {
    }

    /** exp(x) for x &lt;= 0 as the vector code computes it, to the bit, one value (tails, tests). */
    public static float exp(float x) {
        float xc = Math.max(x, MIN_ARG);
        float t = xc * LOG2E;
        float k = (t + ROUND) - ROUND;
        float f = Math.fma(k, -LN2_LO, Math.fma(k, -LN2_HI, xc));
        float p = C[6];
        for (int i = 5; i >= 0; i--) {
            p = Math.fma(p, f, C[i]);
        }
        return Float.intBitsToFloat(Float.floatToRawIntBits(p) + ((int) k << 23));
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
        FloatVector p = f.fma(C[6], C[5]).fma(f, FloatVector.broadcast(S, C[4])).fma(f, FloatVector.broadcast(S, C[3]))
                .fma(f, FloatVector.broadcast(S, C[2])).fma(f, FloatVector.broadcast(S, C[1]))
                .fma(f, FloatVector.broadcast(S, C[0]));
        // k as an integer: the low mantissa bits of t + ROUND hold it
        IntVector ki = t.add(ROUND).reinterpretAsInts().sub(Float.floatToRawIntBits(ROUND));
        return p.reinterpretAsInts().add(ki.lanewise(VectorOperators.LSHL, 23)).reinterpretAsFloats();
    }

    /** y = softmax(x) over rows of length {@code d}; n = rows * d. */
    public static void forward(FloatBuffer x, FloatBuffer y, int n, int d) {
        Chunks.forEach(n, d, CHUNK, (c, r0, rows) -> {
            float[][] s = Chunks.scratch(2, rows * d);
            float[] v = s[0];
            x.get(r0 * d, v, 0, rows * d);
            for (int r = 0; r < rows; r++) {
                forwardRow(v, r * d, d);
            }
            y.put(r0 * d, v, 0, rows * d);
        });
    }

    static void forwardRow(float[] v, int from, int d) {
        int end = from + d;
        int vend = from + S.loopBound(d);
        float max = Float.NEGATIVE_INFINITY;
        int i = from;
        if (vend > from) {
            FloatVector m = FloatVector.fromArray(S, v, i);
            for (i += L; i < vend; i += L) {
                m = m.max(FloatVector.fromArray(S, v, i));
            }
            max = m.reduceLanes(VectorOperators.MAX);
        }
        for (; i < end; i++) {
            max = Math.max(max, v[i]);
        }
        FloatVector sumv = FloatVector.zero(S);
        for (i = from; i < vend; i += L) {
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
        float inv = 1f / sum;
        for (i = from; i < vend; i += L) {
            FloatVector.fromArray(S, v, i).mul(inv).intoArray(v, i);
        }
        for (; i < end; i++) {
            v[i] *= inv;
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
