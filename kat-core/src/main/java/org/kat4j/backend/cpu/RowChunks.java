package org.kat4j.backend.cpu;

/**
 * Work over rows of width d in fixed chunks of whole rows (about {@link #CHUNK} elements, at
 * least one row), run in parallel: chunk boundaries never depend on threads, so per-chunk partial
 * sums combined in chunk order give the same bits on every run. Each worker thread gets scratch
 * arrays that grow as needed. Used by the fused softmax and LayerNorm kernels.
 */
final class RowChunks {
    static final int CHUNK = 1 << 14;
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[2][0]);

    private RowChunks() {
    }

    /** One chunk: its index, first row and row count, and two scratch arrays of at least rows * d floats. */
    @FunctionalInterface
    interface Body {
        void run(int chunk, int firstRow, int rows, float[][] scratch);
    }

    static int count(int n, int d) {
        int perChunk = Math.max(1, CHUNK / d);
        return (n / d + perChunk - 1) / perChunk;
    }

    static void forEach(int n, int d, Body body) {
        int rowsTotal = n / d;
        int perChunk = Math.max(1, CHUNK / d);
        Parallel.forEach(count(n, d), c -> {
            int r0 = c * perChunk;
            int rows = Math.min(rowsTotal, r0 + perChunk) - r0;
            float[][] s = SCRATCH.get();
            if (s[0].length < rows * d) {
                s[0] = new float[rows * d];
                s[1] = new float[rows * d];
            }
            body.run(c, r0, rows, s);
        });
    }
}
