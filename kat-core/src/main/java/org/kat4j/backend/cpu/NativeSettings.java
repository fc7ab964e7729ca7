package org.kat4j.backend.cpu;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Process settings the CPU backend depends on and cannot set itself.
 *
 * <p>ND4J runs element-wise ops on OpenMP threads and matrix products on OpenBLAS threads. With
 * OpenMP's default wait policy its idle threads spin after every op, taking the cores from the
 * next BLAS call: on 2 cores a matmul forward+backward ran 1.5x slower (kat-bench MatmulBench). {@code OMP_WAIT_POLICY=PASSIVE} in the environment before the JVM
 * starts fixes it; the {@code kat} launcher, the test build and the benchmark scripts set it.
 *
 * <p>{@code OPENBLAS_CORETYPE} chooses OpenBLAS's kernels. Unset, OpenBLAS 0.3.31 (the one kat4j
 * runs) picks them for the CPU; some environments set an older core such as {@code Haswell}
 * because older OpenBLAS builds misread newer CPUs, and on an AVX-512 CPU that holds kat4j's
 * products to AVX2 kernels. kat4j leaves the variable as it finds it and says what it does
 * ({@link #openblasKernels()}, shown by {@code kat info}).
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

    /** OpenBLAS's kernel sets that use AVX-512, as {@code OPENBLAS_CORETYPE} names them (lower case). */
    private static final Set<String> AVX512_CORES = Set.of("skylakex", "cooperlake", "sapphirerapids");

    /**
     * What {@code OPENBLAS_CORETYPE} makes kat4j's OpenBLAS run on this CPU, in one line (where
     * kat4j's own kernel takes the float32 products, that it does, and the kernels OpenBLAS keeps
     * for the rest, without the advice on AVX-512 kernels).
     */
    public static String openblasKernels() {
        String coretype = System.getenv("OPENBLAS_CORETYPE");
        if (Blas.ownKernel()) {
            return "float32 products on kat4j's own kernel, not OpenBLAS (-Dkat4j.blas=openblas gives them to OpenBLAS); "
                    + openblasKernels(coretype, false);
        }
        return openblasKernels(coretype, cpuHasAvx512());
    }

    /** {@link #openblasKernels()} for a value of the variable (null: unset) and a CPU with or without AVX-512. */
    static String openblasKernels(String coretype, boolean avx512) {
        if (coretype == null || coretype.isBlank()) {
            return "OpenBLAS picks its kernels for this CPU (OPENBLAS_CORETYPE unset)";
        }
        String core = coretype.trim();
        if (!avx512 || AVX512_CORES.contains(core.toLowerCase(Locale.ROOT))) {
            return "OpenBLAS runs its " + core + " kernels (OPENBLAS_CORETYPE=" + core + ")";
        }
        // measured on 2 cores of an AMD EPYC Zen 5, 2026-12-07: the Mlp block's products at width 192
        return "OpenBLAS runs its " + core + " kernels, without AVX-512, on this AVX-512 CPU (OPENBLAS_CORETYPE=" + core
                + "); with the variable unset for kat4j's process OpenBLAS picks AVX-512 kernels (large products about 1.8x"
                + " faster on an AMD EPYC Zen 5; see README, Performance)";
    }

    /** Whether /proc/cpuinfo lists the avx512f flag (false where it cannot be read). */
    static boolean cpuHasAvx512() {
        try (Stream<String> lines = Files.lines(Path.of("/proc/cpuinfo"))) {
            return lines.filter(l -> l.startsWith("flags")).findFirst()
                    .map(l -> (" " + l.substring(l.indexOf(':') + 1) + " ").contains(" avx512f "))
                    .orElse(false);
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** Whether the environment has the recommended wait policy. */
    public static boolean passiveWaitPolicy() {
        String policy = System.getenv("OMP_WAIT_POLICY");
        return policy != null && policy.equalsIgnoreCase("passive");
    }
}
