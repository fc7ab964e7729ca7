package org.kat4j.backend.cpu;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Process settings the CPU backend depends on and cannot set itself.
 *
 * <p>ND4J runs element-wise ops on OpenMP threads and matrix products on OpenBLAS threads. With
 * OpenMP's default wait policy its idle threads spin after every op, taking the cores from the
 * next BLAS call: on 2 cores a matmul forward+backward ran 1.5x slower (kat-bench MatmulBench). {@code OMP_WAIT_POLICY=PASSIVE} in the environment before the JVM
 * starts fixes it; the {@code kat} launcher, the test build and the benchmark scripts set it.
 */
public final class NativeSettings {
    private static final Logger LOG = LoggerFactory.getLogger(NativeSettings.class);
    private static volatile boolean checked;

    private NativeSettings() {
    }

    /** JavaCPP's system property for its physical-memory check. */
    static final String MAX_PHYSICAL_BYTES = "org.bytedeco.javacpp.maxPhysicalBytes";

    /**
     * Turns off JavaCPP's physical-memory check unless the user has set it: with it on, every
     * native allocation (ND4J makes one for each array's shape information, several per op) reads
     * the process's resident size from /proc, about 5% of a micro-model training step. JavaCPP's
     * limit on the bytes it has allocated itself ({@code org.bytedeco.javacpp.maxBytes}) stays.
     * Takes effect only when called before JavaCPP's {@code Pointer} class initialises.
     */
    static void configureJavaCpp() {
        if (System.getProperty(MAX_PHYSICAL_BYTES) == null && System.getProperty("org.bytedeco.javacpp.maxphysicalbytes") == null) {
            System.setProperty(MAX_PHYSICAL_BYTES, "0");
        }
    }

    /** Warns once when OMP_WAIT_POLICY is not set to PASSIVE. */
    public static void check() {
        if (checked) {
            return;
        }
        checked = true;
        String policy = System.getenv("OMP_WAIT_POLICY");
        if (policy == null || !policy.equalsIgnoreCase("passive")) {
            LOG.warn("OMP_WAIT_POLICY is {}: set OMP_WAIT_POLICY=PASSIVE before starting the JVM, or OpenMP threads"
                    + " spinning between ops slow matrix products down up to 2x (see kat4j README, Performance)",
                    policy == null ? "unset" : policy);
        }
    }

    /** Whether the environment has the recommended wait policy. */
    public static boolean passiveWaitPolicy() {
        String policy = System.getenv("OMP_WAIT_POLICY");
        return policy != null && policy.equalsIgnoreCase("passive");
    }
}
