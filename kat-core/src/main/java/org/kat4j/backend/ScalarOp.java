package org.kat4j.backend;

/** Element-wise functions of a tensor and a constant s: {@link Backend#scalar}. */
public enum ScalarOp {
    /** x + s */
    ADD,
    /** x * s */
    MUL,
    /** s - x */
    RSUB,
    /** x ^ s */
    POW
}
