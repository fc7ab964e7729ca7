package org.kat4j.cuda;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.kat4j.backend.Backend;
import org.kat4j.backend.BackendContract;
import org.kat4j.backend.Backends;
import org.kat4j.backend.Device;
import org.kat4j.backend.Storage;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Scope;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The backend contract on the CUDA backend (skipped, with the reason, where there is no GPU or no
 * cuBLAS 13), and what only a device backend has: host transfers counted, memory reused across
 * scopes, storages of a closed scope refused.
 */
@Tag("gpu")
class CudaBackendContractTest extends BackendContract {
    static CudaBackend cuda() {
        assumeTrue(CudaRuntime.get().isPresent(), CudaRuntime.status());
        assumeTrue(Cublas.status().available(), Cublas.status().line());
        assumeTrue(Backends.devices().contains(Device.cuda(0)), String.join("; ", Backends.report()));
        return (CudaBackend) Backends.forDevice(Device.cuda(0));
    }

    @Override
    protected Backend backend() {
        return cuda();
    }

    @Test
    void opsInsideAScopeCopyNothingToTheHostAndReuseMemory() {
        CudaBackend be = cuda();
        Storage w = be.fromFloats(new float[]{1, 2, 3, 4, 5, 6}, 2, 3);
        long[] before = new long[2];
        for (int step = 0; step < 5; step++) {
            long t0 = be.transfers();
            long allocs = be.driverAllocations();
            try (Scope s = Scope.open()) {
                Storage x = be.full(DType.FLOAT32, 0.5, 4, 3);
                Storage y = be.gelu(be.matmul(x, w, false, true));
                Storage z = be.sum(be.softmax(y), new int[]{0}, false);
                be.addScaledInPlace(z, be.sumTo(y, new long[]{2}), -1);
                assertEquals(t0, be.transfers(), "no host copies inside the step");
                assertEquals(2, be.toFloats(z).length);
                assertEquals(t0 + 1, be.transfers(), "reading the result is one copy");
            }
            if (step >= 1) {
                assertEquals(allocs, be.driverAllocations(), "step " + step + " reused the cached blocks");
            }
            before[0] = be.memoryInUse();
        }
        assertTrue(before[0] < 1 << 20, "only w outlives the steps: " + before[0] + " bytes in use");
    }

    @Test
    void storagesOfAClosedScopeAreRefused() {
        CudaBackend be = cuda();
        Storage x;
        try (Scope s = Scope.open()) {
            x = be.full(DType.FLOAT32, 1, 8);
            assertArrayEquals(new float[]{1, 1, 1, 1, 1, 1, 1, 1}, be.toFloats(x), 0);
        }
        Storage gone = x;
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> be.toFloats(gone));
        assertTrue(e.getMessage().contains("after the scope that made it closed"), e.getMessage());
    }

    @Test
    void describesTheDeviceAndCublas() {
        String d = cuda().describe();
        assertTrue(d.startsWith("cuda:0 (") && d.contains("cuBLAS 13."), d);
    }
}
