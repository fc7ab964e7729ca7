package org.kat4j.backend.cpu;

import org.kat4j.backend.Backend;
import org.kat4j.backend.BackendProvider;

import java.util.List;

/** Registers {@link CpuBackend} (always available). */
public final class CpuBackendProvider implements BackendProvider {
    @Override
    public String type() {
        return "cpu";
    }

    @Override
    public List<Backend> backends() {
        return List.of(CpuBackend.INSTANCE);
    }

    @Override
    public String status() {
        return "available (" + CpuBackend.INSTANCE.describe() + ")";
    }
}
