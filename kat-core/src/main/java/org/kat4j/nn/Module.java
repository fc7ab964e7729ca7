package org.kat4j.nn;

import org.kat4j.backend.Device;
import org.kat4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A layer: parameters and child modules registered under their checkpoint names (timm's), so
 * {@link #namedParameters()} yields keys like {@code blocks.0.mlp.fc1.weight}.
 */
public abstract class Module {
    private final Map<String, Tensor> params = new LinkedHashMap<>();
    private final Map<String, Module> children = new LinkedHashMap<>();
    private boolean training = true;

    /** Registers a trainable parameter (requiresGrad is set) and returns it. */
    protected Tensor param(String name, Tensor value) {
        value.requiresGrad(true);
        params.put(name, value);
        return value;
    }

    /** Registers a child module and returns it. */
    protected <M extends Module> M child(String name, M module) {
        children.put(name, module);
        return module;
    }

    /** Parameters with dotted names, in registration order. */
    public Map<String, Tensor> namedParameters() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        collect("", out);
        return out;
    }

    private void collect(String prefix, Map<String, Tensor> out) {
        params.forEach((k, v) -> out.put(prefix + k, v));
        children.forEach((k, m) -> m.collect(prefix + k + ".", out));
    }

    /** The parameters by checkpoint name (what {@link #loadStateDict} takes and Safetensors.write saves). */
    public Map<String, Tensor> stateDict() {
        return namedParameters();
    }

    public List<Tensor> parameters() {
        return new ArrayList<>(namedParameters().values());
    }

    /**
     * Moves every parameter (and its gradient) to {@code device} in place and returns this. Build
     * the optimizer after moving, or its state follows the parameters on the next step.
     */
    public Module to(Device device) {
        for (Tensor p : namedParameters().values()) {
            p.moveTo(device);
        }
        return this;
    }

    /** The device of the parameters (the CPU for a module without any). */
    public Device device() {
        for (Tensor p : namedParameters().values()) {
            return p.device();
        }
        return Device.CPU;
    }

    /** Total number of parameter elements. */
    public long parameterCount() {
        long n = 0;
        for (Tensor t : namedParameters().values()) {
            n += t.numel();
        }
        return n;
    }

    public Map<String, Module> children() {
        return children;
    }

    /** Switches this module and its children between training (dropout active) and evaluation. */
    public Module train(boolean on) {
        training = on;
        children.values().forEach(c -> c.train(on));
        return this;
    }

    public boolean isTraining() {
        return training;
    }

    public void zeroGrad() {
        for (Tensor t : namedParameters().values()) {
            t.zeroGrad();
        }
    }

    /**
     * Copies values into the parameters by name. Strict: every parameter must be present with its
     * shape and nothing else may be in {@code state}; all problems are reported in one error.
     */
    public void loadStateDict(Map<String, Tensor> state, boolean strict) {
        Map<String, Tensor> mine = namedParameters();
        List<String> problems = new ArrayList<>();
        for (var e : mine.entrySet()) {
            Tensor v = state.get(e.getKey());
            if (v == null) {
                if (strict) {
                    problems.add("missing " + e.getKey());
                }
            } else if (!Arrays.equals(v.shape(), e.getValue().shape())) {
                problems.add("shape of " + e.getKey() + ": " + Arrays.toString(v.shape()) + " in the state dict, "
                        + Arrays.toString(e.getValue().shape()) + " in the model");
            }
        }
        if (strict) {
            for (String k : state.keySet()) {
                if (!mine.containsKey(k)) {
                    problems.add("unexpected " + k);
                }
            }
        }
        if (!Boolean.getBoolean("kat4j.allowNonFinite")) {
            for (var e : mine.entrySet()) {
                Tensor v = state.get(e.getKey());
                if (v != null && Arrays.equals(v.shape(), e.getValue().shape())) {
                    float[] values = v.toFloatArray();
                    int bad = 0;
                    int first = -1;
                    for (int i = 0; i < values.length; i++) {
                        if (!Float.isFinite(values[i])) {
                            bad++;
                            first = first < 0 ? i : first;
                        }
                    }
                    if (bad > 0) {
                        problems.add(e.getKey() + " holds " + bad + " NaN or infinite value(s), the first at element " + first
                                + " (-Dkat4j.allowNonFinite=true loads them anyway)");
                    }
                }
            }
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("loadStateDict: " + problems.size() + " problem(s): " + String.join("; ", problems));
        }
        for (var e : mine.entrySet()) {
            Tensor v = state.get(e.getKey());
            if (v != null) {
                e.getValue().assign(v);
            }
        }
    }

    /** The layer's computation. */
    public abstract Tensor forward(Tensor x);

    static String shape(Tensor t) {
        return Arrays.toString(t.shape());
    }
}
