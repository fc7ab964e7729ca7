package org.kat4j.backend;

/**
 * bfloat16 rounding of float32 values: the upper 16 bits of the float32 pattern (sign, 8 exponent
 * bits, 7 mantissa bits), rounded to the nearest with ties to even; a NaN stays a (quiet) NaN and
 * values past bfloat16's largest finite one round to infinity. The CUDA backend's conversion
 * kernel does the same integer arithmetic, so both sides round every value alike.
 */
public final class Bf16 {
    private Bf16() {
    }

    /** The bfloat16 bits of {@code f}. */
    public static short bits(float f) {
        int u = Float.floatToRawIntBits(f);
        if ((u & 0x7fffffff) > 0x7f800000) {
            return (short) ((u >>> 16) | 0x40);
        }
        return (short) ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16);
    }

    /** {@code f} rounded to bfloat16, as a float32 (its low 16 bits zero). */
    public static float round(float f) {
        return Float.intBitsToFloat(bits(f) << 16);
    }

    /** Rounds every element of {@code v} in place. */
    public static void roundInPlace(float[] v) {
        for (int i = 0; i < v.length; i++) {
            v[i] = round(v[i]);
        }
    }
}
