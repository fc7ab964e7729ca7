package org.kat4j.cuda;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

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

    private final Gpu gpu;
    private final Map<Long, ArrayDeque<Raw>> free = new HashMap<>();
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
            ArrayDeque<Raw> list = free.get(size);
            Raw r = list == null ? null : list.poll();
            if (r != null) {
                cached -= size;
                inUse += size;
                peak = Math.max(peak, inUse);
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
        }
        return new Raw(address, size);
    }

    /** Returns a block to the cache. */
    synchronized void give(Raw r) {
        free.computeIfAbsent(r.bytes(), k -> new ArrayDeque<>()).push(r);
        inUse -= r.bytes();
        cached += r.bytes();
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

    /** cuMemAlloc calls so far: flat over a training loop once the first step has run. */
    synchronized long driverAllocations() {
        return driverAllocations;
    }
}
