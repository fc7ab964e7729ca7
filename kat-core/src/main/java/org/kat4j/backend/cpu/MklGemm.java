package org.kat4j.backend.cpu;

import org.bytedeco.mkl.global.mkl_rt;

import java.nio.FloatBuffer;

/**
 * Intel MKL's float32 GEMM through JavaCPP's MKL presets ({@code org.bytedeco:mkl} with its
 * {@code linux-x86_64} and {@code linux-x86_64-redist} jars, which kat-core does not bring itself).
 * Loaded only when chosen ({@link Blas}): this class's first use loads MKL's libraries.
 */
final class MklGemm {
    private static final int ROW_MAJOR = 101;
    private static final int NO_TRANS = 111;
    private static final int TRANS = 112;

    static {
        // one thread per call, as OpenBLAS: kat4j's own threads split the large products
        mkl_rt.MKL_Set_Num_Threads(1);
    }

    private MklGemm() {
    }

    /** Loads MKL (this class's initialiser); throws what the loader threw when its libraries are missing. */
    static void load() {
    }

    static void sgemm(FloatBuffer a, FloatBuffer b, FloatBuffer c, int m, int n, int k, boolean ta, boolean tb, float beta,
                      int lda, int ldb, int ldc) {
        mkl_rt.cblas_sgemm(ROW_MAJOR, ta ? TRANS : NO_TRANS, tb ? TRANS : NO_TRANS, m, n, k, 1f, a, lda, b, ldb, beta, c, ldc);
    }
}
