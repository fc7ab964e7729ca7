package org.kat4j.cuda;

import org.kat4j.rational.RationalKernel;

import java.nio.FloatBuffer;

/**
 * kat-core's {@link RationalKernel} on the GPU for host-memory tensors: copies in, runs the CUDA
 * kernels, copies out. Device buffers are kept and grown as needed. For data that already lives
 * on the GPU use {@link CudaRational} directly (no copies).
 */
public final class CudaRationalKernel implements RationalKernel {
    private final CudaRuntime rt;
    private final CudaRational kernels;
    private DeviceBuffer a;
    private DeviceBuffer b;
    private DeviceBuffer c;

    CudaRationalKernel(CudaRuntime rt) {
        this.rt = rt;
        this.kernels = new CudaRational(rt);
    }

    @Override
    public String name() {
        return "cuda (" + rt.deviceName() + ")";
    }

    @Override
    public synchronized void forward(FloatBuffer x, FloatBuffer y, int n, int d, int groups, float[] num, float[] den) {
        RationalKernel.checkArgs(n, d, groups, num, den);
        if (n == 0) {
            return;
        }
        long bytes = (long) n * Float.BYTES;
        a = DeviceBuffer.atLeast(rt, a, bytes);
        b = DeviceBuffer.atLeast(rt, b, bytes);
        a.copyFrom(x, n);
        try (CudaRational.Coefficients c = kernels.upload(groups, num, den)) {
            kernels.forward(a, b, n, d, c, Storage.F32);
            b.copyTo(y, n);
        }
    }

    @Override
    public synchronized void backward(FloatBuffer x, FloatBuffer g, FloatBuffer gx, int n, int d, int groups, float[] num,
                                      float[] den, double[] gradNum, double[] gradDen) {
        RationalKernel.checkArgs(n, d, groups, num, den);
        if (n == 0) {
            return;
        }
        long bytes = (long) n * Float.BYTES;
        a = DeviceBuffer.atLeast(rt, a, bytes);
        b = DeviceBuffer.atLeast(rt, b, bytes);
        c = DeviceBuffer.atLeast(rt, c, bytes);
        a.copyFrom(x, n);
        b.copyFrom(g, n);
        try (CudaRational.Coefficients coef = kernels.upload(groups, num, den)) {
            kernels.backward(a, b, gx == null ? null : c, n, d, coef, Storage.F32, gradNum, gradDen);
        }
        if (gx != null) {
            c.copyTo(gx, n);
        }
    }
}
