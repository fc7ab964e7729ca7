package org.kat4j.rational;

import org.kat4j.backend.cpu.Simd;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.ServiceLoader;

/**
 * Picks the host-memory rational kernel once per process: the CPU kernel (its vector-API form when
 * {@link Simd#available()}) unless {@code -Dkat4j.rational.kernel=provider} opts in to the
 * highest-priority {@link RationalKernelProvider} that works. A provider's kernel (kat-cuda's)
 * copies every call's tensors to the device and back, so inside a model it is slower than the CPU
 * kernel; it is kept for measuring the device kernels on their own.
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
        String choice = System.getProperty("kat4j.rational.kernel", "cpu");
        if (!"provider".equalsIgnoreCase(choice)) {
            if (!"cpu".equalsIgnoreCase(choice)) {
                LOG.warn("-Dkat4j.rational.kernel={}: expected cpu or provider; using cpu", choice);
            }
            for (RationalKernelProvider p : ServiceLoader.load(RationalKernelProvider.class)) {
                REPORT.add(p.getClass().getName() + ": not used (copies tensors to the device and back on every call;"
                        + " -Dkat4j.rational.kernel=provider opts in)");
            }
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
