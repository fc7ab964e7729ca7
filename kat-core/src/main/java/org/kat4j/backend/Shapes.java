package org.kat4j.backend;

import java.util.Arrays;

/** Shape arithmetic shared by every backend and the autograd rules. */
public final class Shapes {
    private Shapes() {
    }

    /** The element count of a shape; negative dimensions are an error. */
    public static long numel(long[] shape) {
        long n = 1;
        for (long s : shape) {
            if (s < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            }
            try {
                n = Math.multiplyExact(n, s);
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " has more than 2^63 elements");
            }
        }
        return n;
    }

    /** Numpy broadcasting of two shapes, or an error naming the op and both shapes. */
    public static long[] broadcast(String op, long[] a, long[] b) {
        int r = Math.max(a.length, b.length);
        long[] out = new long[r];
        for (int i = 0; i < r; i++) {
            long da = i - (r - a.length) >= 0 ? a[i - (r - a.length)] : 1;
            long db = i - (r - b.length) >= 0 ? b[i - (r - b.length)] : 1;
            if (da != db && da != 1 && db != 1) {
                throw new IllegalArgumentException(op + ": shapes " + Arrays.toString(a) + " and " + Arrays.toString(b)
                        + " do not broadcast (dim " + i + ": " + da + " vs " + db + ")");
            }
            out[i] = Math.max(da, db);
        }
        return out;
    }

    /**
     * The axes of {@code from} that summing down to {@code to} reduces (undoing numpy broadcasting):
     * the leading ones {@code to} lacks, and those where {@code to} has size 1 and {@code from} not.
     */
    public static int[] sumToAxes(long[] from, long[] to) {
        int lead = from.length - to.length;
        int[] axes = new int[from.length];
        int n = 0;
        for (int i = 0; i < from.length; i++) {
            if (i < lead || (to[i - lead] == 1 && from[i] != 1)) {
                axes[n++] = i;
            }
        }
        return Arrays.copyOf(axes, n);
    }

    /** Axes normalised to [0, rank) (negative ones count from the end); none means all. */
    public static int[] axes(int rank, int[] axes) {
        if (axes.length == 0) {
            int[] all = new int[rank];
            for (int i = 0; i < rank; i++) {
                all[i] = i;
            }
            return all;
        }
        int[] out = new int[axes.length];
        for (int i = 0; i < axes.length; i++) {
            int a = axes[i] < 0 ? axes[i] + rank : axes[i];
            if (a < 0 || a >= rank) {
                throw new IllegalArgumentException("axis " + axes[i] + " out of range for rank " + rank);
            }
            out[i] = a;
        }
        return out;
    }

    /** {@code shape} with each of {@code axes} set to 1. */
    public static long[] keepDims(long[] shape, int[] axes) {
        long[] k = shape.clone();
        for (int a : axes) {
            k[a] = 1;
        }
        return k;
    }

    /** {@code shape} without {@code axes}. */
    public static long[] dropDims(long[] shape, int[] axes) {
        boolean[] drop = new boolean[shape.length];
        for (int a : axes) {
            drop[a] = true;
        }
        long[] out = new long[shape.length - (int) java.util.stream.IntStream.range(0, shape.length).filter(i -> drop[i]).count()];
        int k = 0;
        for (int i = 0; i < shape.length; i++) {
            if (!drop[i]) {
                out[k++] = shape[i];
            }
        }
        return out;
    }
}
