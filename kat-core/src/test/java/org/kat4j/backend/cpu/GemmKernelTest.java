package org.kat4j.backend.cpu;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * kat4j's GEMM kernel against the plain loop it promises: each element's sum cut into blocks of
 * at most KC terms, each block one chain of FMAs in the order of the sum (the first from the bias
 * or zero), the later blocks, and all of them where c is accumulated onto, added onto c in order;
 * so the results must agree to the bit, on one thread and split over the threads, at every edge (rows not a multiple of the tile's
 * six, columns not a multiple of a panel or of a vector, sums longer than a block, more columns
 * than a block), for every transpose, and at an offset into the buffers. The kernel runs on any
 * vector width; which products it takes is a separate choice ({@link GemmKernel#available()}).
 */
class GemmKernelTest {
    @Test
    void everyElementIsTheFmaChainOfItsSumToTheBit() {
        assumeTrue(Simd.available(), "the vector API is not in this JVM");
        // m, n, k
        int[][] sizes = {{1, 1, 1}, {7, 5, 3}, {13, 70, 33}, {36, 64, 64}, {50, 200, 1100}, {8, 1100, 20}};
        assertTrue(1100 > GemmKernel.KC && 1100 > GemmKernel.NC, "the sizes must reach both kinds of block");
        Random r = new Random(5);
        for (int[] s : sizes) {
            int m = s[0];
            int n = s[1];
            int k = s[2];
            for (int f = 0; f < 16; f++) {
                boolean ta = (f & 1) != 0;
                boolean tb = (f & 2) != 0;
                boolean accumulate = (f & 4) != 0;
                boolean withBias = (f & 8) != 0 && !accumulate;
                int off = (f & 8) != 0 ? 3 : 0;
                float[] a = NativeFloats.uniform(r, off + m * k);
                float[] b = NativeFloats.uniform(r, off + k * n);
                float[] c0 = NativeFloats.uniform(r, off + m * n);
                float[] bias = NativeFloats.uniform(r, n);
                String what = m + "x" + k + (ta ? "^T" : "") + " @ " + k + "x" + n + (tb ? "^T" : "")
                        + (accumulate ? " + c" : "") + (withBias ? " + bias" : "") + " at offset " + off;
                for (boolean alone : new boolean[]{true, false}) {
                    ByteBuffer c = NativeFloats.bytes(c0);
                    Runnable call = () -> GemmKernel.multiply(NativeFloats.floats(a), off, NativeFloats.floats(b), off, c, off, m, n, k, ta, tb, accumulate,
                            withBias ? NativeFloats.bytes(bias) : null, 0);
                    if (alone) {
                        Parallel.onCallingThread(() -> {
                            call.run();
                            return null;
                        });
                    } else {
                        call.run();
                    }
                    FloatBuffer got = c.asFloatBuffer();
                    for (int i = 0; i < off; i++) {
                        assertEquals(c0[i], got.get(i), what + ": element " + i + " before c was written");
                    }
                    for (int row = 0; row < m; row++) {
                        for (int col = 0; col < n; col++) {
                            float e = accumulate ? c0[off + row * n + col] : 0f;
                            int blocks = GemmKernel.blocks(k);
                            for (int kb = 0; kb < blocks; kb++) {
                                float block = withBias && kb == 0 ? bias[col] : 0f;
                                for (int q = k * kb / blocks; q < k * (kb + 1) / blocks; q++) {
                                    block = Math.fma(a[off + (ta ? q * m + row : row * k + q)], b[off + (tb ? col * k + q : q * n + col)],
                                            block);
                                }
                                e = accumulate || kb > 0 ? e + block : block;
                            }
                            assertEquals(Float.floatToRawIntBits(e), Float.floatToRawIntBits(got.get(off + row * n + col)),
                                    what + (alone ? " on one thread" : " split") + " at (" + row + ", " + col + ")");
                        }
                    }
                }
            }
        }
    }

}
