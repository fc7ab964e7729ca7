package org.kat4j.cuda;

import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

import java.nio.FloatBuffer;

/**
 * Device memory with explicit host copies. Allocated with cuMemAlloc (256-byte aligned), freed
 * by {@link #close()}. A GPU pipeline keeps data in these between kernels: no copy per op.
 */
public final class DeviceBuffer implements AutoCloseable {
    private final CUdeviceptr ptr;
    private final long bytes;
    private final long address;
    private boolean freed;

    private DeviceBuffer(CUdeviceptr ptr, long bytes) {
        this.ptr = ptr;
        this.bytes = bytes;
        this.address = KernelArgs.address(ptr);
    }

    private DeviceBuffer(long address, long bytes) {
        this.ptr = null;
        this.bytes = bytes;
        this.address = address;
    }

    /**
     * A name for {@code bytes} of device memory at {@code address} that this buffer does not own
     * (close does nothing): what the CUDA backend passes to the rational kernels. Only kernel
     * arguments read it; the copy methods need an owning buffer.
     */
    static DeviceBuffer view(long address, long bytes) {
        return new DeviceBuffer(address, bytes);
    }

    /** The raw device address (for kernel argument blocks). */
    long address() {
        if (freed) {
            throw new IllegalStateException("DeviceBuffer used after close()");
        }
        return address;
    }

    /** Allocates {@code bytes} on the runtime's device. */
    public static DeviceBuffer allocate(CudaRuntime rt, long bytes) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("DeviceBuffer: " + bytes + " bytes, expected > 0");
        }
        rt.makeCurrent();
        CUdeviceptr p = new CUdeviceptr();
        JCudaDriver.cuMemAlloc(p, bytes);
        return new DeviceBuffer(p, bytes);
    }

    /**
     * {@code buf} when it holds at least {@code bytes}, else a new buffer of that size (buf, if
     * any, is freed): scratch that grows with the largest call so far.
     */
    public static DeviceBuffer atLeast(CudaRuntime rt, DeviceBuffer buf, long bytes) {
        if (buf != null && buf.bytes() >= bytes) {
            return buf;
        }
        if (buf != null) {
            buf.close();
        }
        return allocate(rt, bytes);
    }

    public static DeviceBuffer of(CudaRuntime rt, float[] data) {
        DeviceBuffer b = allocate(rt, (long) data.length * Float.BYTES);
        b.copyFrom(data);
        return b;
    }

    public static DeviceBuffer of(CudaRuntime rt, short[] data) {
        DeviceBuffer b = allocate(rt, (long) data.length * Short.BYTES);
        b.copyFrom(data);
        return b;
    }

    public long bytes() {
        return bytes;
    }

    CUdeviceptr pointer() {
        if (freed) {
            throw new IllegalStateException("DeviceBuffer used after close()");
        }
        if (ptr == null) {
            throw new IllegalStateException("DeviceBuffer view: only kernel arguments may use it");
        }
        return ptr;
    }

    private void checkSize(long n) {
        if (n > bytes) {
            throw new IllegalArgumentException("DeviceBuffer: copy of " + n + " bytes into a buffer of " + bytes);
        }
    }

    public void copyFrom(float[] src) {
        checkSize((long) src.length * Float.BYTES);
        JCudaDriver.cuMemcpyHtoD(pointer(), Pointer.to(src), (long) src.length * Float.BYTES);
    }

    public void copyFrom(short[] src) {
        checkSize((long) src.length * Short.BYTES);
        JCudaDriver.cuMemcpyHtoD(pointer(), Pointer.to(src), (long) src.length * Short.BYTES);
    }

    /** Copies {@code n} floats from a (direct or heap) buffer, starting at its index 0. */
    public void copyFrom(FloatBuffer src, int n) {
        checkSize((long) n * Float.BYTES);
        JCudaDriver.cuMemcpyHtoD(pointer(), Pointer.to(src), (long) n * Float.BYTES);
    }

    public void copyTo(float[] dst) {
        checkSize((long) dst.length * Float.BYTES);
        JCudaDriver.cuMemcpyDtoH(Pointer.to(dst), pointer(), (long) dst.length * Float.BYTES);
    }

    public void copyTo(short[] dst) {
        checkSize((long) dst.length * Short.BYTES);
        JCudaDriver.cuMemcpyDtoH(Pointer.to(dst), pointer(), (long) dst.length * Short.BYTES);
    }

    public void copyTo(double[] dst) {
        checkSize((long) dst.length * Double.BYTES);
        JCudaDriver.cuMemcpyDtoH(Pointer.to(dst), pointer(), (long) dst.length * Double.BYTES);
    }

    public void copyTo(FloatBuffer dst, int n) {
        checkSize((long) n * Float.BYTES);
        JCudaDriver.cuMemcpyDtoH(Pointer.to(dst), pointer(), (long) n * Float.BYTES);
    }

    /** Device-to-device copy of {@code n} bytes. */
    public void copyFrom(DeviceBuffer src, long n) {
        checkSize(n);
        JCudaDriver.cuMemcpyDtoD(pointer(), src.pointer(), n);
    }

    /** Enqueues a device-to-device copy of {@code n} bytes on {@code stream} (null: the legacy default stream). */
    public void copyFromAsync(DeviceBuffer src, long n, CUstream stream) {
        checkSize(n);
        JCudaDriver.cuMemcpyDtoDAsync(pointer(), src.pointer(), n, stream);
    }

    /** Fills every 32-bit word with {@code word} (tests poison outputs this way). */
    public void fill32(int word) {
        JCudaDriver.cuMemsetD32(pointer(), word, bytes / 4);
    }

    @Override
    public void close() {
        if (!freed) {
            freed = true;
            if (ptr == null) {
                return;
            }
            JCudaDriver.cuMemFree(ptr);
        }
    }
}
