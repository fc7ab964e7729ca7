package org.kat4j.cuda;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The host-side arithmetic of {@link CudaBackend}'s launches, pure Java so that it is tested
 * without a GPU: strided views collapsed to the fewest dimensions (the {@code binary} kernels' index
 * math), reductions split into (outer, r, inner) steps, and row-major products mapped onto cuBLAS's
 * column-major GEMM.
 */
final class Plans {
    /** Dimensions the strided kernels take ({@code MAXD} in kernels.cu). */
    static final int MAXD = 8;

    private Plans() {
    }

    /** C-order strides (in elements) of a dense array of {@code shape}. */
    static long[] contiguous(long[] shape) {
        long[] s = new long[shape.length];
        long step = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            s[i] = step;
            step *= shape[i];
        }
        return s;
    }

    /** Strides that read {@code from} (dense, right-aligned) broadcast to {@code to}: 0 where it has size 1. */
    static long[] broadcastStrides(long[] from, long[] to) {
        long[] dense = contiguous(from);
        long[] s = new long[to.length];
        int lead = to.length - from.length;
        for (int i = 0; i < to.length; i++) {
            int j = i - lead;
            s[i] = j < 0 || from[j] == 1 ? 0 : dense[j];
        }
        return s;
    }

    /**
     * An iteration over {@code shape} in C order and, per operand, the element offset of each
     * index: offset = sum(index[k] * strides[operand][k]). {@code dense}: every operand's offset is
     * the running index (the kernel's fast path).
     */
    record Strided(long[] shape, long[][] strides, boolean dense) {
        long numel() {
            long n = 1;
            for (long v : shape) {
                n *= v;
            }
            return n;
        }

        int rank() {
            return shape.length;
        }

        /** The offset of running index {@code i} in operand {@code op} (what the kernel computes). */
        long offset(int op, long i) {
            if (dense) {
                return i;
            }
            long off = 0;
            long rest = i;
            for (int k = shape.length - 1; k >= 0; k--) {
                long idx = rest % shape[k];
                rest /= shape[k];
                off += idx * strides[op][k];
            }
            return off;
        }
    }

    /**
     * {@code shape} with size-1 dimensions dropped and neighbours merged where every operand steps
     * through them as one dimension; at most {@link #MAXD} dimensions remain.
     */
    static Strided collapse(long[] shape, long[]... strides) {
        List<long[]> dims = new ArrayList<>(); // {size, stride of operand 0, 1, ...}
        for (int k = 0; k < shape.length; k++) {
            if (shape[k] == 1) {
                continue;
            }
            long[] d = new long[1 + strides.length];
            d[0] = shape[k];
            for (int o = 0; o < strides.length; o++) {
                d[1 + o] = strides[o][k];
            }
            if (!dims.isEmpty()) {
                long[] prev = dims.get(dims.size() - 1);
                boolean merge = true;
                for (int o = 0; o < strides.length; o++) {
                    merge &= prev[1 + o] == d[1 + o] * d[0];
                }
                if (merge) {
                    prev[0] *= d[0];
                    for (int o = 0; o < strides.length; o++) {
                        prev[1 + o] = d[1 + o];
                    }
                    continue;
                }
            }
            dims.add(d);
        }
        if (dims.isEmpty()) {
            long[] one = new long[1 + strides.length];
            one[0] = 1;
            dims.add(one);
        }
        if (dims.size() > MAXD) {
            throw new IllegalArgumentException("CUDA backend: a strided view of " + Arrays.toString(shape) + " needs "
                    + dims.size() + " dimensions, at most " + MAXD + " supported");
        }
        long[] s = new long[dims.size()];
        long[][] st = new long[strides.length][dims.size()];
        boolean dense = dims.size() == 1;
        for (int k = 0; k < dims.size(); k++) {
            s[k] = dims.get(k)[0];
            for (int o = 0; o < strides.length; o++) {
                st[o][k] = dims.get(k)[1 + o];
                dense &= st[o][k] == 1 || s[k] == 1;
            }
        }
        return new Strided(s, st, dense);
    }

    /**
     * One reduction launch over x viewed as [outer, r, inner]: y [outer, inner] (r reduced), done
     * in {@code parts} slices of r whose partial results a second launch combines (when parts &gt; 1).
     */
    record ReduceStep(long outer, long r, long inner, long parts) {
    }

    /**
     * The steps that reduce {@code axes} of {@code shape}: one per maximal run of reduced
     * dimensions (size-1 dimensions ignored), innermost first, each on the previous step's output.
     * None when every reduced dimension has size 1 (the result is the input's values).
     */
    static List<ReduceStep> reduce(long[] shape, int[] axes, int multiprocessors) {
        boolean[] red = new boolean[shape.length];
        for (int a : axes) {
            red[a] = true;
        }
        List<long[]> runs = new ArrayList<>(); // {size, reduced ? 1 : 0}
        for (int k = 0; k < shape.length; k++) {
            if (shape[k] == 1) {
                continue;
            }
            long flag = red[k] ? 1 : 0;
            if (!runs.isEmpty() && runs.get(runs.size() - 1)[1] == flag) {
                runs.get(runs.size() - 1)[0] *= shape[k];
            } else {
                runs.add(new long[]{shape[k], flag});
            }
        }
        List<ReduceStep> steps = new ArrayList<>();
        for (int j = runs.size() - 1; j >= 0; j--) {
            if (runs.get(j)[1] == 0) {
                continue;
            }
            long outer = 1;
            for (int k = 0; k < j; k++) {
                outer *= runs.get(k)[0];
            }
            long inner = 1;
            for (int k = j + 1; k < runs.size(); k++) {
                inner *= runs.get(k)[0]; // the reduced runs after j are gone by now: their size is 1
            }
            long r = runs.get(j)[0];
            steps.add(new ReduceStep(outer, r, inner, parts(outer, r, inner, multiprocessors)));
            runs.get(j)[0] = 1;
        }
        return steps;
    }

    /**
     * Slices of r per output so the launch fills the device: row reductions (inner 1) aim at 4
     * blocks per multiprocessor with at least 2048 elements per block, column reductions at 2048
     * threads per multiprocessor with at least 64 elements per thread.
     */
    static long parts(long outer, long r, long inner, int multiprocessors) {
        if (inner == 1) {
            long want = 4L * multiprocessors;
            return clamp((want + outer - 1) / outer, (r + 2047) / 2048);
        }
        long want = 2048L * multiprocessors;
        long cols = outer * inner;
        return clamp((want + cols - 1) / cols, (r + 63) / 64);
    }

    private static long clamp(long wanted, long most) {
        return Math.max(1, Math.min(wanted, most));
    }

    /**
     * A row-major product C[m, n] = op(A)[m, k] op(B)[k, n] as cuBLAS's column-major call
     * C^T = op(B)^T op(A)^T: {@code gemm(opFirst, opSecond, n, m, k, alpha, B, ldFirst, A, ldSecond,
     * beta, C, ldc)} with batch strides in elements (0 for an operand shared by the batch).
     */
    record Gemm(boolean transFirst, boolean transSecond, int m, int n, int k, int ldFirst, int ldSecond, int ldc,
                long strideFirst, long strideSecond, long strideC, int batch) {
    }

    /** The cuBLAS call for {@code op(a) @ op(b)}; batchA and batchB are 1 or equal. */
    static Gemm gemm(long m, long n, long k, boolean transA, boolean transB, long batchA, long batchB) {
        if (batchA != batchB && batchA != 1 && batchB != 1) {
            throw new IllegalArgumentException("matmul: batches of " + batchA + " and " + batchB + " products");
        }
        long batch = Math.max(batchA, batchB);
        return new Gemm(transB, transA, toInt(m), toInt(n), toInt(k), toInt(transB ? k : n), toInt(transA ? m : k),
                toInt(n), batchB == 1 ? 0 : k * n, batchA == 1 ? 0 : m * k, m * n, toInt(batch));
    }

    private static int toInt(long v) {
        if (v > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("matmul: dimension " + v + " exceeds cuBLAS's 32-bit sizes");
        }
        return (int) v;
    }

    /**
     * For indexAdd: the k with index[k] = j for each j, in increasing k, as a compressed list: ks
     * [starts[j], starts[j + 1]) (starts has dimLen + 1 entries, then ks follows in the same array).
     */
    static long[] inverseIndex(long[] index, long dimLen) {
        int len = Math.toIntExact(dimLen);
        long[] out = new long[len + 1 + index.length];
        for (long j : index) {
            if (j < 0 || j >= dimLen) {
                throw new IllegalArgumentException("index " + j + " out of range [0, " + dimLen + ")");
            }
            out[(int) j + 1]++;
        }
        for (int j = 0; j < len; j++) {
            out[j + 1] += out[j];
        }
        long[] fill = Arrays.copyOf(out, len);
        for (int k = 0; k < index.length; k++) {
            out[len + 1 + (int) fill[(int) index[k]]++] = k;
        }
        return out;
    }
}
