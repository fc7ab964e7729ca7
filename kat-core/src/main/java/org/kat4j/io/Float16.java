package org.kat4j.io;

/** float32 &lt;-&gt; bfloat16 / float16 bit patterns (Java 17 has no half type); pure Java, no ND4J. */
public final class Float16 {
    private Float16() {
    }

    /** Round-to-nearest-even float32 -&gt; bfloat16 (NaN stays NaN). */
    public static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    public static float fromBf16(short h) {
        return Float.intBitsToFloat((h & 0xFFFF) << 16);
    }

    /**
     * float32 -&gt; float16, round to nearest even, with overflow to infinity and subnormals.
     */
    public static short toF16(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int abs = bits & 0x7FFFFFFF;
        if (abs >= 0x7F800000) {
            return (short) (sign | 0x7C00 | (abs > 0x7F800000 ? 0x200 : 0));
        }
        if (abs >= 0x477FF000) { // rounds to >= 65520: infinity
            return (short) (sign | 0x7C00);
        }
        int exp = (abs >>> 23) - 127;
        if (exp < -14) { // subnormal half (or zero)
            if (exp < -25) {
                return (short) sign;
            }
            int mant = (abs & 0x7FFFFF) | 0x800000;
            int shift = -exp - 14 + 13; // bits dropped
            int half = mant >>> shift;
            int rem = mant & ((1 << shift) - 1);
            int mid = 1 << (shift - 1);
            if (rem > mid || (rem == mid && (half & 1) == 1)) {
                half++;
            }
            return (short) (sign | half);
        }
        int mant = abs & 0x7FFFFF;
        int half = ((exp + 15) << 10) | (mant >>> 13);
        int rem = mant & 0x1FFF;
        if (rem > 0x1000 || (rem == 0x1000 && (half & 1) == 1)) {
            half++; // may carry into the exponent: still correct
        }
        return (short) (sign | half);
    }

    public static float fromF16(short h) {
        int v = h & 0xFFFF;
        int sign = (v & 0x8000) << 16;
        int exp = (v >>> 10) & 0x1F;
        int mant = v & 0x3FF;
        if (exp == 0x1F) {
            return Float.intBitsToFloat(sign | 0x7F800000 | (mant << 13));
        }
        if (exp == 0) {
            float m = mant / 1024.0f * (float) Math.pow(2, -14);
            return sign != 0 ? -m : m;
        }
        return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
    }
}
