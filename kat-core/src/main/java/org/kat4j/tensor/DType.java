package org.kat4j.tensor;

import org.nd4j.linalg.api.buffer.DataType;

/** Element types a {@link Tensor} can hold. FLOAT32 is the default; FLOAT64 exists for gradient checks. */
public enum DType {
    FLOAT32(DataType.FLOAT),
    FLOAT64(DataType.DOUBLE);

    final DataType nd4j;

    DType(DataType nd4j) {
        this.nd4j = nd4j;
    }

    /** The ND4J type behind this one (for backend code). */
    public DataType nd4j() {
        return nd4j;
    }

    static DType of(DataType t) {
        return switch (t) {
            case FLOAT -> FLOAT32;
            case DOUBLE -> FLOAT64;
            default -> throw new IllegalArgumentException("unsupported element type " + t + ", expected FLOAT or DOUBLE");
        };
    }
}
