package org.kat4j.backend;

import org.kat4j.tensor.DType;

/**
 * The values of a tensor on one device: a dense, C-ordered (row-major) block of {@link #numel()}
 * elements of one {@link DType}. Only the {@link Backend} that made a storage reads or writes its
 * memory; a {@link org.kat4j.tensor.Tensor} pairs a storage with autograd state.
 */
public interface Storage {
    /** The backend that owns this storage (and runs every op on it). */
    Backend backend();

    default Device device() {
        return backend().device();
    }

    DType dtype();

    /** The shape (a copy: callers may change it). */
    long[] shape();

    default int rank() {
        return shape().length;
    }

    default long numel() {
        return Shapes.numel(shape());
    }
}
