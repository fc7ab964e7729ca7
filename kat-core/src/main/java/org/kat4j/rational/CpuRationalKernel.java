package org.kat4j.rational;

import java.nio.FloatBuffer;
import java.util.stream.IntStream;

/**
 * The CPU group-rational kernel: fused one-pass forward and one-pass backward over the buffer, in
 * fixed-size chunks of whole rows spread over all cores. Coefficient gradients are summed in
 * double per chunk and the chunks combined in index order, so a given input gives bit-identical
 * results however the threads are scheduled. Pure Java: no ND4J, usable from kat-cuda's tests.
 */
public final class CpuRationalKernel implements RationalKernel {
    public static final CpuRationalKernel INSTANCE = new CpuRationalKernel();

    /** Elements per work chunk (rounded to whole rows): small enough to stay in L2 with its scratch. */
    static final int CHUNK_ELEMENTS = 1 << 14;

    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[3][0]);

    private CpuRationalKernel() {
    }

    @Override
    public String name() {
        return "cpu (" + Runtime.getRuntime().availableProcessors() + " threads)";
    }

    static int chunkRows(int d) {
        return Math.max(1, CHUNK_ELEMENTS / d);
    }

    private static float[] scratch(int which, int len) {
        float[][] s = SCRATCH.get();
        if (s[which].length < len) {
            s[which] = new float[Math.max(len, CHUNK_ELEMENTS)];
        }
        return s[which];
    }

    @Override
    public void forward(FloatBuffer x, FloatBuffer y, int n, int d, int groups, float[] num, float[] den) {
        RationalKernel.checkArgs(n, d, groups, num, den);
        int rows = n / d;
        int cr = chunkRows(d);
        int chunks = (rows + cr - 1) / cr;
        float[] absDen = absolute(den);
        IntStream.range(0, chunks).parallel().forEach(c -> {
            int r0 = c * cr;
            int r1 = Math.min(rows, r0 + cr);
            int off = r0 * d;
            int len = (r1 - r0) * d;
            float[] xs = scratch(0, len);
            x.get(off, xs, 0, len);
            forwardRows(xs, r1 - r0, d, groups, num, absDen);
            y.put(off, xs, 0, len);
        });
    }

    /** In place: xs[i] = F(xs[i]) for {@code rows} rows of {@code d} channels. */
    static void forwardRows(float[] xs, int rows, int d, int groups, float[] a, float[] absB) {
        int cpg = d / groups;
        float a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], a4 = a[4], a5 = a[5];
        for (int r = 0; r < rows; r++) {
            for (int g = 0; g < groups; g++) {
                float b0 = absB[4 * g], b1 = absB[4 * g + 1], b2 = absB[4 * g + 2], b3 = absB[4 * g + 3];
                int s = r * d + g * cpg;
                int e = s + cpg;
                for (int i = s; i < e; i++) {
                    float v = xs[i];
                    float av = Math.abs(v);
                    float p = a0 + v * (a1 + v * (a2 + v * (a3 + v * (a4 + v * a5))));
                    float q = 1.0f + av * (b0 + av * (b1 + av * (b2 + av * b3)));
                    xs[i] = p / q;
                }
            }
        }
    }

    @Override
    public void backward(FloatBuffer x, FloatBuffer g, FloatBuffer gx, int n, int d, int groups, float[] num, float[] den,
                         double[] gradNum, double[] gradDen) {
        RationalKernel.checkArgs(n, d, groups, num, den);
        int rows = n / d;
        int cr = chunkRows(d);
        int chunks = (rows + cr - 1) / cr;
        float[] absDen = absolute(den);
        double[][] partial = new double[chunks][];
        IntStream.range(0, chunks).parallel().forEach(c -> {
            int r0 = c * cr;
            int r1 = Math.min(rows, r0 + cr);
            int off = r0 * d;
            int len = (r1 - r0) * d;
            float[] xs = scratch(0, len);
            float[] gs = scratch(1, len);
            x.get(off, xs, 0, len);
            g.get(off, gs, 0, len);
            double[] acc = new double[groups * 10];
            backwardRows(xs, gs, r1 - r0, d, groups, num, absDen, acc);
            if (gx != null) {
                gx.put(off, gs, 0, len);
            }
            partial[c] = acc;
        });
        combine(partial, groups, den, gradNum, gradDen);
    }

    /**
     * gs[i] becomes dL/dx; acc[g*10 + 0..5] += g/Q * x^i, acc[g*10 + 6..9] += -g P/Q^2 |x|^(k+1)
     * (the sign s(b_k) is applied once per group in {@link #combine}).
     */
    static void backwardRows(float[] xs, float[] gs, int rows, int d, int groups, float[] a, float[] absB, double[] acc) {
        int cpg = d / groups;
        float a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], a4 = a[4], a5 = a[5];
        for (int grp = 0; grp < groups; grp++) {
            float b0 = absB[4 * grp], b1 = absB[4 * grp + 1], b2 = absB[4 * grp + 2], b3 = absB[4 * grp + 3];
            double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0;
            for (int r = 0; r < rows; r++) {
                int s = r * d + grp * cpg;
                int e = s + cpg;
                for (int i = s; i < e; i++) {
                    float v = xs[i];
                    float gv = gs[i];
                    float av = Math.abs(v);
                    float p = a0 + v * (a1 + v * (a2 + v * (a3 + v * (a4 + v * a5))));
                    float dp = a1 + v * (2 * a2 + v * (3 * a3 + v * (4 * a4 + v * 5 * a5)));
                    float q = 1.0f + av * (b0 + av * (b1 + av * (b2 + av * b3)));
                    float dqa = b0 + av * (2 * b1 + av * (3 * b2 + av * 4 * b3));
                    float dq = v < 0 ? -dqa : dqa;
                    float iq = 1.0f / q;
                    float fq = p * iq;
                    gs[i] = gv * iq * (dp - fq * dq);
                    float gq = gv * iq;
                    float gp = -gq * fq;
                    // double accumulation: products in float (exact enough per element), sums in double
                    float v2 = v * v;
                    s0 += gq;
                    s1 += gq * v;
                    s2 += gq * v2;
                    s3 += gq * v2 * v;
                    s4 += gq * v2 * v2;
                    s5 += gq * v2 * v2 * v;
                    float a2v = av * av;
                    t0 += gp * av;
                    t1 += gp * a2v;
                    t2 += gp * a2v * av;
                    t3 += gp * a2v * a2v;
                }
            }
            int o = grp * 10;
            acc[o] += s0;
            acc[o + 1] += s1;
            acc[o + 2] += s2;
            acc[o + 3] += s3;
            acc[o + 4] += s4;
            acc[o + 5] += s5;
            acc[o + 6] += t0;
            acc[o + 7] += t1;
            acc[o + 8] += t2;
            acc[o + 9] += t3;
        }
    }

    /** Sums per-chunk partials in chunk order; applies s(b_k) (s(0) = +1). */
    static void combine(double[][] partial, int groups, float[] den, double[] gradNum, double[] gradDen) {
        double[] total = new double[groups * 10];
        for (double[] p : partial) {
            for (int i = 0; i < total.length; i++) {
                total[i] += p[i];
            }
        }
        for (int grp = 0; grp < groups; grp++) {
            for (int i = 0; i < 6; i++) {
                gradNum[i] += total[grp * 10 + i];
            }
            for (int k = 0; k < 4; k++) {
                double sign = den[grp * 4 + k] < 0 ? -1.0 : 1.0;
                gradDen[grp * 4 + k] += sign * total[grp * 10 + 6 + k];
            }
        }
    }

    private static float[] absolute(float[] den) {
        float[] out = new float[den.length];
        for (int i = 0; i < den.length; i++) {
            out[i] = Math.abs(den[i]);
        }
        return out;
    }
}
