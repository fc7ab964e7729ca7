package org.kat4j.cuda;

import org.kat4j.backend.Backend;
import org.kat4j.backend.BackendProvider;

import java.util.List;

/**
 * Reports the GPU to kat-core's backend registry: the {@link CudaBackend} on device 0 when the
 * driver, a GPU and cuBLAS 13 are all there; otherwise no backend and, in {@link #status()}, what
 * was found and what is missing.
 */
public final class CudaBackendProvider implements BackendProvider {
    private static volatile List<Backend> backends;
    private static volatile String why = "";

    @Override
    public String type() {
        return "cuda";
    }

    @Override
    public List<Backend> backends() {
        List<Backend> b = backends;
        if (b == null) {
            synchronized (CudaBackendProvider.class) {
                b = backends;
                if (b == null) {
                    b = find();
                    backends = b;
                }
            }
        }
        return b;
    }

    private static List<Backend> find() {
        CudaRuntime rt = CudaRuntime.get().orElse(null);
        if (rt == null || !Cublas.status().available()) {
            why = "tensors stay on the CPU"; // the two lines before it say what is missing
            return List.of();
        }
        try {
            return List.of(new CudaBackend(rt));
        } catch (RuntimeException | LinkageError e) {
            String m = e.getMessage();
            why = "the CUDA backend did not start (" + (m == null ? e.getClass().getSimpleName() : m.lines().findFirst().orElse(m))
                    + "); tensors stay on the CPU";
            return List.of();
        }
    }

    @Override
    public String status() {
        List<Backend> b = backends();
        return CudaRuntime.status() + "; " + Cublas.status().line() + "; "
                + (b.isEmpty() ? why : "backend " + b.get(0).device() + " for tensors");
    }
}
