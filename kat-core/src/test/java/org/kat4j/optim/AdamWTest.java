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
