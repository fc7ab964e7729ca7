package org.kat4j.models;

import org.junit.jupiter.api.Tag;
import org.kat4j.backend.Backends;
import org.kat4j.backend.Device;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** {@link TrainingStepChecks} on the GPU (tagged gpu; skipped with the reason where the CUDA backend is not available). */
@Tag("gpu")
class CudaTrainingStepGpuTest extends TrainingStepChecks {
    @Override
    Device device() {
        Device cuda = Device.cuda(0);
        assumeTrue(Backends.devices().contains(cuda), "no CUDA backend: " + String.join("; ", Backends.report()));
        return cuda;
    }
}
