package org.kat4j.backend.cpu;

import org.kat4j.backend.Backend;
import org.kat4j.backend.Storage;
import org.kat4j.tensor.DType;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;

/** A dense C-ordered ND4J array: the CPU backend's storage. Nothing outside this package sees the array. */
final class CpuStorage implements Storage {
    final INDArray a;

    CpuStorage(INDArray a) {
        this.a = isDense(a) ? a : a.dup('c');
    }

    static INDArray nd(Storage s) {
        if (!(s instanceof CpuStorage c)) {
            throw new IllegalArgumentException("CPU backend given a storage on " + s.device()
                    + ": move the tensor with to(Device.CPU) first");
        }
        return c.a;
    }

    static CpuStorage of(INDArray a) {
        return new CpuStorage(a);
    }

    /** C-ordered with default strides (an offset is allowed): the layout kernels may read in place. */
    static boolean isDense(INDArray a) {
        return a.ordering() == 'c' && (a.length() <= 1 || a.elementWiseStride() == 1)
                && Arrays.equals(a.stride(), Nd4j.getStrides(a.shape(), 'c'));
    }

    static DataType nd4j(DType t) {
        return t == DType.FLOAT32 ? DataType.FLOAT : DataType.DOUBLE;
    }

    static DType dtype(DataType t) {
        return switch (t) {
            case FLOAT -> DType.FLOAT32;
            case DOUBLE -> DType.FLOAT64;
            default -> throw new IllegalArgumentException("unsupported element type " + t + ", expected FLOAT or DOUBLE");
        };
    }

    /** The float buffer of a dense float32 array, from its first element (what the CPU kernels read). */
    static FloatBuffer floats(INDArray a) {
        return a.data().asNioFloat().position((int) a.offset()).slice();
    }

    /** The bytes of a dense float32 array from its first element, in native byte order (what the vector kernels read in place). */
    static ByteBuffer bytes(INDArray a) {
        return a.data().asNio().position(Math.toIntExact(4 * a.offset())).slice().order(ByteOrder.nativeOrder());
    }

    @Override
    public Backend backend() {
        return CpuBackend.INSTANCE;
    }

    @Override
    public DType dtype() {
        return dtype(a.dataType());
    }

    @Override
    public long[] shape() {
        return a.shape();
    }

    @Override
    public int rank() {
        return a.rank();
    }

    @Override
    public long numel() {
        return a.length();
    }

    @Override
    public String toString() {
        return a.toString();
    }
}
