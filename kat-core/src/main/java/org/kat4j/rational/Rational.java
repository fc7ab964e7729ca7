package org.kat4j.rational;

/**
 * The rational function of docs/design.md, section 1, in float64, element by element: the specification the
 * fast kernels are tested against, and the float64 path of the op (gradient checks).
 */
public final class Rational {
    private Rational() {
    }

    /** P(x) = a0 + a1 x + ... + a5 x^5. */
    public static double p(double x, double[] a) {
        return a[0] + x * (a[1] + x * (a[2] + x * (a[3] + x * (a[4] + x * a[5]))));
    }

    /** Q(x) = 1 + |b0||x| + |b1||x|^2 + |b2||x|^3 + |b3||x|^4 (&gt;= 1), b at {@code off}. */
    public static double q(double x, double[] b, int off) {
        double ax = Math.abs(x);
        return 1.0 + ax * (Math.abs(b[off]) + ax * (Math.abs(b[off + 1]) + ax * (Math.abs(b[off + 2]) + ax * Math.abs(b[off + 3]))));
    }

    /** F(x) = P(x) / Q(x) with denominator b[off..off+3]. */
    public static double eval(double x, double[] a, double[] b, int off) {
        return p(x, a) / q(x, b, off);
    }

    /** s(v): -1 for v &lt; 0, else +1 (s(0) = +1, so zero-initialised denominators still learn). */
    public static double sign(double v) {
        return v < 0 ? -1.0 : 1.0;
    }

    /** dF/dx. */
    public static double derivative(double x, double[] a, double[] b, int off) {
        double ax = Math.abs(x);
        double r = a[1] + x * (2 * a[2] + x * (3 * a[3] + x * (4 * a[4] + x * 5 * a[5])));
        double s = sign(x) * (Math.abs(b[off]) + ax * (2 * Math.abs(b[off + 1]) + ax * (3 * Math.abs(b[off + 2])
                + ax * 4 * Math.abs(b[off + 3]))));
        double q = q(x, b, off);
        return r / q - p(x, a) * s / (q * q);
    }

    /** Forward over channels-last data [rows, d] in float64. */
    public static void forward(double[] x, double[] y, int d, int groups, double[] a, double[] b) {
        int cpg = d / groups;
        for (int i = 0; i < x.length; i++) {
            y[i] = eval(x[i], a, b, 4 * ((i % d) / cpg));
        }
    }

    /** Backward in float64: gx = g F'(x) (if gx != null), gradients added into ga [6] and gb [groups*4]. */
    public static void backward(double[] x, double[] g, double[] gx, int d, int groups, double[] a, double[] b,
                                double[] ga, double[] gb) {
        int cpg = d / groups;
        for (int i = 0; i < x.length; i++) {
            int off = 4 * ((i % d) / cpg);
            double v = x[i];
            double q = q(v, b, off);
            double p = p(v, a);
            if (gx != null) {
                gx[i] = g[i] * derivative(v, a, b, off);
            }
            double xi = 1;
            for (int k = 0; k < 6; k++) {
                ga[k] += g[i] * xi / q;
                xi *= v;
            }
            double ax = Math.abs(v);
            double axk = ax;
            for (int k = 0; k < 4; k++) {
                gb[off + k] += -g[i] * p / (q * q) * sign(b[off + k]) * axk;
                axk *= ax;
            }
        }
    }
}
