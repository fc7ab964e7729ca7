package org.kat4j.cuda;

/** Element storage of a device buffer; the kernels always compute in float32. */
public enum Storage {
    F32(4, "f32"),
    BF16(2, "bf16"),
    F16(2, "f16");

    /** Bytes per element. */
    public final int bytes;
    final String suffix;

    Storage(int bytes, String suffix) {
        this.bytes = bytes;
        this.suffix = suffix;
    }

    /** Elements per 16-byte vector load. */
    public int vectorWidth() {
        return 16 / bytes;
    }
}
