package org.kat4j.backend;

import java.util.Arrays;
import java.util.function.DoubleBinaryOperator;

/** Plain-Java float64 reference computations on C-ordered arrays, written independently of any backend. */
public final class Ref {
    private Ref() {
    }

    static long numel(long[] s) {
        long n = 1;
        for (long v : s) {
            n *= v;
        }
        return n;
    }

    static long[] strides(long[] s) {
        long[] st = new long[s.length];
        long acc = 1;
        for (int i = s.length - 1; i >= 0; i--) {
            st[i] = acc;
            acc *= s[i];
        }
        return st;
    }

    /** Multi-index of flat position i in shape s. */
    static long[] unflat(long i, long[] s) {
        long[] idx = new long[s.length];
        for (int d = s.length - 1; d >= 0; d--) {
            idx[d] = s[d] == 0 ? 0 : i % s[d];
            i = s[d] == 0 ? 0 : i / s[d];
        }
        return idx;
    }

    static long flat(long[] idx, long[] s) {
        long f = 0;
        for (int d = 0; d < s.length; d++) {
            f = f * s[d] + idx[d];
        }
        return f;
    }

    static long[] broadcast(long[] a, long[] b) {
        int r = Math.max(a.length, b.length);
        long[] out = new long[r];
        for (int i = 0; i < r; i++) {
            long da = i - (r - a.length) >= 0 ? a[i - (r - a.length)] : 1;
            long db = i - (r - b.length) >= 0 ? b[i - (r - b.length)] : 1;
            out[i] = Math.max(da, db);
        }
        return out;
    }

    /** The element of x (shape xs) that position idx of a broadcast shape reads. */
    static double at(double[] x, long[] xs, long[] idx) {
        int off = idx.length - xs.length;
        long f = 0;
        for (int d = 0; d < xs.length; d++) {
            f = f * xs[d] + (xs[d] == 1 ? 0 : idx[d + off]);
        }
        return x[(int) f];
    }

    static double[] binary(double[] a, long[] as, double[] b, long[] bs, DoubleBinaryOperator f) {
        long[] os = broadcast(as, bs);
        double[] out = new double[(int) numel(os)];
        for (int i = 0; i < out.length; i++) {
            long[] idx = unflat(i, os);
            out[i] = f.applyAsDouble(at(a, as, idx), at(b, bs, idx));
        }
        return out;
    }

    /** Reduction over axes with keepDims shape; op 0 sum, 1 mean, 2 max. */
    static double[] reduce(double[] x, long[] xs, int[] axes, int op) {
        long[] ks = xs.clone();
        for (int a : axes) {
            ks[a] = 1;
        }
        double[] out = new double[(int) numel(ks)];
        int[] count = new int[out.length];
        if (op == 2) {
            Arrays.fill(out, Double.NEGATIVE_INFINITY);
        }
        for (int i = 0; i < x.length; i++) {
            long[] idx = unflat(i, xs);
            for (int a : axes) {
                idx[a] = 0;
            }
            int o = (int) flat(idx, ks);
            out[o] = op == 2 ? Math.max(out[o], x[i]) : out[o] + x[i];
            count[o]++;
        }
        if (op == 1) {
            for (int i = 0; i < out.length; i++) {
                out[i] /= count[i];
            }
        }
        return out;
    }

    /** [.., m, k] @ [.., k, n] with optional transposes of the last two dims, batched over equal leading dims. */
    static double[] matmul(double[] a, long[] as, double[] b, long[] bs, boolean ta, boolean tb) {
        int r = as.length;
        long m = ta ? as[r - 1] : as[r - 2];
        long k = ta ? as[r - 2] : as[r - 1];
        long n = tb ? bs[r - 2] : bs[r - 1];
        long batch = numel(Arrays.copyOf(as, r - 2));
        double[] out = new double[(int) (batch * m * n)];
        long sa = as[r - 2] * as[r - 1];
        long sb = bs[r - 2] * bs[r - 1];
        for (long bt = 0; bt < batch; bt++) {
            for (long i = 0; i < m; i++) {
                for (long j = 0; j < n; j++) {
                    double s = 0;
                    for (long p = 0; p < k; p++) {
                        double av = ta ? a[(int) (bt * sa + p * as[r - 1] + i)] : a[(int) (bt * sa + i * as[r - 1] + p)];
                        double bv = tb ? b[(int) (bt * sb + j * bs[r - 1] + p)] : b[(int) (bt * sb + p * bs[r - 1] + j)];
                        s += av * bv;
                    }
                    out[(int) (bt * m * n + i * n + j)] = s;
                }
            }
        }
        return out;
    }

    static double[] permute(double[] x, long[] xs, int[] dims) {
        long[] os = new long[dims.length];
        for (int i = 0; i < dims.length; i++) {
            os[i] = xs[dims[i]];
        }
        double[] out = new double[x.length];
        for (int i = 0; i < out.length; i++) {
            long[] oi = unflat(i, os);
            long[] xi = new long[xs.length];
            for (int d = 0; d < dims.length; d++) {
                xi[dims[d]] = oi[d];
            }
            out[i] = x[(int) flat(xi, xs)];
        }
        return out;
    }

    /** Entries of x along dim picked by index (narrow is index = start..start+len-1). */
    static double[] gather(double[] x, long[] xs, int dim, long[] index) {
        long[] os = xs.clone();
        os[dim] = index.length;
        double[] out = new double[(int) numel(os)];
        for (int i = 0; i < out.length; i++) {
            long[] oi = unflat(i, os);
            oi[dim] = index[(int) oi[dim]];
            out[i] = x[(int) flat(oi, xs)];
        }
        return out;
    }

    static double[] softmaxRows(double[] x, int d) {
        double[] y = new double[x.length];
        for (int r = 0; r < x.length / d; r++) {
            double mx = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < d; j++) {
                mx = Math.max(mx, x[r * d + j]);
            }
            double s = 0;
            for (int j = 0; j < d; j++) {
                s += Math.exp(x[r * d + j] - mx);
            }
            for (int j = 0; j < d; j++) {
                y[r * d + j] = Math.exp(x[r * d + j] - mx) / s;
            }
        }
        return y;
    }

    /**
     * Multi-head attention on packed qkv [b, n, 3 d] in float64: {out [b, n, d], probabilities
     * [b, heads, n, n], dqkv [b, n, 3 d] for upstream gradient g [b, n, d]}, by the textbook
     * formulas (s = scale q k^T, p = softmax(s), out = p v; dv = p^T g, dp = g v^T,
     * ds = p (dp - rowsum(dp p)), dq = scale ds k, dk = scale ds^T q).
     */
    static double[][] attention(double[] qkv, double[] g, int b, int n, int heads, int hd, double scale) {
        int d = heads * hd;
        double[] out = new double[b * n * d];
        double[] prob = new double[b * heads * n * n];
        double[] dx = new double[qkv.length];
        for (int s = 0; s < b; s++) {
            for (int h = 0; h < heads; h++) {
                double[] p = new double[n * n];
                for (int i = 0; i < n; i++) {
                    for (int j = 0; j < n; j++) {
                        double dot = 0;
                        for (int e = 0; e < hd; e++) {
                            dot += qkv[(s * n + i) * 3 * d + h * hd + e] * qkv[(s * n + j) * 3 * d + d + h * hd + e];
                        }
                        p[i * n + j] = scale * dot;
                    }
                }
                p = softmaxRows(p, n);
                System.arraycopy(p, 0, prob, (s * heads + h) * n * n, n * n);
                double[] dp = new double[n * n];
                for (int i = 0; i < n; i++) {
                    for (int e = 0; e < hd; e++) {
                        double o = 0;
                        for (int j = 0; j < n; j++) {
                            o += p[i * n + j] * qkv[(s * n + j) * 3 * d + 2 * d + h * hd + e];
                        }
                        out[(s * n + i) * d + h * hd + e] = o;
                    }
                    for (int j = 0; j < n; j++) {
                        double v = 0;
                        for (int e = 0; e < hd; e++) {
                            v += g[(s * n + i) * d + h * hd + e] * qkv[(s * n + j) * 3 * d + 2 * d + h * hd + e];
                        }
                        dp[i * n + j] = v;
                    }
                }
                for (int i = 0; i < n; i++) {
                    double rs = 0;
                    for (int j = 0; j < n; j++) {
                        rs += dp[i * n + j] * p[i * n + j];
                    }
                    for (int j = 0; j < n; j++) {
                        dp[i * n + j] = p[i * n + j] * (dp[i * n + j] - rs);
                    }
                }
                for (int i = 0; i < n; i++) {
                    for (int e = 0; e < hd; e++) {
                        double dq = 0;
                        double dk = 0;
                        double dv = 0;
                        for (int j = 0; j < n; j++) {
                            dq += dp[i * n + j] * qkv[(s * n + j) * 3 * d + d + h * hd + e];
                            dk += dp[j * n + i] * qkv[(s * n + j) * 3 * d + h * hd + e];
                            dv += p[j * n + i] * g[(s * n + j) * d + h * hd + e];
                        }
                        int r = (s * n + i) * 3 * d + h * hd + e;
                        dx[r] = scale * dq;
                        dx[r + d] = scale * dk;
                        dx[r + 2 * d] = dv;
                    }
                }
            }
        }
        return new double[][]{out, prob, dx};
    }

    /** erf to double precision by its Maclaurin series (|x| < 3) or continued fraction (larger). */
    public static double erf(double x) {
        double ax = Math.abs(x);
        double r;
        if (ax < 3) {
            double term = ax;
            double sum = ax;
            for (int n = 1; n < 200; n++) {
                term *= -ax * ax / n;
                sum += term / (2 * n + 1);
            }
            r = 2 / Math.sqrt(Math.PI) * sum;
        } else {
            // erfc by Lentz's continued fraction
            double f = ax;
            for (int k = 60; k >= 1; k--) {
                f = ax + (k / 2.0) / f;
            }
            r = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
        }
        return Math.copySign(r, x);
    }
}
