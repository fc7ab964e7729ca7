package org.kat4j.cuda;

import jcuda.driver.CUevent;
import jcuda.driver.JCudaDriver;

import java.util.Locale;
import java.util.Random;

/**
 * Rational kernel throughput on the GPU beside a device-to-device copy of the same bytes, timed
 * with CUDA events in the same run. Bytes moved: forward 2 tensors (read x, write y), backward 3
 * (read x and g, write dx); the copy moves 2 (read, write). Prints a markdown table.
 * Usage: {@code java -cp ... org.kat4j.cuda.GpuBench [iterations]}
 */
public final class GpuBench {
    private GpuBench() {
    }

    public static void main(String[] args) {
        // launch overhead printed first: GPU clocks ramp during it
        int iters = args.length > 0 ? Integer.parseInt(args[0]) : 50;
        CudaRuntime rt = CudaRuntime.get().orElse(null);
        if (rt == null) {
            System.out.println("GpuBench: " + CudaRuntime.status());
            System.exit(2);
        }
        System.out.println("device: " + CudaRuntime.status());
        launchOverhead(rt, iters);
        System.out.println("| shape | storage | copy GB/s | forward GB/s | fwd/copy | backward GB/s | bwd/copy |");
        System.out.println("|---|---|---|---|---|---|---|");
        long[][] shapes = {{32, 197, 768}, {128, 197, 3072}};
        for (long[] shape : shapes) {
            for (Storage s : new Storage[]{Storage.F32, Storage.BF16}) {
                run(rt, shape, s, iters);
            }
        }
    }

    private static void run(CudaRuntime rt, long[] shape, Storage s, int iters) {
        long n = shape[0] * shape[1] * shape[2];
        int d = (int) shape[2];
        int groups = 8;
        long bytes = n * s.bytes;
        Random r = new Random(1);
        float[] num = {3.05e-7f, 0.5f, 0.25f, 0.0533f, 0.0058f, 0.000275f};
        float[] den = new float[4 * groups];
        for (int i = 0; i < den.length; i++) {
            den[i] = (float) (r.nextGaussian() * 0.1);
        }
        try (CudaRational k = new CudaRational(rt);
             CudaRational.Coefficients c = k.upload(groups, num, den);
             DeviceBuffer x = DeviceBuffer.allocate(rt, bytes);
             DeviceBuffer y = DeviceBuffer.allocate(rt, bytes);
             DeviceBuffer g = DeviceBuffer.allocate(rt, bytes);
             DeviceBuffer gx = DeviceBuffer.allocate(rt, bytes)) {
            // inputs: a device-side fill is enough for timing (values of order 1)
            x.fill32(s == Storage.F32 ? Float.floatToIntBits(0.75f) : 0x3F403F40);
            g.fill32(s == Storage.F32 ? Float.floatToIntBits(-0.5f) : 0xBF00BF00);
            double copyMs = time(rt, iters, () -> y.copyFrom(x, bytes));
            double fwdMs = time(rt, iters, () -> k.forward(x, y, n, d, c, s));
            double bwdMs = time(rt, iters, () -> k.backwardAsync(x, g, gx, n, d, c, s));

            double copyGbs = 2.0 * bytes / (copyMs * 1e6);
            double fwdGbs = 2.0 * bytes / (fwdMs * 1e6);
            double bwdGbs = 3.0 * bytes / (bwdMs * 1e6);
            System.out.printf(Locale.ROOT, "| %dx%dx%d | %s | %.0f | %.0f | %.2f | %.0f | %.2f |%n", shape[0], shape[1],
                    shape[2], s, copyGbs, fwdGbs, fwdGbs / copyGbs, bwdGbs, bwdGbs / copyGbs);
        }
    }

    /** Time per call of a forward on 64 elements: the host-side cost of one launch through JCuda. */
    private static void launchOverhead(CudaRuntime rt, int iters) {
        try (CudaRational k = new CudaRational(rt);
             CudaRational.Coefficients c = k.upload(1, new float[6], new float[4]);
             DeviceBuffer x = DeviceBuffer.allocate(rt, 256);
             DeviceBuffer y = DeviceBuffer.allocate(rt, 256)) {
            double ms = time(rt, iters, () -> k.forward(x, y, 64, 8, c, Storage.F32));
            System.out.printf(Locale.ROOT, "launch overhead (forward on 64 elements): %.1f us per call%n%n", ms * 1000);
        }
    }

    /** Mean milliseconds per call over {@code iters} calls after a warm-up, by CUDA events. */
    static double time(CudaRuntime rt, int iters, Runnable body) {
        for (int i = 0; i < 5; i++) {
            body.run();
        }
        rt.synchronize();
        CUevent start = new CUevent();
        CUevent stop = new CUevent();
        JCudaDriver.cuEventCreate(start, 0);
        JCudaDriver.cuEventCreate(stop, 0);
        JCudaDriver.cuEventRecord(start, null);
        for (int i = 0; i < iters; i++) {
            body.run();
        }
        JCudaDriver.cuEventRecord(stop, null);
        JCudaDriver.cuEventSynchronize(stop);
        float[] ms = new float[1];
        JCudaDriver.cuEventElapsedTime(ms, start, stop);
        JCudaDriver.cuEventDestroy(start);
        JCudaDriver.cuEventDestroy(stop);
        return ms[0] / iters;
    }
}
