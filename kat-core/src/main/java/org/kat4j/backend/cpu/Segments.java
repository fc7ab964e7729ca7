package org.kat4j.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.Buffer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Vector loads and stores on byte buffers for Java 22 and later, where {@code jdk.incubator.vector}
 * reads and writes memory segments ({@code FloatVector.fromMemorySegment},
 * {@code intoMemorySegment}, on {@code MemorySegment.ofBuffer}) and no longer has
 * {@code fromByteBuffer} and {@code intoByteBuffer}. kat4j is built for Java 17, which has neither
 * memory segments nor those methods, so they are reached through constant method handles, which
 * C2 inlines like direct calls.
 *
 * <p>A kernel chooses with {@code if (Segments.ON)} at the call site, both ways spelled out: ON is
 * a constant to the JIT, which compiles only the way taken, so on Java 17 and 18 a kernel
 * compiles to its byte-buffer code alone. A shared helper that chose inside was measured slower
 * on Java 17: it made the GEMM tile's inlining hit C2's size limits (docs/performance-notes.md).
 */
public final class Segments {
    /**
     * The system property that, set to false, keeps the kernels off memory segments (as on Java
     * 19 to 21: only the vector kernels on Java arrays run).
     */
    public static final String PROPERTY = "kat4j.segments";
    /**
     * Whether the kernels use memory segments: Java 22 or later, the methods were found, and
     * {@value #PROPERTY} is not false.
     */
    public static final boolean ON;
    private static final MethodHandle OF_BUFFER;
    private static final MethodHandle LOAD;
    private static final MethodHandle STORE;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    static {
        MethodHandle of = null;
        MethodHandle load = null;
        MethodHandle store = null;
        if (Runtime.version().feature() >= 22 && Boolean.parseBoolean(System.getProperty(PROPERTY, "true"))) {
            try {
                Class<?> segment = Class.forName("java.lang.foreign.MemorySegment");
                MethodHandles.Lookup l = MethodHandles.publicLookup();
                of = l.findStatic(segment, "ofBuffer", MethodType.methodType(segment, Buffer.class))
                        .asType(MethodType.methodType(Object.class, ByteBuffer.class));
                load = l.findStatic(FloatVector.class, "fromMemorySegment",
                                MethodType.methodType(FloatVector.class, VectorSpecies.class, segment, long.class, ByteOrder.class))
                        .asType(MethodType.methodType(FloatVector.class, VectorSpecies.class, Object.class, long.class, ByteOrder.class));
                store = l.findVirtual(FloatVector.class, "intoMemorySegment",
                                MethodType.methodType(void.class, segment, long.class, ByteOrder.class))
                        .asType(MethodType.methodType(void.class, FloatVector.class, Object.class, long.class, ByteOrder.class));
            } catch (ReflectiveOperationException | RuntimeException e) {
                of = null;
            }
        }
        ON = of != null;
        OF_BUFFER = of;
        LOAD = load;
        STORE = store;
    }

    private Segments() {
    }

    /**
     * b's memory from its byte 0 (its position set aside, as the byte-buffer methods take offsets)
     * as a segment, typed Object: made once per kernel call, since making it costs about what a
     * few vector loads do (at every access it was 12.5% of the main job's CPU time on Java 25).
     */
    public static Object of(ByteBuffer b) {
        ByteBuffer whole = b.position() == 0 ? b : b.duplicate().position(0);
        try {
            return (Object) OF_BUFFER.invokeExact(whole);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** {@code FloatVector.fromMemorySegment} on a segment of {@link #of}, offset in bytes. */
    public static FloatVector load(VectorSpecies<Float> s, Object segment, long offset) {
        try {
            return (FloatVector) LOAD.invokeExact(s, segment, offset, NATIVE);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** {@code v.intoMemorySegment} on a segment of {@link #of}, offset in bytes. */
    public static void store(FloatVector v, Object segment, long offset) {
        try {
            STORE.invokeExact(v, segment, offset, NATIVE);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
