package org.kat4j.cuda;

import org.kat4j.backend.Backend;
import org.kat4j.backend.Backends;
import org.kat4j.backend.Device;
import org.kat4j.backend.Recording;

import java.util.ArrayList;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * A recorded CUDA graph of a CUDA backend's work: {@link #capture} runs a body once while the
 * device records every kernel and cuBLAS call it queues, and {@link #replay} queues them all again
 * with one launch instead of one host call each (a JCuda launch costs 5.5-8.8 us of host time,
 * a kernel inside a graph about 1.5 us): for steps of small models, whose kernels are shorter
 * than their launches.
 *
 * <pre>{@code
 * // warm up once eagerly (parameters' gradients, optimizer state and the memory cache exist), then record
 * model.zeroGrad();
 * Tensor[] loss = new Tensor[1];
 * try (CudaGraph step = CudaGraph.capture(device, () -> {
 *     loss[0] = Losses.crossEntropySoft(model.forward(images), targets);  // images, targets: device tensors
 *     loss[0].backward();
 *     opt.step();                      // recorded too: its numbers come from the graph's table
 * })) {
 *     step.replay();                   // the recorded step itself: recording ran nothing on the device
 *     for (...) {
 *         images.assign(nextImages);   // new values into the recorded inputs, outside the graph
 *         targets.assign(nextTargets);
 *         opt.lr(schedule.at(i));
 *         step.replay(model::nextSeed, opt::step);  // new masks; AdamW's host side refills its numbers
 *         double l = loss[0].item();
 *     }
 * }
 * }</pre>
 *
 * A replay repeats the recorded work exactly: the same buffers (write new inputs into the
 * tensors the body read, and keep every tensor it read or wrote alive while the graph is used),
 * the same scalars, except for the numbers that a table in device memory holds and the host
 * rewrites before a replay: the dropout and drop-path masks' seeds ({@link #replay(LongSupplier)}:
 * with the seeds the eager step would draw, the eager step's masks) and the numbers of recorded
 * AdamW steps and EMA updates ({@link #replay(LongSupplier, Runnable)} runs the optimizer's host
 * code, whose device calls then write their new numbers into the table instead of launching), so
 * a whole training step can be recorded; the same gradient handling (a gradient the recording
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
    private final Table table;
    /** Whether the device's table holds {@link Table#words} (the recording wrote them on the host only). */
    private boolean written;
    private boolean closed;

    CudaGraph(CudaBackend backend, Object graph, DeviceMemory.GraphPool pool, Table table) {
        this.backend = backend;
        this.graph = graph;
        this.pool = pool;
        this.table = table;
    }

    /**
     * The words a recording's kernels read from device memory instead of their arguments: the seed
     * of every dropout and drop-path mask and the numbers of every AdamW step and EMA update (the
     * step count and learning rate change from step to step), with the calls that wrote them. The
     * host copy is written while recording and before a replay, then copied to the device block in
     * one host copy.
     */
    static final class Table {
        /** Words (8 bytes each) one recording can hold. */
        static final int WORDS = 4096;
        final DeviceMemory.Raw block;
        final long[] words = new long[WORDS];
        int used;
        final List<Integer> seedSlots = new ArrayList<>();
        final List<Call> calls = new ArrayList<>();

        /** A recorded call whose numbers a replay's host part recomputes: what it was, on which tensors, where its numbers are. */
        record Call(String kind, long[] ids, int offset, int length) {
        }

        Table(DeviceMemory.Raw block) {
            this.block = block;
        }

        /** A mask's seed: its slot's device address. */
        long seed(long seed) {
            int slot = reserve(1);
            words[slot] = seed;
            seedSlots.add(slot);
            return block.address() + (long) slot * Long.BYTES;
        }

        /** A call's numbers: their device address. */
        long numbers(String kind, long[] ids, double[] numbers) {
            int offset = reserve(numbers.length);
            put(offset, numbers);
            calls.add(new Call(kind, ids, offset, numbers.length));
            return block.address() + (long) offset * Long.BYTES;
        }

        void put(int offset, double[] numbers) {
            for (int i = 0; i < numbers.length; i++) {
                words[offset + i] = Double.doubleToRawLongBits(numbers[i]);
            }
        }

        private int reserve(int n) {
            if (used + n > WORDS) {
                throw new IllegalStateException("more than " + WORDS + " words of mask seeds and optimizer numbers in one CUDA"
                        + " graph capture");
            }
            int at = used;
            used += n;
            return at;
        }
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
        return table.seedSlots.size();
    }

    /** Queues the recorded work again (returns at once; reading a result waits for it). */
    @Override
    public void replay() {
        checkOpen();
        if (!written) {
            backend.writeTable(table);
            written = true;
        }
        backend.replay(graph);
    }

    /** Draws a new seed for every recorded mask from {@code next}, in recorded order, and queues the work again. */
    @Override
    public void replay(LongSupplier next) {
        replay(next, null);
    }

    @Override
    public void replay(LongSupplier next, Runnable hostPart) {
        checkOpen();
        if (next != null) {
            for (int slot : table.seedSlots) {
                table.words[slot] = next.getAsLong();
            }
            written = false;
        }
        if (hostPart != null) {
            backend.refresh(table, hostPart);
            written = false;
        }
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
