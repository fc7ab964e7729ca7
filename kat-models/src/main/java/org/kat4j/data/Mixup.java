package org.kat4j.data;

import org.kat4j.autograd.Losses;
import org.kat4j.tensor.Tensor;

import java.util.Random;

/**
 * Mixup and CutMix (timm's Mixup, batch mode): each batch is blended with its own reverse, images
 * and one-hot (label-smoothed) targets alike. With both on, CutMix is picked for half the batches.
 * Targets become soft [B, classes]: train with Losses.crossEntropySoft.
 */
public final class Mixup {
    private final double mixupAlpha;
    private final double cutmixAlpha;
    private final double smoothing;
    private final int classes;
    private final Random rng;

    /** A mixed batch: images [B, C, H, W] and soft targets [B, classes]. */
    public record Mixed(Tensor images, Tensor targets, double lambda, boolean cutmix) {
    }

    public Mixup(double mixupAlpha, double cutmixAlpha, double smoothing, int classes, Random rng) {
        if (mixupAlpha < 0 || cutmixAlpha < 0 || (mixupAlpha == 0 && cutmixAlpha == 0)) {
            throw new IllegalArgumentException("Mixup: alphas " + mixupAlpha + " / " + cutmixAlpha + ", expected >= 0, one > 0");
        }
        this.mixupAlpha = mixupAlpha;
        this.cutmixAlpha = cutmixAlpha;
        this.smoothing = smoothing;
        this.classes = classes;
        this.rng = rng;
    }

    public Mixed apply(Batcher.Batch b) {
        long[] s = b.images().shape();
        int n = (int) s[0];
        int c = (int) s[1];
        int h = (int) s[2];
        int w = (int) s[3];
        boolean cut = cutmixAlpha > 0 && (mixupAlpha == 0 || rng.nextBoolean());
        double lam = beta(cut ? cutmixAlpha : mixupAlpha);
        float[] x = b.images().toFloatArray();
        float[] out = new float[x.length];
        int img = c * h * w;
        if (cut) {
            // a box of area (1 - lam), clipped to the image; lam then corrected to the kept area
            double r = Math.sqrt(1 - lam);
            int bh = (int) (h * r);
            int bw = (int) (w * r);
            int cy = rng.nextInt(h);
            int cx = rng.nextInt(w);
            int y0 = Math.max(cy - bh / 2, 0);
            int y1 = Math.min(cy + bh / 2, h);
            int x0 = Math.max(cx - bw / 2, 0);
            int x1 = Math.min(cx + bw / 2, w);
            System.arraycopy(x, 0, out, 0, x.length);
            for (int i = 0; i < n; i++) {
                int j = n - 1 - i;
                for (int ch = 0; ch < c; ch++) {
                    for (int y = y0; y < y1; y++) {
                        for (int xx = x0; xx < x1; xx++) {
                            int o = ch * h * w + y * w + xx;
                            out[i * img + o] = x[j * img + o];
                        }
                    }
                }
            }
            lam = 1 - (double) (y1 - y0) * (x1 - x0) / (h * w);
        } else {
            for (int i = 0; i < n; i++) {
                int j = n - 1 - i;
                for (int k = 0; k < img; k++) {
                    out[i * img + k] = (float) (lam * x[i * img + k] + (1 - lam) * x[j * img + k]);
                }
            }
        }
        float[] t = new float[n * classes];
        double off = smoothing / classes;
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < classes; k++) {
                t[i * classes + k] = (float) off;
            }
            t[i * classes + b.labels()[i]] += (float) (lam * (1 - smoothing));
            t[i * classes + b.labels()[n - 1 - i]] += (float) ((1 - lam) * (1 - smoothing));
        }
        return new Mixed(Tensor.of(out, s), Tensor.of(t, n, classes), lam, cut);
    }

    /** Beta(a, a) from two gamma draws (Marsaglia-Tsang). */
    double beta(double a) {
        double g1 = gamma(a);
        double g2 = gamma(a);
        return g1 / (g1 + g2);
    }

    private double gamma(double a) {
        if (a < 1) {
            return gamma(a + 1) * Math.pow(rng.nextDouble(), 1 / a);
        }
        double d = a - 1.0 / 3;
        double c = 1 / Math.sqrt(9 * d);
        while (true) {
            double z = rng.nextGaussian();
            double v = 1 + c * z;
            if (v <= 0) {
                continue;
            }
            v = v * v * v;
            double u = rng.nextDouble();
            if (Math.log(u) < 0.5 * z * z + d - d * v + d * Math.log(v)) {
                return d * v;
            }
        }
    }
}
