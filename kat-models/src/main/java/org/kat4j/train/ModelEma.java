package org.kat4j.train;

import org.kat4j.backend.Storage;

import org.kat4j.nn.Module;
import org.kat4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Exponential moving average of a model's parameters (timm's ModelEma): after each step
 * {@code ema = decay * ema + (1 - decay) * w}. Evaluate with {@link #swapIn}/{@link #swapOut}.
 */
public final class ModelEma {
    private final double decay;
    private final Map<String, Tensor> shadow = new LinkedHashMap<>();
    private Map<String, Tensor> backup;

    public ModelEma(Module model, double decay) {
        if (!(decay > 0 && decay < 1)) {
            throw new IllegalArgumentException("EMA decay " + decay + ", expected in (0, 1)");
        }
        this.decay = decay;
        for (var e : model.namedParameters().entrySet()) {
            shadow.put(e.getKey(), e.getValue().copy());
        }
    }

    /** Moves the average towards the model's weights: one {@link org.kat4j.backend.Backend#emaUpdate} per device. */
    public void update(Module model) {
        Map<org.kat4j.backend.Backend, List<Storage[]>> byDevice = new LinkedHashMap<>();
        for (var e : model.namedParameters().entrySet()) {
            Tensor s = shadow.get(e.getKey());
            byDevice.computeIfAbsent(s.backend(), b -> new ArrayList<>()).add(new Storage[]{s.storage(), e.getValue().storage()});
        }
        for (var e : byDevice.entrySet()) {
            List<Storage[]> pairs = e.getValue();
            Storage[] avg = new Storage[pairs.size()];
            Storage[] w = new Storage[pairs.size()];
            for (int i = 0; i < avg.length; i++) {
                avg[i] = pairs.get(i)[0];
                w[i] = pairs.get(i)[1];
            }
            e.getKey().emaUpdate(avg, w, decay);
        }
    }

    /** Puts the averaged weights into the model (keeping the trained ones aside). */
    public void swapIn(Module model) {
        backup = new LinkedHashMap<>();
        for (var e : model.namedParameters().entrySet()) {
            backup.put(e.getKey(), e.getValue().copy());
            e.getValue().assign(shadow.get(e.getKey()));
        }
    }

    /** Restores the trained weights after {@link #swapIn}. */
    public void swapOut(Module model) {
        if (backup == null) {
            throw new IllegalStateException("swapOut without swapIn");
        }
        for (var e : model.namedParameters().entrySet()) {
            e.getValue().assign(backup.get(e.getKey()));
        }
        backup = null;
    }

    /** The averaged weights as tensors (for checkpoints). */
    public Map<String, Tensor> tensors() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        out.putAll(shadow);
        return out;
    }

    /** Restores averaged weights saved by {@link #tensors()}. */
    public void load(Map<String, Tensor> saved) {
        saved.forEach((k, v) -> {
            Tensor s = shadow.get(k);
            if (s != null) {
                s.assign(v);
            }
        });
    }
}
