package org.kat4j.rational;

import java.nio.FloatBuffer;
import org.kat4j.backend.cpu.Chunks;

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


    private CpuRationalKernel() {
    }

    @Override
    public String name() {
        return "cpu (" + Runtime.getRuntime().availableProcessors() + " threads)";
    }

    static int chunkRows(int d) {
        return chunkRows(d, CHUNK_ELEMENTS);
    }

    static int chunkRows(int d, int chunkElements) {
        return Chunks.rowsPerChunk(d, chunkElements);
    }

    static int chunkCount(int n, int d) {
        return chunkCount(n, d, CHUNK_ELEMENTS);
    }

    static int chunkCount(int n, int d, int chunkElements) {
        return Chunks.count(n, d, chunkElements);
    }

    /** Work on one chunk: its index, first element, element count and row count. */
    @FunctionalInterface
    interface ChunkBody {
        void run(int chunk, int offset, int length, int rows);
    }

    /** Runs {@code body} on every chunk of whole rows, in parallel; chunk boundaries never depend on threads. */
    static void forEachChunk(int n, int d, ChunkBody body) {
        forEachChunk(n, d, CHUNK_ELEMENTS, body);
    }

    /** As {@link #forEachChunk(int, int, ChunkBody)} with chunks of about {@code chunkElements}. */
    static void forEachChunk(int n, int d, int chunkElements, ChunkBody body) {
        Chunks.forEach(n, d, chunkElements, (c, r0, rows) -> body.run(c, r0 * d, rows * d, rows));
    }

    @Override
    public void forward(FloatBuffer x, FloatBuffer y, int n, int d, int groups, float[] num, float[] den) {
        RationalKernel.checkArgs(n, d, groups, num, den);
        float[][] perChannel = perChannel(den, d, groups);
        forEachChunk(n, d, (c, off, len, rows) -> forwardRows(x, y, off, rows, d, num, perChannel));
    }

    /**
     * |b_k| of each channel's group, [4][d]: the loops then run over whole rows with one index,
     * which is what lets C2 vectorise them (per-group loops of d/groups elements were 10x slower).
     */
    static float[][] perChannel(float[] den, int d, int groups) {
        int cpg = d / groups;
        float[][] b = new float[4][d];
        for (int c = 0; c < d; c++) {
            int g = c / cpg;
            for (int k = 0; k < 4; k++) {
                b[k][c] = Math.abs(den[4 * g + k]);
            }
        }
        return b;
    }

    /** y = F(x) for {@code rows} rows of {@code d} channels from element {@code off}, a row at a time. */
    static void forwardRows(FloatBuffer x, FloatBuffer y, int off, int rows, int d, float[] a, float[][] b) {
        float[] xr = rowScratch(d)[RX];
        for (int r = 0; r < rows; r++) {
            x.get(off + r * d, xr, 0, d);
            forwardRow(xr, d, a, b);
            y.put(off + r * d, xr, 0, d);
        }
    }

    /** One row in place; a method of its own so C2 vectorises it (see backwardRow). */
    private static void forwardRow(float[] xr, int d, float[] a, float[][] b) {
        float a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], a4 = a[4], a5 = a[5];
        float[] b0 = b[0], b1 = b[1], b2 = b[2], b3 = b[3];
        for (int c = 0; c < d; c++) {
            float v = xr[c];
            float av = Math.abs(v);
            float p = a0 + v * (a1 + v * (a2 + v * (a3 + v * (a4 + v * a5))));
            float q = 1.0f + av * (b0[c] + av * (b1[c] + av * (b2[c] + av * b3[c])));
            xr[c] = p / q;
        }
    }

    @Override
    public void backward(FloatBuffer x, FloatBuffer g, FloatBuffer gx, int n, int d, int groups, float[] num, float[] den,
                         double[] gradNum, double[] gradDen) {
        RationalKernel.checkArgs(n, d, groups, num, den);
        float[][] perChannel = perChannel(den, d, groups);
        double[][] partial = new double[chunkCount(n, d)][];
        forEachChunk(n, d, (c, off, len, rows) -> {
            double[] acc = new double[groups * 10];
            backwardRows(x, g, gx, off, rows, d, groups, num, perChannel, acc);
            partial[c] = acc;
        });
        combine(partial, groups, den, gradNum, gradDen);
    }

    // row scratch slots: 10 column sums, then x row, g row, and temporaries
    private static final int RX = 10;
    private static final int RG = 11;
    private static final int RAV = 12;
    private static final int RIQ = 13;
    private static final int RFQ = 14;
    private static final int RDQ = 15;
    private static final int RGQ = 16;
    private static final int RGP = 17;
    private static final ThreadLocal<float[][]> ROW = ThreadLocal.withInitial(() -> new float[18][0]);

    private static float[][] rowScratch(int d) {
        float[][] s = ROW.get();
        if (s[0].length < d) {
            for (int k = 0; k < s.length; k++) {
                s[k] = new float[d];
            }
        }
        return s;
    }

    /**
     * gx gets dL/dx (if not null); acc[g*10 + 0..5] += g/Q * x^i, acc[g*10 + 6..9] += -g P/Q^2 |x|^(k+1)
     * (the sign s(b_k) is applied once per group in {@link #combine}).
     *
     * <p>Written as several short loops over a row with one index each: C2 (Java 17) vectorises
     * only small loop bodies, and one fused loop ran 6x slower. The ten sums are kept per channel
     * in float columns across the chunk's rows (element-wise updates, no scalar reductions), then
     * go into the double sums once per chunk and group.
     */
    static void backwardRows(FloatBuffer x, FloatBuffer g, FloatBuffer gx, int off, int rows, int d, int groups, float[] a,
                             float[][] b, double[] acc) {
        int cpg = d / groups;
        float[][] t = rowScratch(d);
        float[] xr = t[RX];
        float[] gr = t[RG];
        for (int k = 0; k < 10; k++) {
            java.util.Arrays.fill(t[k], 0, d, 0f);
        }
        for (int r = 0; r < rows; r++) {
            int base = off + r * d;
            x.get(base, xr, 0, d);
            g.get(base, gr, 0, d);
            backwardRow(d, a, b, t);
            if (gx != null) {
                gx.put(base, gr, 0, d);
            }
        }
        for (int grp = 0; grp < groups; grp++) {
            int cs = grp * cpg;
            for (int k = 0; k < 10; k++) {
                float[] ck = t[k];
                double sum = 0;
                for (int c = cs; c < cs + cpg; c++) {
                    sum += ck[c];
                }
                acc[grp * 10 + k] += sum;
            }
        }
    }

    /**
     * One row (in t[RX], t[RG]) of the backward, its own method: with the loops inlined into the
     * chunk loop, C2 ran out of its loop-optimisation budget and left them scalar (4.5x slower).
     */
    private static void backwardRow(int d, float[] a, float[][] b, float[][] t) {
        float[] c0 = t[0], c1 = t[1], c2 = t[2], c3 = t[3], c4 = t[4];
        float[] c5 = t[5], c6 = t[6], c7 = t[7], c8 = t[8], c9 = t[9];
        float[] xr = t[RX], gr = t[RG], av = t[RAV], iq = t[RIQ], fq = t[RFQ], dq = t[RDQ], gq = t[RGQ], gp = t[RGP];
        float[] b0 = b[0], b1 = b[1], b2 = b[2], b3 = b[3];
        float a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], a4 = a[4], a5 = a[5];
        float da2 = 2 * a2, da3 = 3 * a3, da4 = 4 * a4, da5 = 5 * a5;
        for (int c = 0; c < d; c++) {
            float v = Math.abs(xr[c]);
            av[c] = v;
            iq[c] = 1.0f / (1.0f + v * (b0[c] + v * (b1[c] + v * (b2[c] + v * b3[c]))));
        }
        for (int c = 0; c < d; c++) {
            float v = xr[c];
            fq[c] = (a0 + v * (a1 + v * (a2 + v * (a3 + v * (a4 + v * a5))))) * iq[c];
        }
        for (int c = 0; c < d; c++) {
            float v = av[c];
            dq[c] = b0[c] + v * (2 * b1[c] + v * (3 * b2[c] + v * 4 * b3[c]));
        }
        for (int c = 0; c < d; c++) {
            // s(x) without a branch (random signs mispredicted half the time, 70% of the backward):
            // x + 0.0f turns -0.0 into +0.0, so s(-0.0) = s(0) = +1 as the spec requires
            dq[c] = Math.copySign(dq[c], xr[c] + 0.0f);
        }
        for (int c = 0; c < d; c++) {
            float v = xr[c];
            float g = gr[c] * iq[c];
            gq[c] = g;
            gr[c] = g * (a1 + v * (da2 + v * (da3 + v * (da4 + v * da5))) - fq[c] * dq[c]);
            gp[c] = -g * fq[c];
        }
        for (int c = 0; c < d; c++) {
            float v = xr[c];
            float g = gq[c];
            c0[c] += g;
            c1[c] += g * v;
        }
        for (int c = 0; c < d; c++) {
            float v = xr[c];
            float g = gq[c] * v * v;
            c2[c] += g;
            c3[c] += g * v;
        }
        for (int c = 0; c < d; c++) {
            float v = xr[c];
            float v2 = v * v;
            float g = gq[c] * v2 * v2;
            c4[c] += g;
            c5[c] += g * v;
        }
        for (int c = 0; c < d; c++) {
            float v = av[c];
            float g = gp[c] * v;
            c6[c] += g;
            c7[c] += g * v;
        }
        for (int c = 0; c < d; c++) {
            float v = av[c];
            float g = gp[c] * v * v * v;
            c8[c] += g;
            c9[c] += g * v;
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
}
