package org.kat4j.rational;

import org.kat4j.backend.Simd;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.ServiceLoader;

/**
 * Picks the rational kernel once per process: the highest-priority available provider, else the
 * CPU kernel (its vector-API form when {@link Simd#available()}). {@code -Dkat4j.rational.kernel=cpu}
 * forces the CPU kernel.
 */
public final class RationalKernels {
    private static final Logger LOG = LoggerFactory.getLogger(RationalKernels.class);
    private static volatile RationalKernel selected;
    private static final List<String> REPORT = new ArrayList<>();

    private RationalKernels() {
    }

    /** The kernel in use. */
    public static RationalKernel get() {
        RationalKernel k = selected;
        if (k == null) {
            synchronized (RationalKernels.class) {
                if (selected == null) {
                    selected = select();
                }
                k = selected;
            }
        }
        return k;
    }

    /** The CPU kernel: the vector-API one when {@link Simd#available()}, else the plain-Java one. */
    public static RationalKernel cpu() {
        return Simd.available() ? VectorRationalKernel.INSTANCE : CpuRationalKernel.INSTANCE;
    }

    /** One line per provider found, with its status: for {@code kat info}. */
    public static synchronized List<String> report() {
        get();
        return List.copyOf(REPORT);
    }

    private static RationalKernel select() {
        RationalKernel best = cpu();
        int bestPriority = 0;
        REPORT.add("cpu: available (" + best.name() + ")");
        if ("cpu".equalsIgnoreCase(System.getProperty("kat4j.rational.kernel", ""))) {
            REPORT.add("forced to cpu by -Dkat4j.rational.kernel=cpu");
            return best;
        }
        for (RationalKernelProvider p : ServiceLoader.load(RationalKernelProvider.class)) {
            Optional<RationalKernel> k;
            try {
                k = p.create();
            } catch (Throwable t) {
                k = Optional.empty();
                REPORT.add(p.getClass().getName() + ": failed (" + t + ")");
                continue;
            }
            REPORT.add(p.getClass().getName() + ": " + p.status());
            if (k.isPresent() && p.priority() > bestPriority) {
                best = k.get();
                bestPriority = p.priority();
            }
        }
        LOG.info("rational kernel: {}", best.name());
        return best;
    }
}
