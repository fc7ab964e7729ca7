package org.kat4j.backend.cpu;

import org.kat4j.backend.Backend;
import org.kat4j.backend.BackendContract;
import org.kat4j.backend.Backends;
import org.kat4j.backend.Device;
import org.kat4j.backend.Storage;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

/** The backend contract on the CPU backend. */
class CpuBackendContractTest extends BackendContract {
    @Override
    protected Backend backend() {
        Backend b = Backends.forDevice(Device.CPU);
        assertSame(CpuBackend.INSTANCE, b, "the registry finds the CPU backend through ServiceLoader");
        return b;
    }

    @Test
    void sumOfSquaresOfManyStoragesHasTheBitsOfTheirNormsInOrder() {
        // enough elements that the norms are taken on several threads: the sum must not depend on it
        Random r = new Random(5);
        List<Storage> xs = new ArrayList<>();
        for (int i = 0; i < 60; i++) {
            float[] v = new float[1 + r.nextInt(4000)];
            for (int k = 0; k < v.length; k++) {
                v[k] = (float) r.nextGaussian();
            }
            xs.add(CpuBackend.INSTANCE.fromFloats(v, v.length));
        }
        double inOrder = 0;
        for (Storage x : xs) {
            double n = CpuBackend.INSTANCE.norm2(x);
            inOrder += n * n;
        }
        assertEquals(inOrder, CpuBackend.INSTANCE.sumOfSquares(xs), 0);
    }
}
