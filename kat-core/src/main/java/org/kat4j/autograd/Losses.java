package org.kat4j.autograd;

import org.kat4j.backend.Backend;
import org.kat4j.backend.Storage;
import org.kat4j.tensor.Tensor;

import java.util.Arrays;

/** Loss functions with their derivative rules. */
public final class Losses {
    private Losses() {
    }

    /**
     * Mean cross-entropy of logits [N, C] against class labels, with label smoothing
     * {@code smoothing} (target (1-s) on the label, s/C spread over all classes).
     */
    public static Tensor crossEntropy(Tensor logits, int[] labels, double smoothing) {
        if (logits.rank() != 2 || logits.size(0) != labels.length) {
            throw new IllegalArgumentException("crossEntropy: logits " + Ops.shapeOf(logits) + ", expected [" + labels.length
                    + ", classes] for " + labels.length + " labels");
        }
        double[] t = smoothed(labels, logits.size(1), smoothing);
        Backend be = logits.backend();
        Storage targets = be.copy(be.fromDoubles(t, logits.shape()), logits.dtype());
        return crossEntropySoft(logits, Tensor.of(targets));
    }

    /**
     * The soft targets [N, classes] (float32, on the CPU) that {@link #crossEntropy} compares its
     * logits with: 1 - s + s/C at the label, s/C elsewhere; {@code crossEntropySoft} against them
     * gives {@code crossEntropy}'s bits.
     */
    public static Tensor targets(int[] labels, int classes, double smoothing) {
        double[] t = smoothed(labels, classes, smoothing);
        float[] f = new float[t.length];
        for (int i = 0; i < t.length; i++) {
            f[i] = (float) t[i];
        }
        return Tensor.of(f, labels.length, classes);
    }

    private static double[] smoothed(int[] labels, long classes, double smoothing) {
        double[] t = new double[Math.toIntExact(labels.length * classes)];
        double off = smoothing / classes;
        Arrays.fill(t, off);
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= classes) {
                throw new IllegalArgumentException("crossEntropy: label " + labels[i] + " at " + i + " outside [0, " + classes + ")");
            }
            t[Math.toIntExact(i * classes + labels[i])] += 1.0 - smoothing;
        }
        return t;
    }

    /** Mean cross-entropy against soft targets [N, C] (rows summing to 1: mixup, cutmix, smoothing). */
    public static Tensor crossEntropySoft(Tensor logits, Tensor targets) {
        if (!Arrays.equals(logits.shape(), targets.shape()) || logits.rank() != 2) {
            throw new IllegalArgumentException("crossEntropy: logits " + Ops.shapeOf(logits) + " and targets "
                    + Ops.shapeOf(targets) + ", expected the same [N, C]");
        }
        Ops.sameDType("crossEntropy", logits, targets);
        Backend be = Ops.backend("crossEntropy", logits, targets);
        Storage xv = logits.storage();
        Storage tv = targets.storage();
        Storage y = be.crossEntropy(xv, tv);
        return Autograd.op("crossEntropy", y, g -> Autograd.accumulate(logits, be.crossEntropyBackward(xv, tv, g), true), logits);
    }
}
