package org.kat4j.backend.cpu;

import org.junit.jupiter.api.Test;
import org.kat4j.backend.Storage;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Scope;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Storages the CPU backend allocates for results start on a 64-byte boundary (a cache line, an
 * AVX-512 vector), outside scopes and inside them, in a scope's first step and in the steps that
 * reuse its workspace; narrow, unnarrow and gathers on them (ND4J views over such arrays) give the
 * right values, also after many allocations and collections; releasing one frees its allocation.
 * Inside a scope a result is the scope's memory with no ND4J buffer of its own, read the same by
 * the kernels and through an ND4J array.
 */
class AlignmentTest {
    static void assertAligned(Storage s, String what) {
        long address = CpuStorage.nd(s).data().addressPointer().address();
        assertEquals(0, address % CpuStorage.ALIGNMENT, what + " at " + address);
    }

    static List<Storage> make() {
        CpuBackend b = CpuBackend.INSTANCE;
        List<Storage> out = new ArrayList<>();
        long[][] shapes = {{1}, {3}, {37}, {5, 7}, {64, 17, 64}, {100, 1000}};
        for (long[] shape : shapes) {
            out.add(b.empty(DType.FLOAT32, shape));
            out.add(b.empty(DType.FLOAT64, shape));
            Storage x = b.full(DType.FLOAT32, 1.5, shape);
            out.add(b.binary(org.kat4j.backend.BinaryOp.MUL, x, x));
        }
        return out;
    }

    @Test
    void resultsStartOnACacheLine() {
        for (Storage s : make()) {
            assertAligned(s, "outside scopes " + Arrays.toString(s.shape()));
        }
        for (int step = 0; step < 3; step++) {
            try (Scope ignored = Scope.open()) {
                for (Storage s : make()) {
                    assertAligned(s, "step " + step + " " + Arrays.toString(s.shape()));
                }
            }
        }
    }

    @Test
    void releaseFreesTheWholeAllocation() {
        Storage s = CpuBackend.INSTANCE.empty(DType.FLOAT32, 1000);
        org.nd4j.linalg.api.ndarray.INDArray a = CpuStorage.nd(s);
        org.nd4j.linalg.api.buffer.DataBuffer owner = ((CpuStorage.Aligned) a.data()).owner();
        CpuBackend.INSTANCE.release(s);
        org.junit.jupiter.api.Assertions.assertTrue(a.wasClosed() && owner.wasClosed(), "array and its allocation freed");
    }

    @Test
    void releaseFreesAnAllocationNoNd4jArrayWasMadeFor() {
        Storage s = CpuBackend.INSTANCE.empty(DType.FLOAT32, 1000);
        org.nd4j.linalg.api.buffer.DataBuffer owner = CpuStorage.cpu(s).allocation();
        CpuBackend.INSTANCE.release(s);
        org.junit.jupiter.api.Assertions.assertTrue(owner.wasClosed(), "allocation freed");
    }

    @Test
    void viewsOfAlignedArraysReadAndWriteTheirOwnElements() {
        CpuBackend b = CpuBackend.INSTANCE;
        long[] shape = {2, 3, 4};
        float[] x = new float[24];
        for (int i = 0; i < 24; i++) {
            x[i] = i;
        }
        for (int round = 0; round < 2000; round++) {
            Storage xs = b.binary(org.kat4j.backend.BinaryOp.ADD, b.fromFloats(x, shape), b.full(DType.FLOAT32, 0, shape));
            assertAligned(xs, "sum");
            float[] narrowed = b.toFloats(b.narrow(xs, 2, 1, 2));
            assertArrayEquals(new float[]{1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22}, narrowed, "narrow");
            float[] back = b.toFloats(b.unnarrow(b.narrow(xs, 1, 1, 2), shape, 1, 1));
            for (int i = 0; i < 24; i++) {
                assertEquals(i % 12 < 4 ? 0 : i, back[i], "unnarrow at " + i);
            }
            if (round % 500 == 0) {
                System.gc();
            }
        }
    }

    @Test
    void resultsInsideAScopeUseTheScopesMemoryWithoutAnNd4jBuffer() {
        CpuBackend b = CpuBackend.INSTANCE;
        float[] x = new float[1000];
        for (int i = 0; i < x.length; i++) {
            x[i] = i * 0.5f;
        }
        Storage outside = b.binary(org.kat4j.backend.BinaryOp.MUL, b.fromFloats(x, 1000), b.full(DType.FLOAT32, 2, 1000));
        org.junit.jupiter.api.Assertions.assertNotNull(CpuStorage.cpu(outside).allocation(), "outside scopes: a heap buffer");
        for (int step = 0; step < 3; step++) {
            try (Scope ignored = Scope.open()) {
                Storage y = b.binary(org.kat4j.backend.BinaryOp.MUL, b.fromFloats(x, 1000), b.full(DType.FLOAT32, 2, 1000));
                org.junit.jupiter.api.Assertions.assertTrue(CpuStorage.cpu(y).allocation() == null, "step " + step + ": no ND4J buffer");
                java.nio.FloatBuffer kernelView = CpuStorage.floats(y);
                float[] nd4jView = CpuStorage.nd(b.reshape(y, 10, 100)).reshape(1000).toFloatVector();
                for (int i = 0; i < x.length; i++) {
                    assertEquals(i * 1.0f, kernelView.get(i), "step " + step + " element " + i + " read by the kernels");
                    assertEquals(i * 1.0f, nd4jView[i], "step " + step + " element " + i + " read by ND4J");
                }
                assertAligned(y, "step " + step);
            }
        }
    }
}
