package org.kat4j.backend;

/** Element-wise functions of two tensors with numpy broadcasting: {@link Backend#binary}. */
public enum BinaryOp {
    ADD, SUB, MUL, DIV
}
