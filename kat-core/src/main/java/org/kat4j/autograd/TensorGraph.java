package org.kat4j.autograd;

import org.kat4j.backend.Storage;
import org.kat4j.tensor.Tensor;

/**
 * The bridge through which the autograd engine reaches a tensor's graph state, which
 * {@link Tensor} keeps out of its public API. {@link Tensor} installs the only instance when it
 * loads; a second one cannot be made.
 */
public abstract class TensorGraph {
    private static TensorGraph instance;

    protected TensorGraph() {
        synchronized (TensorGraph.class) {
            if (instance != null) {
                throw new IllegalStateException("TensorGraph is installed by Tensor and cannot be replaced");
            }
            instance = this;
        }
    }

    static TensorGraph get() {
        TensorGraph g = instance;
        if (g == null) {
            try {
                Class.forName(Tensor.class.getName(), true, Tensor.class.getClassLoader());
            } catch (ClassNotFoundException e) {
                throw new IllegalStateException(e);
            }
            g = instance;
        }
        return g;
    }

    /** Records {@code t} as the result of {@code op} on {@code inputs} with rule {@code fn} (no-op when nothing needs grad). */
    protected abstract void link(Tensor t, String op, Autograd.BackwardFn fn, Tensor[] inputs);

    protected abstract Tensor[] parents(Tensor t);

    protected abstract Autograd.BackwardFn backwardFn(Tensor t);

    protected abstract boolean graphFreed(Tensor t);

    protected abstract String op(Tensor t);

    /** Cuts t from its graph after backward; intermediate gradients are dropped unless keepGrad. */
    protected abstract void freeGraph(Tensor t, boolean keepGrad);

    /** Adds g (t's shape) into t's gradient; {@code owned}: no one else holds g, so it may be kept as is. */
    protected abstract void accumulateGrad(Tensor t, Storage g, boolean owned);

    /** t's gradient storage, or null. */
    protected abstract Storage gradStorage(Tensor t);

    /** A tensor over {@code value}, in the current scope. */
    protected abstract Tensor result(Storage value);
}
