package org.kat4j.cuda;

import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Reusable kernel-parameter block: every argument lives in one direct buffer (8 bytes a slot) and
 * the parameter array pointing into it is built once. Building {@code Pointer.to(new long[]{n})}
 * per argument per launch made JCuda pin one Java array per argument in JNI, which cost more than
 * the kernel itself on ViT-sized tensors.
 */
final class KernelArgs {
    private static final Method NATIVE_POINTER;

    static {
        try {
            NATIVE_POINTER = NativePointerObject.class.getDeclaredMethod("getNativePointer");
            NATIVE_POINTER.setAccessible(true);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final ByteBuffer buf;
    final Pointer params;

    KernelArgs(int slots) {
        buf = ByteBuffer.allocateDirect(slots * 8).order(ByteOrder.nativeOrder());
        Pointer[] p = new Pointer[slots];
        Pointer base = Pointer.to(buf);
        for (int i = 0; i < slots; i++) {
            p[i] = base.withByteOffset(i * 8L);
        }
        params = Pointer.to(p);
    }

    /** The device address behind a CUdeviceptr. */
    static long address(CUdeviceptr p) {
        try {
            return (long) NATIVE_POINTER.invoke(p);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot read a JCuda device pointer", e);
        }
    }

    KernelArgs ptr(int slot, DeviceBuffer b) {
        buf.putLong(slot * 8, b == null ? 0L : b.address());
        return this;
    }

    KernelArgs i64(int slot, long v) {
        buf.putLong(slot * 8, v);
        return this;
    }

    KernelArgs i32(int slot, int v) {
        buf.putInt(slot * 8, v);
        return this;
    }
}
