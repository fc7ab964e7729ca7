package org.kat4j.backend.cpu;

import org.bytedeco.openblas.global.openblas_nolapack;

import java.nio.FloatBuffer;

/**
 * OpenBLAS's float32 GEMM called directly (JavaCPP's binding of {@code cblas_sgemm}, the library
 * ND4J itself calls). ND4J's {@code Nd4j.gemm} wraps the same call in a custom op with its own
 * shape checks and output arrays: 26-88 us more per call, 7-35% of the micro models' products
 * (1088x64x64 .. 64x256x1088, best of 5 x 200 calls on 2 threads of a Zen 3, 2026-12-02).
 */
final class Blas {
    private Blas() {
    }

    /**
     * c[i] = op(a[i]) @ op(b[i]) for i &lt; batch over dense row-major operands: a[i] is m x k
     * (stored k x m when ta), b[i] is k x n (stored n x k when tb), c[i] is m x n.
     */
    static void sgemm(FloatBuffer a, FloatBuffer b, FloatBuffer c, long batch, int m, int n, int k, boolean ta, boolean tb) {
        sgemm(a, b, c, batch, m, n, k, ta, tb, 0f);
    }

    /** As {@link #sgemm(FloatBuffer, FloatBuffer, FloatBuffer, long, int, int, int, boolean, boolean)}, c = op(a) @ op(b) + beta c. */
    static void sgemm(FloatBuffer a, FloatBuffer b, FloatBuffer c, long batch, int m, int n, int k, boolean ta, boolean tb,
                      float beta) {
        int opA = ta ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans;
        int opB = tb ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans;
        int lda = ta ? m : k;
        int ldb = tb ? k : n;
        for (long i = 0; i < batch; i++) {
            FloatBuffer ai = batch == 1 ? a : slice(a, i * m * k);
            FloatBuffer bi = batch == 1 ? b : slice(b, i * k * n);
            FloatBuffer ci = batch == 1 ? c : slice(c, i * m * n);
            openblas_nolapack.cblas_sgemm(openblas_nolapack.CblasRowMajor, opA, opB, m, n, k, 1f, ai, lda, bi, ldb, beta, ci, n);
        }
    }

    private static FloatBuffer slice(FloatBuffer f, long offset) {
        return f.slice(Math.toIntExact(offset), f.capacity() - Math.toIntExact(offset));
    }
}
