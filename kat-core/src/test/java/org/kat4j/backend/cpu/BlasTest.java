package org.kat4j.backend.cpu;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Products large enough to be split over the threads, by rows and by columns, in every transpose,
 * with and without beta, batched: against float64, the same bits on every call, and within float
 * rounding of the same product on one thread (OpenBLAS picks its kernels by size, so a block's
 * last bits can differ from one call's); with OpenBLAS, with MKL, and as the default routes them
 * (kat4j's own kernel on 16-lane vectors).
 */
class BlasTest {
    @Test
    void splitProductsMatchFloat64AndRepeatToTheBit() {
        check(Blas.Library.OPENBLAS);
    }

    /** The same as products go by default. */
    @Test
    void defaultProductsMatchFloat64AndRepeatToTheBit() {
        check(Blas.Library.AUTO);
    }

    /** The same with MKL (on kat-core's test class path; users add it themselves for -Dkat4j.blas=mkl). */
    @Test
    void mklProductsMatchFloat64AndRepeatToTheBit() {
        check(Blas.Library.MKL);
    }

    @Test
    void theLibraryIsChosenByName() {
        assertEquals(Blas.Library.AUTO, Blas.parse(null));
        assertEquals(Blas.Library.AUTO, Blas.parse("auto"));
        assertEquals(Blas.Library.OPENBLAS, Blas.parse("OpenBLAS"));
        assertEquals(Blas.Library.MKL, Blas.parse("mkl"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Blas.parse("atlas"));
        assertEquals("-Dkat4j.blas=atlas: expected auto, openblas or mkl", e.getMessage());
    }

    private static void check(Blas.Library library) {
        Blas.Library before = Blas.library();
        Blas.use(library);
        try {
            products();
        } finally {
            Blas.use(before);
        }
    }

    private static void products() {
        // m x k @ k x n: more rows than columns, more columns than rows, block edges off the 16 grid
        int[][] sizes = {{200, 100, 70}, {40, 100, 300}, {33, 1000, 40}};
        Random r = new Random(3);
        for (int[] s : sizes) {
            int m = s[0];
            int k = s[1];
            int n = s[2];
            assertTrue((long) m * n * k >= Blas.SPLIT_MIN, "the case must be large enough to split");
            for (int f = 0; f < 8; f++) {
                boolean ta = (f & 1) != 0;
                boolean tb = (f & 2) != 0;
                float beta = (f & 4) != 0 ? 1f : 0f;
                int batch = f == 7 ? 2 : 1;
                float[] a = NativeFloats.uniform(r, batch * m * k);
                float[] b = NativeFloats.uniform(r, batch * k * n);
                float[] c0 = NativeFloats.uniform(r, batch * m * n);
                ByteBuffer splitBytes = NativeFloats.bytes(c0);
                ByteBuffer againBytes = NativeFloats.bytes(c0);
                ByteBuffer aloneBytes = NativeFloats.bytes(c0);
                Blas.sgemm(NativeFloats.floats(a), NativeFloats.floats(b), splitBytes, batch, m, n, k, ta, tb, beta);
                Blas.sgemm(NativeFloats.floats(a), NativeFloats.floats(b), againBytes, batch, m, n, k, ta, tb, beta);
                Parallel.onCallingThread(() -> {
                    Blas.sgemm(NativeFloats.floats(a), NativeFloats.floats(b), aloneBytes, batch, m, n, k, ta, tb, beta);
                    return null;
                });
                FloatBuffer split = splitBytes.asFloatBuffer();
                FloatBuffer again = againBytes.asFloatBuffer();
                FloatBuffer alone = aloneBytes.asFloatBuffer();
                String what = Blas.library() + " " + m + "x" + k + (ta ? "^T" : "") + " @ " + k + "x" + n + (tb ? "^T" : "") + " beta " + beta + " batch " + batch;
                for (int i = 0; i < batch * m * n; i++) {
                    int bi = i / (m * n);
                    int row = i % (m * n) / n;
                    int col = i % n;
                    double ref = beta * c0[i];
                    for (int q = 0; q < k; q++) {
                        double x = a[bi * m * k + (ta ? q * m + row : row * k + q)];
                        double y = b[bi * k * n + (tb ? col * k + q : q * n + col)];
                        ref += x * y;
                    }
                    // measured up to 7e-8 k from float64 and 4.2e-8 k from one thread (Xeon, AVX-512)
                    assertEquals(ref, split.get(i), 2e-7 * k, what + " at " + i);
                    assertEquals(Float.floatToRawIntBits(split.get(i)), Float.floatToRawIntBits(again.get(i)),
                            what + ": two calls at " + i);
                    assertEquals(alone.get(i), split.get(i), 1e-7 * k, what + ": split vs one thread at " + i);
                }
            }
        }
    }
}
