package org.kat4j.bench.gpu;

import jcuda.driver.CUevent;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUstream;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.CUstream_flags;
import jcuda.driver.JCudaDriver;

import org.kat4j.cuda.CudaRational;
import org.kat4j.cuda.CudaRuntime;
import org.kat4j.cuda.DeviceBuffer;
import org.kat4j.cuda.Storage;

import java.util.Locale;
import java.util.Random;

/**
 * Rational kernel throughput on the GPU beside a device-to-device copy of the same bytes, all
 * timed with CUDA events in the same run. Bytes moved: forward 2 tensors (read x, write y),
 * backward 3 (read x and g, write dx); the copy moves 2 (read, write).
 *
 * <p>Two timings of each: <b>device</b>, the calls captured into a CUDA graph and replayed, which
 * is the kernels' own time on the GPU (what a pipeline that queues work ahead of the GPU sees);
 * and <b>host loop</b>, one Java call after another on a stream, which adds the host's cost per
 * launch through JCuda whenever a kernel is shorter than that. Prints a markdown table.
 * Usage: {@code java -cp ... org.kat4j.bench.gpu.GpuBench [calls per graph]}
 */
public final class GpuBench {
    private static final int REPLAYS = 10;

    private GpuBench() {
    }

    private record Row(String shape, Storage s, double copyUs, double fwdUs, double bwdUs, double loopCopyUs,
                       double loopFwdUs, double loopBwdUs, long bytes) {
    }

    public static void main(String[] args) {
        int iters = args.length > 0 ? Integer.parseInt(args[0]) : 100;
        CudaRuntime rt = CudaRuntime.get().orElse(null);
        if (rt == null) {
            System.out.println("GpuBench: " + CudaRuntime.status());
            System.exit(2);
        }
        rt.makeCurrent();
        System.out.println("device: " + CudaRuntime.status());
        CUstream stream = new CUstream();
        JCudaDriver.cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING);
        // launch overhead first: GPU clocks ramp during it
        launchOverhead(rt, stream, iters);
        long[][] shapes = {{32, 197, 768}, {128, 197, 3072}};
        StringBuilder main = new StringBuilder();
        main.append("| shape | storage | copy GB/s | forward GB/s | fwd/copy | backward GB/s | bwd/copy |"
                + " host loop fwd/copy | host loop bwd/copy |\n|---|---|---|---|---|---|---|---|---|\n");
        for (long[] shape : shapes) {
            for (Storage s : new Storage[]{Storage.F32, Storage.BF16}) {
                Row r = run(rt, stream, shape, s, iters);
                double copy = 2.0 * r.bytes / (r.copyUs * 1e3);
                double fwd = 2.0 * r.bytes / (r.fwdUs * 1e3);
                double bwd = 3.0 * r.bytes / (r.bwdUs * 1e3);
                double loopCopy = 2.0 * r.bytes / (r.loopCopyUs * 1e3);
                double loopFwd = 2.0 * r.bytes / (r.loopFwdUs * 1e3);
                double loopBwd = 3.0 * r.bytes / (r.loopBwdUs * 1e3);
                main.append(String.format(Locale.ROOT, "| %s | %s | %.0f | %.0f | %.2f | %.0f | %.2f | %.2f | %.2f |%n",
                        r.shape, s, copy, fwd, fwd / copy, bwd, bwd / copy, loopFwd / loopCopy, loopBwd / loopCopy));
            }
        }
        System.out.println("Device time (CUDA graph of " + iters + " calls, replayed " + REPLAYS
                + "x); host loop: the same calls one after another from Java\n");
        System.out.println(main);
        JCudaDriver.cuStreamDestroy(stream);
    }

    private static Row run(CudaRuntime rt, CUstream stream, long[] shape, Storage s, int iters) {
        long n = shape[0] * shape[1] * shape[2];
        int d = (int) shape[2];
        int groups = 8;
        long bytes = n * s.bytes;
        String name = shape[0] + "x" + shape[1] + "x" + shape[2];
        Random r = new Random(1);
        float[] num = {3.05e-7f, 0.5f, 0.25f, 0.0533f, 0.0058f, 0.000275f};
        float[] den = new float[4 * groups];
        for (int i = 0; i < den.length; i++) {
            den[i] = (float) (r.nextGaussian() * 0.1);
        }
        try (CudaRational k = new CudaRational(rt, stream);
             CudaRational.Coefficients c = k.upload(groups, num, den);
             DeviceBuffer x = DeviceBuffer.allocate(rt, bytes);
             DeviceBuffer y = DeviceBuffer.allocate(rt, bytes);
             DeviceBuffer g = DeviceBuffer.allocate(rt, bytes);
             DeviceBuffer gx = DeviceBuffer.allocate(rt, bytes)) {
            // inputs: a device-side fill is enough for timing (values of order 1)
            x.fill32(s == Storage.F32 ? Float.floatToIntBits(0.75f) : 0x3F403F40);
            g.fill32(s == Storage.F32 ? Float.floatToIntBits(-0.5f) : 0xBF00BF00);
            rt.synchronize();
            Runnable copy = () -> y.copyFromAsync(x, bytes, stream);
            Runnable fwd = () -> k.forward(x, y, n, d, c, s);
            Runnable bwd = () -> k.backwardAsync(x, g, gx, n, d, c, s);
            double copyUs = graphUs(stream, iters, copy);
            double fwdUs = graphUs(stream, iters, fwd);
            double bwdUs = graphUs(stream, iters, bwd);
            double loopCopyUs = loopUs(stream, iters, copy);
            double loopFwdUs = loopUs(stream, iters, fwd);
            double loopBwdUs = loopUs(stream, iters, bwd);
            return new Row(name, s, copyUs, fwdUs, bwdUs, loopCopyUs, loopFwdUs, loopBwdUs, bytes);
        }
    }

    /** Host cost of one launch: a forward on 64 elements, called in a loop (host loop) and device-timed. */
    private static void launchOverhead(CudaRuntime rt, CUstream stream, int iters) {
        try (CudaRational k = new CudaRational(rt, stream);
             CudaRational.Coefficients c = k.upload(1, new float[6], new float[4]);
             DeviceBuffer x = DeviceBuffer.allocate(rt, 256);
             DeviceBuffer y = DeviceBuffer.allocate(rt, 256)) {
            Runnable fwd = () -> k.forward(x, y, 64, 8, c, Storage.F32);
            loopUs(stream, iters * 10, fwd); // warm-up: clocks, JIT
            double loop = loopUs(stream, iters * 10, fwd);
            double dev = graphUs(stream, iters, fwd);
            System.out.printf(Locale.ROOT, "launch cost (forward on 64 elements): host loop %.1f us per call, in a graph %.1f us%n%n",
                    loop, dev);
        }
    }

    /** Microseconds per call: {@code iters} calls one after another from Java on the stream. */
    private static double loopUs(CUstream stream, int iters, Runnable body) {
        for (int i = 0; i < 5; i++) {
            body.run();
        }
        JCudaDriver.cuStreamSynchronize(stream);
        return timed(stream, () -> {
            for (int i = 0; i < iters; i++) {
                body.run();
            }
        }) * 1000.0 / iters;
    }

    /** Microseconds per call: {@code iters} calls captured into one CUDA graph, replayed {@value #REPLAYS} times. */
    private static double graphUs(CUstream stream, int iters, Runnable body) {
        for (int i = 0; i < 3; i++) {
            body.run(); // allocates scratch buffers outside the capture
        }
        JCudaDriver.cuStreamSynchronize(stream);
        CUgraph graph = new CUgraph();
        CUgraphExec exec = new CUgraphExec();
        JCudaDriver.cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
        for (int i = 0; i < iters; i++) {
            body.run();
        }
        JCudaDriver.cuStreamEndCapture(stream, graph);
        JCudaDriver.cuGraphInstantiate(exec, graph, 0);
        try {
            JCudaDriver.cuGraphLaunch(exec, stream);
            JCudaDriver.cuStreamSynchronize(stream);
            return timed(stream, () -> {
                for (int i = 0; i < REPLAYS; i++) {
                    JCudaDriver.cuGraphLaunch(exec, stream);
                }
            }) * 1000.0 / (REPLAYS * (double) iters);
        } finally {
            JCudaDriver.cuGraphExecDestroy(exec);
            JCudaDriver.cuGraphDestroy(graph);
        }
    }

    /** Milliseconds between events recorded on the stream around {@code body}. */
    private static double timed(CUstream stream, Runnable body) {
        CUevent start = new CUevent();
        CUevent stop = new CUevent();
        JCudaDriver.cuEventCreate(start, 0);
        JCudaDriver.cuEventCreate(stop, 0);
        try {
            JCudaDriver.cuEventRecord(start, stream);
            body.run();
            JCudaDriver.cuEventRecord(stop, stream);
            JCudaDriver.cuEventSynchronize(stop);
            float[] ms = new float[1];
            JCudaDriver.cuEventElapsedTime(ms, start, stop);
            return ms[0];
        } finally {
            JCudaDriver.cuEventDestroy(start);
            JCudaDriver.cuEventDestroy(stop);
        }
    }
}
