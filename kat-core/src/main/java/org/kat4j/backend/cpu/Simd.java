package org.kat4j.backend.cpu;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether the explicitly vectorised CPU kernels (GELU, the rational backward) can run: they use
 * the JDK's {@code jdk.incubator.vector} module, which a JVM only resolves when started with
 * {@code --add-modules jdk.incubator.vector}. Without it kat4j runs the plain-Java rational
 * backward (4.7x slower at 32x197x768) and GELU composed of ND4J ops (3.5x slower forward+backward
 * at 6304x768), with the same results to float rounding. The {@code kat} launcher, the test build and the benchmarks add the flag.
 * {@code -Dkat4j.simd=false} turns the vector kernels off.
 */
public final class Simd {
    private static final Logger LOG = LoggerFactory.getLogger(Simd.class);
    private static final String MODULE = "jdk.incubator.vector";
    private static final boolean AVAILABLE = detect();

    private Simd() {
    }

    /** True when the vector kernels are in use. */
    public static boolean available() {
        return AVAILABLE;
    }

    /** One line for {@code kat info}. */
    public static String describe() {
        if (AVAILABLE) {
            return "on (" + MODULE + ", " + VectorWidth.bits() + "-bit vectors)";
        }
        return ModuleLayer.boot().findModule(MODULE).isPresent()
                ? "off (-Dkat4j.simd=false)"
                : "off (start the JVM with --add-modules " + MODULE + ")";
    }

    private static boolean detect() {
        if (!Boolean.parseBoolean(System.getProperty("kat4j.simd", "true"))) {
            return false;
        }
        if (ModuleLayer.boot().findModule(MODULE).isEmpty()) {
            LOG.info("{} not resolved: plain-Java CPU kernels (GELU, rational backward) are used; start the JVM with"
                    + " --add-modules {} for the vectorised ones", MODULE, MODULE);
            return false;
        }
        try {
            return VectorWidth.bits() >= 128;
        } catch (Throwable t) {
            LOG.info("{} present but unusable ({}): plain-Java CPU kernels are used", MODULE, t.toString());
            return false;
        }
    }

    /** Isolated so that this class loads without the incubator module. */
    private static final class VectorWidth {
        static int bits() {
            return jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.vectorBitSize();
        }
    }
}
