package org.kat4j.backend.cpu;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;

/**
 * Whether the explicitly vectorised CPU kernels (GELU, the rational backward) can run: they use
 * the JDK's {@code jdk.incubator.vector} module, which a JVM only resolves when started with
 * {@code --add-modules jdk.incubator.vector}. Without it kat4j runs the plain-Java rational
 * backward (4.7x slower at 32x197x768) and GELU composed of ND4J ops (3.5x slower forward+backward
 * at 6304x768), with the same results to float rounding. The {@code kat} launcher, the test build and the benchmarks add the flag.
 * {@code -Dkat4j.simd=false} turns the vector kernels off.
 *
 * <p>On Java 17 the vector kernels also need {@value #JIT_FLAGS}. HotSpot's C2 compiler turns a
 * vector method call into vector instructions only where it knows the vector's exact class; it
 * checks the class with a guard whose failure deoptimises, and it stops emitting such guards in a
 * compilation once the class-check failures recorded in the method and everything inlined into it
 * pass {@code PerMethodTrapLimit} (default 100), or once the methods it inlines have been
 * recompiled after traps more than {@code PerMethodRecompilationCutoff / 2} times in all (default
 * 400, so 201). The JDK's own vector methods, inlined into every kernel, collect those failures and
 * recompilations from every kernel of the process, so a kernel compiled later can cross either
 * limit, is compiled with boxed vectors and calls instead, and stays so: the rational backward took
 * 8x longer, a training step 2x. The first limit was crossed in 7 of 38 processes running a micro
 * KAT training step; the second in training runs that compile more kernels, such as
 * {@code kat compare} training a ViT and a KAT in one process (the recompilations summed to 204).
 * The guard limit per bytecode stays in force. kat4j warns when either value is below
 * {@value #MIN_JIT_LIMIT} ({@link #lowJitLimits}).
 *
 * <p>Most kernels read and write tensors through {@code FloatVector.fromByteBuffer} and
 * {@code intoByteBuffer}, which the incubator module had up to Java 18; from Java 19 on it offers
 * memory segments instead, which the kernels use from Java 22 on ({@link Segments}, once memory
 * segments left preview). On Java 19 to 21 {@link #available()} is false and those kernels give
 * way to plain-Java code or composed ND4J ops (the same results to float rounding, slower), while
 * the kernels that keep their data in Java arrays (attention's products and softmax,
 * {@link #arrays()}) still run; kat4j says so once.
 */
public final class Simd {
    private static final Logger LOG = LoggerFactory.getLogger(Simd.class);
    private static final String MODULE = "jdk.incubator.vector";
    /** The JVM options the vector kernels need on Java 17 (see the class comment). */
    public static final String JIT_FLAGS = "-XX:PerMethodTrapLimit=10000 -XX:PerMethodRecompilationCutoff=10000";
    /** The smallest {@code PerMethodTrapLimit} and {@code PerMethodRecompilationCutoff} without a warning. */
    static final long MIN_JIT_LIMIT = 1000;
    /** Why no vector kernel runs, or null when those on Java arrays can. */
    private static final String ARRAYS_OFF;
    /** Why the vector kernels on byte buffers are off, or null when they are on. */
    private static final String BUFFERS_OFF;

    static {
        String[] off = detect();
        ARRAYS_OFF = off[0];
        BUFFERS_OFF = off[1];
    }

    private Simd() {
    }

    /** True when every vector kernel is in use (Java 17 and 18, or 22 and later, with the module). */
    public static boolean available() {
        return BUFFERS_OFF == null;
    }

    /**
     * True when the vector kernels that keep their data in Java arrays are in use: attention's
     * small products and the softmax rows ({@link SmallMatmulKernel}, {@link SoftmaxKernel}). They
     * run on every Java from 17 on where the module is resolved.
     */
    public static boolean arrays() {
        return ARRAYS_OFF == null;
    }

    /** One line for {@code kat info}. */
    public static String describe() {
        if (ARRAYS_OFF != null) {
            return "off (" + ARRAYS_OFF + ")";
        }
        String low = lowJitLimits(vmOption("PerMethodTrapLimit"), vmOption("PerMethodRecompilationCutoff"));
        String trap = low == null ? "" : "; " + low + ", start the JVM with " + JIT_FLAGS;
        if (BUFFERS_OFF != null) {
            return "on arrays only (" + MODULE + ", " + VectorWidth.bits() + "-bit vectors" + trap
                    + "; the kernels on byte buffers are off: " + BUFFERS_OFF + ")";
        }
        return "on (" + MODULE + ", " + VectorWidth.bits() + "-bit vectors" + (Segments.ON ? ", through memory segments" : "")
                + trap + ")";
    }

    /**
     * {why no vector kernel runs, why the byte-buffer kernels do not}, nulls where they run
     * (logged once where it is news).
     */
    private static String[] detect() {
        if (!Boolean.parseBoolean(System.getProperty("kat4j.simd", "true"))) {
            return new String[]{"-Dkat4j.simd=false", "-Dkat4j.simd=false"};
        }
        if (ModuleLayer.boot().findModule(MODULE).isEmpty()) {
            String off = "start the JVM with --add-modules " + MODULE;
            LOG.info("{} not resolved: plain-Java CPU kernels (GELU, rational backward) are used; start the JVM with"
                    + " --add-modules {} for the vectorised ones", MODULE, MODULE);
            return new String[]{off, off};
        }
        String off;
        try {
            if (VectorWidth.bits() < 128) {
                off = "vectors of " + VectorWidth.bits() + " bits, fewer than the kernels' 128";
            } else {
                String low = lowJitLimits(vmOption("PerMethodTrapLimit"), vmOption("PerMethodRecompilationCutoff"));
                if (low != null) {
                    LOG.warn("{} (in some runs the JIT then compiles them without vector instructions: training up to 2x"
                            + " slower); start the JVM with {}", low, JIT_FLAGS);
                }
                if (VectorWidth.byteBuffers() || Segments.ON) {
                    return new String[]{null, null};
                }
                int feature = Runtime.version().feature();
                String segments;
                if (feature < 22) {
                    segments = "from Java 22 on they use memory segments";
                } else if (Boolean.parseBoolean(System.getProperty(Segments.PROPERTY, "true"))) {
                    segments = "its memory-segment ones were not found either";
                } else {
                    segments = "memory segments are off: -D" + Segments.PROPERTY + "=false";
                }
                String buffers = "the " + MODULE + " module of Java " + feature + " has no ByteBuffer loads and stores, which most"
                        + " of kat4j's vector kernels use (Java 17 and 18 have them; " + segments + ")";
                LOG.info("{}: plain-Java CPU kernels are used, except for attention and softmax, whose vector kernels work on"
                        + " Java arrays", buffers);
                return new String[]{null, buffers};
            }
        } catch (Throwable t) {
            off = MODULE + " present but unusable (" + t + ")";
        }
        LOG.info("{}: plain-Java CPU kernels are used", off);
        return new String[]{off, off};
    }

    /**
     * Which of the JVM's JIT limits are too low (the class comment), as the start of a sentence;
     * null when neither is below {@link #MIN_JIT_LIMIT}. A negative value means unknown (or, for
     * the cutoff, unlimited).
     */
    static String lowJitLimits(long perMethodTrapLimit, long perMethodRecompilationCutoff) {
        List<String> low = new ArrayList<>();
        if (perMethodTrapLimit >= 0 && perMethodTrapLimit < MIN_JIT_LIMIT) {
            low.add("PerMethodTrapLimit " + perMethodTrapLimit);
        }
        if (perMethodRecompilationCutoff >= 0 && perMethodRecompilationCutoff < MIN_JIT_LIMIT) {
            low.add("PerMethodRecompilationCutoff " + perMethodRecompilationCutoff);
        }
        return low.isEmpty() ? null : "the JVM's " + String.join(" and ", low) + (low.size() > 1 ? " are" : " is")
                + " low for kat4j's vector kernels";
    }

    /** A HotSpot option's value, or -1 where it cannot be read (another JVM, no jdk.management). */
    static long vmOption(String name) {
        try {
            return Long.parseLong(java.lang.management.ManagementFactory
                    .getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class).getVMOption(name).getValue());
        } catch (Throwable t) {
            return -1;
        }
    }

    /** Isolated so that this class loads without the incubator module. */
    private static final class VectorWidth {
        static int bits() {
            return jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.vectorBitSize();
        }

        /** Whether FloatVector has the ByteBuffer load and store the kernels call. */
        static boolean byteBuffers() {
            try {
                Class<?> v = jdk.incubator.vector.FloatVector.class;
                v.getMethod("fromByteBuffer", jdk.incubator.vector.VectorSpecies.class, java.nio.ByteBuffer.class, int.class,
                        java.nio.ByteOrder.class);
                v.getMethod("intoByteBuffer", java.nio.ByteBuffer.class, int.class, java.nio.ByteOrder.class);
                return true;
            } catch (NoSuchMethodException e) {
                return false;
            }
        }
    }
}
