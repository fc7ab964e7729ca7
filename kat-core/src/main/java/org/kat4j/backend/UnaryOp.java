package org.kat4j.backend;

/** Element-wise functions of one tensor: {@link Backend#unary}. */
public enum UnaryOp {
    NEG, EXP, LOG, SQRT, TANH, SIGMOID, RELU, ERF,
    /** 1 where x &gt; 0, else 0 (relu's derivative). */
    STEP,
    /** 1 where x == 0, else 0. */
    IS_ZERO
}
