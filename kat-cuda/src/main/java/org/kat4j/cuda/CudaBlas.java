package org.kat4j.cuda;

import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.kat4j.tensor.DType;

import static org.bytedeco.cuda.global.cublas.CUBLAS_COMPUTE_32F;
import static org.bytedeco.cuda.global.cublas.CUBLAS_DEFAULT_MATH;
import static org.bytedeco.cuda.global.cublas.CUBLAS_GEMM_DEFAULT;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_N;
import static org.bytedeco.cuda.global.cublas.CUBLAS_OP_T;
import static org.bytedeco.cuda.global.cublas.cublasCreate_v2;
import static org.bytedeco.cuda.global.cublas.cublasDgemmStridedBatched;
import static org.bytedeco.cuda.global.cublas.cublasDgemm_v2;
import static org.bytedeco.cuda.global.cublas.cublasGemmEx;
import static org.bytedeco.cuda.global.cublas.cublasGemmStridedBatchedEx;
import static org.bytedeco.cuda.global.cublas.cublasSetMathMode;
import static org.bytedeco.cuda.global.cublas.cublasSetStream_v2;
import static org.bytedeco.cuda.global.cublas.cublasSgemmStridedBatched;
import static org.bytedeco.cuda.global.cublas.cublasSgemm_v2;
import static org.bytedeco.cuda.global.cudart.CUDA_R_16BF;
import static org.bytedeco.cuda.global.cudart.CUDA_R_32F;

/**
 * cuBLAS 13 GEMM on raw device addresses, through JavaCPP's CUDA presets, in the device's primary
 * context (the one the JCuda driver API made current, which the CUDA runtime under cuBLAS adopts)
 * and on the backend's stream. Float32 products use cuBLAS's default math: no TF32, results
 * comparable to the CPU's. One handle per thread.
 */
final class CudaBlas {
    /** A JavaCPP pointer at a raw device address (cuBLAS reads it as device memory). */
    private static final class Address extends Pointer {
        Address(long address) {
            this.address = address;
        }
    }

    private final CUstream_st stream;
    private final ThreadLocal<cublasContext> handles;
    private static final FloatPointer ONE_F = new FloatPointer(1f);
    private static final FloatPointer ZERO_F = new FloatPointer(0f);
    private static final DoublePointer ONE_D = new DoublePointer(1.0);
    private static final DoublePointer ZERO_D = new DoublePointer(0.0);

    CudaBlas(long streamAddress) {
        this.stream = new CUstream_st(new Address(streamAddress));
        this.handles = ThreadLocal.withInitial(() -> {
            cublasContext h = new cublasContext();
            check(cublasCreate_v2(h), "cublasCreate");
            check(cublasSetStream_v2(h, stream), "cublasSetStream");
            check(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
            return h;
        });
    }

    /** C = op(A) @ op(B) (+ C when {@code accumulate}), row-major, as planned by {@link Plans#gemm}. */
    void gemm(DType t, Plans.Gemm g, long a, long b, long c, boolean accumulate) {
        cublasContext h = handles.get();
        int opFirst = g.transFirst() ? CUBLAS_OP_T : CUBLAS_OP_N;
        int opSecond = g.transSecond() ? CUBLAS_OP_T : CUBLAS_OP_N;
        // column-major C^T [n, m] = op(B)^T [n, k] op(A)^T [k, m]
        if (t == DType.FLOAT32) {
            FloatPointer beta = accumulate ? ONE_F : ZERO_F;
            FloatPointer fb = new FloatPointer(new Address(b));
            FloatPointer fa = new FloatPointer(new Address(a));
            FloatPointer fc = new FloatPointer(new Address(c));
            int s = g.batch() == 1
                    ? cublasSgemm_v2(h, opFirst, opSecond, g.n(), g.m(), g.k(), ONE_F, fb, g.ldFirst(), fa, g.ldSecond(), beta, fc,
                    g.ldc())
                    : cublasSgemmStridedBatched(h, opFirst, opSecond, g.n(), g.m(), g.k(), ONE_F, fb, g.ldFirst(),
                    g.strideFirst(), fa, g.ldSecond(), g.strideSecond(), beta, fc, g.ldc(), g.strideC(), g.batch());
            check(s, "cublasSgemm");
        } else {
            DoublePointer beta = accumulate ? ONE_D : ZERO_D;
            DoublePointer db = new DoublePointer(new Address(b));
            DoublePointer da = new DoublePointer(new Address(a));
            DoublePointer dc = new DoublePointer(new Address(c));
            int s = g.batch() == 1
                    ? cublasDgemm_v2(h, opFirst, opSecond, g.n(), g.m(), g.k(), ONE_D, db, g.ldFirst(), da, g.ldSecond(), beta, dc,
                    g.ldc())
                    : cublasDgemmStridedBatched(h, opFirst, opSecond, g.n(), g.m(), g.k(), ONE_D, db, g.ldFirst(),
                    g.strideFirst(), da, g.ldSecond(), g.strideSecond(), beta, dc, g.ldc(), g.strideC(), g.batch());
            check(s, "cublasDgemm");
        }
    }

    /**
     * As {@link #gemm} with bfloat16 A and B and float32 C, the products summed in float32
     * ({@code CUBLAS_COMPUTE_32F}): the GEMM of bf16 autocast, on the tensor cores.
     */
    void gemmBf16(Plans.Gemm g, long a, long b, long c, boolean accumulate) {
        cublasContext h = handles.get();
        int opFirst = g.transFirst() ? CUBLAS_OP_T : CUBLAS_OP_N;
        int opSecond = g.transSecond() ? CUBLAS_OP_T : CUBLAS_OP_N;
        FloatPointer beta = accumulate ? ONE_F : ZERO_F;
        Pointer pb = new Address(b);
        Pointer pa = new Address(a);
        Pointer pc = new Address(c);
        int s = g.batch() == 1
                ? cublasGemmEx(h, opFirst, opSecond, g.n(), g.m(), g.k(), ONE_F, pb, CUDA_R_16BF, g.ldFirst(), pa, CUDA_R_16BF,
                g.ldSecond(), beta, pc, CUDA_R_32F, g.ldc(), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT)
                : cublasGemmStridedBatchedEx(h, opFirst, opSecond, g.n(), g.m(), g.k(), ONE_F, pb, CUDA_R_16BF, g.ldFirst(),
                g.strideFirst(), pa, CUDA_R_16BF, g.ldSecond(), g.strideSecond(), beta, pc, CUDA_R_32F, g.ldc(), g.strideC(),
                g.batch(), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        check(s, "cublasGemmEx (bf16)");
    }

    private static void check(int status, String call) {
        if (status != 0) {
            throw new IllegalStateException(call + " failed with cuBLAS status " + status);
        }
    }
}
