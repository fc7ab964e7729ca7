package org.kat4j.backend.cpu;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The build runs the kernel tests a second time with the JVM held to 256-bit vectors
 * ({@code -XX:UseAVX=2}, the code an AVX2 machine gets) and says so with the property
 * {@code kat4j.test.maxLanes}: this checks that the vectors really are that narrow there, so that
 * run does not quietly repeat the wide one.
 */
class LaneWidthTest {
    @Test
    void vectorsAreNoWiderThanTheRunAsks() {
        String max = System.getProperty("kat4j.test.maxLanes");
        Assumptions.assumeTrue(max != null, "only in the run with narrower vectors");
        Assumptions.assumeTrue(Simd.available(), "needs --add-modules jdk.incubator.vector");
        int lanes = FloatVector.SPECIES_PREFERRED.length();
        assertTrue(lanes <= Integer.parseInt(max), "float lanes " + lanes + ", expected at most " + max);
        // and kat info names the width the kernels get
        assertTrue(Simd.describe().contains(32 * lanes + "-bit vectors"), Simd.describe());
    }
}
