package org.kat4j.rational;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;
import org.kat4j.backend.cpu.Lanes;
import org.kat4j.backend.cpu.Segments;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * The CPU kernel with its backward written on the JDK vector API (used when
 * {@link org.kat4j.backend.cpu.Simd#available()}); the forward is {@link CpuRationalKernel}'s, which
 * C2 already vectorises at 0.7x of a copy.
 *
 * <p>The backward walks the data in memory order, a row at a time and a group at a time inside
 * the row, loading vectors straight from the caller's byte buffers ({@link #backward(ByteBuffer,
 * ByteBuffer, ByteBuffer, int, int, int, float[], float[], double[], double[])}): reading
 * sequentially lets the hardware prefetcher fetch the next rows while the arithmetic runs, where
 * copying chunks into arrays first made the copies and the arithmetic take turns (2.0-2.1 ms
 * at 32x197x768 on 2 cores; 1.2-1.4 ms now, with the arithmetic of {@link #group}). The ten
 * coefficient sums of a group live in a vector-wide float accumulator per chunk (10 vectors per group, loaded and stored once per group
 * and row) and go into double sums every few rows ({@link #LANE_TERMS} float terms per lane at
 * most). Chunks of whole rows are fixed by element count and combined in chunk order, so the
 * result does not depend on thread timing. When a group's width is not a whole number of vectors
 * its first vector is partial (masked lanes). Groups no wider than a vector, a whole number of
 * them per vector and of vectors per row ({@link #lanes}), give each lane its own group's
 * coefficients and walk one vector position down the rows; other narrow groups go to the plain
 * kernel. Float buffers (heap arrays, or views without a byte buffer) are copied a chunk at a time
 * into byte buffers and take the same path.
 */
final class VectorRationalKernel implements RationalKernel {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final VectorSpecies<Integer> IS = VectorSpecies.of(int.class, S.vectorShape());
    /**
     * Lane masks of {@link #group}'s sums, L ints each: all lanes (at 0), the first r lanes for r
     * = 1 .. L - 1 (at r L), no lane (at L L).
     */
    private static final int[] MASKS = masks();
    /**
     * The backward's form for this machine: {@link #groupFewRegisters} where vectors are narrower
     * than 512 bits, on x86 the register files of 16 vector registers (AVX2, or AVX-512 hardware
     * held to 256-bit vectors); {@link #group} with AVX-512's 32.
     */
    static final VectorRationalKernel INSTANCE = new VectorRationalKernel(S.vectorBitSize() < 512);
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    /** Elements per chunk (whole rows): 85 rows at d = 768. */
    static final int CHUNK = 1 << 16;
    /** Float terms added into one accumulator lane before it goes into the double sums. */
    static final int LANE_TERMS = 96;
    /** Coefficient table entries per group: a0..a5, then |b0|..|b3|. */
    private static final int K = 10;

    private static final ThreadLocal<float[]> ACC = ThreadLocal.withInitial(() -> new float[0]);
    private static final ThreadLocal<ByteBuffer[]> COPIES = ThreadLocal.withInitial(() -> new ByteBuffer[3]);

    private final boolean fewRegisters;

    /** {@code fewRegisters}: the backward of {@link #groupFewRegisters} rather than {@link #group}; same bits. */
    VectorRationalKernel(boolean fewRegisters) {
        this.fewRegisters = fewRegisters;
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
     * The forward on the arrays' bytes in place, two vectors at a time (two independent Horner
     * chains in flight, {@link #forwardRun}): the plain kernel copies each row into an array and
     * back. Rows are taken in order, each group's channels of a row with that group's coefficients:
     * walking one group down all rows of a chunk first (a few cache lines of every row, a row
     * apart) left the prefetchers behind, 2.70-3.05 ms at 32x197x768 against 1.20-1.44 ms now and
     * 26.3-30.0 against 19.8-22.0 ms at 128x197x3072 (a copy: 1.0-1.35 and 28-33 ms; JMH,
     * alternating, 2 cores of an AMD EPYC Zen 4, 2026-12-03). Same operations in the same order as
     * {@link CpuRationalKernel} (Horner with separate multiplies and adds, one division), so the
     * same bits. Groups no wider than a vector go lane by lane ({@link #lanes}) or, when they do
     * not fit it, to the plain kernel.
     */
    @Override
    public void forward(ByteBuffer x, ByteBuffer y, int n, int d, int groups, float[] num, float[] den) {
        RationalKernel.checkArgs(n, d, groups, num, den);
        RationalKernel.checkBytes("x", x, n);
        RationalKernel.checkBytes("y", y, n);
        int cpg = d / groups;
        // Java 22 and later (Segments): x and y as memory segments, made once here
        Object xSeg = Segments.ON ? Segments.of(x) : null;
        Object ySeg = Segments.ON ? Segments.of(y) : null;
        if (lanes(d, groups)) {
            // per vector position of the row, down the chunk's rows
            float[] t = laneTable(table(num, den, groups), d, groups);
            CpuRationalKernel.forEachChunk(n, d, (c, off, len, rows) -> {
                for (int j = 0; j < d / L; j++) {
                    forwardRun(x, xSeg, y, ySeg, 4 * (off + j * L), 4 * rows * d, 4 * d, 4 * d, t, j * K * L);
                }
            });
            return;
        }
        if (cpg < L) {
            CpuRationalKernel.INSTANCE.forward(RationalKernel.floats(x), RationalKernel.floats(y), n, d, groups, num, den);
            return;
        }
        // row by row, each group's channels of the row: the chunk streams through once, in order
        float[] t = wideTable(table(num, den, groups));
        int rem = cpg % L;
        CpuRationalKernel.forEachChunk(n, d, (c, off, len, rows) -> {
            for (int r = 0; r < rows; r++) {
                for (int grp = 0; grp < groups; grp++) {
                    forwardRun(x, xSeg, y, ySeg, 4 * (off + r * d + grp * cpg), 4 * cpg, 4 * L, 4 * (rem == 0 ? L : rem), t,
                            grp * K * L);
                }
            }
        });
    }

    /**
     * One run of vectors from byte {@code at}, {@code length} bytes of vectors {@code step} bytes
     * apart (a group's channels in a row, a vector apart; or, on the lane path, one vector position
     * down the rows, a row apart), with the coefficient vectors of t[to ..], two vectors at a time
     * (two independent Horner chains in flight). The first vector is only {@code first} bytes ahead
     * of the second when a group is not a whole number of vectors: it covers the group's first
     * channels and overlaps the next, whose lanes it writes with the same values.
     */
    private static void forwardRun(ByteBuffer x, Object xSeg, ByteBuffer y, Object ySeg, int at, int length, int step, int first,
                                   float[] t, int to) {
        FloatVector a0 = FloatVector.fromArray(S, t, to), a1 = FloatVector.fromArray(S, t, to + L);
        FloatVector a2 = FloatVector.fromArray(S, t, to + 2 * L), a3 = FloatVector.fromArray(S, t, to + 3 * L);
        FloatVector a4 = FloatVector.fromArray(S, t, to + 4 * L), a5 = FloatVector.fromArray(S, t, to + 5 * L);
        FloatVector b0 = FloatVector.fromArray(S, t, to + 6 * L), b1 = FloatVector.fromArray(S, t, to + 7 * L);
        FloatVector b2 = FloatVector.fromArray(S, t, to + 8 * L), b3 = FloatVector.fromArray(S, t, to + 9 * L);
        FloatVector one = FloatVector.broadcast(S, 1f);
        int end = at + length;
        int off = at;
        if (first != step) {
            FloatVector v = Segments.ON ? Segments.load(S, xSeg, off) : FloatVector.fromByteBuffer(S, x, off, NATIVE);
            FloatVector av = v.abs();
            FloatVector p = v.mul(a5).add(a4).mul(v).add(a3).mul(v).add(a2).mul(v).add(a1).mul(v).add(a0);
            FloatVector q = av.mul(b3).add(b2).mul(av).add(b1).mul(av).add(b0).mul(av).add(one);
            if (Segments.ON) {
                Segments.store(p.div(q), ySeg, off);
            } else {
                p.div(q).intoByteBuffer(y, off, NATIVE);
            }
            off += first;
        }
        for (; off + step < end; off += 2 * step) {
            FloatVector v = Segments.ON ? Segments.load(S, xSeg, off) : FloatVector.fromByteBuffer(S, x, off, NATIVE);
            FloatVector w = Segments.ON ? Segments.load(S, xSeg, off + step)
                    : FloatVector.fromByteBuffer(S, x, off + step, NATIVE);
            FloatVector av = v.abs();
            FloatVector aw = w.abs();
            FloatVector p = v.mul(a5).add(a4);
            FloatVector pw = w.mul(a5).add(a4);
            FloatVector q = av.mul(b3).add(b2);
            FloatVector qw = aw.mul(b3).add(b2);
            p = p.mul(v).add(a3);
            pw = pw.mul(w).add(a3);
            q = q.mul(av).add(b1);
            qw = qw.mul(aw).add(b1);
            p = p.mul(v).add(a2);
            pw = pw.mul(w).add(a2);
            q = q.mul(av).add(b0);
            qw = qw.mul(aw).add(b0);
            p = p.mul(v).add(a1);
            pw = pw.mul(w).add(a1);
            q = q.mul(av).add(one);
            qw = qw.mul(aw).add(one);
            p = p.mul(v).add(a0);
            pw = pw.mul(w).add(a0);
            if (Segments.ON) {
                Segments.store(p.div(q), ySeg, off);
            } else {
                p.div(q).intoByteBuffer(y, off, NATIVE);
            }
            if (Segments.ON) {
                Segments.store(pw.div(qw), ySeg, off + step);
            } else {
                pw.div(qw).intoByteBuffer(y, off + step, NATIVE);
            }
        }
        if (off < end) {
            FloatVector v = Segments.ON ? Segments.load(S, xSeg, off) : FloatVector.fromByteBuffer(S, x, off, NATIVE);
            FloatVector av = v.abs();
            FloatVector p = v.mul(a5).add(a4).mul(v).add(a3).mul(v).add(a2).mul(v).add(a1).mul(v).add(a0);
            FloatVector q = av.mul(b3).add(b2).mul(av).add(b1).mul(av).add(b0).mul(av).add(one);
            if (Segments.ON) {
                Segments.store(p.div(q), ySeg, off);
            } else {
                p.div(q).intoByteBuffer(y, off, NATIVE);
            }
        }
    }

    @Override
    public void backward(ByteBuffer x, ByteBuffer g, ByteBuffer gx, int n, int d, int groups, float[] num, float[] den,
                         double[] gradNum, double[] gradDen) {
        RationalKernel.checkArgs(n, d, groups, num, den);
        RationalKernel.checkBytes("x", x, n);
        RationalKernel.checkBytes("g", g, n);
        if (gx != null) {
            RationalKernel.checkBytes("gx", gx, n);
        }
        run(n, d, groups, num, den, gradNum, gradDen,
                () -> CpuRationalKernel.INSTANCE.backward(x, g, gx, n, d, groups, num, den, gradNum, gradDen),
                (off, len, rows, k) -> rows(x, g, gx, 4 * off, rows, d, groups, k, fewRegisters));
    }

    @Override
    public void backward(FloatBuffer x, FloatBuffer g, FloatBuffer gx, int n, int d, int groups, float[] num, float[] den,
                         double[] gradNum, double[] gradDen) {
        RationalKernel.checkArgs(n, d, groups, num, den);
        run(n, d, groups, num, den, gradNum, gradDen,
                () -> CpuRationalKernel.INSTANCE.backward(x, g, gx, n, d, groups, num, den, gradNum, gradDen),
                (off, len, rows, k) -> {
                    ByteBuffer[] b = COPIES.get();
                    if (b[0] == null || b[0].capacity() < 4 * len) {
                        for (int i = 0; i < 3; i++) {
                            b[i] = ByteBuffer.allocate(4 * Math.max(len, CHUNK)).order(NATIVE);
                        }
                    }
                    b[0].asFloatBuffer().put(0, x, off, len);
                    b[1].asFloatBuffer().put(0, g, off, len);
                    double[] sums = rows(b[0], b[1], gx == null ? null : b[2], 0, rows, d, groups, k, fewRegisters);
                    if (gx != null) {
                        gx.put(off, b[2].asFloatBuffer(), 0, len);
                    }
                    return sums;
                });
    }

    /** One chunk of whole rows (first element, element count, rows) given the coefficient table: its sums. */
    @FunctionalInterface
    private interface Chunk {
        double[] sums(int offset, int length, int rows, float[] t);
    }

    /**
     * What both buffer kinds share: groups narrower than one vector that do not fit {@link #lanes}
     * go to {@code narrow} (the plain kernel); otherwise every chunk runs and the sums combine in
     * chunk order.
     */
    private static void run(int n, int d, int groups, float[] num, float[] den, double[] gradNum, double[] gradDen,
                            Runnable narrow, Chunk chunk) {
        if (d / groups < L && !lanes(d, groups)) {
            narrow.run();
            return;
        }
        float[] k = lanes(d, groups) ? laneTable(table(num, den, groups), d, groups) : wideTable(table(num, den, groups));
        double[][] partial = new double[CpuRationalKernel.chunkCount(n, d, CHUNK)][];
        CpuRationalKernel.forEachChunk(n, d, CHUNK, (c, off, len, rows) -> partial[c] = chunk.sums(off, len, rows, k));
        CpuRationalKernel.combine(partial, groups, den, gradNum, gradDen);
    }

    /**
     * Whether groups no wider than a vector take the lane path: a whole number of groups per
     * vector and of vectors per row (d = 64 in 8 groups on 16 lanes, or on 8). Each lane then
     * carries its own group's coefficients ({@link #laneTable}) and a vector position of the row is
     * walked down the rows. JMH, 2 forks, 2 cores of an Intel Xeon with AVX-512 (2026-12-03), at
     * 64x17x64 in 8 groups (the micro KAT's first rational, 8 channels per group): forward 0.058 ms
     * and backward 0.110 ms, against 0.121 and 0.467 ms for the plain kernel these shapes went to.
     * A group exactly one vector wide takes it too: walked row by row, each row's group is a call
     * of one vector with its coefficients and sums loaded and stored around it; with 8 lanes
     * (-XX:UseAVX=2) at 1600x64 in 8 groups, best of 2,000 calls, forward 0.065-0.077 ms and
     * backward 0.173-0.224 ms row by row against 0.034-0.038 and 0.110-0.142 ms down the rows (two
     * processes each, alternating, 2 cores of an AMD EPYC Zen 5, 2026-12-07).
     */
    static boolean lanes(int d, int groups) {
        int cpg = d / groups;
        return cpg <= L && L % cpg == 0 && d % L == 0;
    }

    /** Per group and coefficient, the coefficient in all L lanes: the wide groups' table. */
    private static float[] wideTable(float[] k) {
        float[] t = new float[k.length * L];
        for (int i = 0; i < k.length; i++) {
            Arrays.fill(t, i * L, (i + 1) * L, k[i]);
        }
        return t;
    }

    /** Per vector position j of a row (d / L of them) and coefficient, each lane's group's coefficient. */
    private static float[] laneTable(float[] k, int d, int groups) {
        int cpg = d / groups;
        int positions = d / L;
        float[] t = new float[positions * K * L];
        for (int j = 0; j < positions; j++) {
            for (int c = 0; c < K; c++) {
                for (int i = 0; i < L; i++) {
                    t[(j * K + c) * L + i] = k[(j * L + i) / cpg * K + c];
                }
            }
        }
        return t;
    }

    private static int[] masks() {
        int[] m = new int[(L + 1) * L];
        for (int r = 0; r < L; r++) {
            for (int i = 0; i < L; i++) {
                m[r * L + i] = r == 0 || i < r ? -1 : 0;
            }
        }
        return m;
    }

    /** Per group, the K coefficients: a0..a5, then |b0|..|b3|. */
    private static float[] table(float[] a, float[] den, int groups) {
        float[] k = new float[groups * K];
        for (int grp = 0; grp < groups; grp++) {
            int o = grp * K;
            System.arraycopy(a, 0, k, o, 6);
            for (int i = 0; i < 4; i++) {
                k[o + 6 + i] = Math.abs(den[4 * grp + i]);
            }
        }
        return k;
    }

    /**
     * {@code rows} rows of d channels from byte {@code at}: writes dL/dx (when gx is not null) and
     * returns the chunk's ten sums per group (g/Q x^i, then -g P/Q^2 |x|^(k+1)), as
     * {@link CpuRationalKernel#combine} takes them.
     */
    private static double[] rows(ByteBuffer x, ByteBuffer g, ByteBuffer gx, int at, int rows, int d, int groups, float[] t,
                                 boolean fewRegisters) {
        int cpg = d / groups;
        if (lanes(d, groups)) {
            return laneRows(x, g, gx, at, rows, d, groups, t, fewRegisters);
        }
        // Java 22 and later (Segments): the buffers as memory segments, made once per chunk
        Object xSeg = Segments.ON ? Segments.of(x) : null;
        Object gSeg = Segments.ON ? Segments.of(g) : null;
        Object gxSeg = Segments.ON && gx != null ? Segments.of(gx) : null;
        int rem = cpg % L;
        int vectorsPerGroup = (cpg + L - 1) / L;
        int flushRows = Math.max(1, LANE_TERMS / vectorsPerGroup);
        int width = groups * 10 * L;
        float[] acc = ACC.get();
        if (acc.length < width) {
            acc = new float[width];
            ACC.set(acc);
        }
        Arrays.fill(acc, 0, width, 0f);
        double[] sums = new double[groups * 10];
        for (int r = 0; r < rows; r++, at += 4 * d) {
            for (int grp = 0; grp < groups; grp++) {
                int from = at + 4 * grp * cpg;
                if (fewRegisters) {
                    groupFewRegisters(x, xSeg, g, gSeg, gx, gxSeg, from, from + 4 * cpg, 4 * L, rem, t, grp * K * L, acc, grp * 10 * L);
                } else {
                    group(x, xSeg, g, gSeg, gx, gxSeg, from, from + 4 * cpg, 4 * L, rem, t, grp * K * L, acc, grp * 10 * L);
                }
            }
            if ((r + 1) % flushRows == 0 || r == rows - 1) {
                for (int i = 0; i < groups * 10; i++) {
                    float s = Lanes.sum(FloatVector.fromArray(S, acc, i * L));
                    sums[i] += i % 10 < 6 ? s : -s; // the denominator's with the sign of -dL/dQ
                }
                Arrays.fill(acc, 0, width, 0f);
            }
        }
        return sums;
    }

    /**
     * The lane path's chunk ({@link #lanes}): per vector position of the row, up to
     * {@link #LANE_TERMS} rows at a time into ten vector sums, each lane then added into its own
     * group's double sums, lanes in order.
     */
    private static double[] laneRows(ByteBuffer x, ByteBuffer g, ByteBuffer gx, int at, int rows, int d, int groups, float[] t,
                                     boolean fewRegisters) {
        int cpg = d / groups;
        // Java 22 and later (Segments): the buffers as memory segments, made once per chunk
        Object xSeg = Segments.ON ? Segments.of(x) : null;
        Object gSeg = Segments.ON ? Segments.of(g) : null;
        Object gxSeg = Segments.ON && gx != null ? Segments.of(gx) : null;
        int width = 10 * L;
        float[] acc = ACC.get();
        if (acc.length < width) {
            acc = new float[width];
            ACC.set(acc);
        }
        double[] sums = new double[groups * 10];
        for (int j = 0; j < d / L; j++) {
            for (int r0 = 0; r0 < rows; r0 += LANE_TERMS) {
                int span = Math.min(LANE_TERMS, rows - r0);
                int from = at + 4 * (r0 * d + j * L);
                Arrays.fill(acc, 0, width, 0f);
                if (fewRegisters) {
                    groupFewRegisters(x, xSeg, g, gSeg, gx, gxSeg, from, from + span * 4 * d, 4 * d, 0, t, j * K * L, acc, 0);
                } else {
                    group(x, xSeg, g, gSeg, gx, gxSeg, from, from + span * 4 * d, 4 * d, 0, t, j * K * L, acc, 0);
                }
                for (int c = 0; c < 10; c++) {
                    for (int i = 0; i < L; i++) {
                        float v = acc[c * L + i];
                        sums[(j * L + i) / cpg * 10 + c] += c < 6 ? v : -v; // the denominator's with the sign of -dL/dQ
                    }
                }
            }
        }
        return sums;
    }

    /**
     * Vectors from byte {@code at} to {@code end}, {@code step} bytes apart (the cpg channels of
     * one group in one row, a vector apart; or, on the lane path, one vector position down the
     * rows, a row apart), coefficient vectors from t[to ..]: writes dL/dx and adds the ten sums
     * into acc[ao ..] (ten vectors). {@code rem} != 0: the first vector holds only rem channels
     * of the group; it is read whole (its other lanes are the group's next channels), the dL/dx it
     * writes there is overwritten by the next vector, and its other lanes add +0 to the sums.
     *
     * <p>Vectors go two at a time, two independent chains written side by side; with an odd count
     * the last pair's second vector is its first again, writing the same dL/dx and adding +0 to
     * the sums ({@link #MASKS}). Each sum takes the first vector's term, then the second's: the
     * order of one vector at a time, so the same bits as {@link #groupFewRegisters}. Per vector: P
     * with P' and Q with Q' by Horner together (9 + 7 fused multiply-adds, the coefficients read
     * from t as memory operands), one division, and the ten sums from products shared along the
     * powers of x (x^2 is the only power formed): 31 operations on the multiply ports and 7
     * additions on the adder ports. The ten sums stay in registers, about 26 vectors live of
     * AVX-512's 32. One vector at a time, each vector's long chain from its load to its sums
     * (Horner, the division, the products) held the multiply ports back: 0.022 against 0.015 ms
     * for this form at 10x3072 on one thread, 0.047 against 0.029 at 160x192, and 2.09 against
     * 1.61 ms at 6304x768 on two (rows x channels, 8 groups, best of 200-3,000 calls in one
     * process alternating the two forms, 2 cores of an AMD EPYC Zen 5, 2026-12-07). With 8-lane
     * vectors (16 registers) the pair form ran no faster than {@link #groupFewRegisters}, which
     * this kernel keeps there.
     */
    private static void group(ByteBuffer x, Object xSeg, ByteBuffer g, Object gSeg, ByteBuffer gx, Object gxSeg, int at, int end,
                              int step, int rem, float[] t, int to, float[] acc, int ao) {
        FloatVector one = FloatVector.broadcast(S, 1f);
        FloatVector n0 = FloatVector.fromArray(S, acc, ao), n1 = FloatVector.fromArray(S, acc, ao + L);
        FloatVector n2 = FloatVector.fromArray(S, acc, ao + 2 * L), n3 = FloatVector.fromArray(S, acc, ao + 3 * L);
        FloatVector n4 = FloatVector.fromArray(S, acc, ao + 4 * L), n5 = FloatVector.fromArray(S, acc, ao + 5 * L);
        FloatVector e0 = FloatVector.fromArray(S, acc, ao + 6 * L), e1 = FloatVector.fromArray(S, acc, ao + 7 * L);
        FloatVector e2 = FloatVector.fromArray(S, acc, ao + 8 * L), e3 = FloatVector.fromArray(S, acc, ao + 9 * L);
        boolean writeGx = gx != null;
        int first = rem == 0 ? step : 4 * rem;
        for (int off = at, w = at + first; off < end; off = w + step, w = off + step) {
            // a pair of vectors, two independent chains; without a second vector the pair's second
            // is the first again, its sums masked off
            boolean pair = w < end;
            int wo = pair ? w : off;
            IntVector mv = IntVector.fromArray(IS, MASKS, off == at ? rem * L : 0);
            IntVector mw = IntVector.fromArray(IS, MASKS, pair ? 0 : L * L);
            FloatVector v = Segments.ON ? Segments.load(S, xSeg, off) : FloatVector.fromByteBuffer(S, x, off, NATIVE);
            FloatVector u = Segments.ON ? Segments.load(S, xSeg, wo) : FloatVector.fromByteBuffer(S, x, wo, NATIVE);
            FloatVector gv = Segments.ON ? Segments.load(S, gSeg, off) : FloatVector.fromByteBuffer(S, g, off, NATIVE);
            FloatVector gu = Segments.ON ? Segments.load(S, gSeg, wo) : FloatVector.fromByteBuffer(S, g, wo, NATIVE);
            FloatVector av = v.abs();
            FloatVector au = u.abs();
            FloatVector a5 = FloatVector.fromArray(S, t, to + 5 * L);
            FloatVector p = a5.fma(v, FloatVector.fromArray(S, t, to + 4 * L));
            FloatVector pu = a5.fma(u, FloatVector.fromArray(S, t, to + 4 * L));
            FloatVector b3 = FloatVector.fromArray(S, t, to + 9 * L);
            FloatVector q = b3.fma(av, FloatVector.fromArray(S, t, to + 8 * L));
            FloatVector qu = b3.fma(au, FloatVector.fromArray(S, t, to + 8 * L));
            FloatVector dp = a5.fma(v, p);
            FloatVector dpu = a5.fma(u, pu);
            FloatVector dqa = b3.fma(av, q);
            FloatVector dqu = b3.fma(au, qu);
            p = p.fma(v, FloatVector.fromArray(S, t, to + 3 * L));
            pu = pu.fma(u, FloatVector.fromArray(S, t, to + 3 * L));
            q = q.fma(av, FloatVector.fromArray(S, t, to + 7 * L));
            qu = qu.fma(au, FloatVector.fromArray(S, t, to + 7 * L));
            dp = dp.fma(v, p);
            dpu = dpu.fma(u, pu);
            dqa = dqa.fma(av, q);
            dqu = dqu.fma(au, qu);
            p = p.fma(v, FloatVector.fromArray(S, t, to + 2 * L));
            pu = pu.fma(u, FloatVector.fromArray(S, t, to + 2 * L));
            q = q.fma(av, FloatVector.fromArray(S, t, to + 6 * L));
            qu = qu.fma(au, FloatVector.fromArray(S, t, to + 6 * L));
            dp = dp.fma(v, p);
            dpu = dpu.fma(u, pu);
            dqa = dqa.fma(av, q);
            dqu = dqu.fma(au, qu);
            q = q.fma(av, one);
            qu = qu.fma(au, one);
            p = p.fma(v, FloatVector.fromArray(S, t, to + L));
            pu = pu.fma(u, FloatVector.fromArray(S, t, to + L));
            FloatVector iq = one.div(q);
            FloatVector iqu = one.div(qu);
            dp = dp.fma(v, p);
            dpu = dpu.fma(u, pu);
            p = p.fma(v, FloatVector.fromArray(S, t, to));
            pu = pu.fma(u, FloatVector.fromArray(S, t, to));
            FloatVector dq = dqa.blend(dqa.neg(), v.lt(0f)); // s(0) = +1, also for -0
            FloatVector dqv = dqu.blend(dqu.neg(), u.lt(0f));
            FloatVector f = p.mul(iq);
            FloatVector fu = pu.mul(iqu);
            FloatVector gq = gv.mul(iq);
            FloatVector gqu = gu.mul(iqu);
            if (writeGx) {
                if (Segments.ON) {
                    Segments.store(gq.mul(f.neg().fma(dq, dp)), gxSeg, off);
                    Segments.store(gqu.mul(fu.neg().fma(dqv, dpu)), gxSeg, wo);
                } else {
                    gq.mul(f.neg().fma(dq, dp)).intoByteBuffer(gx, off, NATIVE);
                    gqu.mul(fu.neg().fma(dqv, dpu)).intoByteBuffer(gx, wo, NATIVE);
                }
            }
            // the sums: lanes outside the group (a partial first vector) or a repeated vector add +0
            gq = gq.reinterpretAsInts().and(mv).reinterpretAsFloats();
            gqu = gqu.reinterpretAsInts().and(mw).reinterpretAsFloats();
            FloatVector gp = gq.mul(f); // -dL/dQ: the sign goes on once, in the double sums
            FloatVector gpu = gqu.mul(fu);
            FloatVector v2 = v.mul(v);
            FloatVector u2 = u.mul(u);
            FloatVector t1 = gq.mul(v);
            FloatVector t1u = gqu.mul(u);
            FloatVector t2 = gq.mul(v2);
            FloatVector t2u = gqu.mul(u2);
            FloatVector t3 = t1.mul(v2);
            FloatVector t3u = t1u.mul(u2);
            FloatVector s1 = gp.mul(av);
            FloatVector s1u = gpu.mul(au);
            FloatVector s2 = gp.mul(v2);
            FloatVector s2u = gpu.mul(u2);
            n0 = n0.add(gq).add(gqu);
            n1 = n1.add(t1).add(t1u);
            n2 = n2.add(t2).add(t2u);
            n3 = n3.add(t3).add(t3u);
            n4 = t2u.fma(u2, t2.fma(v2, n4));
            n5 = t3u.fma(u2, t3.fma(v2, n5));
            e0 = e0.add(s1).add(s1u);
            e1 = e1.add(s2).add(s2u);
            e2 = s1u.fma(u2, s1.fma(v2, e2));
            e3 = s2u.fma(u2, s2.fma(v2, e3));
        }
        n0.intoArray(acc, ao);
        n1.intoArray(acc, ao + L);
        n2.intoArray(acc, ao + 2 * L);
        n3.intoArray(acc, ao + 3 * L);
        n4.intoArray(acc, ao + 4 * L);
        n5.intoArray(acc, ao + 5 * L);
        e0.intoArray(acc, ao + 6 * L);
        e1.intoArray(acc, ao + 7 * L);
        e2.intoArray(acc, ao + 8 * L);
        e3.intoArray(acc, ao + 9 * L);
    }

    /**
     * {@link #group}'s arithmetic (the same operations on every lane in the same order, so the same
     * bits) for register files of 16 vectors: the coefficients are read from t and the six
     * numerator sums added into acc at every vector, as memory operands, the four denominator sums
     * held in registers (about 15 vectors live instead of 21). With 16 registers C2 spilled some of
     * {@link #group}'s sums and temporaries to the stack, and which ones changed from one JIT
     * compilation to the next. At 32x197x768 on 2 cores of an AMD EPYC Zen 3 (AVX2, 2026-12-03),
     * 64-byte aligned buffers, 4 processes each alternating two forms: {@link #group} 3.6-3.9 ms in
     * two processes and 5.9-8.0 ms in two, against 3.6-4.7 ms in all four with all ten sums in
     * memory; this form 4.1-6.2 ms against 4.6-7.4 for all ten in memory, in a slower hour.
     */
    private static void groupFewRegisters(ByteBuffer x, Object xSeg, ByteBuffer g, Object gSeg, ByteBuffer gx, Object gxSeg, int at,
                                          int end, int step, int rem,
                                          float[] t, int to, float[] acc, int ao) {
        FloatVector one = FloatVector.broadcast(S, 1f);
        FloatVector zero = FloatVector.zero(S);
        VectorMask<Float> firstLanes = S.indexInRange(0, rem == 0 ? L : rem);
        boolean writeGx = gx != null;
        FloatVector e0 = FloatVector.fromArray(S, acc, ao + 6 * L), e1 = FloatVector.fromArray(S, acc, ao + 7 * L);
        FloatVector e2 = FloatVector.fromArray(S, acc, ao + 8 * L), e3 = FloatVector.fromArray(S, acc, ao + 9 * L);
        for (int off = at, next = at + (rem == 0 ? step : 4 * rem); off < end; off = next, next += step) {
            FloatVector v = Segments.ON ? Segments.load(S, xSeg, off) : FloatVector.fromByteBuffer(S, x, off, NATIVE);
            FloatVector gv = Segments.ON ? Segments.load(S, gSeg, off) : FloatVector.fromByteBuffer(S, g, off, NATIVE);
            if (rem != 0 && off == at) {
                v = zero.blend(v, firstLanes);
                gv = zero.blend(gv, firstLanes);
            }
            FloatVector av = v.abs();
            FloatVector a5 = FloatVector.fromArray(S, t, to + 5 * L);
            FloatVector p = a5.fma(v, FloatVector.fromArray(S, t, to + 4 * L));
            FloatVector dp = a5.fma(v, p);
            p = p.fma(v, FloatVector.fromArray(S, t, to + 3 * L));
            dp = dp.fma(v, p);
            p = p.fma(v, FloatVector.fromArray(S, t, to + 2 * L));
            dp = dp.fma(v, p);
            p = p.fma(v, FloatVector.fromArray(S, t, to + L));
            dp = dp.fma(v, p);
            p = p.fma(v, FloatVector.fromArray(S, t, to));
            FloatVector b3 = FloatVector.fromArray(S, t, to + 9 * L);
            FloatVector q = b3.fma(av, FloatVector.fromArray(S, t, to + 8 * L));
            FloatVector dqa = b3.fma(av, q);
            q = q.fma(av, FloatVector.fromArray(S, t, to + 7 * L));
            dqa = dqa.fma(av, q);
            q = q.fma(av, FloatVector.fromArray(S, t, to + 6 * L));
            dqa = dqa.fma(av, q);
            q = q.fma(av, one);
            FloatVector dq = dqa.blend(dqa.neg(), v.lt(0f));
            FloatVector iq = one.div(q);
            FloatVector f = p.mul(iq);
            FloatVector gq = gv.mul(iq);
            if (writeGx) {
                if (Segments.ON) {
                    Segments.store(gq.mul(f.neg().fma(dq, dp)), gxSeg, off);
                } else {
                    gq.mul(f.neg().fma(dq, dp)).intoByteBuffer(gx, off, NATIVE);
                }
            }
            FloatVector gp = gq.mul(f);
            FloatVector v2 = v.mul(v);
            FloatVector t1 = gq.mul(v);
            FloatVector t2 = gq.mul(v2);
            FloatVector t3 = t1.mul(v2);
            FloatVector.fromArray(S, acc, ao).add(gq).intoArray(acc, ao);
            FloatVector.fromArray(S, acc, ao + L).add(t1).intoArray(acc, ao + L);
            FloatVector.fromArray(S, acc, ao + 2 * L).add(t2).intoArray(acc, ao + 2 * L);
            FloatVector.fromArray(S, acc, ao + 3 * L).add(t3).intoArray(acc, ao + 3 * L);
            t2.fma(v2, FloatVector.fromArray(S, acc, ao + 4 * L)).intoArray(acc, ao + 4 * L);
            t3.fma(v2, FloatVector.fromArray(S, acc, ao + 5 * L)).intoArray(acc, ao + 5 * L);
            FloatVector u1 = gp.mul(av);
            FloatVector u2 = gp.mul(v2);
            e0 = e0.add(u1);
            e1 = e1.add(u2);
            e2 = u1.fma(v2, e2);
            e3 = u2.fma(v2, e3);
        }
        e0.intoArray(acc, ao + 6 * L);
        e1.intoArray(acc, ao + 7 * L);
        e2.intoArray(acc, ao + 8 * L);
        e3.intoArray(acc, ao + 9 * L);
    }
}
