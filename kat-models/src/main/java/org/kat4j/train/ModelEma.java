package org.kat4j.train;

import org.kat4j.nn.Module;
import org.kat4j.tensor.Scope;
import org.kat4j.tensor.Tensor;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Exponential moving average of a model's parameters (timm's ModelEma): after each step
 * {@code ema = decay * ema + (1 - decay) * w}. Evaluate with {@link #swapIn}/{@link #swapOut}.
 */
public final class ModelEma {
    private final double decay;
    private final Map<String, INDArray> shadow = new LinkedHashMap<>();
    private Map<String, INDArray> backup;

    public ModelEma(Module model, double decay) {
        if (!(decay > 0 && decay < 1)) {
            throw new IllegalArgumentException("EMA decay " + decay + ", expected in (0, 1)");
        }
        this.decay = decay;
        for (var e : model.namedParameters().entrySet()) {
            shadow.put(e.getKey(), Scope.detachedCopy(e.getValue().nd()));
        }
    }

    public void update(Module model) {
        for (var e : model.namedParameters().entrySet()) {
            shadow.get(e.getKey()).muli(decay).addi(e.getValue().nd().mul(1 - decay));
        }
    }

    /** Puts the averaged weights into the model (keeping the trained ones aside). */
    public void swapIn(Module model) {
        backup = new LinkedHashMap<>();
        for (var e : model.namedParameters().entrySet()) {
            backup.put(e.getKey(), Scope.detachedCopy(e.getValue().nd()));
            e.getValue().nd().assign(shadow.get(e.getKey()));
        }
    }

    /** Restores the trained weights after {@link #swapIn}. */
    public void swapOut(Module model) {
        if (backup == null) {
            throw new IllegalStateException("swapOut without swapIn");
        }
        for (var e : model.namedParameters().entrySet()) {
            e.getValue().nd().assign(backup.get(e.getKey()));
        }
        backup = null;
    }

    /** The averaged weights as tensors (for checkpoints). */
    public Map<String, Tensor> tensors() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        shadow.forEach((k, v) -> out.put(k, Tensor.wrap(v)));
        return out;
    }

    /** Restores averaged weights saved by {@link #tensors()}. */
    public void load(Map<String, Tensor> saved) {
        saved.forEach((k, v) -> {
            INDArray s = shadow.get(k);
            if (s != null) {
                s.assign(v.nd());
            }
        });
    }
}
