package org.kat4j.backend.cpu;

import org.kat4j.backend.Backend;
import org.kat4j.backend.Shapes;
import org.kat4j.backend.Storage;
import org.kat4j.tensor.DType;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.indexer.DoubleIndexer;
import org.bytedeco.javacpp.indexer.FloatIndexer;
import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.pointers.PagedPointer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * A dense C-ordered float32 or float64 array: the CPU backend's storage. Nothing outside this
 * package sees the array.
 *
 * <p>A storage is its memory seen in a shape of the same size: either a dense ND4J array that an
 * ND4J op made ({@code base}), or an allocation that {@link #allocate} made for a kernel's result,
 * from its first 64-byte boundary on. A reshape is a second storage over the same memory. The ND4J
 * array of a storage's shape is made on first use, by the ND4J ops that need one, while kat4j's
 * kernels read the memory directly through a buffer made once per storage. Each ND4J array costs
 * native shape information, a deallocator and a phantom reference the garbage collector has to
 * trace (about 6-10 us per array, all included, on 2 cores of an Intel Xeon, 2026-12-03), and most
 * results of a training step are only ever read by kat4j's kernels.
 */
final class CpuStorage implements Storage {
    /** The dense ND4J array this storage was made from; null for memory that kat4j allocated ({@link #allocate}). */
    private final INDArray base;
    /**
     * The memory: element 0 of this storage is element {@code offset} of it (null where ND4J keeps
     * none, empty arrays, and for memory of a scope's workspace: {@link #scoped}).
     */
    private final DataBuffer data;
    /**
     * Memory that {@link #allocate} took from the current scope's ND4J workspace, {@code offset}
     * elements before element 0; it lives until the scope closes. Null for all other storages.
     */
    private final PagedPointer scoped;
    private final DataType type;
    private final long offset;
    private final long numel;
    private final long[] shape;
    /** Volatile: threads may share a storage (a race makes two equal arrays, never a broken one). */
    private volatile INDArray array;
    /** The memory's bytes from element 0 in native order, made on first use; callers get duplicates. */
    private volatile ByteBuffer bytes;
    private volatile FloatBuffer floats;

    CpuStorage(INDArray a) {
        this.base = isDense(a) ? a : a.dup('c');
        this.numel = base.length();
        this.data = base.data();
        this.scoped = null;
        this.type = base.dataType();
        this.offset = numel == 0 ? 0 : base.offset();
        this.shape = base.shape();
        this.array = base;
    }

    private CpuStorage(INDArray base, DataBuffer data, PagedPointer scoped, DataType type, long offset, long numel, long[] shape) {
        this.base = base;
        this.data = data;
        this.scoped = scoped;
        this.type = type;
        this.offset = offset;
        this.numel = numel;
        this.shape = shape;
    }

    static INDArray nd(Storage s) {
        return cpu(s).array();
    }

    static CpuStorage cpu(Storage s) {
        if (!(s instanceof CpuStorage c)) {
            throw new IllegalArgumentException("CPU backend given a storage on " + s.device()
                    + ": move the tensor with to(Device.CPU) first");
        }
        return c;
    }

    static CpuStorage of(INDArray a) {
        return new CpuStorage(a);
    }

    /** The same memory in {@code shape} (of the same size), without an ND4J array. */
    CpuStorage view(long[] shape) {
        CpuStorage v = new CpuStorage(base, data, scoped, type, offset, numel, shape.clone());
        v.bytes = bytes; // the same memory: the buffers made for this storage serve the view
        v.floats = floats;
        return v;
    }

    /**
     * The ND4J array of this shape over the memory, made on first use: most storages are only
     * read and written by kat4j's kernels, and an ND4J array's shape information took 2.6% of the
     * CPU time of a micro-KAT training step (2 cores of an AMD EPYC Zen 5, 2026-12-07).
     */
    INDArray array() {
        INDArray a = array;
        if (a == null) {
            a = base != null ? base.reshape('c', shape) : Nd4j.create(aligned(), shape, Nd4j.getStrides(shape, 'c'), 0, 'c');
            array = a;
        }
        return a;
    }

    /**
     * Frees the memory now where it is the heap's (a workspace's memory goes back with its scope):
     * the ND4J array if one was made, and the allocation it is part of.
     */
    void release() {
        if (base == null) {
            INDArray a = array;
            if (a != null && a.closeable()) {
                a.close();
            }
            if (data != null && data.closeable()) {
                data.close();
            }
            return;
        }
        INDArray a = array();
        if (a.closeable()) {
            a.close();
            if (a.data() instanceof Aligned aligned && aligned.owner().closeable()) {
                aligned.owner().close();
            }
        }
    }

    /**
     * The allocation this storage's memory is part of (null for an empty ND4J array and for memory
     * of a scope, which goes back with the scope).
     */
    DataBuffer allocation() {
        return data;
    }

    /** An ND4J buffer of exactly this storage's elements over its part of the allocation, which it keeps alive. */
    private DataBuffer aligned() {
        PagedPointer at = scoped != null ? new PagedPointer(scoped, numel, offset * type.width())
                : new PagedPointer(data.addressPointer(), data.length()).withOffset(offset * type.width(), numel);
        return type == DataType.FLOAT ? new AlignedFloats(at.asFloatPointer(), numel, data)
                : new AlignedDoubles(at.asDoublePointer(), numel, data);
    }

    DataType dataType() {
        return type;
    }

    /** C-ordered with default strides (an offset is allowed): the layout kernels may read in place. */
    static boolean isDense(INDArray a) {
        return a.ordering() == 'c' && (a.length() <= 1 || a.elementWiseStride() == 1)
                && Arrays.equals(a.stride(), Nd4j.getStrides(a.shape(), 'c'));
    }

    /** Bytes that all memory made by {@link #allocate} starts on: a cache line, an AVX-512 vector. */
    static final int ALIGNMENT = 64;

    /**
     * Uninitialized memory for {@code shape} with the first element on an {@link #ALIGNMENT}-byte
     * boundary. ND4J's arrays start 16 bytes into a cache line (glibc's malloc for its own, and a
     * workspace packs arrays 32 bytes apart from an arena at 16 bytes into a line), so every
     * other 256-bit load of a vector kernel straddled two cache lines, and every 512-bit one
     * did. Here {@code ALIGNMENT} bytes more are allocated: inside a scope, straight from the
     * scope's ND4J workspace, memory that goes back with the scope and needs no ND4J buffer (an
     * ND4J buffer cost 3.2-3.9 us to make, a workspace's memory 0.16-0.20 us, and each buffer is a
     * native object, a deallocator and a reference that the collector copies and ND4J's
     * deallocator thread frees: 2 cores of an AMD EPYC Zen 5, 2026-12-07); outside scopes, in an
     * ND4J heap buffer that frees it once collected. The ND4J array is a plain dense array of its
     * own over the aligned part: a buffer over that memory which holds the heap allocation
     * ({@link Aligned#owner}), so the memory lives as long as any array over it. The storage has
     * neither that buffer nor an ND4J array until an ND4J op needs one ({@link #array}): kat4j's
     * kernels read the memory from the aligned element on. Not a view at an offset: ND4J
     * 1.0.0-M2.1's indexing and assignment into such views returned empty arrays and corrupted
     * the native heap.
     */
    static CpuStorage allocate(DataType t, long... shape) {
        long n = Shapes.numel(shape);
        if (shape.length == 0 || n == 0 || (t != DataType.FLOAT && t != DataType.DOUBLE)) {
            return new CpuStorage(Nd4j.createUninitialized(t, shape));
        }
        int size = t.width();
        MemoryWorkspace ws = Nd4j.getMemoryManager().getCurrentWorkspace();
        if (ws != null) {
            // the scope's memory without an ND4J buffer: no native buffer object, deallocator or
            // reference for the garbage collector per result (the memory goes back with the scope)
            PagedPointer p = ws.alloc((n + ALIGNMENT / size) * size, t, false);
            long skip = (ALIGNMENT - p.address() % ALIGNMENT) % ALIGNMENT;
            return new CpuStorage(null, null, p, t, skip / size, n, shape.clone());
        }
        DataBuffer owner = Nd4j.createBuffer(t, n + ALIGNMENT / size, false, null);
        long address = owner.addressPointer().address();
        long skip = (ALIGNMENT - address % ALIGNMENT) % ALIGNMENT;
        return new CpuStorage(null, owner, null, t, skip / size, n, shape.clone());
    }

    /** {@link #allocate} as an ND4J array, for the ND4J ops that write it. */
    static INDArray uninitialized(DataType t, long... shape) {
        return allocate(t, shape).array();
    }

    /** A buffer over part of another's memory, which it keeps alive. */
    interface Aligned {
        /** The heap allocation this buffer's memory is part of; null for a scope's memory. */
        DataBuffer owner();
    }

    private static final class AlignedFloats extends org.nd4j.linalg.cpu.nativecpu.buffer.FloatBuffer implements Aligned {
        private final DataBuffer owner;

        AlignedFloats(FloatPointer p, long n, DataBuffer owner) {
            super(p, FloatIndexer.create(p), n);
            this.owner = owner;
        }

        @Override
        public DataBuffer owner() {
            return owner;
        }
    }

    private static final class AlignedDoubles extends org.nd4j.linalg.cpu.nativecpu.buffer.DoubleBuffer implements Aligned {
        private final DataBuffer owner;

        AlignedDoubles(DoublePointer p, long n, DataBuffer owner) {
            super(p, DoubleIndexer.create(p), n);
            this.owner = owner;
        }

        @Override
        public DataBuffer owner() {
            return owner;
        }
    }

    static DataType nd4j(DType t) {
        return t == DType.FLOAT32 ? DataType.FLOAT : DataType.DOUBLE;
    }

    static DType dtype(DataType t) {
        return switch (t) {
            case FLOAT -> DType.FLOAT32;
            case DOUBLE -> DType.FLOAT64;
            default -> throw new IllegalArgumentException("unsupported element type " + t + ", expected FLOAT or DOUBLE");
        };
    }

    /** The float buffer of a float32 storage, from its first element (what the CPU kernels read). */
    static FloatBuffer floats(Storage s) {
        CpuStorage c = cpu(s);
        FloatBuffer f = c.floats;
        if (f == null) {
            f = c.bytes().asFloatBuffer();
            c.floats = f;
        }
        return f.duplicate();
    }

    /** The bytes of a float32 storage from its first element, in native byte order. */
    static ByteBuffer bytes(Storage s) {
        return cpu(s).bytes().duplicate().order(ByteOrder.nativeOrder());
    }

    /**
     * This storage's bytes, made once. The buffer points at memory that the storage's ND4J buffer
     * frees once it is collected (or that its scope's workspace takes back when the scope closes),
     * and does not reference it: a backend method keeps its input
     * storages reachable ({@code Reference.reachabilityFence}) until its kernels are done, or a
     * collection during the kernel frees an input made for that call alone. Each {@code asNio} of
     * an ND4J buffer is a JNI call that makes a new direct buffer, about 0.5-0.8 us, several times
     * per op (2.1% of the CPU time of a micro-KAT training step on the Zen 5 above).
     */
    private ByteBuffer bytes() {
        ByteBuffer b = bytes;
        if (b == null) {
            if (scoped != null) {
                b = new PagedPointer(scoped, numel * type.width(), offset * type.width()).asBytePointer().asByteBuffer()
                        .order(ByteOrder.nativeOrder());
            } else if (data == null) {
                b = ByteBuffer.allocateDirect(0).order(ByteOrder.nativeOrder());
            } else {
                // exactly this storage's elements: an allocation has room for the alignment after them
                int from = Math.toIntExact(offset * type.width());
                b = data.asNio().limit(from + Math.toIntExact(numel * type.width())).position(from).slice().order(ByteOrder.nativeOrder());
            }
            bytes = b;
        }
        return b;
    }

    @Override
    public Backend backend() {
        return CpuBackend.INSTANCE;
    }

    @Override
    public DType dtype() {
        return dtype(type);
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
        return array().toString();
    }
}
