package org.kat4j.cuda;

import org.kat4j.backend.Backend;
import org.kat4j.backend.BackendProvider;

import java.util.List;

/**
 * Reports the GPU to kat-core's backend registry. kat-cuda has no device backend for whole models
 * yet (only the group-rational kernels, {@link CudaRationalKernel}), so it lists no backend and says
 * what it found.
 */
public final class CudaBackendProvider implements BackendProvider {
    @Override
    public String type() {
        return "cuda";
    }

    @Override
    public List<Backend> backends() {
        return List.of();
    }

    @Override
    public String status() {
        return CudaRuntime.status() + "; " + Cublas.status().line()
                + "; not used for tensors (kat-cuda provides the group-rational kernels only)";
    }
}
