package org.kat4j.tensor;

import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.memory.enums.SpillPolicy;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayDeque;
import java.util.Deque;
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
 * <p>Every array allocated inside the scope lives in an ND4J workspace (an arena): after the first
 * step learns its size, later steps reuse the same memory instead of allocating and freeing
 * buffers, which on this stack otherwise waits on the garbage collector. Parameters, their
 * gradients and optimizer state live outside any scope. A tensor made inside a scope and used
 * after it closed throws {@link IllegalStateException} instead of reading reused memory.
 */
public final class Scope implements AutoCloseable {
    private static final ThreadLocal<Deque<Scope>> STACK = ThreadLocal.withInitial(ArrayDeque::new);
    private static final WorkspaceConfiguration CONFIG = WorkspaceConfiguration.builder()
            .policyAllocation(AllocationPolicy.STRICT)
            .policyLearning(LearningPolicy.FIRST_LOOP)
            .policySpill(SpillPolicy.REALLOCATE)
            .build();

    private final MemoryWorkspace workspace;
    private final Thread owner = Thread.currentThread();
    private boolean closed;

    private Scope(int depth) {
        this.workspace = Nd4j.getWorkspaceManager().getAndActivateWorkspace(CONFIG, "kat4j-scope-" + depth);
    }

    /** Opens a scope on the current thread; close it on the same thread (try-with-resources). */
    public static Scope open() {
        Deque<Scope> stack = STACK.get();
        Scope s = new Scope(stack.size());
        stack.push(s);
        return s;
    }

    /** The innermost open scope of this thread, or null. */
    static Scope current() {
        return STACK.get().peek();
    }

    boolean isClosed() {
        return closed;
    }

    /** Runs {@code body} with allocations outside every scope: for state that must outlive a step. */
    public static <T> T detached(Supplier<T> body) {
        if (STACK.get().isEmpty()) {
            return body.get();
        }
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            return body.get();
        }
    }

    /** A copy of {@code a} allocated outside every scope. */
    public static INDArray detachedCopy(INDArray a) {
        return detached(() -> a.dup('c'));
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
        workspace.close();
    }
}
