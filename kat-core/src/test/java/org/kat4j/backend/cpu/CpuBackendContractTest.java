package org.kat4j.backend.cpu;

import org.kat4j.backend.Backend;
import org.kat4j.backend.BackendContract;
import org.kat4j.backend.Backends;
import org.kat4j.backend.Device;

import static org.junit.jupiter.api.Assertions.assertSame;

/** The backend contract on the CPU backend. */
class CpuBackendContractTest extends BackendContract {
    @Override
    protected Backend backend() {
        Backend b = Backends.forDevice(Device.CPU);
        assertSame(CpuBackend.INSTANCE, b, "the registry finds the CPU backend through ServiceLoader");
        return b;
    }
}
