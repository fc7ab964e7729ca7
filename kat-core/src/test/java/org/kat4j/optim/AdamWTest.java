package org.kat4j.optim;

import org.junit.jupiter.api.Test;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Tensor;

import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;

class AdamWTest {
    @Test
    void firstStepsMatchTheAlgorithmByHand() {
        Tensor w = Tensor.of(new double[]{1.0, -2.0}, 2).requiresGrad(true);
        Tensor b = Tensor.of(new double[]{0.5}, 1).requiresGrad(true);
        AdamW opt = AdamW.builder(List.of(w, b)).lr(0.1).weightDecay(0.5).noDecay(Set.of(b)).build();
        double[] m = new double[3];
        double[] v = new double[3];
        double[] p = {1.0, -2.0, 0.5};
        for (int step = 1; step <= 3; step++) {
            opt.zeroGrad();
            // loss = sum(w^2) + 3 b
            w.mul(w).sum().add(b.mul(3.0).sum()).backward();
            double[] g = {2 * p[0], 2 * p[1], 3};
            opt.step();
            for (int i = 0; i < 3; i++) {
                m[i] = 0.9 * m[i] + 0.1 * g[i];
                v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
                if (i < 2) {
                    p[i] *= 1 - 0.1 * 0.5;
                }
                double mh = m[i] / (1 - Math.pow(0.9, step));
                double vh = v[i] / (1 - Math.pow(0.999, step));
                p[i] -= 0.1 * mh / (Math.sqrt(vh) + 1e-8);
            }
            assertEquals(p[0], w.get(0), 1e-12);
            assertEquals(p[1], w.get(1), 1e-12);
            assertEquals(p[2], b.get(0), 1e-12);
        }
    }

    @Test
    void float32ParametersTakeTheFusedPassWithTheSameNumbers() {
        // 40,000 elements: several chunks, run in parallel; float32 arithmetic as torch.optim.AdamW
        int n = 40_000;
        java.util.Random r = new java.util.Random(3);
        float[] w0 = new float[n];
        for (int i = 0; i < n; i++) {
            w0[i] = (float) r.nextGaussian();
        }
        Tensor w = Tensor.of(w0, n).requiresGrad(true);
        Tensor b = Tensor.of(new float[]{0.25f, -1.5f}, 2).requiresGrad(true);
        assertEquals(DType.FLOAT32, w.dtype());
        AdamW opt = AdamW.builder(List.of(w, b)).lr(0.01).weightDecay(0.05).noDecay(Set.of(b)).build();
        float[] p = w0.clone();
        float[] pb = {0.25f, -1.5f};
        float[] m = new float[n];
        float[] v = new float[n];
        float[] mb = new float[2];
        float[] vb = new float[2];
        for (int step = 1; step <= 3; step++) {
            opt.zeroGrad();
            // loss = sum(w^3) / 3 + sum(b^2): dL/dw = w^2, dL/db = 2b
            w.mul(w).mul(w).sum().mul(1.0 / 3).add(b.mul(b).sum()).backward();
            float[] g = new float[n];
            for (int i = 0; i < n; i++) {
                g[i] = (float) w.grad().get(i);
            }
            float[] gbias = {(float) b.grad().get(0), (float) b.grad().get(1)};
            opt.step();
            float bc1 = (float) (1 - Math.pow(0.9, step));
            float bc2 = (float) Math.sqrt(1 - Math.pow(0.999, step));
            for (int i = 0; i < n + 2; i++) {
                boolean bias = i >= n;
                float gi = bias ? gbias[i - n] : g[i];
                float[] mm = bias ? mb : m;
                float[] vv = bias ? vb : v;
                int k = bias ? i - n : i;
                mm[k] = 0.9f * mm[k] + 0.1f * gi;
                vv[k] = 0.999f * vv[k] + 0.001f * gi * gi;
                float decay = bias ? 1f : 1f - 0.01f * 0.05f;
                float[] pp = bias ? pb : p;
                pp[k] = pp[k] * decay - (0.01f / bc1) * mm[k] / ((float) Math.sqrt(vv[k]) / bc2 + 1e-8f);
            }
            for (int i = 0; i < n; i += 997) {
                assertEquals(p[i], w.get(i), 1e-6 * Math.max(1, Math.abs(p[i])), "w[" + i + "] at step " + step);
            }
            assertEquals(pb[0], b.get(0), 1e-6);
            assertEquals(pb[1], b.get(1), 1e-6);
        }
    }

    @Test
    void sgdMomentumByHand() {
        Tensor w = Tensor.of(new double[]{1.0}, 1).requiresGrad(true);
        SGD opt = new SGD(List.of(w), 0.1, 0.9, 0.0);
        double p = 1;
        double vel = 0;
        for (int i = 0; i < 3; i++) {
            opt.zeroGrad();
            w.mul(w).sum().backward();
            vel = i == 0 ? 2 * p : 0.9 * vel + 2 * p;
            p -= 0.1 * vel;
            opt.step();
            assertEquals(p, w.get(0), 1e-12);
        }
        assertEquals(DType.FLOAT64, w.dtype());
    }
}
