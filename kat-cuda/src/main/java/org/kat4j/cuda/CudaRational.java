package org.kat4j.cuda;

import org.kat4j.rational.RationalShapes;

import jcuda.driver.CUfunction;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

import java.util.ArrayList;
import java.util.List;

/**
 * The group-rational kernels on device buffers (docs/design.md, section 1): x, y, gradients as
 * channels-last [rows, d] in {@link Storage} F32, BF16 or F16, math in float32. Coefficients are
 * uploaded once per step ({@link #upload}); forward and {@link #backwardAsync} only enqueue work,
 * so a GPU pipeline pays no host round trip per op. Work goes to one CUDA stream (the legacy
 * default stream unless one is given), in order. Instances hold scratch buffers: one per thread.
 */
public final class CudaRational implements AutoCloseable {
    private final CudaRuntime rt;
    private final CUstream stream;
    private DeviceBuffer partial;
    private DeviceBuffer counters;
    private DeviceBuffer gradOut;
    /** Scratch outgrown while a CUDA graph recorded this engine's kernels: the graph still uses it. */
    private final List<DeviceBuffer> outgrown = new ArrayList<>();
    private boolean recorded;
    private int gradGroups;
    private final KernelArgs fwdArgs;
    private final KernelArgs bwdArgs;

    /** Kernels on the legacy default stream (ordered with everything else on it). */
    public CudaRational(CudaRuntime rt) {
        this(rt, null);
    }

    /**
     * Kernels on {@code stream} (null: the legacy default stream). On a stream of its own, work can
     * be captured into a CUDA graph; {@link #readGradients} waits for that stream.
     */
    public CudaRational(CudaRuntime rt, CUstream stream) {
        this.rt = rt;
        this.stream = stream;
        rt.makeCurrent();
        fwdArgs = new KernelArgs(8);
        bwdArgs = new KernelArgs(12);
    }

    /**
     * Marks this engine as the one a CUDA graph records: a scratch buffer that a later kernel
     * outgrows is kept (the graph's earlier kernels use its address) until {@link #close}, not freed.
     */
    void recordedByGraph() {
        recorded = true;
    }

    /** buf, or a buffer of at least {@code bytes} replacing it. */
    private DeviceBuffer grow(DeviceBuffer buf, long bytes) {
        if (recorded && buf != null && buf.bytes() < bytes) {
            outgrown.add(buf);
            buf = null;
        }
        return DeviceBuffer.atLeast(rt, buf, bytes);
    }

    /** Coefficients on the device: a0..a5 then b of each group (float32). */
    public static final class Coefficients implements AutoCloseable {
        final DeviceBuffer buf;
        final int groups;

        private Coefficients(DeviceBuffer buf, int groups) {
            this.buf = buf;
            this.groups = groups;
        }

        /** Coefficients already on the device at {@code buf} (not owned: close does nothing to it). */
        static Coefficients view(DeviceBuffer buf, int groups) {
            return new Coefficients(buf, groups);
        }

        public int groups() {
            return groups;
        }

        @Override
        public void close() {
            buf.close();
        }
    }

    /** Uploads numerator [6] and denominator [groups*4]. */
    public Coefficients upload(int groups, float[] num, float[] den) {
        RationalShapes.checkCoefficients(groups, num.length, den.length);
        float[] all = new float[6 + 4 * groups];
        System.arraycopy(num, 0, all, 0, 6);
        System.arraycopy(den, 0, all, 6, den.length);
        return new Coefficients(DeviceBuffer.of(rt, all), groups);
    }

    private static void checkBuffer(String what, DeviceBuffer b, long n, Storage s) {
        if (b.bytes() < n * s.bytes) {
            throw new IllegalArgumentException("rational " + what + ": buffer of " + b.bytes() + " bytes, need " + n * s.bytes
                    + " for " + n + " " + s + " elements");
        }
    }

    /** Enqueues y = F(x). */
    public void forward(DeviceBuffer x, DeviceBuffer y, long n, int d, Coefficients c, Storage s) {
        int vec = Launch.vectorFor(s, d, c.groups, true);
        String fn = "rational_fwd_" + s.suffix + "_v" + vec;
        Launch l = Launch.forward(n, d, c.groups, s, rt.multiprocessors,
                rt.residentBlocks(fn, Launch.THREADS, 0), true);
        checkBuffer("forward x", x, n, s);
        checkBuffer("forward y", y, n, s);
        if (n == 0) {
            return;
        }
        rt.makeCurrent();
        CUfunction f = rt.function(fn);
        fwdArgs.ptr(0, x).ptr(1, y).i64(2, n).i32(3, d).i32(4, d / c.groups).i32(5, c.groups).ptr(6, c.buf).i64(7, l.active());
        JCudaDriver.cuLaunchKernel(f, l.blocks(), 1, 1, l.threads(), 1, 1, 0, stream, fwdArgs.params, null);
    }

    /**
     * Enqueues gx = g F'(x) (gx may be null) and the coefficient-gradient reduction, one kernel;
     * the result stays on the device until {@link #readGradients}.
     */
    public void backwardAsync(DeviceBuffer x, DeviceBuffer g, DeviceBuffer gx, long n, int d, Coefficients c, Storage s) {
        int groups = c.groups;
        int vec = Launch.vectorFor(s, d, groups, true);
        String fn = "rational_bwd_" + s.suffix + "_v" + vec;
        Launch l = Launch.backward(n, d, groups, s, rt.multiprocessors,
                rt.residentBlocks(fn, Launch.THREADS, 0), true);
        checkBuffer("backward x", x, n, s);
        checkBuffer("backward g", g, n, s);
        if (gx != null) {
            checkBuffer("backward gx", gx, n, s);
        }
        rt.makeCurrent();
        partial = grow(partial, Math.max(1, l.partialLength(groups)) * Double.BYTES);
        // the kernel's tickets: zero once when allocated, and each launch leaves them at zero
        DeviceBuffer c0 = counters;
        counters = grow(counters, (l.sets() + 1L) * Integer.BYTES);
        if (counters != c0) {
            JCudaDriver.cuMemsetD32Async(counters.pointer(), 0, l.sets() + 1L, stream);
        }
        int outs = 6 + 4 * groups;
        gradOut = grow(gradOut, (long) outs * Double.BYTES);
        gradGroups = groups;
        if (n == 0) {
            JCudaDriver.cuMemsetD32Async(gradOut.pointer(), 0, outs * 2L, stream);
            return;
        }
        CUfunction f = rt.function(fn);
        bwdArgs.ptr(0, x).ptr(1, g).ptr(2, gx).i64(3, n).i32(4, d).i32(5, d / groups).i32(6, groups).ptr(7, c.buf)
                .i64(8, l.active()).ptr(9, partial).ptr(10, counters).ptr(11, gradOut);
        JCudaDriver.cuLaunchKernel(f, l.blocks(), 1, 1, l.threads(), 1, 1, 0, stream, bwdArgs.params, null);
    }

    /**
     * The last backward's coefficient gradients on the device: dL/da [6] then dL/db [groups * 4],
     * float64, valid in stream order until the next backward.
     */
    DeviceBuffer gradientsOnDevice() {
        if (gradOut == null) {
            throw new IllegalStateException("gradientsOnDevice before any backwardAsync");
        }
        return gradOut;
    }

    /** Waits for the last backward and adds its dL/da into gradNum [6], dL/db into gradDen [groups*4]. */
    public void readGradients(double[] gradNum, double[] gradDen) {
        if (gradOut == null) {
            throw new IllegalStateException("readGradients before any backwardAsync");
        }
        if (gradNum.length != 6 || gradDen.length != 4 * gradGroups) {
            throw new IllegalArgumentException("readGradients: arrays of " + gradNum.length + " and " + gradDen.length
                    + ", expected 6 and " + 4 * gradGroups);
        }
        double[] out = new double[6 + 4 * gradGroups];
        if (stream != null) {
            JCudaDriver.cuStreamSynchronize(stream);
        }
        gradOut.copyTo(out);
        for (int i = 0; i < 6; i++) {
            gradNum[i] += out[i];
        }
        for (int i = 0; i < gradDen.length; i++) {
            gradDen[i] += out[6 + i];
        }
    }

    /** Backward, then the gradients copied back (synchronous). */
    public void backward(DeviceBuffer x, DeviceBuffer g, DeviceBuffer gx, long n, int d, Coefficients c, Storage s,
                         double[] gradNum, double[] gradDen) {
        backwardAsync(x, g, gx, n, d, c, s);
        readGradients(gradNum, gradDen);
    }

    @Override
    public void close() {
        fwdArgs.close();
        bwdArgs.close();
        if (partial != null) {
            partial.close();
        }
        if (counters != null) {
            counters.close();
        }
        if (gradOut != null) {
            gradOut.close();
        }
        partial = counters = gradOut = null;
        for (DeviceBuffer b : outgrown) {
            b.close();
        }
        outgrown.clear();
    }
}
