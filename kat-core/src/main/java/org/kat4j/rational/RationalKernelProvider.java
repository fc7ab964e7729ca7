package org.kat4j.rational;

import java.util.Optional;

/**
 * Service-provider interface for accelerated rational kernels (META-INF/services). A provider
 * must never throw from {@link #create()}: no device means {@code Optional.empty()} plus a reason.
 */
public interface RationalKernelProvider {
    /** Higher wins when several are available (the CPU kernel is 0). */
    int priority();

    /** The kernel, or empty when this provider cannot run here. */
    Optional<RationalKernel> create();

    /** Why {@link #create()} is empty (or a description when it is not). */
    String status();
}
