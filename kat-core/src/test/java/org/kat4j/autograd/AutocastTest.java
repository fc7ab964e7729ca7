package org.kat4j.autograd;

import org.junit.jupiter.api.Test;
import org.kat4j.backend.Backend;
import org.kat4j.backend.BinaryOp;
import org.kat4j.backend.Storage;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Tensor;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AutocastTest {
    private static float[] values(Storage s) {
        return s.backend().toFloats(s);
    }

    /** A linear layer recorded under autocast: forward and backward products on rounded operands, the backward outside the region. */
    @Test
    void linearRecordedUnderAutocastRoundsItsProductsForwardAndBackward() {
        Random r = new Random(4);
        Tensor x = Tensor.randn(r, DType.FLOAT32, 2, 6, 5).requiresGrad(true);
        Tensor w = Tensor.randn(r, DType.FLOAT32, 4, 5).requiresGrad(true);
        Tensor b = Tensor.randn(r, DType.FLOAT32, 4).requiresGrad(true);
        Tensor g = Tensor.randn(r, DType.FLOAT32, 2, 6, 4);
        Tensor y;
        try (Autocast ac = Autocast.bf16()) {
            assertTrue(Autocast.bf16Enabled());
            y = Ops.linear(x, w, b);
        }
        assertFalse(Autocast.bf16Enabled());
        y.backward(g);
        Backend be = x.backend();
        Storage x2 = be.roundBf16(be.reshape(x.storage(), 12, 5));
        Storage w2 = be.roundBf16(w.storage());
        Storage g2 = be.roundBf16(be.reshape(g.storage(), 12, 4));
        Storage expectY = be.binary(BinaryOp.ADD, be.matmul(x2, w2, false, true), b.storage());
        assertArrayEquals(values(expectY), y.toFloatArray(), 1e-6f);
        assertArrayEquals(values(be.matmul(g2, w2, false, false)), x.grad().toFloatArray(), 1e-6f);
        assertArrayEquals(values(be.matmul(g2, x2, true, false)), w.grad().toFloatArray(), 1e-6f);
        assertArrayEquals(values(be.sumTo(be.reshape(g.storage(), 12, 4), new long[]{4})), b.grad().toFloatArray(), 1e-6f);

        // the same layer outside autocast: the float32 product, which the rounding changes
        float[] plain = Ops.linear(x, w, b).toFloatArray();
        float worst = 0;
        for (int i = 0; i < plain.length; i++) {
            worst = Math.max(worst, Math.abs(plain[i] - y.toFloatArray()[i]));
        }
        assertTrue(worst > 1e-4f && worst < 5e-2f, "float32 vs bf16 products differ by " + worst);
    }

    @Test
    void batchedMatmulGradientsUseRoundedOperands() {
        Random r = new Random(5);
        Tensor a = Tensor.randn(r, DType.FLOAT32, 3, 4, 7).requiresGrad(true);
        Tensor c = Tensor.randn(r, DType.FLOAT32, 3, 5, 7).requiresGrad(true);
        Tensor g = Tensor.randn(r, DType.FLOAT32, 3, 4, 5);
        Tensor y;
        try (Autocast ac = Autocast.bf16()) {
            y = Ops.matmul(a, c, false, true);
            y.backward(g);
        }
        Backend be = a.backend();
        Storage ar = be.roundBf16(a.storage());
        Storage cr = be.roundBf16(c.storage());
        Storage gr = be.roundBf16(g.storage());
        assertArrayEquals(values(be.matmul(ar, cr, false, true)), y.toFloatArray(), 1e-6f);
        assertArrayEquals(values(be.matmul(gr, cr, false, false)), a.grad().toFloatArray(), 1e-6f);
        assertArrayEquals(values(be.matmul(gr, ar, true, false)), c.grad().toFloatArray(), 1e-6f);
    }

    @Test
    void regionsNestAndBelongToTheirThread() throws InterruptedException {
        Autocast outer = Autocast.bf16();
        try (Autocast inner = Autocast.bf16()) {
            assertTrue(Autocast.bf16Enabled());
        }
        assertTrue(Autocast.bf16Enabled(), "the outer region is still open");
        boolean[] seen = new boolean[1];
        IllegalStateException[] error = new IllegalStateException[1];
        Thread other = new Thread(() -> {
            seen[0] = Autocast.bf16Enabled();
            try {
                outer.close();
            } catch (IllegalStateException e) {
                error[0] = e;
            }
        });
        other.start();
        other.join();
        assertFalse(seen[0], "another thread is not inside this thread's region");
        assertTrue(error[0] != null && error[0].getMessage().contains("close it on the thread that opened it"));
        outer.close();
        outer.close();
        assertFalse(Autocast.bf16Enabled());
    }

    @Test
    void float64ProductsAreNotRounded() {
        Random r = new Random(6);
        Tensor a = Tensor.randn(r, DType.FLOAT64, 4, 7);
        Tensor c = Tensor.randn(r, DType.FLOAT64, 7, 3);
        float[] plain;
        float[] cast;
        plain = a.matmul(c).toFloatArray();
        try (Autocast ac = Autocast.bf16()) {
            cast = a.matmul(c).toFloatArray();
        }
        assertArrayEquals(plain, cast, 0f);
        var e = assertThrows(IllegalArgumentException.class, () -> a.backend().roundBf16(a.storage()));
        assertTrue(e.getMessage().contains("FLOAT64 storage, expected float32"), e.getMessage());
    }
}
