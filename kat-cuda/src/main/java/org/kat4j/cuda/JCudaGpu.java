package org.kat4j.cuda;

import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUstream;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.JCudaDriver;
import org.kat4j.tensor.DType;

/**
 * {@link Gpu} on a real device: the JCuda driver API in the primary context of {@link CudaRuntime},
 * one blocking stream for kernels, cuBLAS and device copies, host copies synchronous on the legacy
 * default stream (which that stream is ordered with: a host copy waits for the work queued before
 * it, and a cached block is never overwritten under a kernel still reading it).
 */
final class JCudaGpu implements Gpu {
    private final CudaRuntime rt;
    private final CUstream stream;
    private final CudaBlas blas;
    private final ThreadLocal<CudaRational> rational;
    /** The capturing thread's own rational engine, set aside while a graph records with a fresh one. */
    private final ThreadLocal<CudaRational> setAside = new ThreadLocal<>();

    /** A recorded graph and the rational engine whose scratch buffers its kernels use. */
    private record Captured(CUgraphExec exec, CudaRational rational) {
    }

    JCudaGpu(CudaRuntime rt) {
        this.rt = rt;
        rt.makeCurrent();
        this.stream = new CUstream();
        JCudaDriver.cuStreamCreate(stream, 0); // blocking: ordered with the legacy default stream's host copies
        this.blas = new CudaBlas(KernelArgs.address(stream));
        this.rational = ThreadLocal.withInitial(() -> new CudaRational(rt, stream));
    }

    /** A JCuda device pointer at a raw address: JCuda passes base (0) plus byte offset to the driver. */
    private static CUdeviceptr at(long address) {
        return new CUdeviceptr().withByteOffset(address);
    }

    private static Pointer host(Object array) {
        if (array instanceof float[] f) {
            return Pointer.to(f);
        }
        if (array instanceof double[] d) {
            return Pointer.to(d);
        }
        return Pointer.to((long[]) array);
    }

    @Override
    public int multiprocessors() {
        return rt.multiprocessors();
    }

    @Override
    public String describe() {
        return rt.deviceName() + ", sm_" + rt.computeMajor + rt.computeMinor + ", " + rt.multiprocessors() + " SMs, "
                + Cublas.status().line() + ", kernels from " + rt.moduleKind();
    }

    @Override
    public void checkKernel(String name) {
        rt.kernel(name);
    }

    @Override
    public long alloc(long bytes) {
        rt.makeCurrent();
        CUdeviceptr p = new CUdeviceptr();
        JCudaDriver.cuMemAlloc(p, bytes);
        return KernelArgs.address(p);
    }

    @Override
    public void free(long address) {
        rt.makeCurrent();
        JCudaDriver.cuMemFree(at(address));
    }

    @Override
    public KernelArgs newArgs(int slots) {
        rt.makeCurrent();
        return new KernelArgs(slots);
    }

    @Override
    public void launch(String name, int grid, int threads, KernelArgs args) {
        rt.makeCurrent();
        JCudaDriver.cuLaunchKernel(rt.kernel(name), grid, 1, 1, threads, 1, 1, 0, stream, args.params, null);
    }

    @Override
    public void upload(long dst, Object array, long bytes) {
        rt.makeCurrent();
        JCudaDriver.cuMemcpyHtoD(at(dst), host(array), bytes);
    }

    @Override
    public void download(Object array, long src, long bytes) {
        rt.makeCurrent();
        JCudaDriver.cuMemcpyDtoH(host(array), at(src), bytes);
    }

    @Override
    public void copy(long dst, long src, long bytes) {
        rt.makeCurrent();
        JCudaDriver.cuMemcpyDtoDAsync(at(dst), at(src), bytes, stream);
    }

    @Override
    public void zero(long dst, long bytes) {
        rt.makeCurrent();
        JCudaDriver.cuMemsetD8Async(at(dst), (byte) 0, bytes, stream);
    }

    @Override
    public void synchronize() {
        rt.makeCurrent();
        JCudaDriver.cuStreamSynchronize(stream);
    }

    /**
     * Relaxed mode: the caching allocator may call cuMemAlloc meanwhile. The rational kernels get
     * a fresh engine for the recording: its scratch buffers belong to the graph, so later eager
     * calls that need larger ones cannot free memory the graph's kernels use, and one that a later
     * layer of the recording outgrows stays allocated until the graph is destroyed.
     */
    @Override
    public void beginCapture() {
        rt.makeCurrent();
        setAside.set(rational.get());
        CudaRational graphs = new CudaRational(rt, stream);
        graphs.recordedByGraph();
        rational.set(graphs);
        try {
            JCudaDriver.cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED);
        } catch (RuntimeException e) {
            restoreRational().close();
            throw e;
        }
    }

    /** Puts the capturing thread's own rational engine back; returns the graph's. */
    private CudaRational restoreRational() {
        CudaRational graphs = rational.get();
        rational.set(setAside.get());
        setAside.remove();
        return graphs;
    }

    @Override
    public Object endCapture() {
        rt.makeCurrent();
        CudaRational graphs = restoreRational();
        CUgraph g = new CUgraph();
        CUgraphExec exec = new CUgraphExec();
        try {
            JCudaDriver.cuStreamEndCapture(stream, g);
            try {
                JCudaDriver.cuGraphInstantiate(exec, g, 0);
            } finally {
                JCudaDriver.cuGraphDestroy(g);
            }
        } catch (RuntimeException e) {
            graphs.close();
            throw e;
        }
        return new Captured(exec, graphs);
    }

    @Override
    public void replay(Object graph) {
        rt.makeCurrent();
        JCudaDriver.cuGraphLaunch(((Captured) graph).exec(), stream);
    }

    @Override
    public void destroyGraph(Object graph) {
        rt.makeCurrent();
        Captured c = (Captured) graph;
        JCudaDriver.cuStreamSynchronize(stream);
        JCudaDriver.cuGraphExecDestroy(c.exec());
        c.rational().close();
    }

    @Override
    public void gemm(DType t, Plans.Gemm g, long a, long b, long c, boolean accumulate) {
        rt.makeCurrent();
        blas.gemm(t, g, a, b, c, accumulate);
    }

    @Override
    public void gemmBf16(Plans.Gemm g, long a, long b, long c, boolean accumulate) {
        rt.makeCurrent();
        blas.gemmBf16(g, a, b, c, accumulate);
    }

    private static CudaRational.Coefficients coefficients(long coef, int groups) {
        return CudaRational.Coefficients.view(DeviceBuffer.view(coef, (6L + 4L * groups) * Float.BYTES), groups);
    }

    @Override
    public void rationalForwardF32(long x, long y, long n, int d, long coef, int groups) {
        rational.get().forward(DeviceBuffer.view(x, n * Float.BYTES), DeviceBuffer.view(y, n * Float.BYTES), n, d,
                coefficients(coef, groups), Storage.F32);
    }

    @Override
    public long rationalBackwardF32(long x, long g, long gx, long n, int d, long coef, int groups) {
        CudaRational r = rational.get();
        r.backwardAsync(DeviceBuffer.view(x, n * Float.BYTES), DeviceBuffer.view(g, n * Float.BYTES),
                gx == 0 ? null : DeviceBuffer.view(gx, n * Float.BYTES), n, d, coefficients(coef, groups), Storage.F32);
        return r.gradientsOnDevice().address();
    }
}
