package org.kat4j.backend;

import java.util.function.LongSupplier;

/**
 * A device's recorded work ({@link Backend#capture}): a replay queues all of it again with one
 * host call, on the buffers and with the scalars it was recorded with. Write new inputs into the
 * tensors the recorded work read, keep every tensor it read or wrote alive while replaying, and
 * read its results after a replay.
 *
 * <p>Two kinds of numbers are the exception to "the same scalars", read by the recorded kernels
 * from a table on the device that the host rewrites before a replay: dropout and drop-path masks'
 * seeds ({@link #replay(LongSupplier)} gives every mask a new one, drawn in the order the recorded
 * body drew them; a step replayed with the seeds its eager run would have drawn makes that run's
 * masks, bit for bit), and the numbers of the optimizer calls the body made
 * ({@link Backend#adamwSteps}, {@link Backend#emaUpdate}): {@link #replay(LongSupplier, Runnable)}
 * runs the host side of those calls again (the optimizer's {@code step()}, which counts its step
 * and reads the learning rate), whose backend calls then write their numbers instead of launching.
 * A whole training step (forward, backward, clip, AdamW, EMA) can so be recorded once and replayed
 * with the eager run's numbers.
 */
public interface Recording extends AutoCloseable {
    /** How many mask seeds the recorded work reads (one per dropout or drop-path mask). */
    int seeds();

    /** Queues the recorded work again, with the masks of the last replay (the first: those of the recording). */
    void replay();

    /**
     * Queues the recorded work again after drawing {@link #seeds()} seeds from {@code next}, one for
     * each recorded mask in the order the body drew them.
     */
    void replay(LongSupplier next);

    /**
     * As {@link #replay(LongSupplier)} ({@code next} may be null: the masks of the last replay),
     * after running {@code hostPart} with this device's optimizer calls recomputing the recorded
     * calls' numbers instead of launching: it must make the recorded {@code adamwSteps} and
     * {@code emaUpdate} calls, on the same tensors, in the same order, and queue no other work
     * (e.g. {@code () -> { opt.step(); ema.update(model); }} after {@code opt.lr(next)}).
     */
    void replay(LongSupplier next, Runnable hostPart);

    /** Frees the recording and the device memory it holds (after the work queued so far). */
    @Override
    void close();
}
