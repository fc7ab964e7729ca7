package org.kat4j.rational;

import java.util.function.DoubleUnaryOperator;

/**
 * E[F(x)^2] for x ~ N(0, 1) by Gauss-Hermite quadrature (deterministic): the second moment that
 * the variance-preserving init divides by (docs/design.md, section 3).
 */
public final class Gain {
    /** Nodes used by default (the reference values in docs/design.md use 200). */
    public static final int DEFAULT_NODES = 200;
    private static volatile double[][] cached;

    private Gain() {
    }

    /** E[f(x)^2], x ~ N(0, 1). */
    public static double secondMoment(DoubleUnaryOperator f) {
        double[][] nw = nodes(DEFAULT_NODES);
        double s = 0;
        for (int i = 0; i < nw[0].length; i++) {
            double v = f.applyAsDouble(Math.sqrt(2) * nw[0][i]);
            s += nw[1][i] * v * v;
        }
        return s / Math.sqrt(Math.PI);
    }

    /** E[F(x)^2] of a rational with numerator a and one group's denominator b. */
    public static double secondMoment(double[] a, double[] b) {
        return secondMoment(x -> Rational.eval(x, a, b, 0));
    }

    /** E[F(x)^2] of a rational with several groups: the mean over groups (channels split evenly). */
    public static double secondMomentGroups(double[] a, double[] b) {
        int groups = b.length / 4;
        double s = 0;
        for (int g = 0; g < groups; g++) {
            int off = 4 * g;
            s += secondMoment(x -> Rational.eval(x, a, b, off));
        }
        return s / groups;
    }

    /**
     * Physicists' Gauss-Hermite nodes [0] and weights [1] (weight function exp(-t^2)) by
     * Golub-Welsch: the eigenvalues of the Jacobi matrix (off-diagonal sqrt(k/2)) are the nodes,
     * and sqrt(pi) times the squared first components of its eigenvectors the weights. The
     * eigenproblem is solved by implicit QL, tracking only the first row of the eigenvectors.
     */
    public static double[][] nodes(int n) {
        if (n == DEFAULT_NODES && cached != null) {
            return cached;
        }
        double[] d = new double[n];
        double[] e = new double[n];
        double[] z = new double[n];
        for (int k = 0; k < n - 1; k++) {
            e[k] = Math.sqrt((k + 1) / 2.0);
        }
        z[0] = 1;
        for (int l = 0; l < n; l++) {
            int iter = 0;
            int m;
            do {
                for (m = l; m < n - 1; m++) {
                    double dd = Math.abs(d[m]) + Math.abs(d[m + 1]);
                    if (Math.abs(e[m]) <= 1e-16 * dd) {
                        break;
                    }
                }
                if (m != l) {
                    if (iter++ == 60) {
                        throw new ArithmeticException("Gauss-Hermite: QL did not converge for n = " + n);
                    }
                    double g = (d[l + 1] - d[l]) / (2.0 * e[l]);
                    double r = Math.hypot(g, 1.0);
                    g = d[m] - d[l] + e[l] / (g + Math.copySign(r, g));
                    double s = 1;
                    double c = 1;
                    double p = 0;
                    int i;
                    for (i = m - 1; i >= l; i--) {
                        double f = s * e[i];
                        double b = c * e[i];
                        r = Math.hypot(f, g);
                        e[i + 1] = r;
                        if (r == 0) {
                            d[i + 1] -= p;
                            e[m] = 0;
                            break;
                        }
                        s = f / r;
                        c = g / r;
                        g = d[i + 1] - p;
                        r = (d[i] - g) * s + 2.0 * c * b;
                        p = s * r;
                        d[i + 1] = g + p;
                        g = c * r - b;
                        double zf = z[i + 1];
                        z[i + 1] = s * z[i] + c * zf;
                        z[i] = c * z[i] - s * zf;
                    }
                    if (r == 0 && i >= l) {
                        continue;
                    }
                    d[l] -= p;
                    e[l] = g;
                    e[m] = 0;
                }
            } while (m != l);
        }
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, (a, b) -> Double.compare(d[a], d[b]));
        double[] x = new double[n];
        double[] w = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = d[order[i]];
            w[i] = Math.sqrt(Math.PI) * z[order[i]] * z[order[i]];
        }
        double[][] r = {x, w};
        if (n == DEFAULT_NODES) {
            cached = r;
        }
        return r;
    }
}
