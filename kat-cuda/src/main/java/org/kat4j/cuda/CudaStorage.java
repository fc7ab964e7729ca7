package org.kat4j.cuda;

import org.kat4j.backend.Backend;
import org.kat4j.tensor.DType;

import java.lang.ref.Cleaner;

/**
 * A dense, C-ordered array in device memory: the CUDA backend's storage. Views ({@link
 * CudaBackend#reshape}, the two halves of a fused op's output) share their {@link Block}; the block
 * goes back to the allocator's cache when the scope that made it closes, or, made outside scopes,
 * when the collector finds no storage left on it (or at {@link CudaBackend#release}).
 */
final class CudaStorage implements org.kat4j.backend.Storage {
    private static final Cleaner CLEANER = Cleaner.create();

    /** Device memory shared by a storage and its views. */
    static final class Block {
        final DeviceMemory.Raw raw;
        private volatile boolean live = true;
        private final Cleaner.Cleanable cleanable;

        /** A block for scope-owned memory (returned by {@link #retire}) or, with {@code collect}, one the collector returns. */
        Block(DeviceMemory memory, DeviceMemory.Raw raw, boolean collect) {
            this.raw = raw;
            this.cleanable = collect && raw != null ? CLEANER.register(this, () -> memory.give(raw)) : null;
        }

        /** The memory is gone: any later use of a storage on it throws. */
        void retire(DeviceMemory memory) {
            if (live) {
                live = false;
                if (cleanable != null) {
                    cleanable.clean();
                } else if (raw != null) {
                    memory.give(raw);
                }
            }
        }

        boolean live() {
            return live;
        }

        /** Another block owns the memory now: any later use of a storage on this one throws, and it frees nothing. */
        void handOver() {
            live = false;
        }
    }

    private final CudaBackend backend;
    final Block block;
    /** Offset of the first element in the block, in bytes. */
    final long offset;
    private final DType dtype;
    private final long[] shape;
    private final long numel;
    /** Whether this storage is the only name of its block (not a view): only then may release free it. */
    final boolean owner;

    CudaStorage(CudaBackend backend, Block block, long offset, DType dtype, long[] shape, boolean owner) {
        this.backend = backend;
        this.block = block;
        this.offset = offset;
        this.dtype = dtype;
        this.shape = shape.clone();
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        this.numel = n;
        this.owner = owner;
    }

    /** The device address of the first element. */
    long address() {
        if (!block.live()) {
            throw new IllegalStateException("a CUDA tensor " + java.util.Arrays.toString(shape)
                    + " was used after the scope that made it closed (or after it was released)");
        }
        return block.raw == null ? 0 : block.raw.address() + offset;
    }

    long bytes() {
        return numel * dtype.bytes();
    }

    @Override
    public Backend backend() {
        return backend;
    }

    @Override
    public DType dtype() {
        return dtype;
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    @Override
    public int rank() {
        return shape.length;
    }

    @Override
    public long numel() {
        return numel;
    }

    @Override
    public String toString() {
        return "CudaStorage" + java.util.Arrays.toString(shape) + " " + dtype;
    }
}
