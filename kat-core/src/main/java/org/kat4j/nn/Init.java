package org.kat4j.nn;

import org.kat4j.tensor.DType;
import org.kat4j.tensor.Tensor;

import java.util.Random;

/** Weight initialisers (values drawn from a caller's seeded Random, so runs repeat). */
public final class Init {
    private Init() {
    }

    /** timm's trunc_normal_(std): normal, redrawn outside [-2, 2] (absolute, as timm's defaults). */
    public static Tensor truncNormal(Random rng, double std, long... shape) {
        double[] v = new double[Math.toIntExact(Tensor.numel(shape))];
        for (int i = 0; i < v.length; i++) {
            double x;
            do {
                x = rng.nextGaussian() * std;
            } while (x < -2 || x > 2);
            v[i] = x;
        }
        return Tensor.of(toFloat(v), shape);
    }

    public static Tensor normal(Random rng, double std, long... shape) {
        double[] v = new double[Math.toIntExact(Tensor.numel(shape))];
        for (int i = 0; i < v.length; i++) {
            v[i] = rng.nextGaussian() * std;
        }
        return Tensor.of(toFloat(v), shape);
    }

    public static Tensor zeros(long... shape) {
        return Tensor.zeros(DType.FLOAT32, shape);
    }

    public static Tensor ones(long... shape) {
        return Tensor.ones(DType.FLOAT32, shape);
    }

    static float[] toFloat(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        return f;
    }
}
