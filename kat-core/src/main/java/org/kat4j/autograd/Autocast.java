package org.kat4j.autograd;

/**
 * bf16 autocast: inside {@link #bf16()}, float32 matrix products ({@link Ops#matmul},
 * {@link Ops#linear} and every layer built on them: the Linear layers of attention, Mlp and GR-KAN)
 * multiply bfloat16 roundings of their operands and sum the products in float32, and the products
 * of their backward do the same, wherever the backward runs. Parameters, activations, gradients and
 * every other op stay float32 (the master weights and reductions of mixed precision), the fused
 * attention op's two products (scores, and their product with the values) among them. On a GPU the
 * products then run on the tensor cores (cuBLAS, bf16 operands); the CPU backend rounds the
 * operands and multiplies in float32, the same values to summation order, and no faster.
 *
 * <pre>{@code
 * try (Autocast ac = Autocast.bf16()) {
 *     Tensor loss = Losses.crossEntropy(model.forward(x), labels);
 *     loss.backward();
 * }
 * }</pre>
 * Regions nest and belong to the thread that opened them; float64 products are never rounded.
 */
public final class Autocast implements AutoCloseable {
    private static final ThreadLocal<int[]> DEPTH = ThreadLocal.withInitial(() -> new int[1]);

    private final Thread owner = Thread.currentThread();
    private boolean closed;

    private Autocast() {
    }

    /** Opens a bf16 autocast region on the calling thread; close it there (try-with-resources). */
    public static Autocast bf16() {
        DEPTH.get()[0]++;
        return new Autocast();
    }

    /** Whether the calling thread is inside a bf16 autocast region. */
    public static boolean bf16Enabled() {
        return DEPTH.get()[0] > 0;
    }

    @Override
    public void close() {
        if (Thread.currentThread() != owner) {
            throw new IllegalStateException("an autocast region opened on thread '" + owner.getName() + "' was closed on '"
                    + Thread.currentThread().getName() + "': close it on the thread that opened it");
        }
        if (!closed) {
            closed = true;
            DEPTH.get()[0]--;
        }
    }
}
