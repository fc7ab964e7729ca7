package org.kat4j.cuda;

import org.kat4j.backend.Backend;
import org.kat4j.backend.Backends;
import org.kat4j.backend.Device;
import org.kat4j.backend.Recording;

import java.util.function.LongSupplier;

/**
 * A recorded CUDA graph of a CUDA backend's work: {@link #capture} runs a body once while the
 * device records every kernel and cuBLAS call it queues, and {@link #replay} queues them all again
 * with one launch instead of one host call each (a JCuda launch costs 5.5-8.8 us of host time,
 * a kernel inside a graph about 1.5 us): for steps of small models, whose kernels are shorter
 * than their launches.
 *
 * <pre>{@code
 * // warm up once eagerly (parameters' gradients and the memory cache exist), then record
 * model.zeroGrad();
 * Tensor[] loss = new Tensor[1];
 * try (CudaGraph step = CudaGraph.capture(device, () -> {
 *     loss[0] = Losses.crossEntropySoft(model.forward(images), targets);  // images, targets: device tensors
 *     loss[0].backward();
 * })) {
 *     for (...) {
 *         images.assign(nextImages);   // new values into the recorded inputs, outside the graph
 *         targets.assign(nextTargets);
 *         step.replay();               // forward and backward; the gradients are written, as recorded
 *         opt.step();                  // eagerly: its learning rate and step count change every step
 *         double l = loss[0].item();
 *     }
 * }
 * }</pre>
 *
 * A replay repeats the recorded work exactly: the same buffers (write new inputs into the
 * tensors the body read, and keep every tensor it read or wrote alive while the graph is used),
 * the same scalars (learning rates, step counts: record forward and backward, and step the
 * optimizer outside), the same dropout and drop-path masks unless {@link #replay(LongSupplier)}
 * gives them new seeds (each recorded mask reads its seed from a table in device memory, written
 * before the replay: with the seeds the eager step would draw, the eager step's masks), the same
 * gradient handling (a gradient the recording
 * wrote into a zeroed buffer is overwritten on every replay, one it added to is added to again;
 * the Java side does not see a replay, so do not call {@code zeroGrad()} between replays: the
 * optimizer would then read the pending zeros instead of the replayed gradients).
 * The body cannot copy between host and device (an upload of labels or index lists, a value read
 * with {@code item()}): capture then fails with a message and records nothing. Every block of
 * device memory the body allocated stays the graph's until {@link #close}, so capture outside any
 * {@code Scope}, or inside one that stays open while the body's outputs are read.
 */
public final class CudaGraph implements Recording {
    private final CudaBackend backend;
    private final Object graph;
    private final DeviceMemory.GraphPool pool;
    private final DeviceMemory.Raw seedTable;
    /** The seeds the table holds or is to hold before the next replay. */
    private final long[] seeds;
    /** Whether the table holds {@link #seeds} (the recording drew them, but could not write them). */
    private boolean seedsWritten;
    private boolean closed;

    CudaGraph(CudaBackend backend, Object graph, DeviceMemory.GraphPool pool, DeviceMemory.Raw seedTable, long[] seeds) {
        this.backend = backend;
        this.graph = graph;
        this.pool = pool;
        this.seedTable = seedTable;
        this.seeds = seeds;
    }

    /** Runs {@code body} once on the calling thread while {@code device} (a CUDA device) records its work. */
    public static CudaGraph capture(Device device, Runnable body) {
        Backend be = Backends.forDevice(device);
        if (!(be instanceof CudaBackend cuda)) {
            throw new IllegalArgumentException("CUDA graphs record a CUDA device's work; " + device + " is not one");
        }
        return cuda.capture(body);
    }

    @Override
    public int seeds() {
        return seeds.length;
    }

    /** Queues the recorded work again (returns at once; reading a result waits for it). */
    @Override
    public void replay() {
        checkOpen();
        if (!seedsWritten) {
            backend.writeSeeds(seedTable, seeds);
            seedsWritten = true;
        }
        backend.replay(graph);
    }

    /** Draws a new seed for every recorded mask from {@code next}, in recorded order, and queues the work again. */
    @Override
    public void replay(LongSupplier next) {
        checkOpen();
        for (int i = 0; i < seeds.length; i++) {
            seeds[i] = next.getAsLong();
        }
        seedsWritten = false;
        replay();
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("replay of a closed CUDA graph");
        }
    }

    /** Frees the graph and gives its memory back (after the work queued so far). */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            backend.destroy(graph, pool);
        }
    }
}
