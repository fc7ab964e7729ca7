package org.kat4j.autograd;

import org.junit.jupiter.api.Test;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Scope;
import org.kat4j.tensor.Tensor;

import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AutogradTest {
    @Test
    void aGradientHandedToSeveralInputsIsNeverWrittenThroughOne() {
        // s = b + c hands the same gradient to b and c; b then receives a second one from t = s + b.
        // Adding that into the buffer b shares with c would change what c passes on.
        Tensor x = Tensor.of(new float[]{1, -2, 3, 0.5f}, 4).requiresGrad(true);
        Tensor b = x.mul(2.0);
        Tensor c = x.mul(5.0);
        Tensor t = b.add(c).add(b);
        t.backward(Tensor.of(new float[]{1, 10, 100, 1000}, 4));
        assertArrayEquals(new float[]{9, 90, 900, 9000}, x.grad().toFloatArray(), 0f);
        // the same tensor twice in one op, and a gradient that arrives after a zeroGrad-style reuse
        Tensor y = Tensor.of(new float[]{3, 4}, 2).requiresGrad(true);
        Tensor h = y.mul(1.5);
        h.add(h).add(h).sum().backward();
        assertArrayEquals(new float[]{4.5f, 4.5f}, y.grad().toFloatArray(), 0f);
    }

    @Test
    void gradientsAccumulateAcrossUsesAndCalls() {
        Tensor x = Tensor.of(new double[]{3}, 1).requiresGrad(true);
        x.mul(x).sum().backward();          // d(x^2) = 2x = 6
        assertEquals(6, x.grad().item(), 0);
        x.mul(4).sum().backward();           // accumulates 4
        assertEquals(10, x.grad().item(), 0);
        x.zeroGrad();
        assertEquals(0, x.grad().item(), 0);
        x.mul(5).sum().backward();           // after zeroGrad: 5, not 15
        assertEquals(5, x.grad().item(), 0);
        x.zeroGrad();
        x.mul(x).mul(0.5).sum().backward();  // zeros never read: the first gradient replaces the stale 5
        x.mul(2).sum().backward();           // and the second adds to it
        assertEquals(5, x.grad().item(), 0);
        // float32 parameter, float32 and float64 gradients of a two-use graph
        Tensor w = Tensor.of(new float[]{1, 2, 3, 4}, 2, 2).requiresGrad(true);
        w.mul(w).sum().backward();
        w.zeroGrad();
        w.mul(3).add(w).sum().backward();
        assertArrayEquals(new float[]{4, 4, 4, 4}, w.grad().toFloatArray(), 0f);
    }

    @Test
    void broadcastGradientIsSummedToInputShape() {
        Tensor a = Tensor.ones(DType.FLOAT64, 4, 3).requiresGrad(true);
        Tensor b = Tensor.ones(DType.FLOAT64, 3).requiresGrad(true);
        a.add(b).sum().backward();
        assertArrayEquals(new double[]{4, 4, 4}, b.grad().toDoubleArray(), 0);
        assertArrayEquals(new long[]{4, 3}, a.grad().shape());
    }

    @Test
    void deepChainDoesNotOverflowTheStack() {
        Tensor x = Tensor.of(new double[]{1}, 1).requiresGrad(true);
        Tensor y = x;
        for (int i = 0; i < 20000; i++) {
            y = y.add(0.0);
        }
        y.sum().backward();
        assertEquals(1, x.grad().item(), 0);
    }

    @Test
    void clearErrorsForBadBackward() {
        Tensor x = Tensor.of(new double[]{1, 2}, 2).requiresGrad(true);
        Tensor y = x.mul(x);
        var e = assertThrows(IllegalStateException.class, y::backward);
        assertTrue(e.getMessage().contains("one-element"), e.getMessage());
        Tensor loss = y.sum();
        loss.backward();
        e = assertThrows(IllegalStateException.class, loss::backward);
        assertTrue(e.getMessage().contains("already freed"), e.getMessage());
        Tensor z = y.mul(2).sum(); // y's graph is gone
        e = assertThrows(IllegalStateException.class, z::backward);
        assertTrue(e.getMessage().contains("freed"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> x.mul(2).backward(Tensor.ones(DType.FLOAT64, 3)));
        assertThrows(IllegalStateException.class, () -> Tensor.ones(DType.FLOAT64, 1).mul(2).backward());
    }

    @Test
    void noGradRecordsNothingAndDetachCuts() {
        Tensor x = Tensor.of(new double[]{1, 2}, 2).requiresGrad(true);
        try (var ng = Autograd.noGrad()) {
            Tensor y = x.mul(x);
            assertFalse(y.requiresGrad());
        }
        assertTrue(x.mul(x).requiresGrad());
        Tensor d = x.mul(x).detach();
        assertFalse(d.requiresGrad());
        d.mul(x).sum().backward();  // only the direct x path: d = x^2 = [1, 4]
        assertArrayEquals(new double[]{1, 4}, x.grad().toDoubleArray(), 0);
    }

    @Test
    void intermediateGradientsAreDroppedLeafGradientsKept() {
        Tensor x = Tensor.of(new double[]{1, 2}, 2).requiresGrad(true);
        Tensor h = x.mul(3);
        h.sum().backward();
        assertNull(h.grad());
        assertArrayEquals(new double[]{3, 3}, x.grad().toDoubleArray(), 0);
    }

    @Test
    void scopeReleasesTemporariesAndRefusesUseAfterClose() {
        Tensor w = Tensor.of(new float[]{1, 2, 3}, 3).requiresGrad(true);
        Tensor kept;
        Tensor leaked;
        try (Scope s = Scope.open()) {
            Tensor y = w.mul(w).sum();
            y.backward();
            kept = y.copy();
            leaked = y;
        }
        assertEquals(14, kept.item(), 1e-6);
        assertArrayEquals(new float[]{2, 4, 6}, w.grad().toFloatArray(), 0);
        var e = assertThrows(IllegalStateException.class, leaked::item);
        assertTrue(e.getMessage().contains("Scope"), e.getMessage());
    }

    @Test
    void gradCheckCatchesAWrongDerivative() {
        // an op whose backward claims d/dx x^2 = x (wrong by a factor 2)
        Function<Tensor[], Tensor> wrong = t -> {
            Tensor x = t[0];
            var be = x.backend();
            var xv = x.storage();
            var v = be.binary(org.kat4j.backend.BinaryOp.MUL, xv, xv);
            return Autograd.op("wrongSquare", v, g -> Autograd.accumulate(x, be.binary(org.kat4j.backend.BinaryOp.MUL, g, xv), true), x);
        };
        Tensor x = Tensor.of(new double[]{0.5, 1.5, -2}, 3).requiresGrad(true);
        assertThrows(AssertionError.class, () -> GradCheck.assertGradients(wrong, 1e-6, x));
    }
}
