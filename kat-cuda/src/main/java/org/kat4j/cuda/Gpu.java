package org.kat4j.cuda;

import org.kat4j.tensor.DType;

/**
 * What {@link CudaBackend} asks of a GPU: memory, copies, kernel launches in order on one queue,
 * GEMM and the group-rational kernels. {@link JCudaGpu} drives a real device through the JCuda
 * driver API and cuBLAS; tests without a GPU put the same backend on the kernels' CPU emulation.
 * Addresses are device addresses; arrays are Java's {@code float[]}, {@code double[]} or {@code long[]}.
 */
interface Gpu {
    /** Multiprocessors (grid sizes scale with them). */
    int multiprocessors();

    /** For {@link CudaBackend#describe()}. */
    String describe();

    /** Fails with the kernel's name when the module lacks it. */
    void checkKernel(String name);

    long alloc(long bytes);

    void free(long address);

    /** A kernel-parameter block for the calling thread. */
    KernelArgs newArgs(int slots);

    /** Queues kernels.cu's {@code name} over {@code grid} blocks of {@code threads}. */
    void launch(String name, int grid, int threads, KernelArgs args);

    /** Host to device, in queue order; returns once the array has been read. */
    void upload(long dst, Object array, long bytes);

    /** Device to host, after everything queued before it. */
    void download(Object array, long src, long bytes);

    void copy(long dst, long src, long bytes);

    void zero(long dst, long bytes);

    /** Waits for everything queued. */
    void synchronize();
    /**
     * Records the work the calling thread queues from now on into a graph instead of running it
     * (host copies are not allowed meanwhile; memory may be allocated).
     */
    void beginCapture();
    /** Ends the recording: the graph, ready to replay. */
    Object endCapture();
    /** Queues a recorded graph: its work again, with the addresses and scalars it was recorded with. */
    void replay(Object graph);
    /** Frees a graph once the work queued before is done. */
    void destroyGraph(Object graph);

    /** C = op(A) op(B) (+ C), row-major, as {@link Plans#gemm} planned it. */
    void gemm(DType t, Plans.Gemm g, long a, long b, long c, boolean accumulate);
    /** As {@link #gemm} with bfloat16 operands A and B, float32 C, products summed in float32. */
    void gemmBf16(Plans.Gemm g, long a, long b, long c, boolean accumulate);

    /** Float32 rational forward on x [n / d, d] with coefficients (a0..a5, b per group) packed at coef. */
    void rationalForwardF32(long x, long y, long n, int d, long coef, int groups);

    /**
     * Float32 rational backward: gx (0 for none) and, at the returned address, the coefficient
     * gradients in float64 (dL/da [6], then dL/db [groups * 4]), valid until the next backward.
     */
    long rationalBackwardF32(long x, long g, long gx, long n, int d, long coef, int groups);
}
