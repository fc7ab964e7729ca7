package org.kat4j.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Sums of a vector's lanes in lane order, ((0 + v0) + v1) + ..., the same bits on every JVM,
 * before and after the JIT; the kernels sum lanes only here. {@code reduceLanes(ADD)} leaves the
 * order of a float sum open: Java 17's C2 adds the lanes in order (the same bits as the loop below
 * in every execution mode, checked on 8.2 million vectors), so on Java 17 and 18 this is that
 * reduction; Java 25's compiled reduction adds in another order than its interpreter, so a softmax
 * row summed with it got other bits once warm and training runs differed from process to process.
 * There the lanes are added one by one (about 10 ns a 16-lane vector against 3 ns for the
 * reduction on Java 17, 2 cores of an AMD EPYC Zen 5, 2026-12-07).
 */
public final class Lanes {
    /** Whether {@code reduceLanes(ADD)} adds in lane order: Java 17 (checked against the loop below) and 18. */
    private static final boolean ORDERED_REDUCTION = Runtime.version().feature() <= 18;

    private Lanes() {
    }

    /** v's lanes added in lane order, starting from 0. */
    public static float sum(FloatVector v) {
        if (ORDERED_REDUCTION) {
            return v.reduceLanes(VectorOperators.ADD);
        }
        float s = 0f;
        for (int i = 0; i < v.length(); i++) {
            s += v.lane(i);
        }
        return s;
    }
}
