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
 * <p>The backward walks each chunk group by group: the group's four denominator coefficients are
 * broadcast once, and the ten coefficient sums stay in vector registers over the group's channels
 * of a row, then go into double sums (one lane reduction per sum per row and group). One fused
 * pass per element, no scratch columns: the plain-Java kernel needs ten short loops and ten
 * column arrays for C2 to vectorise it. Same chunking as the plain kernel, so the result does not
 * depend on thread timing. Channels past the last whole vector of a group run the same formulas
 * one at a time.
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
        double[][] partial = new double[CpuRationalKernel.chunkCount(n, d)][];
        CpuRationalKernel.forEachChunk(n, d, (c, off, len, rows) -> {
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
     * Channels [c0, c0 + cpg) (cpg >= L) of {@code rows} rows of width d: gxs gets dL/dx, and the
     * ten sums (g/Q x^i, then -g P/Q^2 |x|^(k+1)) are added to acc[at .. at + 9].
     *
     * <p>When cpg is not a multiple of L the first vector of the group covers only its first
     * cpg % L channels: the other lanes get x = 0 and g = 0, so they add nothing to the sums, and the dL/dx
     * they write lands on channels of the same group that the next vectors then overwrite.
     */
    static void backwardGroup(float[] xs, float[] gs, float[] gxs, int rows, int d, int c0, int cpg, float[] a, float[] den,
                              int bi, double[] acc, int at) {
        float da2 = 2 * a[2], da3 = 3 * a[3], da4 = 4 * a[4], da5 = 5 * a[5];
        float b0 = Math.abs(den[bi]), b1 = Math.abs(den[bi + 1]), b2 = Math.abs(den[bi + 2]), b3 = Math.abs(den[bi + 3]);
        float db1 = 2 * b1, db2 = 3 * b2, db3 = 4 * b3;
        FloatVector va0 = FloatVector.broadcast(S, a[0]), va1 = FloatVector.broadcast(S, a[1]);
        FloatVector va2 = FloatVector.broadcast(S, a[2]), va3 = FloatVector.broadcast(S, a[3]);
        float a4 = a[4], a5 = a[5];
        FloatVector vda2 = FloatVector.broadcast(S, da2), vda3 = FloatVector.broadcast(S, da3);
        FloatVector vb0 = FloatVector.broadcast(S, b0), vb1 = FloatVector.broadcast(S, b1);
        FloatVector vdb1 = FloatVector.broadcast(S, db1);
        FloatVector one = FloatVector.broadcast(S, 1f);
        FloatVector zero = FloatVector.zero(S);
        int rem = cpg % L;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0, s8 = 0, s9 = 0;
        // one vector of channels at a time down all rows: the ten sums stay in registers for the
        // whole column (C2 does not keep vectors carried across an outer loop in registers)
        for (int c = c0, next = c0 + (rem == 0 ? L : rem); c < c0 + cpg; c = next, next += L) {
            VectorMask<Float> live = S.indexInRange(0, next - c);
            FloatVector n0 = zero, n1 = zero, n2 = zero, n3 = zero, n4 = zero, n5 = zero;
            FloatVector e0 = zero, e1 = zero, e2 = zero, e3 = zero;
            for (int i = c, last = c + (rows - 1) * d; i <= last; i += d) {
                // lanes outside the column read as x = 0, g = 0: finite, and adding nothing
                FloatVector v = zero.blend(FloatVector.fromArray(S, xs, i), live);
                FloatVector gv = zero.blend(FloatVector.fromArray(S, gs, i), live);
                FloatVector av = v.abs();
                FloatVector p = v.fma(a5, a4).fma(v, va3).fma(v, va2).fma(v, va1).fma(v, va0);
                FloatVector q = av.fma(b3, b2).fma(av, vb1).fma(av, vb0).fma(av, one);
                FloatVector iq = one.div(q);
                FloatVector f = p.mul(iq);
                FloatVector dp = v.fma(da5, da4).fma(v, vda3).fma(v, vda2).fma(v, va1);
                FloatVector dq = av.fma(db3, db2).fma(av, vdb1).fma(av, vb0);
                VectorMask<Float> neg = v.lt(0f);
                dq = dq.blend(dq.neg(), neg);
                FloatVector gq = gv.mul(iq);
                gq.mul(f.neg().fma(dq, dp)).intoArray(gxs, i);
                FloatVector gp = gq.mul(f); // -dL/dQ: the sign goes on once, in the double sums
                // numerator: gq x^i; denominator: gp |x|^(k+1)
                n0 = n0.add(gq);
                FloatVector t = gq.mul(v);
                n1 = n1.add(t);
                t = t.mul(v);
                n2 = n2.add(t);
                t = t.mul(v);
                n3 = n3.add(t);
                t = t.mul(v);
                n4 = n4.add(t);
                n5 = t.fma(v, n5);
                FloatVector u = gp.mul(av);
                e0 = e0.add(u);
                u = u.mul(av);
                e1 = e1.add(u);
                u = u.mul(av);
                e2 = e2.add(u);
                e3 = u.fma(av, e3);
            }
            s0 += n0.reduceLanes(VectorOperators.ADD);
            s1 += n1.reduceLanes(VectorOperators.ADD);
            s2 += n2.reduceLanes(VectorOperators.ADD);
            s3 += n3.reduceLanes(VectorOperators.ADD);
            s4 += n4.reduceLanes(VectorOperators.ADD);
            s5 += n5.reduceLanes(VectorOperators.ADD);
            s6 -= e0.reduceLanes(VectorOperators.ADD);
            s7 -= e1.reduceLanes(VectorOperators.ADD);
            s8 -= e2.reduceLanes(VectorOperators.ADD);
            s9 -= e3.reduceLanes(VectorOperators.ADD);
        }
        acc[at] += s0;
        acc[at + 1] += s1;
        acc[at + 2] += s2;
        acc[at + 3] += s3;
        acc[at + 4] += s4;
        acc[at + 5] += s5;
        acc[at + 6] += s6;
        acc[at + 7] += s7;
        acc[at + 8] += s8;
        acc[at + 9] += s9;
    }
}
