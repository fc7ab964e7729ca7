package org.kat4j.rational;

import java.util.function.DoubleUnaryOperator;

/**
 * Fits the version-A rational P5(x)/Q4(x), Q = 1 + sum |b_k| |x|^(k+1), to a function on a range.
 *
 * <ol>
 *   <li>Linearised Padé start: least squares of P(x) - f(x) (Q(x) - 1) = f(x), solved by QR.</li>
 *   <li>Levenberg-Marquardt on the true residual P/Q - f, with b_k = u_k^2 so the denominator
 *       form |b| holds by construction (a linear start can give negative terms; they enter as
 *       their magnitudes).</li>
 *   <li>Optionally, Lawson reweighting towards the minimax (equal-ripple) fit.</li>
 * </ol>
 */
public final class RationalFit {
    /** Fitted coefficients and their errors on the fitting grid. */
    public record Result(double[] numerator, double[] denominator, double maxError, double rmsError) {
    }

    private final int points;
    private final int lmIterations;
    private final int minimaxRounds;

    public RationalFit(int points, int lmIterations, int minimaxRounds) {
        if (points < 20) {
            throw new IllegalArgumentException("RationalFit: " + points + " points, expected at least 20");
        }
        this.points = points;
        this.lmIterations = lmIterations;
        this.minimaxRounds = minimaxRounds;
    }

    /** Defaults: 2001 points, 300 LM iterations, no minimax rounds (plain least squares). */
    public static RationalFit leastSquares() {
        return new RationalFit(2001, 300, 0);
    }

    public Result fit(DoubleUnaryOperator f, double lo, double hi) {
        if (!(hi > lo)) {
            throw new IllegalArgumentException("RationalFit: range [" + lo + ", " + hi + "] is empty");
        }
        double[] xs = new double[points];
        double[] ys = new double[points];
        for (int i = 0; i < points; i++) {
            xs[i] = lo + (hi - lo) * i / (points - 1);
            ys[i] = f.applyAsDouble(xs[i]);
            if (!Double.isFinite(ys[i])) {
                throw new IllegalArgumentException("RationalFit: target is not finite at x = " + xs[i]);
            }
        }
        double[] w = new double[points];
        java.util.Arrays.fill(w, 1.0);
        double[] theta = linearStart(xs, ys);
        theta = levenbergMarquardt(xs, ys, w, theta);
        Result best = result(theta, xs, ys);
        for (int round = 0; round < minimaxRounds; round++) {
            // Lawson: weights grow where the error is large
            double sum = 0;
            for (int i = 0; i < points; i++) {
                double r = Math.abs(eval(theta, xs[i]) - ys[i]);
                w[i] *= r + 1e-12;
                sum += w[i];
            }
            for (int i = 0; i < points; i++) {
                w[i] *= points / sum;
            }
            theta = levenbergMarquardt(xs, ys, w, theta);
            Result r = result(theta, xs, ys);
            if (r.maxError() < best.maxError()) {
                best = r;
            }
        }
        return best;
    }

    private static Result result(double[] theta, double[] xs, double[] ys) {
        double max = 0;
        double ss = 0;
        for (int i = 0; i < xs.length; i++) {
            double e = eval(theta, xs[i]) - ys[i];
            max = Math.max(max, Math.abs(e));
            ss += e * e;
        }
        double[] a = new double[6];
        double[] b = new double[4];
        System.arraycopy(theta, 0, a, 0, 6);
        for (int k = 0; k < 4; k++) {
            b[k] = theta[6 + k] * theta[6 + k];
        }
        return new Result(a, b, max, Math.sqrt(ss / xs.length));
    }

    /** theta = a0..a5, u0..u3 with b_k = u_k^2. */
    static double eval(double[] theta, double x) {
        double ax = Math.abs(x);
        double p = theta[0] + x * (theta[1] + x * (theta[2] + x * (theta[3] + x * (theta[4] + x * theta[5]))));
        double q = 1 + ax * (sq(theta[6]) + ax * (sq(theta[7]) + ax * (sq(theta[8]) + ax * sq(theta[9]))));
        return p / q;
    }

    private static double sq(double v) {
        return v * v;
    }

    private static double[] linearStart(double[] xs, double[] ys) {
        int n = xs.length;
        double[][] m = new double[n][10];
        double[] rhs = new double[n];
        for (int i = 0; i < n; i++) {
            double x = xs[i];
            double ax = Math.abs(x);
            double xp = 1;
            for (int j = 0; j < 6; j++) {
                m[i][j] = xp;
                xp *= x;
            }
            double axp = ax;
            for (int k = 0; k < 4; k++) {
                m[i][6 + k] = -ys[i] * axp;
                axp *= ax;
            }
            rhs[i] = ys[i];
        }
        double[] sol = leastSquaresQr(m, rhs);
        double[] theta = new double[10];
        System.arraycopy(sol, 0, theta, 0, 6);
        for (int k = 0; k < 4; k++) {
            theta[6 + k] = Math.sqrt(Math.abs(sol[6 + k]));
        }
        return theta;
    }

    private double[] levenbergMarquardt(double[] xs, double[] ys, double[] w, double[] start) {
        double[] theta = start.clone();
        double lambda = 1e-3;
        double cost = cost(theta, xs, ys, w);
        int n = xs.length;
        for (int it = 0; it < lmIterations; it++) {
            double[][] jtj = new double[10][10];
            double[] jtr = new double[10];
            double[] row = new double[10];
            for (int i = 0; i < n; i++) {
                double x = xs[i];
                double ax = Math.abs(x);
                double p = theta[0] + x * (theta[1] + x * (theta[2] + x * (theta[3] + x * (theta[4] + x * theta[5]))));
                double q = 1 + ax * (sq(theta[6]) + ax * (sq(theta[7]) + ax * (sq(theta[8]) + ax * sq(theta[9]))));
                double r = p / q - ys[i];
                double xp = 1;
                for (int j = 0; j < 6; j++) {
                    row[j] = xp / q;
                    xp *= x;
                }
                double axp = ax;
                for (int k = 0; k < 4; k++) {
                    row[6 + k] = -p / (q * q) * 2 * theta[6 + k] * axp;
                    axp *= ax;
                }
                for (int a = 0; a < 10; a++) {
                    jtr[a] += w[i] * row[a] * r;
                    for (int b = 0; b <= a; b++) {
                        jtj[a][b] += w[i] * row[a] * row[b];
                    }
                }
            }
            for (int a = 0; a < 10; a++) {
                for (int b = a + 1; b < 10; b++) {
                    jtj[a][b] = jtj[b][a];
                }
            }
            boolean improved = false;
            for (int tries = 0; tries < 20 && !improved; tries++) {
                double[][] mat = new double[10][10];
                for (int a = 0; a < 10; a++) {
                    System.arraycopy(jtj[a], 0, mat[a], 0, 10);
                    mat[a][a] += lambda * (jtj[a][a] + 1e-12);
                }
                double[] step = solve(mat, negate(jtr));
                double[] cand = theta.clone();
                for (int a = 0; a < 10; a++) {
                    cand[a] += step[a];
                }
                double c = cost(cand, xs, ys, w);
                if (Double.isFinite(c) && c < cost) {
                    double rel = (cost - c) / cost;
                    theta = cand;
                    cost = c;
                    lambda = Math.max(lambda / 3, 1e-12);
                    improved = true;
                    if (rel < 1e-15) {
                        return theta;
                    }
                } else {
                    lambda *= 4;
                }
            }
            if (!improved) {
                break;
            }
        }
        return theta;
    }

    private static double cost(double[] theta, double[] xs, double[] ys, double[] w) {
        double c = 0;
        for (int i = 0; i < xs.length; i++) {
            double r = eval(theta, xs[i]) - ys[i];
            c += w[i] * r * r;
        }
        return c;
    }

    private static double[] negate(double[] v) {
        double[] o = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            o[i] = -v[i];
        }
        return o;
    }

    /** Gaussian elimination with partial pivoting (small systems). */
    static double[] solve(double[][] a, double[] b) {
        int n = b.length;
        double[][] m = new double[n][];
        double[] r = b.clone();
        for (int i = 0; i < n; i++) {
            m[i] = a[i].clone();
        }
        for (int c = 0; c < n; c++) {
            int piv = c;
            for (int i = c + 1; i < n; i++) {
                if (Math.abs(m[i][c]) > Math.abs(m[piv][c])) {
                    piv = i;
                }
            }
            double[] tmp = m[c];
            m[c] = m[piv];
            m[piv] = tmp;
            double t = r[c];
            r[c] = r[piv];
            r[piv] = t;
            if (m[c][c] == 0) {
                continue;
            }
            for (int i = c + 1; i < n; i++) {
                double f = m[i][c] / m[c][c];
                for (int j = c; j < n; j++) {
                    m[i][j] -= f * m[c][j];
                }
                r[i] -= f * r[c];
            }
        }
        double[] x = new double[n];
        for (int i = n - 1; i >= 0; i--) {
            double s = r[i];
            for (int j = i + 1; j < n; j++) {
                s -= m[i][j] * x[j];
            }
            x[i] = m[i][i] == 0 ? 0 : s / m[i][i];
        }
        return x;
    }

    /** Least squares min |A x - b| by Householder QR (columns scaled first for conditioning). */
    static double[] leastSquaresQr(double[][] a, double[] b) {
        int m = a.length;
        int n = a[0].length;
        double[][] q = new double[m][];
        for (int i = 0; i < m; i++) {
            q[i] = a[i].clone();
        }
        double[] scale = new double[n];
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int i = 0; i < m; i++) {
                s = Math.max(s, Math.abs(q[i][j]));
            }
            scale[j] = s == 0 ? 1 : s;
            for (int i = 0; i < m; i++) {
                q[i][j] /= scale[j];
            }
        }
        double[] y = b.clone();
        for (int k = 0; k < n; k++) {
            double norm = 0;
            for (int i = k; i < m; i++) {
                norm += q[i][k] * q[i][k];
            }
            norm = Math.sqrt(norm);
            if (norm == 0) {
                continue;
            }
            double alpha = q[k][k] > 0 ? -norm : norm;
            double[] v = new double[m];
            for (int i = k; i < m; i++) {
                v[i] = q[i][k];
            }
            v[k] -= alpha;
            double vv = 0;
            for (int i = k; i < m; i++) {
                vv += v[i] * v[i];
            }
            if (vv == 0) {
                continue;
            }
            for (int j = k; j < n; j++) {
                double dot = 0;
                for (int i = k; i < m; i++) {
                    dot += v[i] * q[i][j];
                }
                double f = 2 * dot / vv;
                for (int i = k; i < m; i++) {
                    q[i][j] -= f * v[i];
                }
            }
            double dot = 0;
            for (int i = k; i < m; i++) {
                dot += v[i] * y[i];
            }
            double f = 2 * dot / vv;
            for (int i = k; i < m; i++) {
                y[i] -= f * v[i];
            }
        }
        double[] x = new double[n];
        for (int i = n - 1; i >= 0; i--) {
            double s = y[i];
            for (int j = i + 1; j < n; j++) {
                s -= q[i][j] * x[j];
            }
            x[i] = q[i][i] == 0 ? 0 : s / q[i][i];
        }
        for (int j = 0; j < n; j++) {
            x[j] /= scale[j];
        }
        return x;
    }
}
