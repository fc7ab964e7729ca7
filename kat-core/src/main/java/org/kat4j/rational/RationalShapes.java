package org.kat4j.rational;

/**
 * The one argument check of the group-rational op, shared by the layer, the op, and every kernel
 * (CPU and CUDA): errors name what was given and what was expected.
 */
public final class RationalShapes {
    private RationalShapes() {
    }

    /**
     * {@code n} elements in rows of {@code d} channels, in {@code groups} groups of d / groups
     * contiguous channels; {@code context} (may be empty) is appended to an error message.
     */
    public static void checkLayout(long n, long d, int groups, String context) {
        if (groups < 1) {
            throw new IllegalArgumentException("GroupRational: groups " + groups + ", expected >= 1" + context);
        }
        if (d < 1 || d % groups != 0) {
            throw new IllegalArgumentException("GroupRational: channels " + d + " not divisible by groups " + groups + context);
        }
        if (n < 0 || n % d != 0) {
            throw new IllegalArgumentException("GroupRational: " + n + " elements is not a whole number of rows of " + d
                    + context);
        }
    }

    /** A numerator of 6 coefficients and a denominator of groups x 4. */
    public static void checkCoefficients(int groups, int numerator, int denominator) {
        if (groups < 1) {
            throw new IllegalArgumentException("GroupRational: groups " + groups + ", expected >= 1");
        }
        if (numerator != 6) {
            throw new IllegalArgumentException("GroupRational: numerator has " + numerator + " coefficients, expected 6");
        }
        if (denominator != groups * 4) {
            throw new IllegalArgumentException("GroupRational: denominator has " + denominator + " coefficients, expected "
                    + groups + " x 4");
        }
    }
}
