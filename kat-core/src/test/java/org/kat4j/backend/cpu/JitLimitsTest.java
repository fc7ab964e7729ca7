package org.kat4j.backend.cpu;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

/** The JIT limits the vector kernels need (Simd's class comment): what kat4j says when they are low. */
class JitLimitsTest {
    @Test
    void saysWhichLimitIsLow() {
        assertNull(Simd.lowJitLimits(10000, 10000));
        assertNull(Simd.lowJitLimits(-1, -1), "unknown (or an unlimited cutoff) is not a warning");
        assertEquals("the JVM's PerMethodRecompilationCutoff 400 is low for kat4j's vector kernels",
                Simd.lowJitLimits(10000, 400));
        assertEquals("the JVM's PerMethodTrapLimit 100 and PerMethodRecompilationCutoff 400 are low for kat4j's vector kernels",
                Simd.lowJitLimits(100, 400));
        assertEquals("the JVM's PerMethodTrapLimit 999 is low for kat4j's vector kernels", Simd.lowJitLimits(999, 1000));
    }

    @Test
    void theTestJvmHasTheLimitsTheBuildSets() {
        // the build's argLine carries JIT_FLAGS: both options read back, and kat info says nothing about them
        assertEquals(10000, Simd.vmOption("PerMethodTrapLimit"));
        assertEquals(10000, Simd.vmOption("PerMethodRecompilationCutoff"));
        assertFalse(Simd.describe().contains("start the JVM with"), Simd.describe());
    }
}
