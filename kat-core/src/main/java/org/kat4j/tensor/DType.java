package org.kat4j.tensor;

/** Element types a {@link Tensor} can hold. FLOAT32 is the default; FLOAT64 exists for gradient checks. */
public enum DType {
    FLOAT32(4),
    FLOAT64(8);

    private final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    /** Bytes per element. */
    public int bytes() {
        return bytes;
    }
}
