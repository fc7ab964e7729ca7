package org.kat4j.backend;

import java.util.List;

/**
 * Plugs a device backend in: listed in {@code META-INF/services/org.kat4j.backend.BackendProvider}
 * and found through {@link java.util.ServiceLoader} (kat-core's CPU backend is found the same way).
 * Creating a provider must be cheap and must not fail; {@link #backends()} does the probing.
 */
public interface BackendProvider {
    /** The device type served ("cpu", "cuda"). */
    String type();

    /**
     * The working backends, one per device found; empty when none works, with {@link #status()}
     * saying why. Called once per process; may throw (reported, never fatal).
     */
    List<Backend> backends();

    /** One line for {@code kat info}: what was found, or why nothing is used. */
    String status();
}
