package org.kat4j.cuda;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The CUDA backend's caching allocator: blocks come from cuMemAlloc once and go back to a free list
 * of their size class when released, so a training step that repeats the previous step's sizes
 * allocates nothing from the driver. Size classes are multiples of 512 bytes up to 4 KiB, then four
 * per power of two (at most 25% unused). All work runs on one stream, so a block released while
 * kernels that use it are still queued is only reused by work queued after them. When the driver
 * is out of memory the cached blocks are freed (after the device is idle) and the allocation tried
 * once more. Thread-safe: blocks are released from the cleaner thread too.
 */
final class DeviceMemory {
    /** A block of device memory: its address and its size class. */
    record Raw(long address, long bytes) {
    }

    /**
     * The blocks of one CUDA graph: every block taken while it was recorded. Its kernels use them on
     * every replay, so one given back meanwhile (its storage released, its scope closed) is kept
     * here, not in the cache, until the graph closes; during the recording such a block can be
     * taken again by the recording itself (its work runs in recorded order).
     */
    static final class GraphPool {
        private final Set<Long> taken = new HashSet<>();
        private final Map<Long, ArrayDeque<Raw>> free = new HashMap<>();
        private final Set<Raw> released = new LinkedHashSet<>();
    }

    private final Gpu gpu;
    private final Map<Long, ArrayDeque<Raw>> free = new HashMap<>();
    /** The pool of the graph being recorded, or null. */
    private GraphPool recording;
    /** Pools of recorded graphs not closed yet. */
    private final List<GraphPool> graphs = new ArrayList<>();
    private long inUse;
    private long cached;
    private long peak;
    private long driverAllocations;

    DeviceMemory(Gpu gpu) {
        this.gpu = gpu;
    }

    /** The size class that holds {@code bytes} (&gt; 0). */
    static long sizeClass(long bytes) {
        if (bytes <= 4096) {
            return (bytes + 511) / 512 * 512;
        }
        long top = Long.highestOneBit(bytes - 1) << 1; // bytes <= top, top / 2 < bytes
        long quarter = top / 8;
        return (bytes + quarter - 1) / quarter * quarter;
    }

    /** A block of at least {@code bytes}, from the cache when one of its class is free. */
    Raw take(long bytes) {
        long size = sizeClass(bytes);
        synchronized (this) {
            if (recording != null) {
                ArrayDeque<Raw> own = recording.free.get(size);
                Raw r = own == null ? null : own.poll();
                if (r != null) {
                    recording.released.remove(r);
                    return r; // still counted in use: the graph held it
                }
            }
            ArrayDeque<Raw> list = free.get(size);
            Raw r = list == null ? null : list.poll();
            if (r != null) {
                cached -= size;
                inUse += size;
                peak = Math.max(peak, inUse);
                if (recording != null) {
                    recording.taken.add(r.address());
                }
                return r;
            }
        }
        long address;
        try {
            address = gpu.alloc(size);
        } catch (RuntimeException first) {
            gpu.synchronize();
            freeCached();
            try {
                address = gpu.alloc(size);
            } catch (RuntimeException again) {
                throw new IllegalStateException("out of GPU memory: " + size + " bytes requested, " + inUse()
                        + " in use by tensors (" + again.getMessage() + ")", again);
            }
        }
        synchronized (this) {
            driverAllocations++;
            inUse += size;
            peak = Math.max(peak, inUse);
            if (recording != null) {
                recording.taken.add(address);
            }
        }
        return new Raw(address, size);
    }

    /** Returns a block to the cache, or, when a graph uses it, to that graph until it closes. */
    synchronized void give(Raw r) {
        for (GraphPool p : graphs) {
            if (p.taken.contains(r.address())) {
                p.released.add(r);
                if (p == recording) {
                    p.free.computeIfAbsent(r.bytes(), k -> new ArrayDeque<>()).push(r);
                }
                return;
            }
        }
        free.computeIfAbsent(r.bytes(), k -> new ArrayDeque<>()).push(r);
        inUse -= r.bytes();
        cached += r.bytes();
    }

    /** Starts a graph's pool: blocks taken from now on are the graph's. */
    synchronized void beginGraph() {
        if (recording != null) {
            throw new IllegalStateException("a CUDA graph is already being recorded");
        }
        recording = new GraphPool();
        graphs.add(recording);
    }

    /** Ends the recording of the current graph's pool; its blocks stay the graph's until {@link #closeGraph}. */
    synchronized GraphPool endGraph() {
        GraphPool p = recording;
        p.free.clear();
        recording = null;
        return p;
    }

    /** The graph is gone: the blocks given back while it lived go to the cache, later ones as usual. */
    void closeGraph(GraphPool p) {
        List<Raw> back;
        synchronized (this) {
            graphs.remove(p);
            back = new ArrayList<>(p.released);
            p.released.clear();
        }
        for (Raw r : back) {
            give(r);
        }
    }

    /** Frees every cached block (the device must be idle). */
    void freeCached() {
        ArrayDeque<Raw> all = new ArrayDeque<>();
        synchronized (this) {
            for (ArrayDeque<Raw> l : free.values()) {
                all.addAll(l);
            }
            free.clear();
            cached = 0;
        }
        for (Raw r : all) {
            gpu.free(r.address());
        }
    }

    synchronized long inUse() {
        return inUse;
    }

    synchronized long cached() {
        return cached;
    }

    synchronized long peak() {
        return peak;
    }

    /** Recorded graphs (or one being recorded) whose memory is still theirs. */
    synchronized int graphs() {
        return graphs.size();
    }

    /** cuMemAlloc calls so far: flat over a training loop once the first step has run. */
    synchronized long driverAllocations() {
        return driverAllocations;
    }
}
