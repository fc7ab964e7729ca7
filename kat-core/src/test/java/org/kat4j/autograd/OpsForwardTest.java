package org.kat4j.autograd;

import org.kat4j.autograd.Losses;
import org.junit.jupiter.api.Test;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Tensor;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Forward values against numbers worked out independently (by hand or with java.lang.Math). */
class OpsForwardTest {
    static Tensor t(double[] v, long... shape) {
        return Tensor.of(v, shape);
    }

    @Test
    void arithmeticBroadcasts() {
        Tensor a = t(new double[]{1, 2, 3, 4, 5, 6}, 2, 3);
        Tensor b = t(new double[]{10, 20, 30}, 3);
        assertArrayEquals(new double[]{11, 22, 33, 14, 25, 36}, a.add(b).toDoubleArray(), 0);
        assertArrayEquals(new double[]{-9, -18, -27, -6, -15, -24}, a.sub(b).toDoubleArray(), 0);
        Tensor col = t(new double[]{2, 4}, 2, 1);
        assertArrayEquals(new double[]{2, 4, 6, 16, 20, 24}, a.mul(col).toDoubleArray(), 0);
        assertArrayEquals(new double[]{0.5, 1, 1.5, 1, 1.25, 1.5}, a.div(col).toDoubleArray(), 1e-15);
        assertArrayEquals(new long[]{2, 2, 3}, t(new double[]{1, 2}, 2, 1, 1).add(a).shape());
    }

    @Test
    void elementwiseFunctions() {
        Tensor x = t(new double[]{-1, 0, 1, 2}, 4);
        for (int i = 0; i < 4; i++) {
            double v = x.get(i);
            assertEquals(Math.exp(v), x.exp().get(i), 1e-14);
            assertEquals(Math.tanh(v), x.tanh().get(i), 1e-14);
            assertEquals(Math.max(v, 0), x.relu().get(i), 0);
            assertEquals(v / (1 + Math.exp(-v)), x.silu().get(i), 1e-14);
            assertEquals(v * v * v, x.pow(3).get(i), 1e-14);
        }
        // GELU(1) = Phi(1) = 0.8413447460685429; GELU(-1) = -(1 - Phi(1))
        assertEquals(0.8413447460685429, x.gelu().get(2), 1e-12);
        assertEquals(-0.15865525393145707, x.gelu().get(0), 1e-12);
        assertEquals(2 * 0.9772498680518208, x.gelu().get(3), 1e-12);
        double u = Math.sqrt(2 / Math.PI) * (1 + 0.044715);
        assertEquals(0.5 * (1 + Math.tanh(u)), x.geluTanh().get(2), 1e-14);
        assertEquals(Math.log(2), x.exp().log().get(3) - 2 + Math.log(2), 1e-14);
        assertEquals(Math.sqrt(2), t(new double[]{2}, 1).sqrt().get(0), 1e-15);
    }

    @Test
    void matmulByHand() {
        Tensor a = t(new double[]{1, 2, 3, 4, 5, 6}, 2, 3);
        Tensor b = t(new double[]{7, 8, 9, 10, 11, 12}, 3, 2);
        assertArrayEquals(new double[]{58, 64, 139, 154}, a.matmul(b).toDoubleArray(), 0);
        // a @ a^T without a copy
        assertArrayEquals(new double[]{14, 32, 32, 77}, Ops.matmul(a, a, false, true).toDoubleArray(), 0);
        assertArrayEquals(new double[]{17, 22, 27, 22, 29, 36, 27, 36, 45}, Ops.matmul(a, a, true, false).toDoubleArray(), 0);
        // batched: each batch its own product
        Tensor ab = Ops.concat(0, a.reshape(1, 2, 3), a.mul(2).reshape(1, 2, 3));
        Tensor bb = Ops.concat(0, b.reshape(1, 3, 2), b.reshape(1, 3, 2));
        assertArrayEquals(new double[]{58, 64, 139, 154, 116, 128, 278, 308}, ab.matmul(bb).toDoubleArray(), 0);
    }

    @Test
    void reductionsAndShapes() {
        Tensor a = t(new double[]{1, 5, 3, 4, 2, 6}, 2, 3);
        assertEquals(21, a.sum().item(), 0);
        assertArrayEquals(new double[]{9, 12}, a.sum(false, 1).toDoubleArray(), 0);
        assertArrayEquals(new double[]{2.5, 3.5, 4.5}, a.mean(false, 0).toDoubleArray(), 0);
        assertArrayEquals(new double[]{5, 6}, a.max(false, 1).toDoubleArray(), 0);
        assertArrayEquals(new long[]{2, 1}, a.max(true, 1).shape());
        assertArrayEquals(new double[]{1, 4, 5, 2, 3, 6}, a.transpose(0, 1).toDoubleArray(), 0);
        assertArrayEquals(new double[]{5, 3, 2, 6}, a.narrow(1, 1, 2).toDoubleArray(), 0);
        assertArrayEquals(new double[]{1, 5, 3, 1, 5, 3}, Ops.indexSelect(a, 0, 0, 0).toDoubleArray(), 0);
        assertArrayEquals(new double[]{1, 5, 3, 9, 4, 2, 6, 9}, Ops.concat(1, a, Tensor.full(DType.FLOAT64, 9, 2, 1)).toDoubleArray(), 0);
        assertArrayEquals(new long[]{3, 2}, a.reshape(-1, 2).shape());
    }

    @Test
    void softmaxLayerNormCrossEntropy() {
        Tensor x = t(new double[]{1, 2, 3}, 1, 3);
        double z = Math.exp(1) + Math.exp(2) + Math.exp(3);
        assertArrayEquals(new double[]{Math.exp(1) / z, Math.exp(2) / z, Math.exp(3) / z}, x.softmax().toDoubleArray(), 1e-15);
        assertArrayEquals(new double[]{1 - Math.log(z), 2 - Math.log(z), 3 - Math.log(z)}, x.logSoftmax().toDoubleArray(), 1e-14);
        // huge logits stay finite (stable form)
        assertTrue(Double.isFinite(t(new double[]{1000, 0, -1000}, 1, 3).softmax().sum().item()));
        double s = Math.sqrt(2.0 / 3.0);
        Tensor ln = Ops.layerNorm(x, Tensor.ones(DType.FLOAT64, 3), Tensor.zeros(DType.FLOAT64, 3), 0);
        assertArrayEquals(new double[]{-1 / s, 0, 1 / s}, ln.toDoubleArray(), 1e-12);
        Tensor logits = t(new double[]{0, 0, 2, 0}, 2, 2);
        double l1 = Math.log(2);
        double l2 = Math.log(1 + Math.exp(2)); // label 1 against logit 2 on class 0
        assertEquals((l1 + l2) / 2, Losses.crossEntropy(logits, new int[]{0, 1}, 0).item(), 1e-14);
        // smoothing 0.2 over 2 classes: targets 0.9/0.1
        double ls2 = 0.9 * l2 + 0.1 * (l2 - 2);
        assertEquals((l1 + ls2) / 2, Losses.crossEntropy(logits, new int[]{0, 1}, 0.2).item(), 1e-14);
    }

    @Test
    void patchConvEqualsDirectConvolution() {
        Random r = new Random(3);
        Tensor x = Tensor.randn(r, DType.FLOAT64, 2, 3, 4, 6);
        Tensor w = Tensor.randn(r, DType.FLOAT64, 5, 3, 2, 2);
        Tensor b = Tensor.randn(r, DType.FLOAT64, 5);
        Tensor y = Ops.patchConv(x, w, b); // [2, 6, 5]
        for (int n = 0; n < 2; n++) {
            for (int ph = 0; ph < 2; ph++) {
                for (int pw = 0; pw < 3; pw++) {
                    for (int d = 0; d < 5; d++) {
                        double acc = b.get(d);
                        for (int c = 0; c < 3; c++) {
                            for (int i = 0; i < 2; i++) {
                                for (int j = 0; j < 2; j++) {
                                    acc += w.get(d, c, i, j) * x.get(n, c, ph * 2 + i, pw * 2 + j);
                                }
                            }
                        }
                        assertEquals(acc, y.get(n, ph * 3 + pw, d), 1e-12);
                    }
                }
            }
        }
    }

    @Test
    void dropoutKeepsExpectationAndDropPathWholeSamples() {
        Tensor x = Tensor.ones(DType.FLOAT64, 200, 50);
        Tensor y = Ops.dropout(x, 0.25, new Random(1));
        double mean = y.mean().item();
        assertEquals(1.0, mean, 0.03);
        long zeros = java.util.Arrays.stream(y.toDoubleArray()).filter(v -> v == 0).count();
        assertEquals(0.25, zeros / 10000.0, 0.02);
        Tensor p = Ops.dropPath(Tensor.ones(DType.FLOAT64, 64, 3, 4), 0.5, new Random(2));
        for (int n = 0; n < 64; n++) {
            double first = p.get(n, 0, 0);
            assertTrue(first == 0 || first == 2);
            assertEquals(first * 12, p.narrow(0, n, 1).sum().item(), 0);
        }
    }

    @Test
    void badShapesNameTheOpAndBothShapes() {
        Tensor a = Tensor.zeros(DType.FLOAT32, 2, 3);
        Tensor b = Tensor.zeros(DType.FLOAT32, 4, 5);
        var e = assertThrows(IllegalArgumentException.class, () -> a.add(b));
        assertTrue(e.getMessage().contains("add") && e.getMessage().contains("[2, 3]") && e.getMessage().contains("[4, 5]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> a.matmul(b));
        assertTrue(e.getMessage().contains("matmul") && e.getMessage().contains("[2, 3]") && e.getMessage().contains("[4, 5]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Ops.linear(Tensor.zeros(DType.FLOAT32, 8, 191), Tensor.zeros(DType.FLOAT32, 5, 192), null));
        assertTrue(e.getMessage().contains("[8, 191]") && e.getMessage().contains("192"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> a.reshape(4, 2));
        assertThrows(IllegalArgumentException.class, () -> a.narrow(1, 2, 2));
        assertThrows(IllegalArgumentException.class, () -> a.mul(Tensor.zeros(DType.FLOAT64, 2, 3)));
        assertThrows(IllegalArgumentException.class, () -> Losses.crossEntropy(a, new int[]{0, 7}, 0));
        e = assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(DType.FLOAT32, 1L << 40, 1L << 40));
        assertTrue(e.getMessage().contains("more than 2^63 elements"), "an overflowing shape is refused, not wrapped: " + e.getMessage());
    }

    @Test
    void devicesOfOneOpMustAgree() {
        Tensor a = Tensor.zeros(DType.FLOAT32, 2, 3);
        assertEquals(org.kat4j.backend.Device.CPU, a.device());
        assertSame(a, a.to(org.kat4j.backend.Device.CPU), "to() its own device is the tensor itself");
        var e = assertThrows(IllegalArgumentException.class, () -> a.to(org.kat4j.backend.Device.cuda(7)));
        assertTrue(e.getMessage().contains("device cuda:7 is not available"), e.getMessage());
        assertEquals(org.kat4j.backend.Device.cuda(3), org.kat4j.backend.Device.parse("cuda:3"));
        assertEquals(org.kat4j.backend.Device.CPU, org.kat4j.backend.Device.parse("CPU"));
        assertThrows(IllegalArgumentException.class, () -> org.kat4j.backend.Device.parse("cuda:x"));
    }
}
