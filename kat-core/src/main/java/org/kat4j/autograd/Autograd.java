package org.kat4j.autograd;

import org.kat4j.tensor.Tensor;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/** The reverse-mode engine: a topological walk over recorded ops, and grad-mode switches. */
public final class Autograd {
    private static final ThreadLocal<int[]> NO_GRAD_DEPTH = ThreadLocal.withInitial(() -> new int[1]);

    private Autograd() {
    }

    /** A derivative rule: given dL/d(output), adds dL/d(input) into each input that requires grad. */
    @FunctionalInterface
    public interface BackwardFn {
        void apply(INDArray gradOutput);
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
    public static void backward(Tensor root, INDArray seed) {
        if (!Arrays.equals(seed.shape(), root.shape())) {
            throw new IllegalArgumentException("backward: seed shape " + Arrays.toString(seed.shape())
                    + " does not match tensor shape " + Arrays.toString(root.shape()));
        }
        if (root.graphFreed()) {
            throw new IllegalStateException("backward through a graph that was already freed (tensor from op '"
                    + root.op() + "'): run the forward again before a second backward");
        }
        if (!root.requiresGrad()) {
            throw new IllegalStateException("backward on a tensor that does not require grad: no input of its graph"
                    + " has requiresGrad(true), or it was computed under noGrad()");
        }
        List<Tensor> order = topologicalOrder(root);
        // the seed is only read: a non-leaf root receives no other gradient, so no copy is needed
        root.accumulateGrad(seed, true);
        for (int i = order.size() - 1; i >= 0; i--) {
            Tensor t = order.get(i);
            BackwardFn fn = t.backwardFn();
            INDArray g = t.gradNd();
            if (fn != null && g != null) {
                fn.apply(g);
            }
            t.freeGraph(false);
        }
    }

    /** Nodes reachable from root, each after all its inputs (iterative DFS, no recursion). */
    static List<Tensor> topologicalOrder(Tensor root) {
        List<Tensor> order = new ArrayList<>();
        Map<Tensor, Boolean> seen = new IdentityHashMap<>();
        Deque<Object[]> stack = new ArrayDeque<>();
        stack.push(new Object[]{root, 0});
        seen.put(root, Boolean.TRUE);
        while (!stack.isEmpty()) {
            Object[] frame = stack.peek();
            Tensor t = (Tensor) frame[0];
            int next = (Integer) frame[1];
            Tensor[] parents = t.backwardFn() == null ? null : t.parents();
            if (parents != null && next < parents.length) {
                frame[1] = next + 1;
                Tensor p = parents[next];
                if (p != null && p.requiresGrad() && !seen.containsKey(p)) {
                    if (p.graphFreed()) {
                        throw new IllegalStateException("backward reaches a tensor from op '" + p.op()
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
