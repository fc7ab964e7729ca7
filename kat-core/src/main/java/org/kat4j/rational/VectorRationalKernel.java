package org.kat4j.rational;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.nio.FloatBuffer;

/**
 * The CPU kernel with its backward written on the JDK vector API (used when
 * {@link org.kat4j.backend.Simd#available()}); the forward is {@link CpuRationalKernel}'s, which
 * C2 already vectorises at 0.7x of a copy.
 *
 * <p>The backward copies each chunk of whole rows into arrays and walks it group by group, one
 * vector of channels at a time down all rows of the chunk: the ten coefficient sums stay in vector
 * registers for the column, then go into double sums (one lane reduction per sum per column). When
 * a group's width is not a whole number of vectors its first vector is partial (masked lanes);
 * groups narrower than a vector go to the plain kernel. Chunks are fixed (4x the plain kernel's,
 * to amortise the reductions) and combined in chunk order, so the result does not depend on
 * thread timing.
 */
final class VectorRationalKernel implements RationalKernel {
    static final VectorRationalKernel INSTANCE = new VectorRationalKernel();
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    private VectorRationalKernel() {
    }

    @Override
    public String name() {
        return "cpu-simd (" + Runtime.getRuntime().availableProcessors() + " threads, " + L + " lanes)";
    }

    @Override
    public void forward(FloatBuffer x, FloatBuffer y, int n, int d, int groups, float[] num, float[] den) {
        CpuRationalKernel.INSTANCE.forward(x, y, n, d, groups, num, den);
    }

    /**
     * Elements per chunk: longer columns amortise the ten lane reductions per column and group
     * (2.18-2.20 ms at 32x197x768 against 2.33-2.36 ms with 16K and 2.54 ms with 128K chunks).
     */
    static final int CHUNK = 1 << 16;

    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[3][0]);

    @Override
    public void backward(FloatBuffer x, FloatBuffer g, FloatBuffer gx, int n, int d, int groups, float[] num, float[] den,
                         double[] gradNum, double[] gradDen) {
        RationalKernel.checkArgs(n, d, groups, num, den);
        int cpg = d / groups;
        if (cpg < L) {
            // groups narrower than one vector: the plain kernel
            CpuRationalKernel.INSTANCE.backward(x, g, gx, n, d, groups, num, den, gradNum, gradDen);
            return;
        }
        double[][] partial = new double[CpuRationalKernel.chunkCount(n, d, CHUNK)][];
        CpuRationalKernel.forEachChunk(n, d, CHUNK, (c, off, len, rows) -> {
            float[][] s = SCRATCH.get();
            if (s[0].length < len) {
                for (int k = 0; k < 3; k++) {
                    s[k] = new float[len];
                }
            }
            x.get(off, s[0], 0, len);
            g.get(off, s[1], 0, len);
            double[] acc = new double[groups * 10];
            for (int grp = 0; grp < groups; grp++) {
                backwardGroup(s[0], s[1], s[2], rows, d, grp * cpg, cpg, num, den, 4 * grp, acc, grp * 10);
            }
            if (gx != null) {
                gx.put(off, s[2], 0, len);
            }
            partial[c] = acc;
        });
        CpuRationalKernel.combine(partial, groups, den, gradNum, gradDen);
    }

    /**
     * Channels [c0, c0 + cpg) (cpg >= L) of {@code rows} rows: gxs gets dL/dx, and the ten sums
     * (g/Q x^i, then -g P/Q^2 |x|^(k+1)) are added to acc[at .. at + 9], one vector of channels at
     * a time down all rows.
     */
    static void backwardGroup(float[] xs, float[] gs, float[] gxs, int rows, int d, int c0, int cpg, float[] a,
                              float[] den, int bi, double[] acc, int at) {
        float[] b = {Math.abs(den[bi]), Math.abs(den[bi + 1]), Math.abs(den[bi + 2]), Math.abs(den[bi + 3])};
        double[] sums = new double[10];
        int rem = cpg % L;
        for (int col = c0, next = c0 + (rem == 0 ? L : rem); col < c0 + cpg; col = next, next += L) {
            column(xs, gs, gxs, col, rows, d, next - col, a, b, sums);
        }
        for (int k = 0; k < 10; k++) {
            acc[at + k] += sums[k];
        }
    }

    /**
     * One vector of channels starting at element {@code first}, down {@code rows} rows of width d:
     * writes dL/dx and adds the ten sums into sums[0..9] (the denominator's with the sign of
     * -dL/dQ). The sums stay in vector registers for the whole column (C2 does not keep vectors
     * carried across an outer loop in registers). {@code live} < L: only the first live lanes
     * belong to the group; the others read as x = 0, g = 0 (finite, adding nothing), and the dL/dx
     * they write lands on channels of the same group that the next vectors overwrite.
     *
     * <p>Powers first, shared by P, P', Q, Q' and the sums (|x|^2 = x^2, |x|^4 = x^4): about 40
     * vector operations a row instead of 50 with Horner and running products (2.29 vs 2.57-2.89 ms
     * at 32x197x768 on 2 cores).
     */
    private static void column(float[] x, float[] g, float[] gx, int first, int rows, int d, int live, float[] a,
                               float[] b, double[] sums) {
        FloatVector va0 = FloatVector.broadcast(S, a[0]), va1 = FloatVector.broadcast(S, a[1]);
        FloatVector va2 = FloatVector.broadcast(S, a[2]), va3 = FloatVector.broadcast(S, a[3]);
        FloatVector va4 = FloatVector.broadcast(S, a[4]), va5 = FloatVector.broadcast(S, a[5]);
        FloatVector vb0 = FloatVector.broadcast(S, b[0]), vb1 = FloatVector.broadcast(S, b[1]);
        FloatVector vb2 = FloatVector.broadcast(S, b[2]), vb3 = FloatVector.broadcast(S, b[3]);
        FloatVector da2 = FloatVector.broadcast(S, 2 * a[2]), da3 = FloatVector.broadcast(S, 3 * a[3]);
        FloatVector da4 = FloatVector.broadcast(S, 4 * a[4]), da5 = FloatVector.broadcast(S, 5 * a[5]);
        FloatVector db1 = FloatVector.broadcast(S, 2 * b[1]), db2 = FloatVector.broadcast(S, 3 * b[2]);
        FloatVector db3 = FloatVector.broadcast(S, 4 * b[3]);
        FloatVector one = FloatVector.broadcast(S, 1f);
        FloatVector zero = FloatVector.zero(S);
        VectorMask<Float> mask = S.indexInRange(0, live);
        boolean partialVector = live < L;
        boolean writeGx = gx != null;
        FloatVector n0 = zero, n1 = zero, n2 = zero, n3 = zero, n4 = zero, n5 = zero;
        FloatVector e0 = zero, e1 = zero, e2 = zero, e3 = zero;
        for (int r = 0, at = first; r < rows; r++, at += d) {
            FloatVector v = FloatVector.fromArray(S, x, at);
            FloatVector gv = FloatVector.fromArray(S, g, at);
            if (partialVector) {
                v = zero.blend(v, mask);
                gv = zero.blend(gv, mask);
            }
            FloatVector av = v.abs();
            FloatVector v2 = v.mul(v);
            FloatVector v3 = v2.mul(v);
            FloatVector v4 = v2.mul(v2);
            FloatVector v5 = v4.mul(v);
            FloatVector a3 = v3.abs();
            FloatVector p = va5.fma(v5, va4.fma(v4, va3.fma(v3, va2.fma(v2, va1.fma(v, va0)))));
            FloatVector q = vb3.fma(v4, vb2.fma(a3, vb1.fma(v2, vb0.fma(av, one))));
            FloatVector dp = v4.fma(da5, v3.fma(da4, v2.fma(da3, v.fma(da2, va1))));
            FloatVector dqa = a3.fma(db3, v2.fma(db2, av.fma(db1, vb0)));
            FloatVector dq = dqa.blend(dqa.neg(), v.lt(0f)); // s(0) = +1, also for -0
            FloatVector iq = one.div(q);
            FloatVector f = p.mul(iq);
            FloatVector gq = gv.mul(iq);
            if (writeGx) {
                gq.mul(f.neg().fma(dq, dp)).intoArray(gx, at);
            }
            FloatVector gp = gq.mul(f); // -dL/dQ: the sign goes on once, in the double sums
            n0 = n0.add(gq);
            n1 = gq.fma(v, n1);
            n2 = gq.fma(v2, n2);
            n3 = gq.fma(v3, n3);
            n4 = gq.fma(v4, n4);
            n5 = gq.fma(v5, n5);
            e0 = gp.fma(av, e0);
            e1 = gp.fma(v2, e1);
            e2 = gp.fma(a3, e2);
            e3 = gp.fma(v4, e3);
        }
        sums[0] += n0.reduceLanes(VectorOperators.ADD);
        sums[1] += n1.reduceLanes(VectorOperators.ADD);
        sums[2] += n2.reduceLanes(VectorOperators.ADD);
        sums[3] += n3.reduceLanes(VectorOperators.ADD);
        sums[4] += n4.reduceLanes(VectorOperators.ADD);
        sums[5] += n5.reduceLanes(VectorOperators.ADD);
        sums[6] -= e0.reduceLanes(VectorOperators.ADD);
        sums[7] -= e1.reduceLanes(VectorOperators.ADD);
        sums[8] -= e2.reduceLanes(VectorOperators.ADD);
        sums[9] -= e3.reduceLanes(VectorOperators.ADD);
    }
}
