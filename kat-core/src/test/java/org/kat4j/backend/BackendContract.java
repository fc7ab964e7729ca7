package org.kat4j.backend;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.kat4j.autograd.GradCheck;
import org.kat4j.autograd.Losses;
import org.kat4j.autograd.Ops;
import org.kat4j.rational.RationalInit;
import org.kat4j.rational.RationalOp;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Scope;
import org.kat4j.tensor.Tensor;

import java.util.Arrays;
import java.util.Random;
import java.util.function.DoubleBinaryOperator;
import java.util.function.DoubleUnaryOperator;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The contract every {@link Backend} meets, one suite for all: each op's values against plain-Java
 * float64 references written here ({@link Ref}), in float32 and float64, and every autograd rule's
 * gradients against float64 finite differences with the tensors on the backend's device. A device
 * backend's test extends this class and returns its backend.
 */
public abstract class BackendContract {
    protected abstract Backend backend();

    protected Backend be;
    protected Random rng;
    static final DType[] DTYPES = {DType.FLOAT32, DType.FLOAT64};

    @BeforeEach
    void setUp() {
        be = backend();
        rng = new Random(7);
    }

    static double tol(DType t) {
        return t == DType.FLOAT32 ? 1e-5 : 1e-12;
    }

    Storage st(double[] v, DType t, long... shape) {
        return be.copy(be.fromDoubles(v, shape), t);
    }

    double[] rnd(int n, double lo, double hi) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = lo + (hi - lo) * rng.nextDouble();
        }
        return v;
    }

    /** The values of a float32 storage of these doubles, as doubles (what float32 rounding gives). */
    static double[] rounded(double[] v, DType t) {
        if (t == DType.FLOAT64) {
            return v;
        }
        double[] r = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            r[i] = (float) v[i];
        }
        return r;
    }

    static void close(double[] expected, Storage actual, DType t, String what) {
        assertEquals(t, actual.dtype(), what + ": dtype");
        double[] got = actual.backend().toDoubles(actual);
        assertEquals(expected.length, got.length, what + ": element count");
        double scale = 1;
        for (double e : expected) {
            scale = Math.max(scale, Math.abs(e));
        }
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(got[i] - expected[i]);
            if (!(err <= tol(t) * scale)) {
                fail(what + " (" + t + "): element " + i + " is " + got[i] + ", expected " + expected[i] + " (error "
                        + err + ", tolerance " + tol(t) * scale + ")");
            }
        }
    }

    // ------------------------------------------------------------------ memory

    @Test
    void storagesRoundTripAndConvert() {
        Storage f = be.fromFloats(new float[]{1.5f, -2f, 3.25f, 0f, 7f, -0.125f}, 2, 3);
        assertEquals(be.device(), f.device());
        assertEquals(DType.FLOAT32, f.dtype());
        assertArrayEquals(new long[]{2, 3}, f.shape());
        assertEquals(6, f.numel());
        assertArrayEquals(new float[]{1.5f, -2f, 3.25f, 0f, 7f, -0.125f}, be.toFloats(f), 0);
        Storage d = be.fromDoubles(new double[]{0.1, 0.2, 0.3}, 3);
        assertEquals(DType.FLOAT64, d.dtype());
        assertArrayEquals(new double[]{0.1, 0.2, 0.3}, be.toDoubles(d), 0);
        assertEquals(3.25, be.getDouble(f, 2), 0);
        be.setDouble(f, 4, -9);
        assertEquals(-9, be.getDouble(f, 4), 0);
        Storage c = be.copy(d, DType.FLOAT32);
        assertEquals(DType.FLOAT32, c.dtype());
        assertArrayEquals(new float[]{0.1f, 0.2f, 0.3f}, be.toFloats(c), 0);
        be.setDouble(c, 0, 5);
        assertEquals(0.1, be.getDouble(d, 0), 0, "a copy is independent");
        // casts round to the nearest float, ties to even, as a Java cast does; floats widen exactly
        double[] edges = {1 + Math.pow(2, -24), 1 + 3 * Math.pow(2, -24), -1e-46, 1e-40, 3.4028235677973366e38, -0.0};
        float[] cast = be.toFloats(be.copy(be.fromDoubles(edges, 2, 3), DType.FLOAT32));
        for (int i = 0; i < edges.length; i++) {
            assertEquals(Float.floatToRawIntBits((float) edges[i]), Float.floatToRawIntBits(cast[i]), "cast of " + edges[i]);
        }
        assertArrayEquals(new double[]{1.5, -2, 3.25, 0, -9, -0.125}, be.toDoubles(be.copy(f, DType.FLOAT64)), 0);
        Storage scalar = be.full(DType.FLOAT64, 2.5);
        assertEquals(0, scalar.rank());
        assertEquals(2.5, be.getDouble(scalar, 0), 0);
        for (DType t : DTYPES) {
            assertArrayEquals(new double[]{4, 4, 4, 4}, be.toDoubles(be.full(t, 4, 2, 2)), 0);
            // longer than one chunk of a bulk fill, and not a multiple of it
            double[] many = be.toDoubles(be.full(t, 0.1, 3, 1001));
            double expect = t == DType.FLOAT32 ? (float) 0.1 : 0.1;
            for (int i = 0; i < many.length; i++) {
                assertEquals(expect, many[i], 0, "full at " + i);
            }
            assertArrayEquals(new double[]{0, 0, 0}, be.toDoubles(be.zeros(t, 3)), 0);
            Storage s = be.empty(t, 2, 2);
            be.fill(s, -1);
            assertArrayEquals(new double[]{-1, -1, -1, -1}, be.toDoubles(s), 0);
            be.assign(s, Backends.cpu().fromDoubles(new double[]{1, 2, 3, 4}, 2, 2));
            assertArrayEquals(new double[]{1, 2, 3, 4}, be.toDoubles(s), 0, "assign from the CPU");
            be.addInPlace(s, st(new double[]{10, 20, 30, 40}, t, 2, 2));
            assertArrayEquals(new double[]{11, 22, 33, 44}, be.toDoubles(s), 0);
            be.addScaledInPlace(s, st(new double[]{1, 1, 2, 2}, t, 2, 2), -0.5);
            assertArrayEquals(new double[]{10.5, 21.5, 32, 43}, be.toDoubles(s), 0);
            be.scaleInPlace(s, 2);
            assertArrayEquals(new double[]{21, 43, 64, 86}, be.toDoubles(s), 0);
            assertEquals(5, be.norm2(st(new double[]{3, 0, -4}, t, 3)), 1e-6);
            // longer than any unrolling, on a row of a larger tensor (a view where a backend narrows without copying)
            double[] v = rounded(rnd(1001 * 3, -2, 2), t);
            Storage rows = be.narrow(st(v, t, 3, 1001), 0, 1, 1);
            double sq = 0;
            double[] scaled = new double[1001];
            for (int i = 0; i < 1001; i++) {
                sq += v[1001 + i] * v[1001 + i];
                scaled[i] = v[1001 + i] * -0.75;
            }
            assertEquals(Math.sqrt(sq), be.norm2(rows), 1e-12 + 1e-6 * Math.sqrt(sq), "norm2 of a middle row");
            double[] small = rounded(new double[]{1.5, -2, 0.25}, t);
            assertEquals(sq + 1.5 * 1.5 + 4 + 0.0625 + 25, be.sumOfSquares(java.util.List.of(rows, st(small, t, 3),
                    be.empty(t, 0), st(new double[]{3, 0, -4}, t, 3))), 1e-12 + 1e-6 * sq, "sumOfSquares of several storages");
            assertEquals(0, be.sumOfSquares(java.util.List.of()), 0);
            be.scaleInPlace(rows, -0.75);
            assertArrayEquals(scaled, be.toDoubles(rows), 1e-6, "scaleInPlace of a middle row");
            // in-place sums of an odd length and of one long enough to be split over threads
            for (int n : new int[]{1001, (1 << 19) + 13}) {
                double[] u = rounded(rnd(n, -3, 3), t);
                double[] w = rounded(rnd(n, -3, 3), t);
                Storage acc = st(u, t, n);
                be.addInPlace(acc, st(w, t, n));
                double[] got = be.toDoubles(acc);
                for (int i = 0; i < n; i++) {
                    double want = t == DType.FLOAT32 ? (double) ((float) u[i] + (float) w[i]) : u[i] + w[i];
                    if (got[i] != want) {
                        fail("addInPlace of " + n + " (" + t + "): element " + i + " is " + got[i] + ", expected " + want);
                    }
                }
            }
        }
    }

    /**
     * The global-norm clip and the EMA update over many storages at once (more than one device
     * launch takes: 40, of odd sizes, one empty, one longer than a chunk): the clip leaves every bit
     * alone under the limit and for a NaN norm, and scales by max / (norm + 1e-6) over it.
     */
    @Test
    void clipNormAndEmaUpdateOverManyStorages() {
        for (DType t : DTYPES) {
            int count = 40;
            double[][] v = new double[count][];
            double sq = 0;
            for (int i = 0; i < count; i++) {
                int n = i == 3 ? 0 : i == 7 ? 5000 : 1 + (i * 37) % 301;
                v[i] = rounded(rnd(n, -2, 2), t);
                for (double x : v[i]) {
                    sq += x * x;
                }
            }
            double norm = Math.sqrt(sq);
            java.util.List<Storage> xs = new java.util.ArrayList<>();
            for (double[] a : v) {
                xs.add(st(a, t, a.length));
            }
            be.clipNorm(xs, norm * 1.01);
            for (int i = 0; i < count; i++) {
                assertArrayEquals(v[i], be.toDoubles(xs.get(i)), 0, "under the limit, storage " + i + " (" + t + ") unchanged");
            }
            double max = norm / 4;
            be.clipNorm(xs, max);
            double f = max / (norm + 1e-6);
            for (int i = 0; i < count; i++) {
                double[] e = new double[v[i].length];
                for (int k = 0; k < e.length; k++) {
                    e[k] = v[i][k] * f;
                }
                close(e, xs.get(i), t, "clipped storage " + i);
            }
            Storage nan = st(new double[]{1, Double.NaN, 3}, t, 3);
            be.clipNorm(java.util.List.of(nan, st(new double[]{50}, t, 1)), 1);
            assertArrayEquals(new double[]{1, Double.NaN, 3}, be.toDoubles(nan), 0, "a NaN norm clips nothing");

            Storage[] shadow = new Storage[count];
            Storage[] w = new Storage[count];
            double[][] s0 = new double[count][];
            for (int i = 0; i < count; i++) {
                s0[i] = rounded(rnd(v[i].length, -1, 1), t);
                shadow[i] = st(s0[i], t, v[i].length);
                w[i] = st(v[i], t, v[i].length);
            }
            be.emaUpdate(shadow, w, 0.9);
            for (int i = 0; i < count; i++) {
                double[] e = new double[v[i].length];
                for (int k = 0; k < e.length; k++) {
                    e[k] = s0[i][k] * 0.9 + 0.1 * v[i][k];
                }
                close(e, shadow[i], t, "EMA of storage " + i);
            }
        }
    }

    @Test
    void randomStreamsDependOnSeedAndIndexOnly() {
        Storage a = be.random(DType.FLOAT64, 42, 0, false, -1, 1, 1000);
        Storage b = be.random(DType.FLOAT64, 42, 0, false, -1, 1, 1000);
        assertArrayEquals(be.toDoubles(a), be.toDoubles(b), 0, "same seed, same values");
        Storage tail = be.random(DType.FLOAT64, 42, 400, false, -1, 1, 600);
        assertArrayEquals(Arrays.copyOfRange(be.toDoubles(a), 400, 1000), be.toDoubles(tail), 0, "element i is a function of i");
        assertNotEquals(be.toDoubles(a)[0], be.toDoubles(be.random(DType.FLOAT64, 43, 0, false, -1, 1, 1))[0]);
        double[] u = be.toDoubles(be.random(DType.FLOAT64, 1, 0, false, 2, 3, 100_000));
        double mean = 0;
        for (double v : u) {
            assertTrue(v >= 2 && v < 3, "uniform in [2, 3): " + v);
            mean += v / u.length;
        }
        assertEquals(2.5, mean, 0.005);
        double[] g = be.toDoubles(be.random(DType.FLOAT64, 1, 0, true, 1, 2, 100_000));
        double m = 0;
        double sq = 0;
        for (double v : g) {
            m += v / g.length;
            sq += v * v / g.length;
        }
        assertEquals(1, m, 0.02, "normal mean");
        assertEquals(2, Math.sqrt(sq - m * m), 0.02, "normal standard deviation");
    }

    @Test
    void dropoutMasksComeFromTheCounterStream() {
        // sizes around the 4-word blocks and a CPU chunk; p = 0 keeps all, p close to 1 drops nearly all
        long[][] shapes = {{1}, {3}, {5}, {2, 3, 7}, {16387}, {3, 40000}};
        double[] ps = {0.0, 0.1, 0.5, 0.999};
        for (DType t : DTYPES) {
            for (long[] shape : shapes) {
                for (double p : ps) {
                    long seed = 0x5DEECE66DL * shape.length + (long) (p * 1000);
                    double[] got = be.toDoubles(be.dropoutMask(t, p, seed, shape));
                    double keep = t == DType.FLOAT32 ? (double) (float) (1 / (1 - p)) : 1 / (1 - p);
                    int dropped = 0;
                    for (int i = 0; i < got.length; i++) {
                        boolean drop = Philox.uniform(Philox.word(seed, i)) < p;
                        double want = drop ? 0 : keep;
                        if (got[i] != want) {
                            fail("dropoutMask " + Arrays.toString(shape) + " p " + p + " (" + t + "): element " + i + " is "
                                    + got[i] + ", expected " + want);
                        }
                        dropped += drop ? 1 : 0;
                    }
                    if (got.length > 10_000) {
                        assertEquals(p, (double) dropped / got.length, 0.01, "fraction dropped");
                    }
                }
            }
        }
        double[] a = be.toDoubles(be.dropoutMask(DType.FLOAT32, 0.5, 1, 64));
        double[] b = be.toDoubles(be.dropoutMask(DType.FLOAT32, 0.5, 2, 64));
        assertTrue(!Arrays.equals(a, b), "another seed, another mask");
    }

    // ------------------------------------------------------------------ element-wise

    @Test
    void unaryFunctions() {
        double[] x = {-2.5, -1, -0.25, 0, 0.5, 1, 3};
        double[] pos = {0.1, 0.5, 1, 2, 9, 100, 1e-3};
        for (DType t : DTYPES) {
            check(UnaryOp.NEG, x, v -> -v, t);
            check(UnaryOp.EXP, x, Math::exp, t);
            check(UnaryOp.LOG, pos, Math::log, t);
            check(UnaryOp.SQRT, pos, Math::sqrt, t);
            check(UnaryOp.TANH, x, Math::tanh, t);
            check(UnaryOp.SIGMOID, x, v -> 1 / (1 + Math.exp(-v)), t);
            check(UnaryOp.RELU, x, v -> Math.max(v, 0), t);
            check(UnaryOp.ERF, x, Ref::erf, t);
            check(UnaryOp.STEP, x, v -> v > 0 ? 1 : 0, t);
            check(UnaryOp.IS_ZERO, x, v -> v == 0 ? 1 : 0, t);
        }
        assertEquals(0.8427007929497149, Ref.erf(1), 1e-15, "the reference erf itself");
    }

    private void check(UnaryOp op, double[] x, DoubleUnaryOperator f, DType t) {
        double[] xr = rounded(x, t);
        double[] e = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            e[i] = f.applyAsDouble(xr[i]);
        }
        close(e, be.unary(op, st(x, t, 7)), t, op.name());
    }

    @Test
    void scalarFunctions() {
        double[] x = {0.5, 1, 2, 3.5};
        for (DType t : DTYPES) {
            close(new double[]{2, 2.5, 3.5, 5}, be.scalar(ScalarOp.ADD, st(x, t, 4), 1.5), t, "x + s");
            close(new double[]{-1, -2, -4, -7}, be.scalar(ScalarOp.MUL, st(x, t, 4), -2), t, "x * s");
            close(new double[]{0.5, 0, -1, -2.5}, be.scalar(ScalarOp.RSUB, st(x, t, 4), 1), t, "s - x");
            close(new double[]{Math.pow(0.5, 1.5), 1, Math.pow(2, 1.5), Math.pow(3.5, 1.5)},
                    be.scalar(ScalarOp.POW, st(x, t, 4), 1.5), t, "x ^ s");
        }
    }

    static final long[][][] BROADCAST = {
        {{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{2, 3, 4}, {3, 1}}, {{2, 1, 4}, {1, 3, 1}}, {{5}, {2, 5}}, {{2, 3}, {1}},
        {{2, 3}, {}}, {{1, 7}, {5, 1}},
        // b as a's shape or its trailing dims, odd lengths
        {{6, 19}, {6, 19}}, {{5, 3, 16}, {3, 16}}, {{4, 2, 9}, {1, 2, 9}}, {{3, 20}, {1, 1, 3, 20}},
        // a as b's trailing dims (a class token expanded over a batch), odd lengths
        {{1, 1, 20}, {3, 1, 20}}, {{19}, {4, 19}}, {{1, 32}, {5, 32}}, {{1, 1, 3, 20}, {3, 20}}};
    /** Forward only: more elements than one thread's share. */
    static final long[][][] BROADCAST_LARGE = {{{140, 1001}, {1001}}, {{371, 401}, {371, 401}}};

    @Test
    void binaryFunctionsBroadcast() {
        BinaryOp[] ops = BinaryOp.values();
        DoubleBinaryOperator[] fs = {Double::sum, (p, q) -> p - q, (p, q) -> p * q, (p, q) -> p / q};
        for (DType t : DTYPES) {
            for (long[][] pair : concat(BROADCAST, BROADCAST_LARGE)) {
                double[] a = rounded(rnd((int) Ref.numel(pair[0]), -2, 2), t);
                double[] b = rounded(rnd((int) Ref.numel(pair[1]), 0.5, 2), t);
                for (int k = 0; k < ops.length; k++) {
                    Storage y = be.binary(ops[k], st(a, t, pair[0]), st(b, t, pair[1]));
                    assertArrayEquals(Ref.broadcast(pair[0], pair[1]), y.shape(), ops[k] + " shape");
                    close(Ref.binary(a, pair[0], b, pair[1], fs[k]), y, t, ops[k] + " " + Arrays.deepToString(pair));
                }
            }
        }
    }

    // ------------------------------------------------------------------ reductions

    @Test
    void reductionsOverAxes() {
        long[] shape = {2, 3, 4};
        int[][] axesSets = {{0}, {1}, {2}, {0, 2}, {1, 2}, {0, 1, 2}};
        for (DType t : DTYPES) {
            double[] x = rounded(rnd(24, -3, 3), t);
            for (int[] axes : axesSets) {
                for (boolean keep : new boolean[]{true, false}) {
                    long[] expectShape = keep ? Shapes.keepDims(shape, axes) : Shapes.dropDims(shape, axes);
                    Storage s = be.sum(st(x, t, shape), axes, keep);
                    Storage m = be.mean(st(x, t, shape), axes, keep);
                    Storage mx = be.max(st(x, t, shape), axes, keep);
                    String what = Arrays.toString(axes) + " keepDims " + keep;
                    assertArrayEquals(expectShape, s.shape(), "sum shape " + what);
                    assertArrayEquals(expectShape, m.shape(), "mean shape " + what);
                    assertArrayEquals(expectShape, mx.shape(), "max shape " + what);
                    close(Ref.reduce(x, shape, axes, 0), s, t, "sum " + what);
                    close(Ref.reduce(x, shape, axes, 1), m, t, "mean " + what);
                    close(Ref.reduce(x, shape, axes, 2), mx, t, "max " + what);
                }
            }
        }
    }

    @Test
    void sumToUndoesBroadcastingAndExpandDoesIt() {
        long[] big = {4, 3, 5};
        for (DType t : DTYPES) {
            double[] g = rounded(rnd(60, -1, 1), t);
            Storage gs = st(g, t, big);
            assertSame(gs, be.sumTo(gs, big), "same shape: g itself");
            close(Ref.reduce(g, big, new int[]{0, 1}, 0), be.sumTo(gs, new long[]{5}), t, "to [5] (a bias)");
            close(Ref.reduce(g, big, new int[]{0, 2}, 0), be.sumTo(gs, new long[]{3, 1}), t, "to [3, 1]");
            close(Ref.reduce(g, big, new int[]{0}, 0), be.sumTo(gs, new long[]{1, 3, 5}), t, "to [1, 3, 5]");
            double[] small = rounded(rnd(3, -1, 1), t);
            Storage e = be.expand(st(small, t, 3, 1), big);
            assertArrayEquals(big, e.shape());
            close(Ref.binary(new double[60], big, small, new long[]{3, 1}, Double::sum), e, t, "expand [3, 1]");
            close(g, be.expand(gs, big), t, "expand to the same shape");
        }
    }

    // ------------------------------------------------------------------ matrix products

    @Test
    void matmulWithEveryTransposeAndBatch() {
        long[][] batches = {{}, {3}, {2, 2}};
        for (DType t : DTYPES) {
            for (long[] lead : batches) {
                for (int f = 0; f < 4; f++) {
                    boolean ta = (f & 1) != 0;
                    boolean tb = (f & 2) != 0;
                    long m = 5;
                    long k = 7;
                    long n = 3;
                    long[] as = concat(lead, ta ? new long[]{k, m} : new long[]{m, k});
                    long[] bs = concat(lead, tb ? new long[]{n, k} : new long[]{k, n});
                    double[] a = rounded(rnd((int) Ref.numel(as), -1, 1), t);
                    double[] b = rounded(rnd((int) Ref.numel(bs), -1, 1), t);
                    Storage y = be.matmul(st(a, t, as), st(b, t, bs), ta, tb);
                    assertArrayEquals(concat(lead, new long[]{m, n}), y.shape());
                    close(Ref.matmul(a, as, b, bs, ta, tb), y, t, "matmul " + Arrays.toString(as) + (ta ? "^T" : "")
                            + " @ " + Arrays.toString(bs) + (tb ? "^T" : ""));
                }
            }
        }
    }

    /** Products large enough for the BLAS's blocked kernels (and a batch of small ones), against float64. */
    @Test
    void linearAddsTheBiasToTheProduct() {
        // rows x in @ (out x in)^T + bias: odd sizes, one row, a width past one vector, many rows,
        // and a product large enough that a backend splits it into blocks of rows
        int[][] cases = {{7, 5, 3}, {1, 4, 1}, {33, 17, 19}, {300, 5, 2}, {1000, 64, 37}};
        for (int[] c : cases) {
            for (DType t : DTYPES) {
                double[] x = rounded(rnd(c[0] * c[1], -2, 2), t);
                double[] w = rounded(rnd(c[2] * c[1], -1, 1), t);
                double[] b = rounded(rnd(c[2], -1, 1), t);
                double[] y = Ref.matmul(x, new long[]{c[0], c[1]}, w, new long[]{c[2], c[1]}, false, true);
                for (int i = 0; i < y.length; i++) {
                    y[i] += b[i % c[2]];
                }
                close(y, be.linear(st(x, t, c[0], c[1]), st(w, t, c[2], c[1]), st(b, t, c[2])), t, "linear " + Arrays.toString(c));
            }
        }
    }

    @Test
    void largerMatmulsMatchFloat64() {
        long[][] sizes = {{67, 129, 71}, {200, 64, 256}, {17, 16, 17}};
        for (DType t : DTYPES) {
            for (long[] mkn : sizes) {
                for (int f = 0; f < 4; f++) {
                    boolean ta = (f & 1) != 0;
                    boolean tb = (f & 2) != 0;
                    long[] lead = mkn[0] == 17 ? new long[]{5, 3} : new long[]{};
                    long m = mkn[0];
                    long k = mkn[1];
                    long n = mkn[2];
                    long[] as = concat(lead, ta ? new long[]{k, m} : new long[]{m, k});
                    long[] bs = concat(lead, tb ? new long[]{n, k} : new long[]{k, n});
                    double[] a = rounded(rnd((int) Ref.numel(as), -1, 1), t);
                    double[] b = rounded(rnd((int) Ref.numel(bs), -1, 1), t);
                    close(Ref.matmul(a, as, b, bs, ta, tb), be.matmul(st(a, t, as), st(b, t, bs), ta, tb), t,
                            "matmul " + Arrays.toString(as) + (ta ? "^T" : "") + " @ " + Arrays.toString(bs) + (tb ? "^T" : ""));
                }
            }
        }
    }

    /**
     * bf16 autocast's products: the operands rounded to bfloat16, the products summed in float32
     * (so within float32 accuracy of a float64 product of the rounded operands), the bias added
     * unrounded; float64 operands multiply unrounded.
     */
    @Test
    void bf16ProductsMultiplyRoundedOperands() {
        long[][] sizes = {{5, 7, 3}, {67, 129, 71}};
        for (long[] mkn : sizes) {
            for (long[] lead : new long[][]{{}, {3}}) {
                for (int f = 0; f < 4; f++) {
                    boolean ta = (f & 1) != 0;
                    boolean tb = (f & 2) != 0;
                    long[] as = concat(lead, ta ? new long[]{mkn[1], mkn[0]} : new long[]{mkn[0], mkn[1]});
                    long[] bs = concat(lead, tb ? new long[]{mkn[2], mkn[1]} : new long[]{mkn[1], mkn[2]});
                    double[] a = rounded(rnd((int) Ref.numel(as), -1, 1), DType.FLOAT32);
                    double[] b = rounded(rnd((int) Ref.numel(bs), -1, 1), DType.FLOAT32);
                    String what = "matmulBf16 " + Arrays.toString(as) + (ta ? "^T" : "") + " @ " + Arrays.toString(bs) + (tb ? "^T" : "");
                    Storage y = be.matmulBf16(st(a, DType.FLOAT32, as), st(b, DType.FLOAT32, bs), ta, tb);
                    close(Ref.matmul(bf16(a), as, bf16(b), bs, ta, tb), y, DType.FLOAT32, what);
                    // and not the float32 product: the rounding happened, within bfloat16's accuracy
                    double[] exact = Ref.matmul(a, as, b, bs, ta, tb);
                    double[] got = be.toDoubles(y);
                    double worst = 0;
                    for (int i = 0; i < exact.length; i++) {
                        worst = Math.max(worst, Math.abs(got[i] - exact[i]));
                    }
                    assertTrue(worst > 1e-4 && worst < 1e-2 * Math.sqrt(mkn[1]), what + ": largest difference from float32 " + worst);
                    close(Ref.matmul(a, as, b, bs, ta, tb), be.matmulBf16(st(a, DType.FLOAT64, as), st(b, DType.FLOAT64, bs), ta, tb),
                            DType.FLOAT64, what + " in float64");
                }
            }
            int rows = (int) mkn[0];
            int in = (int) mkn[1];
            int out = (int) mkn[2];
            double[] x = rounded(rnd(rows * in, -2, 2), DType.FLOAT32);
            double[] w = rounded(rnd(out * in, -1, 1), DType.FLOAT32);
            double[] bias = {Math.PI / 3, 1.0 / 3, 0.1};
            double[] bv = new double[out];
            for (int i = 0; i < out; i++) {
                bv[i] = (float) bias[i % 3];
            }
            double[] y = Ref.matmul(bf16(x), new long[]{rows, in}, bf16(w), new long[]{out, in}, false, true);
            for (int i = 0; i < y.length; i++) {
                y[i] += bv[i % out];
            }
            close(y, be.linearBf16(st(x, DType.FLOAT32, rows, in), st(w, DType.FLOAT32, out, in), st(bv, DType.FLOAT32, out)),
                    DType.FLOAT32, "linearBf16 " + Arrays.toString(mkn));
        }
    }

    private static double[] bf16(double[] v) {
        double[] r = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            r[i] = Bf16.round((float) v[i]);
        }
        return r;
    }

    static long[][][] concat(long[][][] a, long[][][] b) {
        long[][][] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    static long[] concat(long[] a, long[] b) {
        long[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    // ------------------------------------------------------------------ layout

    @Test
    void layoutOps() {
        long[] shape = {2, 3, 4};
        for (DType t : DTYPES) {
            double[] x = rounded(rnd(24, -1, 1), t);
            Storage xs = st(x, t, shape);
            Storage r = be.reshape(xs, 6, 4);
            assertArrayEquals(new long[]{6, 4}, r.shape());
            close(x, r, t, "reshape keeps C order");
            be.setDouble(r, 5, 42);
            assertEquals(42, be.getDouble(xs, 5), 0, "reshape is a view");
            be.setDouble(xs, 5, x[5]);
            for (int[] dims : new int[][]{{2, 0, 1}, {1, 0, 2}, {0, 2, 1}, {0, 1, 2}}) {
                Storage p = be.permute(xs, dims);
                assertArrayEquals(new long[]{shape[dims[0]], shape[dims[1]], shape[dims[2]]}, p.shape());
                close(Ref.permute(x, shape, dims), p, t, "permute " + Arrays.toString(dims));
            }
            // attention's head split and merge: [B, N, 3, H, hd] -> [3, B, H, N, hd] and back, [B, H, N, hd] -> [B, N, H, hd]
            long[] qkv = {2, 5, 3, 2, 4};
            double[] q = rounded(rnd(240, -1, 1), t);
            for (int[] dims : new int[][]{{2, 0, 3, 1, 4}, {1, 3, 0, 2, 4}}) {
                close(Ref.permute(q, qkv, dims), be.permute(st(q, t, qkv), dims), t, "permute " + Arrays.toString(dims));
            }
            long[] heads = {2, 3, 5, 4};
            close(Ref.permute(Arrays.copyOf(q, 120), heads, new int[]{0, 2, 1, 3}),
                    be.permute(st(Arrays.copyOf(q, 120), t, heads), 0, 2, 1, 3), t, "permute [0, 2, 1, 3]");
            for (int dim = 0; dim < 3; dim++) {
                long len = shape[dim] - 1;
                long[] idx = new long[(int) len];
                for (int i = 0; i < len; i++) {
                    idx[i] = 1 + i;
                }
                Storage nw = be.narrow(xs, dim, 1, len);
                close(Ref.gather(x, shape, dim, idx), nw, t, "narrow dim " + dim);
                // unnarrow puts it back, zeros elsewhere
                double[] back = be.toDoubles(be.unnarrow(nw, shape, dim, 1));
                for (int i = 0; i < 24; i++) {
                    long[] ii = Ref.unflat(i, shape);
                    assertEquals(ii[dim] >= 1 ? rounded(x, t)[i] : 0, back[i], 0, "unnarrow dim " + dim + " at " + i);
                }
            }
            // a block in the middle of a dimension: zeros on both sides
            long[] wide = {3, 5, 4};
            double[] m = rounded(rnd(24, -1, 1), t);
            double[] inMiddle = be.toDoubles(be.unnarrow(st(m, t, 3, 2, 4), wide, 1, 2));
            for (int i = 0; i < 60; i++) {
                long[] ii = Ref.unflat(i, wide);
                double want = ii[1] >= 2 && ii[1] < 4 ? m[(int) ((ii[0] * 2 + ii[1] - 2) * 4 + ii[2])] : 0;
                assertEquals(want, inMiddle[i], 0, "unnarrow into the middle at " + i);
            }
            double[] y = rounded(rnd(6, -1, 1), t);
            Storage cat = be.concat(2, xs, st(y, t, 2, 3, 1));
            assertArrayEquals(new long[]{2, 3, 5}, cat.shape());
            double[] cv = be.toDoubles(cat);
            for (int i = 0; i < 30; i++) {
                long[] ii = Ref.unflat(i, new long[]{2, 3, 5});
                double e = ii[2] < 4 ? x[(int) Ref.flat(ii, shape)] : y[(int) (ii[0] * 3 + ii[1])];
                assertEquals(e, cv[i], 0, "concat at " + i);
            }
            // three parts of different sizes along a middle dim
            double[] p1 = rounded(rnd(2 * 1 * 4, -1, 1), t);
            double[] p2 = rounded(rnd(2 * 2 * 4, -1, 1), t);
            Storage mid = be.concat(1, xs, st(p1, t, 2, 1, 4), st(p2, t, 2, 2, 4));
            assertArrayEquals(new long[]{2, 6, 4}, mid.shape());
            double[] mv = be.toDoubles(mid);
            for (int i = 0; i < 48; i++) {
                long[] ii = Ref.unflat(i, new long[]{2, 6, 4});
                long j = ii[1];
                double e = j < 3 ? rounded(x, t)[(int) Ref.flat(ii, shape)]
                        : j < 4 ? p1[(int) (ii[0] * 4 + ii[2])] : p2[(int) ((ii[0] * 2 + j - 4) * 4 + ii[2])];
                assertEquals(e, mv[i], 0, "concat along dim 1 at " + i);
            }
            close(x, be.concat(1, xs), t, "concat of one");
            long[] index = {2, 0, 2};
            Storage sel = be.indexSelect(xs, 1, index);
            close(Ref.gather(x, shape, 1, index), sel, t, "indexSelect");
            double[] g = rounded(rnd(2 * 3 * 4, -1, 1), t);
            double[] added = be.toDoubles(be.indexAdd(st(g, t, 2, 3, 4), shape, 1, index));
            double[] expect = new double[24];
            for (int i = 0; i < 24; i++) {
                long[] gi = Ref.unflat(i, new long[]{2, 3, 4});
                expect[(int) Ref.flat(new long[]{gi[0], index[(int) gi[1]], gi[2]}, shape)] += g[i];
            }
            for (int i = 0; i < 24; i++) {
                assertEquals(expect[i], added[i], tol(t), "indexAdd (repeated index 2 adds up) at " + i);
            }
        }
    }

    // ------------------------------------------------------------------ fused kernels

    @Test
    void softmaxFamily() {
        int d = 7;
        for (DType t : DTYPES) {
            double[] x = rounded(rnd(3 * d, -4, 4), t);
            double[] g = rounded(rnd(3 * d, -1, 1), t);
            double[] y = Ref.softmaxRows(x, d);
            close(y, be.softmax(st(x, t, 3, d)), t, "softmax");
            double[] yr = rounded(y, t);
            double[] gx = new double[x.length];
            double[] lgx = new double[x.length];
            double[] logy = new double[x.length];
            for (int r = 0; r < 3; r++) {
                double dot = 0;
                double gs = 0;
                for (int j = 0; j < d; j++) {
                    dot += g[r * d + j] * yr[r * d + j];
                    gs += g[r * d + j];
                }
                for (int j = 0; j < d; j++) {
                    int i = r * d + j;
                    gx[i] = yr[i] * (g[i] - dot);
                    logy[i] = Math.log(y[i]);
                }
                for (int j = 0; j < d; j++) {
                    int i = r * d + j;
                    lgx[i] = g[i] - Math.exp(rounded(logy, t)[i]) * gs;
                }
            }
            close(gx, be.softmaxBackward(st(yr, t, 3, d), st(g, t, 3, d)), t, "softmax backward");
            close(logy, be.logSoftmax(st(x, t, 3, d)), t, "logSoftmax");
            close(lgx, be.logSoftmaxBackward(st(rounded(logy, t), t, 3, d), st(g, t, 3, d)), t, "logSoftmax backward");
        }
    }

    @Test
    void attentionMatchesTheFormulasForwardAndBackward() {
        // {batch, tokens, heads, head dim}: odd sizes, one token, head dims off the vector width, the micro models' shape
        int[][] cases = {{2, 5, 3, 4}, {1, 1, 1, 3}, {3, 7, 2, 5}, {2, 17, 4, 16}, {1, 9, 2, 33}};
        for (int[] c : cases) {
            int b = c[0];
            int n = c[1];
            int heads = c[2];
            int hd = c[3];
            int d = heads * hd;
            double scale = 1 / Math.sqrt(hd);
            for (DType t : DTYPES) {
                double[] x = rounded(rnd(b * n * 3 * d, -2, 2), t);
                double[] g = rounded(rnd(b * n * d, -1, 1), t);
                double[][] ref = Ref.attention(x, g, b, n, heads, hd, scale);
                String what = "attention " + Arrays.toString(c) + " " + t;
                Storage xs = st(x, t, b, n, 3 * d);
                Backend.Saved saved = be.attention(xs, heads, scale);
                close(ref[0], saved.out(), t, what);
                assertArrayEquals(new long[]{b, n, d}, saved.out().shape(), what + ": shape");
                Storage gx = be.attentionBackward(saved, xs, heads, scale, st(g, t, b, n, d));
                close(ref[2], gx, t, what + " backward");
                assertArrayEquals(new long[]{b, n, 3 * d}, gx.shape(), what + ": gradient shape");
            }
        }
    }

    @Test
    void geluAndItsDerivative() {
        for (DType t : DTYPES) {
            double[] x = rounded(rnd(50, -5, 5), t);
            double[] g = rounded(rnd(50, -1, 1), t);
            double[] y = new double[50];
            double[] gx = new double[50];
            for (int i = 0; i < 50; i++) {
                double cdf = 0.5 * (1 + Ref.erf(x[i] / Math.sqrt(2)));
                y[i] = x[i] * cdf;
                gx[i] = g[i] * (cdf + x[i] * Math.exp(-x[i] * x[i] / 2) / Math.sqrt(2 * Math.PI));
            }
            close(y, be.gelu(st(x, t, 5, 10)), t, "gelu");
            close(gx, be.geluBackward(st(x, t, 5, 10), st(g, t, 5, 10)), t, "gelu backward");
        }
    }

    @Test
    void layerNormAndItsGradients() {
        int rows = 6;
        int d = 24;
        double eps = 1e-6;
        for (DType t : DTYPES) {
            double[] x = rounded(rnd(rows * d, -2, 3), t);
            double[] w = rounded(rnd(d, 0.5, 1.5), t);
            double[] b = rounded(rnd(d, -0.5, 0.5), t);
            double[] g = rounded(rnd(rows * d, -1, 1), t);
            double[] y = new double[x.length];
            double[] gx = new double[x.length];
            double[] gw = new double[d];
            double[] gb = new double[d];
            for (int r = 0; r < rows; r++) {
                double mean = 0;
                for (int j = 0; j < d; j++) {
                    mean += x[r * d + j] / d;
                }
                double var = 0;
                for (int j = 0; j < d; j++) {
                    var += (x[r * d + j] - mean) * (x[r * d + j] - mean) / d;
                }
                double rstd = 1 / Math.sqrt(var + eps);
                double m1 = 0;
                double m2 = 0;
                for (int j = 0; j < d; j++) {
                    int i = r * d + j;
                    double xhat = (x[i] - mean) * rstd;
                    y[i] = xhat * w[j] + b[j];
                    gw[j] += g[i] * xhat;
                    gb[j] += g[i];
                    m1 += g[i] * w[j] / d;
                    m2 += g[i] * w[j] * xhat / d;
                }
                for (int j = 0; j < d; j++) {
                    int i = r * d + j;
                    double xhat = (x[i] - mean) * rstd;
                    gx[i] = (g[i] * w[j] - m1 - xhat * m2) * rstd;
                }
            }
            Storage xs = st(x, t, 2, 3, d);
            Storage ws = st(w, t, d);
            Backend.Saved saved = be.layerNorm(xs, ws, st(b, t, d), eps);
            close(y, saved.out(), t, "layerNorm");
            Storage[] grads = be.layerNormBackward(saved, xs, ws, st(g, t, 2, 3, d), true, true, true);
            close(gx, grads[0], t, "layerNorm dx");
            close(gw, grads[1], t, "layerNorm dweight");
            close(gb, grads[2], t, "layerNorm dbias");
            Storage[] some = be.layerNormBackward(saved, xs, ws, st(g, t, 2, 3, d), false, true, false);
            assertNull(some[0]);
            assertNull(some[2]);
            close(gw, some[1], t, "layerNorm dweight alone");
        }
    }

    @Test
    void groupRationalMatchesTheReferenceTable() {
        // swish init, one group: F(x) and dF/dx from the specification's table
        double[] x = {-2.0, -0.5, 0.0, 0.5, 2.0};
        double[] f = {-0.23840604514786776, -0.18877053079486134, 3.054879741161051e-07, 0.3112295954957557, 1.7615939957450253};
        double[] df = {-0.09078268838130361, 0.2600397584562548, 0.5000007853731933, 0.739959793494901, 1.0907827510854369};
        for (DType t : DTYPES) {
            Storage a = st(RationalInit.SWISH.numerator(), t, 1, 6);
            Storage b = st(RationalInit.SWISH.denominator(), t, 1, 4);
            Storage xs = st(x, t, 5, 1);
            double tolT = t == DType.FLOAT32 ? 1e-6 : 1e-14;
            assertArrayEquals(f, be.toDoubles(be.rationalForward(xs, a, b, 1)), tolT, "F(x) " + t);
            Storage[] grads = be.rationalBackward(xs, be.full(t, 1, 5, 1), a, b, 1, true);
            assertArrayEquals(df, be.toDoubles(grads[0]), 10 * tolT, "dF/dx " + t);
            assertArrayEquals(new long[]{1, 6}, grads[1].shape());
            assertArrayEquals(new long[]{1, 4}, grads[2].shape());
            // identity init: dL/db at x = 2 is [-4, -8, -16, -32], at x = -2 [4, 8, 16, 32]
            Storage ia = st(RationalInit.IDENTITY.numerator(), t, 1, 6);
            Storage ib = st(RationalInit.IDENTITY.denominator(), t, 1, 4);
            for (double v : new double[]{2, -2}) {
                Storage[] gi = be.rationalBackward(st(new double[]{v}, t, 1, 1), be.full(t, 1, 1, 1), ia, ib, 1, false);
                assertNull(gi[0]);
                double s = -Math.signum(v);
                assertArrayEquals(new double[]{4 * s, 8 * s, 16 * s, 32 * s}, be.toDoubles(gi[2]), 1e-5, "dL/db at " + v);
            }
        }
    }

    @Test
    void groupRationalGroupsUseTheirOwnDenominator() {
        int d = 16;
        int groups = 4;
        for (DType t : DTYPES) {
            double[] x = rounded(rnd(3 * d, -3, 3), t);
            double[] a = rounded(RationalInit.SWISH.numerator(), t);
            double[] b = rounded(rnd(groups * 4, -0.5, 0.5), t);
            double[] y = new double[x.length];
            for (int i = 0; i < x.length; i++) {
                int grp = (i % d) / (d / groups);
                double v = x[i];
                double p = a[0] + v * (a[1] + v * (a[2] + v * (a[3] + v * (a[4] + v * a[5]))));
                double av = Math.abs(v);
                double q = 1 + av * (Math.abs(b[4 * grp]) + av * (Math.abs(b[4 * grp + 1]) + av * (Math.abs(b[4 * grp + 2])
                        + av * Math.abs(b[4 * grp + 3]))));
                y[i] = p / q;
            }
            close(y, be.rationalForward(st(x, t, 3, d), st(a, t, 1, 6), st(b, t, groups, 4), groups), t, "rational, 4 groups");
        }
    }

    @Test
    void crossEntropyAndItsGradient() {
        int n = 4;
        int c = 5;
        for (DType t : DTYPES) {
            double[] x = rounded(rnd(n * c, -3, 3), t);
            double[] tg = new double[n * c];
            for (int r = 0; r < n; r++) {
                double s = 0;
                for (int j = 0; j < c; j++) {
                    tg[r * c + j] = rng.nextDouble();
                    s += tg[r * c + j];
                }
                for (int j = 0; j < c; j++) {
                    tg[r * c + j] /= s;
                }
            }
            tg = rounded(tg, t);
            double[] p = Ref.softmaxRows(x, c);
            double loss = 0;
            double[] gx = new double[n * c];
            for (int r = 0; r < n; r++) {
                double mass = 0;
                for (int j = 0; j < c; j++) {
                    loss -= tg[r * c + j] * Math.log(p[r * c + j]) / n;
                    mass += tg[r * c + j];
                }
                for (int j = 0; j < c; j++) {
                    gx[r * c + j] = 0.5 * (p[r * c + j] * mass - tg[r * c + j]) / n;
                }
            }
            Storage xs = st(x, t, n, c);
            Storage ts = st(tg, t, n, c);
            close(new double[]{loss}, be.crossEntropy(xs, ts), t, "cross-entropy");
            close(gx, be.crossEntropyBackward(xs, ts, be.full(t, 0.5)), t, "cross-entropy gradient (upstream 0.5)");
        }
    }

    @Test
    void adamwStepMatchesTheFormula() {
        for (DType t : DTYPES) {
            double[] w = rounded(rnd(40, -1, 1), t);
            double[] m = new double[40];
            double[] v = new double[40];
            Storage ws = st(w, t, 5, 8);
            Storage ms = be.zeros(t, 5, 8);
            Storage vs = be.zeros(t, 5, 8);
            double lr = 0.01;
            double b1 = 0.9;
            double b2 = 0.99;
            double eps = 1e-8;
            double decay = 1 - lr * 0.05;
            for (int step = 1; step <= 3; step++) {
                double[] g = rounded(rnd(40, -1, 1), t);
                double bc1 = 1 - Math.pow(b1, step);
                double bc2 = 1 - Math.pow(b2, step);
                for (int i = 0; i < 40; i++) {
                    m[i] = b1 * m[i] + (1 - b1) * g[i];
                    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
                    w[i] = w[i] * decay - lr / bc1 * m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + eps);
                }
                be.adamwStep(ws, st(g, t, 5, 8), ms, vs, new Backend.AdamWStep(b1, b2, eps, decay, lr, bc1, bc2));
            }
            close(w, ws, t, "AdamW weights after 3 steps");
            close(m, ms, t, "AdamW first moment");
            close(v, vs, t, "AdamW second moment");
        }
    }

    @Test
    void adamwStepsGiveTheBitsOfOneStepEach() {
        // 75 parameters of mixed sizes and dtypes, decay on every other one, a learning-rate change
        // in the middle: more than one batch of a device's list kernel, and runs that must split
        adamwStepsMatchOneByOne(75, i -> i < 50 ? DType.FLOAT32 : DType.FLOAT64, new int[]{1, 7, 2048, 2049, 5000, 33});
    }

    @Test
    void float32AdamwStepsGiveTheBitsOfOneStepEach() {
        // all float32, one parameter over several chunks of a backend that cuts the list into chunks
        adamwStepsMatchOneByOne(40, i -> DType.FLOAT32, new int[]{64, 16384, 3, 40000, 16385, 257, 1000});
    }

    private void adamwStepsMatchOneByOne(int count, java.util.function.IntFunction<DType> dtype, int[] sizes) {
        Storage[] w = new Storage[count];
        Storage[] g = new Storage[count];
        Storage[] m = new Storage[count];
        Storage[] v = new Storage[count];
        Storage[][] one = new Storage[count][];
        Backend.AdamWStep[] steps = new Backend.AdamWStep[count];
        for (int i = 0; i < count; i++) {
            DType t = dtype.apply(i);
            int n = sizes[i % sizes.length];
            double[] wv = rnd(n, -1, 1);
            double[] gv = rnd(n, -1, 1);
            double[] mv = rnd(n, -0.1, 0.1);
            double[] vv = rnd(n, 0, 0.01);
            w[i] = st(wv, t, n);
            g[i] = st(gv, t, n);
            m[i] = st(mv, t, n);
            v[i] = st(vv, t, n);
            one[i] = new Storage[]{st(wv, t, n), st(gv, t, n), st(mv, t, n), st(vv, t, n)};
            double lr = i < 40 ? 1e-3 : 2e-3;
            steps[i] = new Backend.AdamWStep(0.9, 0.999, 1e-8, i % 2 == 0 ? 1 - lr * 0.05 : 1, lr, 1 - 0.9 * 0.9, 1 - 0.999 * 0.999);
        }
        be.adamwSteps(w, g, m, v, steps);
        for (int i = 0; i < count; i++) {
            be.adamwStep(one[i][0], one[i][1], one[i][2], one[i][3], steps[i]);
            assertArrayEquals(be.toDoubles(one[i][0]), be.toDoubles(w[i]), 0, "weights of parameter " + i);
            assertArrayEquals(be.toDoubles(one[i][2]), be.toDoubles(m[i]), 0, "first moment of parameter " + i);
            assertArrayEquals(be.toDoubles(one[i][3]), be.toDoubles(v[i]), 0, "second moment of parameter " + i);
        }
    }

    /**
     * A tensor made inside {@code Scope.detached} while a scope is open belongs to no scope: its
     * values stay readable after the scope closes and its memory is reused, where one made in the
     * scope is refused.
     */
    @Test
    void tensorsMadeDetachedOutliveTheOpenScope() {
        Tensor kept;
        Tensor scoped;
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(st(new double[]{1, 2, 3}, DType.FLOAT32, 3));
            kept = Scope.detached(() -> x.mul(2.0));
            scoped = x.mul(3.0);
        }
        try (Scope s = Scope.open()) {
            for (int k = 0; k < 8; k++) {
                be.fill(be.empty(DType.FLOAT32, 3), Double.NaN);
            }
        }
        assertArrayEquals(new double[]{2, 4, 6}, kept.toDoubleArray(), 0);
        assertThrows(IllegalStateException.class, scoped::toDoubleArray);
    }

    // ------------------------------------------------------------------ every element written

    /**
     * Results are computed into memory that held NaN a moment before (the scope's arena is reused):
     * an op that leaves an element unwritten shows it.
     */
    @Test
    void outputsAreFullyWrittenIntoReusedMemory() {
        DType t = DType.FLOAT32;
        double[] x = rnd(6 * 16, -2, 2);
        double[] w = rnd(16, 0.5, 1.5);
        for (int round = 0; round < 3; round++) {
            try (Scope s = Scope.open()) {
                for (int k = 0; k < 8; k++) {
                    be.fill(be.empty(t, 6, 16), Double.NaN);
                }
            }
            try (Scope s = Scope.open()) {
                Storage xs = st(x, t, 6, 16);
                Storage ws = st(w, t, 16);
                Storage[] outs = {
                    be.unary(UnaryOp.TANH, xs), be.scalar(ScalarOp.MUL, xs, 2),
                    be.binary(BinaryOp.ADD, xs, ws), be.sum(xs, new int[]{0}, false), be.sumTo(xs, new long[]{16}),
                    be.expand(ws, new long[]{6, 16}), be.matmul(xs, xs, false, true), be.permute(be.reshape(xs, 6, 4, 4), 2, 0, 1),
                    be.narrow(xs, 1, 3, 5), be.unnarrow(be.narrow(xs, 1, 3, 5), new long[]{6, 16}, 1, 3), be.concat(0, xs, xs),
                    be.indexSelect(xs, 0, new long[]{5, 1}), be.indexAdd(be.indexSelect(xs, 0, new long[]{5, 1}), new long[]{6, 16}, 0,
                        new long[]{5, 1}), be.softmax(xs), be.softmaxBackward(be.softmax(xs), xs), be.logSoftmax(xs),
                    be.gelu(xs), be.geluBackward(xs, xs), be.layerNorm(xs, ws, ws, 1e-6).out(),
                    be.attention(be.reshape(xs, 2, 4, 12), 2, 0.5).out(), be.linear(xs, xs, be.narrow(ws, 0, 0, 6)),
                    be.rationalForward(xs, st(RationalInit.SWISH.numerator(), t, 1, 6),
                        st(RationalInit.SWISH.denominator(), t, 1, 4), 1),
                    be.zeros(t, 6, 16), be.full(t, 3, 6, 16)};
                for (int i = 0; i < outs.length; i++) {
                    for (double v : be.toDoubles(outs[i])) {
                        assertTrue(Double.isFinite(v), "output " + i + " has an unwritten (NaN) element");
                    }
                }
            }
        }
    }

    @Test
    void emptyTensorsGiveEmptyResults() {
        Tensor x = Tensor.zeros(DType.FLOAT32, 0, 8);
        x.moveTo(be.device());
        x.requiresGrad(true);
        Tensor a = Tensor.of(RationalInit.SWISH.numerator(), 1, 6);
        Tensor b = Tensor.of(RationalInit.SWISH.denominator(), 1, 4);
        Tensor af = Tensor.of(a.toFloatArray(), 1, 6);
        Tensor bf = Tensor.of(b.toFloatArray(), 1, 4);
        af.moveTo(be.device());
        bf.moveTo(be.device());
        Tensor w = Tensor.ones(DType.FLOAT32, 8);
        w.moveTo(be.device());
        Tensor[] ys = {x.add(x), x.mul(2), x.exp(), x.gelu(), x.softmax(), Ops.layerNorm(x, w, w, 1e-6),
            RationalOp.apply(x, af, bf), x.matmul(Tensor.zeros(DType.FLOAT32, 8, 3).to(be.device())), x.sum(false, 0)};
        long[][] shapes = {{0, 8}, {0, 8}, {0, 8}, {0, 8}, {0, 8}, {0, 8}, {0, 8}, {0, 3}, {8}};
        for (int i = 0; i < ys.length; i++) {
            assertArrayEquals(shapes[i], ys[i].shape(), "result " + i);
        }
        assertEquals(0, ys[6].numel());
        ys[6].sum().backward();
        assertEquals(0, x.grad().numel());
    }

    // ------------------------------------------------------------------ autograd rules on this device

    Tensor leaf(double lo, double hi, long... shape) {
        Tensor t = Tensor.rand(rng, DType.FLOAT64, lo, hi, shape);
        t.moveTo(be.device());
        return t.requiresGrad(true);
    }

    void grad(Function<Tensor[], Tensor> f, Tensor... in) {
        GradCheck.Result r = GradCheck.assertGradients(f, 1e-6, in);
        assertTrue(r.checked() > 0, "nothing checked");
    }

    @Test
    void everyRuleHasFiniteDifferenceGradients() {
        for (long[][] p : BROADCAST) {
            grad(t -> t[0].add(t[1]), leaf(-2, 2, p[0]), leaf(-2, 2, p[1]));
            grad(t -> t[0].sub(t[1]), leaf(-2, 2, p[0]), leaf(-2, 2, p[1]));
            grad(t -> t[0].mul(t[1]), leaf(-2, 2, p[0]), leaf(-2, 2, p[1]));
            grad(t -> t[0].div(t[1]), leaf(-2, 2, p[0]), leaf(0.5, 2, p[1]));
        }
        grad(t -> t[0].neg().add(1.5).mul(-2.5), leaf(-2, 2, 3, 4));
        grad(t -> t[0].exp(), leaf(-2, 2, 2, 3));
        grad(t -> t[0].log(), leaf(0.5, 3, 5));
        grad(t -> t[0].sqrt(), leaf(0.5, 3, 5));
        grad(t -> t[0].pow(3), leaf(-2, 2, 5));
        grad(t -> t[0].tanh(), leaf(-2, 2, 5));
        grad(t -> Ops.sigmoid(t[0]), leaf(-2, 2, 5));
        grad(t -> t[0].relu(), leaf(0.1, 2, 5));
        grad(t -> t[0].relu(), leaf(-2, -0.1, 5));
        grad(t -> t[0].gelu(), leaf(-3, 3, 4, 5));
        grad(t -> t[0].geluTanh(), leaf(-3, 3, 4, 5));
        grad(t -> t[0].silu(), leaf(-3, 3, 4, 5));
        for (int f = 0; f < 4; f++) {
            boolean ta = (f & 1) != 0;
            boolean tb = (f & 2) != 0;
            // m = 4, k = 3, n = 5
            grad(t -> Ops.matmul(t[0], t[1], ta, tb), ta ? leaf(-1, 1, 2, 3, 4) : leaf(-1, 1, 2, 4, 3),
                    tb ? leaf(-1, 1, 2, 5, 3) : leaf(-1, 1, 2, 3, 5));
        }
        grad(t -> Ops.linear(t[0], t[1], t[2]), leaf(-1, 1, 2, 3, 4), leaf(-1, 1, 5, 4), leaf(-1, 1, 5));
        grad(t -> t[0].sum(true, 1), leaf(-1, 1, 2, 3, 4));
        grad(t -> t[0].mean(false, 0, 2), leaf(-1, 1, 2, 3, 4));
        grad(t -> t[0].max(false, -1), leaf(-1, 1, 3, 5));
        grad(t -> t[0].reshape(4, -1).permute(1, 0).narrow(0, 1, 3), leaf(-1, 1, 2, 3, 4));
        grad(t -> Ops.concat(1, t[0], t[1]), leaf(-1, 1, 2, 3), leaf(-1, 1, 2, 2));
        grad(t -> Ops.indexSelect(t[0], 1, 2, 0, 2), leaf(-1, 1, 2, 3, 2));
        grad(t -> t[0].softmax(), leaf(-2, 2, 3, 5));
        grad(t -> Ops.attention(t[0], 2, 0.6), leaf(-1, 1, 2, 3, 12));
        grad(t -> t[0].logSoftmax(), leaf(-2, 2, 3, 5));
        grad(t -> Ops.layerNorm(t[0], t[1], t[2], 1e-6), leaf(-2, 2, 2, 3, 8), leaf(0.5, 1.5, 8), leaf(-1, 1, 8));
        grad(t -> Losses.crossEntropy(t[0], new int[]{0, 3, 2}, 0.1), leaf(-2, 2, 3, 4));
        Tensor soft = Tensor.rand(rng, DType.FLOAT64, 0, 1, 3, 4).to(be.device());
        grad(t -> Losses.crossEntropySoft(t[0], soft), leaf(-2, 2, 3, 4));
        grad(t -> Ops.dropout(t[0], 0.3, new Random(3)), leaf(-1, 1, 4, 5));
        grad(t -> Ops.dropPath(t[0], 0.5, new Random(3)), leaf(-1, 1, 4, 2, 3));
        grad(t -> Ops.patchConv(t[0], t[1], t[2]), leaf(-1, 1, 2, 3, 4, 4), leaf(-1, 1, 5, 3, 2, 2), leaf(-1, 1, 5));
        grad(t -> RationalOp.apply(t[0], t[1], t[2]), leaf(-2, 2, 3, 8), leaf(-0.5, 0.5, 1, 6), leaf(-0.5, 0.5, 4, 4));
        grad(t -> t[0].to(Device.CPU).mul(t[0].to(Device.CPU)), leaf(-1, 1, 3));
    }

    @Test
    void tensorsAndModuleStateStayOnTheDevice() {
        Tensor x = leaf(-1, 1, 3, 4);
        assertEquals(be.device(), x.device());
        Tensor y = x.mul(x).sum();
        assertEquals(be.device(), y.device());
        y.backward();
        assertEquals(be.device(), x.grad().device());
        Tensor back = x.to(Device.CPU);
        assertArrayEquals(x.toDoubleArray(), back.toDoubleArray(), 0);
        assertEquals(Device.CPU, back.device());
    }
}
