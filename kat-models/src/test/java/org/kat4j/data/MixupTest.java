package org.kat4j.data;

import org.junit.jupiter.api.Test;
import org.kat4j.tensor.Tensor;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MixupTest {
    static Batcher.Batch batch() {
        // image i is filled with the value i
        float[] v = new float[4 * 1 * 8 * 8];
        for (int i = 0; i < v.length; i++) {
            v[i] = i / 64;
        }
        return new Batcher.Batch(Tensor.of(v, 4, 1, 8, 8), new int[]{0, 1, 2, 3});
    }

    @Test
    void mixupBlendsImagesAndTargetsWithOneLambda() {
        Mixup m = new Mixup(0.8, 0, 0.1, 5, new Random(1));
        Mixup.Mixed r = m.apply(batch());
        double lam = r.lambda();
        assertTrue(lam > 0 && lam < 1 && !r.cutmix());
        assertEquals(lam * 0 + (1 - lam) * 3, r.images().get(0, 0, 4, 4), 1e-5);
        for (int i = 0; i < 4; i++) {
            double row = 0;
            for (int k = 0; k < 5; k++) {
                row += r.targets().get(i, k);
            }
            assertEquals(1.0, row, 1e-6, "targets are distributions");
        }
        assertEquals(0.02 + lam * 0.9, r.targets().get(0, 0), 1e-6);
        assertEquals(0.02 + (1 - lam) * 0.9, r.targets().get(0, 3), 1e-6);
    }

    @Test
    void cutmixPastesABoxAndLambdaIsTheKeptArea() {
        Mixup m = new Mixup(0, 1.0, 0, 4, new Random(2));
        for (int t = 0; t < 20; t++) {
            Mixup.Mixed r = m.apply(batch());
            assertTrue(r.cutmix());
            long pasted = 0;
            for (int y = 0; y < 8; y++) {
                for (int x = 0; x < 8; x++) {
                    if (r.images().get(0, 0, y, x) == 3) {
                        pasted++;
                    }
                }
            }
            assertEquals(1 - pasted / 64.0, r.lambda(), 1e-9);
            assertEquals(r.lambda(), r.targets().get(0, 0), 1e-6);
        }
    }

    @Test
    void betaHasTheRightMean() {
        Mixup m = new Mixup(0.8, 0, 0, 2, new Random(3));
        double s = 0;
        for (int i = 0; i < 20000; i++) {
            s += m.beta(0.8);
        }
        assertEquals(0.5, s / 20000, 0.01);
    }
}
