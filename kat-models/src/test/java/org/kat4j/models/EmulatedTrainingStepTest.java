package org.kat4j.models;

import org.kat4j.backend.Backends;
import org.kat4j.backend.Device;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@link TrainingStepChecks} on the CUDA backend running on the CPU emulation of its kernels
 * (kat-cuda's test device {@code emu:0}; skipped, with the reason, where it could not be built).
 */
class EmulatedTrainingStepTest extends TrainingStepChecks {
    @Override
    Device device() {
        Device emu = new Device("emu", 0);
        assumeTrue(Backends.devices().contains(emu), String.join("; ", Backends.report()));
        return emu;
    }

    /** Fewer images: the emulation runs a block's threads one after another. */
    @Override
    int batch() {
        return 4;
    }

    /** Fewer steps, for the same reason (the GPU runs 500). */
    @Override
    int steps() {
        return 6;
    }
}
