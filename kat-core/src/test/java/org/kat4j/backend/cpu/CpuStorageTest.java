package org.kat4j.backend.cpu;

import org.junit.jupiter.api.Test;
import org.kat4j.backend.Storage;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CpuStorageTest {
    @Test
    void bytesAndFloatsOfAViewStartAtItsFirstElement() {
        INDArray base = Nd4j.arange(0, 24).castTo(DataType.FLOAT).reshape(4, 6);
        INDArray rows = base.get(NDArrayIndex.interval(2, 4), NDArrayIndex.all());
        assertTrue(rows.offset() > 0, "a view with an offset");
        CpuStorage s = CpuStorage.of(rows);
        ByteBuffer b = CpuStorage.bytes(s);
        FloatBuffer f = CpuStorage.floats(s);
        assertEquals(ByteOrder.nativeOrder(), b.order());
        assertEquals(48, b.capacity(), "the view's bytes, not the rest of the buffer");
        assertEquals(12, f.capacity());
        for (int i = 0; i < 12; i++) {
            assertEquals(12 + i, b.getFloat(4 * i), 0, "byte view at " + i);
            assertEquals(12 + i, f.get(i), 0, "float view at " + i);
        }
    }

    @Test
    void aStridedArrayIsCopiedToDenseCOrder() {
        INDArray base = Nd4j.arange(0, 6).castTo(DataType.FLOAT).reshape(2, 3);
        CpuStorage s = CpuStorage.of(base.transpose());
        assertTrue(CpuStorage.isDense(s.array()));
        assertArrayEquals(new long[]{3, 2}, s.shape());
        assertArrayEquals(new float[]{0, 3, 1, 4, 2, 5}, CpuBackend.INSTANCE.toFloats(s), 0);
    }

    @Test
    void aReshapeSharesTheMemoryAndMakesItsNd4jArrayOnlyWhenAnNd4jOpNeedsIt() {
        CpuBackend be = CpuBackend.INSTANCE;
        Storage x = be.fromFloats(new float[]{0, 1, 2, 3, 4, 5}, 2, 3);
        Storage r = be.reshape(x, 3, 1, 2);
        assertArrayEquals(new long[]{3, 1, 2}, r.shape());
        assertEquals(3, r.rank());
        assertEquals(6, r.numel());
        be.setDouble(x, 4, 40);
        assertEquals(40, CpuStorage.floats(r).get(4), 0, "the reshape reads the same memory");
        INDArray a = CpuStorage.nd(r);
        assertArrayEquals(new long[]{3, 1, 2}, a.shape(), "the ND4J array has the reshaped shape");
        assertTrue(a == CpuStorage.nd(r), "and is made once");
        assertEquals(40, a.getDouble(2, 0, 0), 0);
        assertThrows(IllegalArgumentException.class, () -> be.reshape(x, 4, 2));
    }
}
