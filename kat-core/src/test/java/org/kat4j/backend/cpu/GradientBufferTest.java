package org.kat4j.backend.cpu;

import org.junit.jupiter.api.Test;
import org.kat4j.backend.Storage;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Scope;
import org.kat4j.tensor.Tensor;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * clearGrad frees a leaf's gradient buffer that no one else holds (so a loop that clears its
 * gradients every step reuses memory instead of piling buffers up for the garbage collector), and
 * leaves alone one that grad() handed out, which keeps its values.
 */
class GradientBufferTest {
    static void backward(Tensor w, double factor) {
        try (Scope s = Scope.open()) {
            w.mul(factor).sum().backward();
        }
    }

    @Test
    void clearGradFreesOnlyBuffersNoOneElseHolds() {
        Tensor w = Tensor.randn(new Random(0), DType.FLOAT32, 64, 32).requiresGrad(true);
        backward(w, 2);
        Storage buffer = w.gradBuffer();
        w.clearGrad();
        assertNull(w.grad());
        assertTrue(CpuStorage.cpu(buffer).allocation().wasClosed(), "a buffer no one holds is freed");

        backward(w, 3);
        Tensor kept = w.grad();
        w.clearGrad();
        assertFalse(CpuStorage.cpu(kept.storage()).allocation().wasClosed(), "a gradient handed out stays");
        backward(w, 5);
        float[] three = new float[64 * 32];
        float[] five = new float[64 * 32];
        java.util.Arrays.fill(three, 3f);
        java.util.Arrays.fill(five, 5f);
        assertArrayEquals(three, kept.toFloatArray(), 0f, "the handed-out gradient keeps its values");
        assertArrayEquals(five, w.grad().toFloatArray(), 0f, "the next backward starts afresh");

        // zeroGrad keeps the buffer for the next backward, which writes into it
        Storage before = w.gradBuffer();
        w.zeroGrad();
        backward(w, 2);
        assertTrue(before == w.gradBuffer() && !CpuStorage.cpu(before).allocation().wasClosed());
    }
}
