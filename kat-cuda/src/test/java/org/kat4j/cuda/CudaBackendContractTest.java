package org.kat4j.cuda;

import org.junit.jupiter.api.Tag;
import org.kat4j.backend.Backends;
import org.kat4j.backend.Device;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** {@link CudaBackendChecks} on the GPU (skipped, with the reason, where there is no GPU or no cuBLAS 13). */
@Tag("gpu")
class CudaBackendContractTest extends CudaBackendChecks {
    @Override
    CudaBackend cuda() {
        assumeTrue(CudaRuntime.get().isPresent(), CudaRuntime.status());
        assumeTrue(Cublas.status().available(), Cublas.status().line());
        assumeTrue(Backends.devices().contains(Device.cuda(0)), String.join("; ", Backends.report()));
        return (CudaBackend) Backends.forDevice(Device.cuda(0));
    }
}
