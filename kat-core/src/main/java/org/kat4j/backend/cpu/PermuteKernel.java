package org.kat4j.backend.cpu;

import java.nio.FloatBuffer;

/**
 * Copies a dense float32 array into the dense layout of a permutation of its axes that keeps the
 * last axis last (attention's head splits and merges): the output is written in order, as runs of
 * the last axis copied whole from the input. One bulk read and one bulk write through scratch;
 * ND4J's strided assign did the same copies element by element.
 */
final class PermuteKernel {
    /** Largest array this kernel copies (on the calling thread); ND4J's parallel copy does larger ones. */
    static final long MAX_ELEMENTS = 1 << 21;

    private PermuteKernel() {
    }

    /** Whether the permutation keeps the last axis and the array is small enough. */
    static boolean suits(long numel, int[] dims) {
        return numel <= MAX_ELEMENTS && dims.length >= 2 && dims[dims.length - 1] == dims.length - 1;
    }

    /** out = x with its axes in the order {@code dims} (dims[last] = last), both dense row-major. */
    static void permute(FloatBuffer x, long[] shape, int[] dims, FloatBuffer out) {
        int r = shape.length;
        int n = 1;
        for (long s : shape) {
            n = Math.multiplyExact(n, (int) s);
        }
        int run = (int) shape[r - 1];
        long[] stride = new long[r];
        stride[r - 1] = 1;
        for (int i = r - 2; i >= 0; i--) {
            stride[i] = stride[i + 1] * shape[i + 1];
        }
        // the output's leading axes (all but the last), their sizes and the input strides they step by
        int lead = r - 1;
        int[] size = new int[lead];
        int[] step = new int[lead];
        for (int i = 0; i < lead; i++) {
            size[i] = (int) shape[dims[i]];
            step[i] = (int) stride[dims[i]];
        }
        float[][] s = Chunks.scratch(2, n);
        float[] src = s[0];
        float[] dst = s[1];
        x.get(0, src, 0, n);
        int[] idx = new int[lead];
        int from = 0;
        for (int o = 0; o < n; o += run) {
            System.arraycopy(src, from, dst, o, run);
            // next output position: odometer over the leading axes, from the innermost
            for (int a = lead - 1; a >= 0; a--) {
                from += step[a];
                if (++idx[a] < size[a]) {
                    break;
                }
                from -= step[a] * size[a];
                idx[a] = 0;
            }
        }
        out.put(0, dst, 0, n);
    }
}
