package org.kat4j.tensor;

import org.kat4j.backend.Backend;
import org.kat4j.backend.Backends;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.function.Supplier;

/**
 * A region whose temporaries are released together when it closes: open one per training step.
 *
 * <pre>{@code
 * try (var step = Scope.open()) {
 *     Tensor loss = model.forward(x) ...;
 *     loss.backward();
 *     opt.step();
 *     lossValue = loss.item();   // read what you need before the scope closes
 * }
 * }</pre>
 *
 * <p>Each backend decides how: the CPU backend allocates everything inside the scope in an arena
 * (an ND4J workspace) that, after the first step has learned its size, later steps reuse instead of
 * allocating and freeing buffers, which on that stack otherwise waits on the garbage collector.
 * Parameters, their gradients and optimizer state live outside any scope. A tensor made inside a
 * scope and used after it closed throws {@link IllegalStateException} instead of reading reused
 * memory.
 */
public final class Scope implements AutoCloseable {
    private static final ThreadLocal<Deque<Scope>> STACK = ThreadLocal.withInitial(ArrayDeque::new);
    /** How many {@link #detached} bodies this thread is inside. */
    private static final ThreadLocal<int[]> DETACHED = ThreadLocal.withInitial(() -> new int[1]);

    private final List<AutoCloseable> regions = new ArrayList<>();
    private final Thread owner = Thread.currentThread();
    private boolean closed;

    private Scope(int depth) {
        for (Backend b : Backends.all()) {
            regions.add(b.openScope(depth));
        }
    }

    /** Opens a scope on the current thread; close it on the same thread (try-with-resources). */
    public static Scope open() {
        Deque<Scope> stack = STACK.get();
        Scope s = new Scope(stack.size());
        stack.push(s);
        return s;
    }

    /** The innermost open scope of this thread, or null (also inside {@link #detached}, whose tensors outlive it). */
    static Scope current() {
        return DETACHED.get()[0] > 0 ? null : STACK.get().peek();
    }

    boolean isClosed() {
        return closed;
    }

    /**
     * Runs {@code body} with allocations outside every scope: for state that must outlive a step.
     * The tensors it makes belong to no scope, so they stay readable after the open ones close.
     */
    public static <T> T detached(Supplier<T> body) {
        if (STACK.get().isEmpty()) {
            return body.get();
        }
        Supplier<T> wrapped = body;
        for (Backend b : Backends.all()) {
            Supplier<T> inner = wrapped;
            wrapped = () -> b.outsideScopes(inner);
        }
        int[] depth = DETACHED.get();
        depth[0]++;
        try {
            return wrapped.get();
        } finally {
            depth[0]--;
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        if (Thread.currentThread() != owner) {
            throw new IllegalStateException("Scope closed on thread " + Thread.currentThread().getName()
                    + " but opened on " + owner.getName());
        }
        Deque<Scope> stack = STACK.get();
        if (stack.peek() != this) {
            throw new IllegalStateException("Scopes must close innermost first");
        }
        stack.pop();
        closed = true;
        RuntimeException failure = null;
        for (int i = regions.size() - 1; i >= 0; i--) {
            try {
                regions.get(i).close();
            } catch (Exception e) {
                if (failure == null) {
                    failure = new IllegalStateException("closing a scope failed: " + e.getMessage(), e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }
}
