package org.kat4j.cuda;

import org.junit.jupiter.api.Test;
import org.kat4j.backend.Backend;
import org.kat4j.backend.BackendContract;
import org.kat4j.backend.Backends;
import org.kat4j.backend.Storage;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Scope;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The backend contract on a {@link CudaBackend}, and what only a device backend has: host
 * transfers counted, memory reused across scopes, storages of a closed scope refused. Run on a GPU
 * ({@link CudaBackendContractTest}) and on the kernels' CPU emulation ({@link EmulatedBackendContractTest}).
 */
abstract class CudaBackendChecks extends BackendContract {
    /** The backend under test, or a skipped test saying why there is none. */
    abstract CudaBackend cuda();

    @Override
    protected Backend backend() {
        return cuda();
    }

    @Test
    void opsInsideAScopeCopyNothingToTheHostAndReuseMemory() {
        CudaBackend be = cuda();
        Storage w = be.fromFloats(new float[]{1, 2, 3, 4, 5, 6}, 2, 3);
        long held = be.memoryInUse(); // w and whatever earlier tests still hold
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
            // at most what was held before: the collector may free earlier tests' storages meanwhile
            assertTrue(be.memoryInUse() <= held, "step " + step + " gave back everything it allocated: " + be.memoryInUse()
                    + " bytes in use, " + held + " before");
        }
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
        CudaBackend be = cuda();
        String d = be.describe();
        assertTrue(d.startsWith(be.device() + " (") && (d.contains("cuBLAS 13.") || d.contains("emulation")), d);
    }
}
