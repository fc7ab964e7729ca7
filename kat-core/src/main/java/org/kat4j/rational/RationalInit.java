package org.kat4j.rational;

/**
 * Initial coefficients (a0..a5, b0..b3) of a rational unit, fitted to a known activation with the
 * version-A denominator that the kernels compute. {@code SWISH} is the reference table's own fit
 * (kept for checkpoint fidelity); the others come from {@link RationalFit} (see
 * {@code RationalFitTest}, which refits and compares). The reference repository's "gelu" table
 * was fitted for a different denominator and is not a GELU under this formula (max error 1.47 on
 * [-3, 3]); ours is.
 */
public enum RationalInit {
    IDENTITY(new double[]{0, 1, 0, 0, 0, 0}, new double[]{0, 0, 0, 0}),
    /** rational_kat_cu init.json "swish", fitted on [-3, 3]: max error ~1.2e-6. */
    SWISH(new double[]{3.054879741161051e-07, 0.5000007853744493, 0.24999783422824703, 0.05326628273219478,
            0.005803034571292244, 0.0002751961022402342},
            new double[]{-4.111554955950634e-06, 0.10652899335007572, -1.2690007399796238e-06, 0.0005502331264140556}),
    GELU(FittedTables.GELU_A, FittedTables.GELU_B),
    RELU(FittedTables.RELU_A, FittedTables.RELU_B),
    LEAKY_RELU(FittedTables.LEAKY_RELU_A, FittedTables.LEAKY_RELU_B),
    TANH(FittedTables.TANH_A, FittedTables.TANH_B),
    SIGMOID(FittedTables.SIGMOID_A, FittedTables.SIGMOID_B);

    private final double[] numerator;
    private final double[] denominator;

    RationalInit(double[] numerator, double[] denominator) {
        this.numerator = numerator;
        this.denominator = denominator;
    }

    /** a0..a5. */
    public double[] numerator() {
        return numerator.clone();
    }

    /** b0..b3 (one group). */
    public double[] denominator() {
        return denominator.clone();
    }

    /**
     * The function this init approximates, in float64. tanh is StrictMath's: Java 24 and later
     * give Math.tanh an intrinsic whose last bits differ, and the fitter's iterations carry that
     * into a visibly different table (max error 3.066e-6 instead of 3.084e-6 on Java 25).
     */
    public double target(double x) {
        return switch (this) {
            case IDENTITY -> x;
            case SWISH -> x / (1 + Math.exp(-x));
            case GELU -> 0.5 * x * (1 + Erf.erf(x / Math.sqrt(2)));
            case RELU -> Math.max(0, x);
            case LEAKY_RELU -> x >= 0 ? x : 0.01 * x;
            case TANH -> StrictMath.tanh(x);
            case SIGMOID -> 1 / (1 + Math.exp(-x));
        };
    }

    /** Parses names as timm/the reference write them: "identity", "swish"/"silu", "gelu", ... */
    public static RationalInit parse(String name) {
        String n = name.trim().toLowerCase().replace('-', '_');
        return switch (n) {
            case "identity" -> IDENTITY;
            case "swish", "silu" -> SWISH;
            case "gelu" -> GELU;
            case "relu" -> RELU;
            case "leaky_relu", "leakyrelu" -> LEAKY_RELU;
            case "tanh" -> TANH;
            case "sigmoid" -> SIGMOID;
            default -> throw new IllegalArgumentException("unknown rational init '" + name
                    + "', expected one of identity, swish, gelu, relu, leaky_relu, tanh, sigmoid");
        };
    }
}
