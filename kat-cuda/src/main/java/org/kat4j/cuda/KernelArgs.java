package org.kat4j.cuda;

import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.JCudaDriver;

import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Reusable kernel-parameter block in one small pinned host allocation: the argument slots (8 bytes
 * each) followed by the {@code void*} table pointing at them, which is what {@code cuLaunchKernel}
 * takes. The table is handed to JCuda as a plain native pointer, so a launch marshals nothing.
 * (Building {@code Pointer.to(new long[]{n})} per argument per launch made JCuda pin one Java
 * array per argument in JNI, which cost more than the kernel itself on ViT-sized tensors; a
 * {@code Pointer[]} of slot pointers is still walked element by element on every launch.)
 */
final class KernelArgs implements AutoCloseable {
    private static final Method NATIVE_POINTER;

    static {
        try {
            NATIVE_POINTER = NativePointerObject.class.getDeclaredMethod("getNativePointer");
            NATIVE_POINTER.setAccessible(true);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final Pointer host;
    private final ByteBuffer buf;
    private final int slots;
    /** The {@code void**} kernelParams of cuLaunchKernel (null for a block not in pinned memory). */
    final Pointer params;
    /** The address of that table. */
    final long table;
    private boolean closed;

    /**
     * A block over {@code buf}, native memory at {@code base} of at least {@code slots * 16} bytes
     * that the caller keeps alive (a launcher other than the CUDA driver reads the table).
     */
    KernelArgs(ByteBuffer buf, long base, int slots) {
        this.host = null;
        this.slots = slots;
        this.buf = buf.order(ByteOrder.nativeOrder());
        for (int i = 0; i < slots; i++) {
            this.buf.putLong((slots + i) * 8, base + i * 8L);
        }
        this.params = null;
        this.table = base + slots * 8L;
    }

    /** Needs the runtime's context current on this thread (pinned memory belongs to it). */
    KernelArgs(int slots) {
        long bytes = slots * 16L;
        this.slots = slots;
        host = new Pointer();
        JCudaDriver.cuMemAllocHost(host, bytes);
        buf = host.getByteBuffer(0, bytes).order(ByteOrder.nativeOrder());
        long base = address(host);
        for (int i = 0; i < slots; i++) {
            buf.putLong((slots + i) * 8, base + i * 8L);
        }
        params = host.withByteOffset(slots * 8L);
        table = base + slots * 8L;
    }

    /** The address behind a JCuda pointer (device or host). */
    static long address(NativePointerObject p) {
        try {
            return (long) NATIVE_POINTER.invoke(p);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot read a JCuda pointer", e);
        }
    }

    /** The device address behind a CUdeviceptr. */
    static long address(CUdeviceptr p) {
        return address((NativePointerObject) p);
    }

    /** The argument slots. */
    int slots() {
        return slots;
    }

    /** This block's argument slots set to those of {@code other} (which has no more slots): a snapshot. */
    KernelArgs copyFrom(KernelArgs other) {
        for (int i = 0; i < other.slots; i++) {
            buf.putLong(i * 8, other.buf.getLong(i * 8));
        }
        return this;
    }

    KernelArgs ptr(int slot, DeviceBuffer b) {
        buf.putLong(slot * 8, b == null ? 0L : b.address());
        return this;
    }

    KernelArgs i64(int slot, long v) {
        buf.putLong(slot * 8, v);
        return this;
    }

    KernelArgs f64(int slot, double v) {
        buf.putDouble(slot * 8, v);
        return this;
    }

    /**
     * kernels.cu's {@code Dims} at {@code slot} and the slots after it (so it must be the kernel's
     * last parameter): shape, then the strides of y, a and b, each {@link Plans#MAXD} longs, then
     * rank and the dense flag as ints. Operands past the plan's get stride 0.
     */
    KernelArgs dims(int slot, Plans.Strided p) {
        int base = slot * 8;
        int r = p.rank();
        for (int k = 0; k < Plans.MAXD; k++) {
            buf.putLong(base + k * 8, k < r ? p.shape()[k] : 1);
            for (int o = 0; o < 3; o++) {
                long st = k < r && o < p.strides().length ? p.strides()[o][k] : 0;
                buf.putLong(base + ((1 + o) * Plans.MAXD + k) * 8, st);
            }
        }
        buf.putInt(base + 4 * Plans.MAXD * 8, r);
        buf.putInt(base + 4 * Plans.MAXD * 8 + 4, p.dense() ? 1 : 0);
        return this;
    }

    /** Slots that {@link #dims} fills. */
    static final int DIMS_SLOTS = 4 * Plans.MAXD + 1;

    /** Parameters one {@code adamw_list} launch takes (kernels.cu's ADAMW_LIST). */
    static final int ADAMW_LIST = 32;
    /** Elements per chunk of that kernel (ADAMW_CHUNK). */
    static final int ADAMW_CHUNK = 2048;
    /** Slots that {@link #adamwList} fills: sizeof(AdamWList) = 1808 bytes. */
    static final int ADAMW_LIST_SLOTS = 226;

    /**
     * kernels.cu's {@code AdamWList} at {@code slot} and the slots after it (the kernel's last
     * parameter): for the {@code count} parameters from {@code from} on, the addresses of weights,
     * gradients and both moments, the sizes and the decay factors, each array ADAMW_LIST long, then
     * each one's first chunk and the total, then count. Returns the total number of chunks.
     */
    long adamwList(int slot, long[][] addresses, long[] sizes, double[] decay, int from, int count) {
        int base = slot * 8;
        final int arrays = 8 * ADAMW_LIST;
        long chunks = 0;
        for (int t = 0; t < ADAMW_LIST; t++) {
            boolean used = t < count;
            for (int a = 0; a < 4; a++) {
                buf.putLong(base + a * arrays + t * 8, used ? addresses[a][from + t] : 0L);
            }
            buf.putLong(base + 4 * arrays + t * 8, used ? sizes[from + t] : 0L);
            buf.putDouble(base + 5 * arrays + t * 8, used ? decay[from + t] : 1.0);
            buf.putLong(base + 6 * arrays + t * 8, chunks);
            if (used) {
                chunks += (sizes[from + t] + ADAMW_CHUNK - 1) / ADAMW_CHUNK;
            }
        }
        buf.putLong(base + 6 * arrays + ADAMW_LIST * 8, chunks);
        buf.putInt(base + 7 * arrays + 8, count);
        return chunks;
    }

    KernelArgs i32(int slot, int v) {
        buf.putInt(slot * 8, v);
        return this;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            if (host == null) {
                return;
            }
            JCudaDriver.cuMemFreeHost(host);
        }
    }
}
