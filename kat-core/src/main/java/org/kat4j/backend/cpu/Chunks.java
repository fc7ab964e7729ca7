package org.kat4j.backend.cpu;

/**
 * The one chunk runner of the CPU kernels: work over rows of width d cut into fixed chunks of
 * whole rows (about {@code chunkElements} elements, at least one row; d = 1 for flat element-wise
 * work), run on all cores by {@link Parallel}. Chunk boundaries never depend on threads, so
 * per-chunk partial sums combined in chunk order give the same bits on every run.
 */
public final class Chunks {
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[0][0]);

    private Chunks() {
    }

    /** One chunk: its index, first row and row count. */
    @FunctionalInterface
    public interface Body {
        void run(int chunk, int firstRow, int rows);
    }

    /** Rows per chunk for rows of width d. */
    public static int rowsPerChunk(int d, int chunkElements) {
        return Math.max(1, chunkElements / Math.max(1, d));
    }

    /** The number of chunks over {@code n} elements in rows of width d. */
    public static int count(int n, int d, int chunkElements) {
        int per = rowsPerChunk(d, chunkElements);
        return (n / Math.max(1, d) + per - 1) / per;
    }

    /** Runs {@code body} on every chunk, in parallel. */
    public static void forEach(int n, int d, int chunkElements, Body body) {
        forEach(n, d, chunkElements, 2, body);
    }

    /** As {@link #forEach(int, int, int, Body)}, on the calling thread alone when there are fewer than {@code minParallel} chunks. */
    public static void forEach(int n, int d, int chunkElements, int minParallel, Body body) {
        int rowsTotal = n / Math.max(1, d);
        int per = rowsPerChunk(d, chunkElements);
        int count = count(n, d, chunkElements);
        if (count < minParallel) {
            for (int c = 0; c < count; c++) {
                int r0 = c * per;
                body.run(c, r0, Math.min(rowsTotal, r0 + per) - r0);
            }
            return;
        }
        Parallel.forEach(count, c -> {
            int r0 = c * per;
            body.run(c, r0, Math.min(rowsTotal, r0 + per) - r0);
        });
    }

    /**
     * This thread's scratch: at least {@code arrays} float arrays of at least {@code length} each,
     * shared by all kernels (a chunk body runs to its end before its thread takes other work).
     */
    public static float[][] scratch(int arrays, int length) {
        float[][] s = SCRATCH.get();
        if (s.length < arrays || s[0].length < length) {
            int len = Math.max(length, s.length == 0 ? 0 : s[0].length);
            s = new float[Math.max(arrays, s.length)][len];
            SCRATCH.set(s);
        }
        return s;
    }
}
