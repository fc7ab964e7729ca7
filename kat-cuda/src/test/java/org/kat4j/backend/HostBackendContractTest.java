package org.kat4j.backend;

import static org.junit.jupiter.api.Assertions.assertSame;

/**
 * The backend contract on {@link HostBackend}, in a JVM without ND4J (a surefire run of its own),
 * as in the GPU bundle: the registry starts without the ND4J CPU backend and serves this one.
 */
class HostBackendContractTest extends BackendContract {
    @Override
    protected Backend backend() {
        Backend b = Backends.cpu();
        assertSame(HostBackend.INSTANCE, b, "without ND4J the registry serves the host backend: " + Backends.report());
        return b;
    }
}
