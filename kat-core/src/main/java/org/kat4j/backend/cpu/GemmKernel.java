package org.kat4j.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/**
 * kat4j's own float32 matrix product {@code c = op(a) @ op(b)} for CPUs with 16-lane (512-bit)
 * vectors, where it is faster than the OpenBLAS that ND4J ships with: on a 2-core AMD EPYC Zen 5
 * whose environment pins OpenBLAS to its Haswell (AVX2) kernels, one thread, best of 300, the
 * same process (2026-12-07), the micro models' products (544 x {64, 192, 256} x {64, 256} in the
 * layouts the layers use) ran at 179-217 GFLOP/s against OpenBLAS's 87-107, and the width-192 ViT
 * block's (6304 rows, k up to 6304) at 151-190 against 100-108. With 8-lane vectors (AVX2) the
 * same code was slower than OpenBLAS, so {@link #available()} is false there and OpenBLAS keeps
 * those products.
 *
 * <p>The classic blocking without a packed copy of a: op(b) is taken block by block (at most
 * {@link #KC} terms of the sum by {@link #NC} columns; b as it is in one bulk copy, b transposed
 * packed into panels of 4 vectors' width), and each panel is swept by tiles of six rows of c,
 * whose 24 accumulators (six rows by four vectors) stay in registers while the sum runs; a's
 * elements are read in place and broadcast. The sum of an element of c is cut into
 * {@link #blocks} equal blocks of at most KC terms; each block is one chain of FMAs in the order
 * of the sum, the first from the bias (or zero), the later ones from zero and added onto c in
 * order (as is the first where c is accumulated onto). The blocks depend on k alone, so the result
 * does not depend on how the rows are split over threads, or on the vector width.
 */
final class GemmKernel {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** Float lanes per vector. */
    private static final int L = S.length();
    /** Columns of a panel: four vectors. */
    private static final int NR = 4 * L;
    /** Rows of a tile. */
    private static final int MR = 6;
    /** Most terms of the sum per block (a panel of them is 128 KB, L2-resident). */
    static final int KC = 512;
    /** Most columns per block of op(b). */
    static final int NC = 1024;
    /** A panel's width of zeros: where sums start from zero. */
    private static final float[] ZEROS = new float[NR];
    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private GemmKernel() {
    }

    /**
     * Whether this kernel takes float32 products: vectors of 16 lanes or more (callers check
     * {@link Simd#available()} first).
     */
    static boolean available() {
        return L >= 16;
    }

    /** One line for {@code kat info}. */
    static String describe() {
        return "kat4j's own vector kernel (" + MR + " x " + NR + " tiles)";
    }

    /**
     * c = op(a) @ op(b) over dense row-major operands: a is m x k (stored k x m when ta), b is k x n
     * (stored n x k when tb), c is m x n, each from its element {@code aOff}, {@code bOff},
     * {@code cOff}. With {@code accumulate} the sums are added onto c; else, when bias is not null,
     * the sum for column j starts at {@code bias[j]} (accumulate and bias are not used together).
     * Rows are split over the threads when the product has at least {@code splitMin} multiply-adds.
     */
    static void multiply(FloatBuffer a, int aOff, FloatBuffer b, int bOff, ByteBuffer c, int cOff, int m, int n, int k,
                         boolean ta, boolean tb, boolean accumulate, ByteBuffer bias, long splitMin) {
        int tiles = (m + MR - 1) / MR;
        int parts = (long) m * n * k < splitMin ? 1 : Math.min(Parallel.threads(), tiles);
        if (parts <= 1) {
            rows(a, aOff, b, bOff, c, cOff, m, n, k, ta, tb, accumulate, bias, 0, m);
            return;
        }
        Parallel.forEach(parts, p -> rows(a, aOff, b, bOff, c, cOff, m, n, k, ta, tb, accumulate, bias,
                Math.min(m, tiles * p / parts * MR), Math.min(m, tiles * (p + 1) / parts * MR)));
    }

    /** How many blocks a sum of k terms is cut into; block kb starts at term k kb / blocks. */
    static int blocks(int k) {
        return Math.max(1, (k + KC - 1) / KC);
    }

    /** Rows [from, to) of c, on this thread. */
    private static void rows(FloatBuffer a, int aOff, FloatBuffer b, int bOff, ByteBuffer c, int cOff, int m, int n, int k,
                             boolean ta, boolean tb, boolean accumulate, ByteBuffer bias, int from, int to) {
        int rs = ta ? 1 : k;
        int ps = ta ? m : 1;
        int blocks = blocks(k);
        Scratch s = SCRATCH.get().fit(Math.min(k, KC) * (Math.min(n, NC) + NR), Math.min(k, KC), n);
        float[] pb = s.panels;
        float[] starts = s.starts;
        ByteBuffer sums = s.sums;
        // Java 22 and later (Segments): c and the sums tile as memory segments and float views, made once here
        Object cSeg = Segments.ON ? Segments.of(c) : null;
        Object sumsSeg = Segments.ON ? Segments.of(sums) : null;
        FloatBuffer cFloats = Segments.ON ? c.asFloatBuffer() : null;
        FloatBuffer sumsFloats = Segments.ON ? sums.asFloatBuffer() : null;
        float[] out = s.out;
        FloatBuffer part = s.part;
        if (bias != null) {
            bias.asFloatBuffer().get(0, starts, 0, n);
        }
        for (int j0 = 0; j0 < n; j0 += NC) {
            int nc = Math.min(NC, n - j0);
            for (int kb = 0; kb < blocks; kb++) {
                // equal blocks of the sum; each block's sums go onto what the blocks before left in c
                int p0 = (int) ((long) k * kb / blocks);
                int kc = (int) ((long) k * (kb + 1) / blocks) - p0;
                // op(b)'s block: rows ldb apart, panel jp from element jp (b as it is) or jp kc (packed from b transposed)
                int ldb = pack(b, bOff, n, k, tb, p0, kc, j0, nc, pb, s.line);
                boolean onto = accumulate || kb > 0;
                float[] start = bias != null && kb == 0 ? starts : ZEROS;
                // the last rows, fewer than six, copied into a six-row block (zeros below) that a tile takes too
                int last = from + (to - from) / MR * MR;
                if (last < to) {
                    lastRows(a, aOff + last * rs + p0 * ps, rs, ps, to - last, kc, part, s.line);
                }
                for (int jp = 0; jp < nc; jp += NR) {
                    int cols = Math.min(NR, nc - jp);
                    int bo = tb ? jp * kc : jp;
                    int j = j0 + jp;
                    int from0 = start == starts ? j : 0;
                    boolean direct = cols == NR && !onto;
                    // through the sums tile where they go onto c, or c has fewer columns or rows than the tile
                    for (int r = from; r < to; r += MR) {
                        int h = Math.min(MR, to - r);
                        int at = cOff + r * n + j;
                        if (direct && h == MR) {
                            tile(a, aOff + r * rs + p0 * ps, rs, ps, pb, bo, ldb, kc, c, cFloats, out, at, n, start, from0);
                            continue;
                        }
                        if (h == MR) {
                            tile(a, aOff + r * rs + p0 * ps, rs, ps, pb, bo, ldb, kc, sums, sumsFloats, out, 0, NR, start, from0);
                        } else {
                            tile(part, 0, 1, MR, pb, bo, ldb, kc, sums, sumsFloats, out, 0, NR, start, from0);
                        }
                        finish(sums, sumsSeg, c, cSeg, at, n, h, cols, onto);
                    }
                }
            }
        }
    }

    /**
     * Rows 0 .. h - 1 (h &lt; 6) of op(a) from element a0, terms 0 .. kc - 1, into part as a six-row
     * block read with rs = 1, ps = 6 (element (r, p) at 6 p + r), rows h .. 5 zero.
     */
    private static void lastRows(FloatBuffer a, int a0, int rs, int ps, int h, int kc, FloatBuffer part, float[] line) {
        for (int r = 0; r < MR; r++) {
            if (r < h && ps == 1) {
                a.get(a0 + r * rs, line, 0, kc);
            }
            for (int p = 0; p < kc; p++) {
                part.put(p * MR + r, r >= h ? 0f : ps == 1 ? line[p] : a.get(a0 + r * rs + p * ps));
            }
        }
    }

    /**
     * c (rows x cols from element at, rows ldc apart) = t, or += t {@code onto} c (t's rows NR
     * apart); tSeg and cSeg are t and c as memory segments where {@link Segments#ON}.
     */
    private static void finish(ByteBuffer t, Object tSeg, ByteBuffer c, Object cSeg, int at, int ldc, int rows, int cols,
                               boolean onto) {
        int full = cols / L * L;
        for (int r = 0; r < rows; r++) {
            int ci = at + r * ldc;
            int ti = r * NR;
            for (int q = 0; q < full; q += L) {
                if (Segments.ON) {
                    // Java 22 and later (Segments): the same loads and store through memory segments
                    FloatVector v = Segments.load(S, tSeg, 4L * (ti + q));
                    if (onto) {
                        v = v.add(Segments.load(S, cSeg, 4L * (ci + q)));
                    }
                    Segments.store(v, cSeg, 4L * (ci + q));
                    continue;
                }
                FloatVector v = FloatVector.fromByteBuffer(S, t, 4 * (ti + q), ByteOrder.nativeOrder());
                if (onto) {
                    v = v.add(FloatVector.fromByteBuffer(S, c, 4 * (ci + q), ByteOrder.nativeOrder()));
                }
                v.intoByteBuffer(c, 4 * (ci + q), ByteOrder.nativeOrder());
            }
            for (int q = full; q < cols; q++) {
                float v = t.getFloat(4 * (ti + q));
                c.putFloat(4 * (ci + q), onto ? c.getFloat(4 * (ci + q)) + v : v);
            }
        }
    }

    /**
     * Terms p0 .. p0 + kc - 1 of op(b)'s columns j0 .. j0 + nc - 1 into pb; returns the distance of
     * its rows. b as it is (k x n) is copied as it is, one bulk read when the block is b's full
     * width (vectors of a last, narrower panel read past a row's end into the next: those columns
     * are never written to c). b transposed (n x k) is packed into panels of NR columns, each kc x NR
     * row-major, the last one padded with zeros.
     */
    private static int pack(FloatBuffer b, int bOff, int n, int k, boolean tb, int p0, int kc, int j0, int nc, float[] pb,
                            float[] line) {
        if (!tb) {
            if (nc == n) {
                b.get(bOff + p0 * n, pb, 0, kc * n);
            } else {
                for (int p = 0; p < kc; p++) {
                    b.get(bOff + (p0 + p) * n + j0, pb, p * nc, nc);
                }
            }
            return nc;
        }
        for (int jp = 0; jp < nc; jp += NR) {
            int cols = Math.min(NR, nc - jp);
            int base = jp * kc;
            // column j of op(b) is row j of b: read it in one copy, then spread it down the panel
            for (int q = 0; q < cols; q++) {
                b.get(bOff + (j0 + jp + q) * k + p0, line, 0, kc);
                for (int p = 0; p < kc; p++) {
                    pb[base + p * NR + q] = line[p];
                }
            }
            if (cols < NR) {
                for (int p = 0; p < kc; p++) {
                    java.util.Arrays.fill(pb, base + p * NR + cols, base + (p + 1) * NR, 0f);
                }
            }
        }
        return NR;
    }

    /**
     * Six rows of c (from element c0, rows ldc apart) by a full panel's 4 L columns, over kc terms of
     * the sum: 24 accumulators (six rows by four vectors) stay in registers while p runs; row r of op(a)
     * is read at a0 + r rs + p ps, the panel's kc x 4L floats of op(b) at bo, rows ldb apart. Every
     * row's accumulators start at the 4 L values of start from {@code from} (the bias, or zeros) and
     * add the terms in p order. The code is kept straight: 24 start values loaded one by one, a branch that adds c's
     * values at the end, or masked loads and stores, made the JIT keep the vectors as objects
     * (1-30 GFLOP/s against 140-200); sums onto c, and the columns of a last, narrower panel or
     * the last rows, go through a scratch tile ({@link #finish}). Where {@link Segments#ON}, the
     * tile goes into out (MR x NR floats) and from there row by row into cFloats, c's float view.
     */
    private static void tile(FloatBuffer a, int a0, int rs, int ps, float[] pb, int bo, int ldb, int kc, ByteBuffer c,
                             FloatBuffer cFloats, float[] out, int c0, int ldc, float[] start, int from) {
        FloatVector c00 = FloatVector.fromArray(S, start, from);
        FloatVector c01 = FloatVector.fromArray(S, start, from + 1 * L);
        FloatVector c02 = FloatVector.fromArray(S, start, from + 2 * L);
        FloatVector c03 = FloatVector.fromArray(S, start, from + 3 * L);
        FloatVector c10 = c00, c11 = c01, c12 = c02, c13 = c03;
        FloatVector c20 = c00, c21 = c01, c22 = c02, c23 = c03;
        FloatVector c30 = c00, c31 = c01, c32 = c02, c33 = c03;
        FloatVector c40 = c00, c41 = c01, c42 = c02, c43 = c03;
        FloatVector c50 = c00, c51 = c01, c52 = c02, c53 = c03;
        int r1 = a0 + rs;
        int r2 = r1 + rs;
        int r3 = r2 + rs;
        int r4 = r3 + rs;
        int r5 = r4 + rs;
        for (int p = 0; p < kc; p++) {
            int b = bo + p * ldb;
            int q = p * ps;
            FloatVector x0 = FloatVector.fromArray(S, pb, b);
            FloatVector x1 = FloatVector.fromArray(S, pb, b + 1 * L);
            FloatVector x2 = FloatVector.fromArray(S, pb, b + 2 * L);
            FloatVector x3 = FloatVector.fromArray(S, pb, b + 3 * L);
            FloatVector s0 = FloatVector.broadcast(S, a.get(a0 + q));
            c00 = x0.fma(s0, c00);
            c01 = x1.fma(s0, c01);
            c02 = x2.fma(s0, c02);
            c03 = x3.fma(s0, c03);
            FloatVector s1 = FloatVector.broadcast(S, a.get(r1 + q));
            c10 = x0.fma(s1, c10);
            c11 = x1.fma(s1, c11);
            c12 = x2.fma(s1, c12);
            c13 = x3.fma(s1, c13);
            FloatVector s2 = FloatVector.broadcast(S, a.get(r2 + q));
            c20 = x0.fma(s2, c20);
            c21 = x1.fma(s2, c21);
            c22 = x2.fma(s2, c22);
            c23 = x3.fma(s2, c23);
            FloatVector s3 = FloatVector.broadcast(S, a.get(r3 + q));
            c30 = x0.fma(s3, c30);
            c31 = x1.fma(s3, c31);
            c32 = x2.fma(s3, c32);
            c33 = x3.fma(s3, c33);
            FloatVector s4 = FloatVector.broadcast(S, a.get(r4 + q));
            c40 = x0.fma(s4, c40);
            c41 = x1.fma(s4, c41);
            c42 = x2.fma(s4, c42);
            c43 = x3.fma(s4, c43);
            FloatVector s5 = FloatVector.broadcast(S, a.get(r5 + q));
            c50 = x0.fma(s5, c50);
            c51 = x1.fma(s5, c51);
            c52 = x2.fma(s5, c52);
            c53 = x3.fma(s5, c53);
        }
        if (Segments.ON) {
            // Java 22 and later (Segments): 24 vector stores to a memory segment, each through method
            // handles, ran the k = 64 products at about half speed; the tile goes into an array and
            // from there into c a row at a time
            c00.intoArray(out, 0 * NR + 0 * L);
            c01.intoArray(out, 0 * NR + 1 * L);
            c02.intoArray(out, 0 * NR + 2 * L);
            c03.intoArray(out, 0 * NR + 3 * L);
            c10.intoArray(out, 1 * NR + 0 * L);
            c11.intoArray(out, 1 * NR + 1 * L);
            c12.intoArray(out, 1 * NR + 2 * L);
            c13.intoArray(out, 1 * NR + 3 * L);
            c20.intoArray(out, 2 * NR + 0 * L);
            c21.intoArray(out, 2 * NR + 1 * L);
            c22.intoArray(out, 2 * NR + 2 * L);
            c23.intoArray(out, 2 * NR + 3 * L);
            c30.intoArray(out, 3 * NR + 0 * L);
            c31.intoArray(out, 3 * NR + 1 * L);
            c32.intoArray(out, 3 * NR + 2 * L);
            c33.intoArray(out, 3 * NR + 3 * L);
            c40.intoArray(out, 4 * NR + 0 * L);
            c41.intoArray(out, 4 * NR + 1 * L);
            c42.intoArray(out, 4 * NR + 2 * L);
            c43.intoArray(out, 4 * NR + 3 * L);
            c50.intoArray(out, 5 * NR + 0 * L);
            c51.intoArray(out, 5 * NR + 1 * L);
            c52.intoArray(out, 5 * NR + 2 * L);
            c53.intoArray(out, 5 * NR + 3 * L);
            for (int r = 0; r < MR; r++) {
                cFloats.put(c0 + r * ldc, out, r * NR, NR);
            }
            return;
        }
        c00.intoByteBuffer(c, 4 * (c0 + 0 * ldc + 0 * L), ByteOrder.nativeOrder());
        c01.intoByteBuffer(c, 4 * (c0 + 0 * ldc + 1 * L), ByteOrder.nativeOrder());
        c02.intoByteBuffer(c, 4 * (c0 + 0 * ldc + 2 * L), ByteOrder.nativeOrder());
        c03.intoByteBuffer(c, 4 * (c0 + 0 * ldc + 3 * L), ByteOrder.nativeOrder());
        c10.intoByteBuffer(c, 4 * (c0 + 1 * ldc + 0 * L), ByteOrder.nativeOrder());
        c11.intoByteBuffer(c, 4 * (c0 + 1 * ldc + 1 * L), ByteOrder.nativeOrder());
        c12.intoByteBuffer(c, 4 * (c0 + 1 * ldc + 2 * L), ByteOrder.nativeOrder());
        c13.intoByteBuffer(c, 4 * (c0 + 1 * ldc + 3 * L), ByteOrder.nativeOrder());
        c20.intoByteBuffer(c, 4 * (c0 + 2 * ldc + 0 * L), ByteOrder.nativeOrder());
        c21.intoByteBuffer(c, 4 * (c0 + 2 * ldc + 1 * L), ByteOrder.nativeOrder());
        c22.intoByteBuffer(c, 4 * (c0 + 2 * ldc + 2 * L), ByteOrder.nativeOrder());
        c23.intoByteBuffer(c, 4 * (c0 + 2 * ldc + 3 * L), ByteOrder.nativeOrder());
        c30.intoByteBuffer(c, 4 * (c0 + 3 * ldc + 0 * L), ByteOrder.nativeOrder());
        c31.intoByteBuffer(c, 4 * (c0 + 3 * ldc + 1 * L), ByteOrder.nativeOrder());
        c32.intoByteBuffer(c, 4 * (c0 + 3 * ldc + 2 * L), ByteOrder.nativeOrder());
        c33.intoByteBuffer(c, 4 * (c0 + 3 * ldc + 3 * L), ByteOrder.nativeOrder());
        c40.intoByteBuffer(c, 4 * (c0 + 4 * ldc + 0 * L), ByteOrder.nativeOrder());
        c41.intoByteBuffer(c, 4 * (c0 + 4 * ldc + 1 * L), ByteOrder.nativeOrder());
        c42.intoByteBuffer(c, 4 * (c0 + 4 * ldc + 2 * L), ByteOrder.nativeOrder());
        c43.intoByteBuffer(c, 4 * (c0 + 4 * ldc + 3 * L), ByteOrder.nativeOrder());
        c50.intoByteBuffer(c, 4 * (c0 + 5 * ldc + 0 * L), ByteOrder.nativeOrder());
        c51.intoByteBuffer(c, 4 * (c0 + 5 * ldc + 1 * L), ByteOrder.nativeOrder());
        c52.intoByteBuffer(c, 4 * (c0 + 5 * ldc + 2 * L), ByteOrder.nativeOrder());
        c53.intoByteBuffer(c, 4 * (c0 + 5 * ldc + 3 * L), ByteOrder.nativeOrder());
    }

    /** One thread's working memory, grown as products need. */
    private static final class Scratch {
        /** op(b)'s block: b's rows as they are, or packed panels. */
        float[] panels = new float[0];
        /** A line of b or of a. */
        float[] line = new float[0];
        /** The bias, and a panel's width past it (the last panel's vectors read there). */
        float[] starts = new float[0];
        /** A tile's sums on their way into c where {@link Segments#ON}. */
        final float[] out = new float[MR * NR];
        /** A tile of sums on their way onto c. */
        final ByteBuffer sums = ByteBuffer.allocateDirect(4 * MR * NR).order(ByteOrder.nativeOrder());
        /**
         * The last rows of a (fewer than six): native like the operands, so the tile's reads of a
         * stay one kind of buffer for the JIT.
         */
        final FloatBuffer part = ByteBuffer.allocateDirect(4 * MR * KC).order(ByteOrder.nativeOrder()).asFloatBuffer();

        /** This scratch, with at least these many floats of panels and line, and a bias of n. */
        Scratch fit(int panelFloats, int lineFloats, int n) {
            if (panels.length < panelFloats) {
                panels = new float[panelFloats];
            }
            if (line.length < lineFloats) {
                line = new float[lineFloats];
            }
            if (starts.length < n + NR) {
                starts = new float[n + NR];
            }
            return this;
        }
    }
}
