package org.kat4j.autograd;

import org.kat4j.backend.Storage;
import org.kat4j.tensor.Tensor;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The reverse-mode engine: a topological walk over recorded ops, grad-mode switches, and the two
 * calls a custom op needs ({@link #op} and {@link #accumulate}).
 *
 * <pre>{@code
 * // y = x^2 as a custom op with its own backward
 * Storage xv = x.storage();
 * Backend be = x.backend();
 * Tensor y = Autograd.op("square", be.binary(BinaryOp.MUL, xv, xv), g ->
 *         Autograd.accumulate(x, be.scalar(ScalarOp.MUL, be.binary(BinaryOp.MUL, g, xv), 2), true), x);
 * }</pre>
 */
public final class Autograd {
    private static final ThreadLocal<int[]> NO_GRAD_DEPTH = ThreadLocal.withInitial(() -> new int[1]);

    private Autograd() {
    }

    /** A derivative rule: given dL/d(output), adds dL/d(input) into each input that requires grad. */
    @FunctionalInterface
    public interface BackwardFn {
        void apply(Storage gradOutput);
    }

    /**
     * The result of op {@code name} with values {@code value}, linked to {@code inputs} with the
     * derivative rule {@code fn} when an input requires grad and grad mode is on.
     */
    public static Tensor op(String name, Storage value, BackwardFn fn, Tensor... inputs) {
        TensorGraph graph = TensorGraph.get();
        Tensor t = graph.result(value);
        graph.link(t, name, fn, inputs);
        return t;
    }

    /**
     * Inside a derivative rule: adds {@code g} (t's shape, t's device) into t's gradient, if t
     * requires grad. {@code owned}: g is a fresh storage that no one else holds, so it may be kept
     * as is; pass false for the rule's own input gradient or any storage still in use.
     */
    public static void accumulate(Tensor t, Storage g, boolean owned) {
        if (t.requiresGrad()) {
            TensorGraph.get().accumulateGrad(t, g, owned);
        }
    }

    /** Whether ops record a graph on this thread. */
    public static boolean isGradEnabled() {
        return NO_GRAD_DEPTH.get()[0] == 0;
    }

    /** Within the returned scope (try-with-resources) no graph is recorded: for evaluation. */
    public static NoGrad noGrad() {
        NO_GRAD_DEPTH.get()[0]++;
        return new NoGrad();
    }

    /** Closes a no-grad region. */
    public static final class NoGrad implements AutoCloseable {
        private boolean closed;

        private NoGrad() {
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                NO_GRAD_DEPTH.get()[0]--;
            }
        }
    }

    /** Runs backward from {@code root} with seed gradient {@code seed}; frees the graph afterwards. */
    public static void backward(Tensor root, Storage seed) {
        TensorGraph graph = TensorGraph.get();
        if (!Arrays.equals(seed.shape(), root.shape())) {
            throw new IllegalArgumentException("backward: seed shape " + Arrays.toString(seed.shape())
                    + " does not match tensor shape " + Arrays.toString(root.shape()));
        }
        if (graph.graphFreed(root)) {
            throw new IllegalStateException("backward through a graph that was already freed (tensor from op '"
                    + graph.op(root) + "'): run the forward again before a second backward");
        }
        if (!root.requiresGrad()) {
            throw new IllegalStateException("backward on a tensor that does not require grad: no input of its graph"
                    + " has requiresGrad(true), or it was computed under noGrad()");
        }
        List<Tensor> order = topologicalOrder(root);
        // the seed is only read: a non-leaf root receives no other gradient, so no copy is needed
        graph.accumulateGrad(root, seed, true);
        for (int i = order.size() - 1; i >= 0; i--) {
            Tensor t = order.get(i);
            BackwardFn fn = graph.backwardFn(t);
            Storage g = graph.gradStorage(t);
            if (fn != null && g != null) {
                fn.apply(g);
            }
            graph.freeGraph(t, false);
        }
    }

    /** Nodes reachable from root, each after all its inputs (iterative DFS, no recursion). */
    static List<Tensor> topologicalOrder(Tensor root) {
        TensorGraph graph = TensorGraph.get();
        List<Tensor> order = new ArrayList<>();
        Map<Tensor, Boolean> seen = new IdentityHashMap<>();
        Deque<Object[]> stack = new ArrayDeque<>();
        stack.push(new Object[]{root, 0});
        seen.put(root, Boolean.TRUE);
        while (!stack.isEmpty()) {
            Object[] frame = stack.peek();
            Tensor t = (Tensor) frame[0];
            int next = (Integer) frame[1];
            Tensor[] parents = graph.backwardFn(t) == null ? null : graph.parents(t);
            if (parents != null && next < parents.length) {
                frame[1] = next + 1;
                Tensor p = parents[next];
                if (p != null && p.requiresGrad() && !seen.containsKey(p)) {
                    if (graph.graphFreed(p)) {
                        throw new IllegalStateException("backward reaches a tensor from op '" + graph.op(p)
                                + "' whose graph was freed by an earlier backward: recompute it");
                    }
                    seen.put(p, Boolean.TRUE);
                    stack.push(new Object[]{p, 0});
                }
            } else {
                stack.pop();
                order.add(t);
            }
        }
        return Collections.unmodifiableList(order);
    }
}
