package org.kat4j.cuda;

import org.kat4j.rational.RationalShapes;

/**
 * Launch geometry for the rational kernels (pure arithmetic, unit tested without a GPU).
 *
 * @param blocks      grid size
 * @param threads     block size (always {@link #THREADS}: the backward reduction is sized for it)
 * @param vec         elements per thread per step (16-byte loads), or 1 for the scalar kernels
 * @param active      threads with work, a multiple of the channel vectors per row
 */
public record Launch(int blocks, int threads, int vec, long active) {
    public static final int THREADS = 256;
    /** Blocks per set of the backward's in-kernel reduction (SET_BLOCKS in rational.cu). */
    public static final int SET_BLOCKS = 16;
    /*
     * Both kernels size their grid to one resident wave: blocksPerSm is what the occupancy API
     * reports for the kernel (registers). Measured on an H200 at 32x197x768 F32 (GpuBench, device
     * time): one wave 20.4 us backward / 7.0 us forward, two waves 28.1 / 8.1, four 34.9 / 10.0.
     */

    /** Vector width usable for this storage and group size: all elements of a vector in one group. */
    static int vectorFor(Storage s, int d, int groups, boolean aligned) {
        int v = s.vectorWidth();
        int cpg = d / groups;
        return aligned && cpg % v == 0 ? v : 1;
    }

    /**
     * Forward geometry: the same as the backward's (one resident wave, each thread a fixed channel
     * vector walking rows), so no thread does index arithmetic per element.
     */
    public static Launch forward(long n, int d, int groups, Storage s, int multiprocessors, int blocksPerSm,
                                 boolean aligned) {
        return rows(n, d, groups, s, multiprocessors, blocksPerSm, aligned, "forward");
    }

    public static Launch backward(long n, int d, int groups, Storage s, int multiprocessors, int blocksPerSm,
                                  boolean aligned) {
        return rows(n, d, groups, s, multiprocessors, blocksPerSm, aligned, "backward");
    }

    private static Launch rows(long n, int d, int groups, Storage s, int multiprocessors, int blocksPerSm,
                               boolean aligned, String what) {
        check(n, d, groups);
        int vec = vectorFor(s, d, groups, aligned);
        long cv = d / vec;
        long rows = n / d;
        long target = (long) multiprocessors * Math.max(1, blocksPerSm) * THREADS;
        long rowsAtOnce = Math.max(1, Math.min(rows, target / cv));
        long active = cv * rowsAtOnce;
        long blocks = (active + THREADS - 1) / THREADS;
        if (blocks > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("rational " + what + ": " + d + " channels need too many blocks");
        }
        return new Launch((int) blocks, THREADS, vec, active);
    }

    /** Sets of {@link #SET_BLOCKS} blocks in the backward's two-level reduction. */
    public int sets() {
        return (blocks + SET_BLOCKS - 1) / SET_BLOCKS;
    }

    /** Doubles in the backward's reduction buffer: a row per block, a row per set, a row of totals. */
    public long partialLength(int groups) {
        return ((long) blocks + sets() + 1) * groups * 10;
    }

    private static void check(long n, int d, int groups) {
        RationalShapes.checkLayout(n, d, groups, "");
    }
}
