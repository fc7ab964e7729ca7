package org.kat4j.backend;

import java.util.function.LongSupplier;

/**
 * A device's recorded work ({@link Backend#capture}): a replay queues all of it again with one
 * host call, on the buffers and with the scalars it was recorded with. Write new inputs into the
 * tensors the recorded work read, keep every tensor it read or wrote alive while replaying, and
 * read its results after a replay.
 *
 * <p>Dropout and drop-path masks are the exception to "the same scalars": each recorded mask reads
 * its seed from a table on the device, so {@link #replay(LongSupplier)} can give every mask a new
 * seed, drawn in the order the recorded body drew them; a step replayed with the seeds its eager
 * run would have drawn makes that run's masks, bit for bit.
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

    /** Frees the recording and the device memory it holds (after the work queued so far). */
    @Override
    void close();
}
