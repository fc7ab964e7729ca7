package org.kat4j.nn;

import org.junit.jupiter.api.Test;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Tensor;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

class AttentionTest {
    @Test
    void matchesAStraightforwardComputation() {
        int d = 8;
        int heads = 2;
        int hd = 4;
        Attention attn = new Attention(d, heads, true, 0, 0, new Random(1));
        Tensor x = Tensor.randn(new Random(2), DType.FLOAT32, 2, 3, d);
        Tensor y = attn.forward(x);
        Tensor qkv = attn.qkv.forward(x); // [2, 3, 24]
        for (int b = 0; b < 2; b++) {
            double[][] o = new double[3][d];
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < 3; i++) {
                    double[] s = new double[3];
                    double max = -1e300;
                    for (int j = 0; j < 3; j++) {
                        for (int c = 0; c < hd; c++) {
                            s[j] += qkv.get(b, i, h * hd + c) * qkv.get(b, j, d + h * hd + c) / Math.sqrt(hd);
                        }
                        max = Math.max(max, s[j]);
                    }
                    double z = 0;
                    for (int j = 0; j < 3; j++) {
                        s[j] = Math.exp(s[j] - max);
                        z += s[j];
                    }
                    for (int j = 0; j < 3; j++) {
                        for (int c = 0; c < hd; c++) {
                            o[i][h * hd + c] += s[j] / z * qkv.get(b, j, 2 * d + h * hd + c);
                        }
                    }
                }
            }
            for (int i = 0; i < 3; i++) {
                for (int e = 0; e < d; e++) {
                    double acc = attn.proj.bias.get(e);
                    for (int c = 0; c < d; c++) {
                        acc += o[i][c] * attn.proj.weight.get(e, c);
                    }
                    assertEquals(acc, y.get(b, i, e), 1e-5);
                }
            }
        }
    }
}
