package org.kat4j.cuda;

import org.kat4j.rational.RationalKernel;
import org.kat4j.rational.RationalKernelProvider;

import java.util.Optional;

/** Registers the CUDA rational kernel with kat-core (META-INF/services); empty without a GPU. */
public final class CudaKernelProvider implements RationalKernelProvider {
    @Override
    public int priority() {
        return 10;
    }

    @Override
    public Optional<RationalKernel> create() {
        return CudaRuntime.get().map(CudaRationalKernel::new);
    }

    @Override
    public String status() {
        return CudaRuntime.status();
    }
}
