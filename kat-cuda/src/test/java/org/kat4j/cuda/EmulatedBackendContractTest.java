package org.kat4j.cuda;

import org.kat4j.backend.Backends;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@link CudaBackendChecks} (the backend contract and the device-backend checks) on
 * {@link CudaBackend} running on the CPU emulation of its kernels ({@link EmuGpu}, device
 * {@code emu:0}): the backend's own Java side (launch arguments, strided plans, reductions, memory,
 * scopes, host copies) checked without a GPU. Skipped, with the reason, without g++.
 */
class EmulatedBackendContractTest extends CudaBackendChecks {
    @Override
    CudaBackend cuda() {
        assumeTrue(Backends.devices().contains(EmuGpu.DEVICE), String.join("; ", Backends.report()));
        return (CudaBackend) Backends.forDevice(EmuGpu.DEVICE);
    }
}
