package org.kat4j.backend;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Bf16Test {
    private static float f(int bits) {
        return Float.intBitsToFloat(bits);
    }

    @Test
    void roundsToNearestWithTiesToEven() {
        assertEquals(1.0f, Bf16.round(1.0f));
        assertEquals(1.0f, Bf16.round(1 + 0x1p-8f), "a tie goes to the even neighbour, 1");
        assertEquals(1 + 0x1p-6f, Bf16.round(1 + 3 * 0x1p-8f), "a tie goes to the even neighbour, 1 + 2^-6");
        assertEquals(1 + 0x1p-7f, Bf16.round(1 + 0x1p-8f + 0x1p-20f), "past the tie: up");
        assertEquals(-(1 + 0x1p-7f), Bf16.round(-(1 + 0x1p-8f + 0x1p-20f)), "negative values mirror");
        assertEquals(Float.POSITIVE_INFINITY, Bf16.round(Float.MAX_VALUE), "past the largest bfloat16: infinity");
        assertEquals(Float.NEGATIVE_INFINITY, Bf16.round(Float.NEGATIVE_INFINITY));
        assertTrue(Float.isNaN(Bf16.round(f(0x7f800001))), "a NaN whose payload is in the low bits stays a NaN");
        assertEquals(0x7fc0, Bf16.bits(f(0x7f800001)) & 0xffff);
        assertEquals(0x8000, Bf16.bits(-0.0f) & 0xffff);
    }

    /** Against a float64 reference: the nearer of the two bfloat16 neighbours, the even one on a tie. */
    @Test
    void matchesTheNearestNeighbourOnRandomPatterns() {
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < 1_000_000; i++) {
            int u = r.nextInt();
            float x = f(u);
            if (Float.isNaN(x) || Float.isInfinite(x)) {
                continue;
            }
            int lowBits = u & 0xffff0000;
            float down = f(lowBits);
            float up = f(lowBits + 0x10000);
            // past bfloat16's largest finite value the upper neighbour is 2^128 (IEEE rounding), rounded to infinity
            double upValue = Float.isInfinite(up) ? Math.copySign(0x1p128, up) : up;
            double dDown = Math.abs((double) x - down);
            double dUp = Math.abs(upValue - x);
            float expected = dDown < dUp ? down : dUp < dDown ? up : ((lowBits >>> 16) & 1) == 0 ? down : up;
            assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(Bf16.round(x)), "bits " + Integer.toHexString(u));
        }
    }
}
