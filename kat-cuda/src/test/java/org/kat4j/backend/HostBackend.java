package org.kat4j.backend;

import org.kat4j.rational.Rational;
import org.kat4j.tensor.DType;

import java.util.Arrays;
import java.util.List;
import java.util.function.DoubleBinaryOperator;
import java.util.function.DoubleUnaryOperator;
import java.util.function.Supplier;

/**
 * A CPU backend in plain Java on the contract suite's float64 references ({@link Ref}): the host
 * side of the GPU tests in a runtime without ND4J (the GPU bundle, whose 64 MiB cannot hold ND4J's
 * 90 MB native library). Values are kept as doubles and rounded to float on every write of a
 * float32 storage. Slow and simple; {@link Provider} offers it only where ND4J is missing.
 */
public final class HostBackend implements Backend {
    static final HostBackend INSTANCE = new HostBackend();

    /** Registered for tests: the CPU backend where ND4J cannot be loaded, else nothing. */
    public static final class Provider implements BackendProvider {
        /** Whether the ND4J CPU backend starts here (its class initialiser loads ND4J). */
        static boolean nd4jPresent() {
            try {
                return org.kat4j.backend.cpu.CpuBackend.INSTANCE != null;
            } catch (LinkageError e) {
                return false;
            }
        }

        @Override
        public String type() {
            return "cpu";
        }

        @Override
        public List<Backend> backends() {
            return nd4jPresent() ? List.of() : List.of(INSTANCE);
        }

        @Override
        public String status() {
            return nd4jPresent() ? "plain-Java host backend not used (ND4J present)" : "plain-Java host backend (no ND4J)";
        }
    }

    /** A dense array of doubles (float32 ones hold float-rounded values). */
    static final class HostStorage implements Storage {
        final DType dtype;
        final long[] shape;
        final double[] v;

        HostStorage(DType dtype, long[] shape, double[] v) {
            this.dtype = dtype;
            this.shape = shape.clone();
            this.v = v;
            if (dtype == DType.FLOAT32) {
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) v[i];
                }
            }
        }

        @Override
        public Backend backend() {
            return INSTANCE;
        }

        @Override
        public DType dtype() {
            return dtype;
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }
    }

    private static HostStorage h(Storage s) {
        if (s instanceof HostStorage hs) {
            return hs;
        }
        return new HostStorage(s.dtype(), s.shape(), s.backend().toDoubles(s));
    }

    private static HostStorage of(DType t, long[] shape, double[] v) {
        return new HostStorage(t, shape, v);
    }

    private static void write(HostStorage s) {
        if (s.dtype == DType.FLOAT32) {
            for (int i = 0; i < s.v.length; i++) {
                s.v[i] = (float) s.v[i];
            }
        }
    }

    @Override
    public Device device() {
        return Device.CPU;
    }

    @Override
    public String describe() {
        return "cpu (plain-Java host backend for the GPU tests)";
    }

    @Override
    public Storage empty(DType dtype, long... shape) {
        return of(dtype, shape, new double[Math.toIntExact(Shapes.numel(shape))]);
    }

    @Override
    public Storage full(DType dtype, double value, long... shape) {
        double[] v = new double[Math.toIntExact(Shapes.numel(shape))];
        Arrays.fill(v, value);
        return of(dtype, shape, v);
    }

    @Override
    public Storage fromFloats(float[] data, long... shape) {
        double[] v = new double[data.length];
        for (int i = 0; i < v.length; i++) {
            v[i] = data[i];
        }
        return of(DType.FLOAT32, shape, v);
    }

    @Override
    public Storage fromDoubles(double[] data, long... shape) {
        return of(DType.FLOAT64, shape, data.clone());
    }

    @Override
    public float[] toFloats(Storage s) {
        double[] v = h(s).v;
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        return f;
    }

    @Override
    public double[] toDoubles(Storage s) {
        return h(s).v.clone();
    }

    @Override
    public double getDouble(Storage s, long index) {
        return h(s).v[Math.toIntExact(index)];
    }

    @Override
    public void setDouble(Storage s, long index, double value) {
        HostStorage hs = (HostStorage) s;
        hs.v[Math.toIntExact(index)] = hs.dtype == DType.FLOAT32 ? (float) value : value;
    }

    @Override
    public Storage copy(Storage s, DType dtype) {
        return of(dtype, s.shape(), h(s).v.clone());
    }

    @Override
    public void assign(Storage dst, Storage src) {
        HostStorage d = (HostStorage) dst;
        System.arraycopy(src instanceof HostStorage hs ? hs.v : src.backend().toDoubles(src), 0, d.v, 0, d.v.length);
        write(d);
    }

    @Override
    public void fill(Storage s, double value) {
        HostStorage d = (HostStorage) s;
        Arrays.fill(d.v, value);
        write(d);
    }

    @Override
    public void addScaledInPlace(Storage acc, Storage x, double alpha) {
        HostStorage d = (HostStorage) acc;
        double[] xv = h(x).v;
        for (int i = 0; i < d.v.length; i++) {
            d.v[i] += xv[i] * alpha;
        }
        write(d);
    }

    @Override
    public void addInPlace(Storage acc, Storage x) {
        addScaledInPlace(acc, x, 1);
    }

    @Override
    public void scaleInPlace(Storage x, double s) {
        HostStorage d = (HostStorage) x;
        for (int i = 0; i < d.v.length; i++) {
            d.v[i] *= s;
        }
        write(d);
    }

    @Override
    public AutoCloseable openScope(int depth) {
        return () -> { };
    }

    @Override
    public <T> T outsideScopes(Supplier<T> body) {
        return body.get();
    }

    private static Storage mapped(Storage x, DoubleUnaryOperator f) {
        HostStorage hs = h(x);
        double[] out = new double[hs.v.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = f.applyAsDouble(hs.v[i]);
        }
        return of(hs.dtype, hs.shape, out);
    }

    @Override
    public Storage unary(UnaryOp op, Storage x) {
        return mapped(x, switch (op) {
            case NEG -> v -> -v;
            case EXP -> Math::exp;
            case LOG -> Math::log;
            case SQRT -> Math::sqrt;
            case TANH -> Math::tanh;
            case SIGMOID -> v -> 1 / (1 + Math.exp(-v));
            case RELU -> v -> v > 0 ? v : 0;
            case ERF -> Ref::erf;
            case STEP -> v -> v > 0 ? 1 : 0;
            case IS_ZERO -> v -> v == 0 ? 1 : 0;
        });
    }

    @Override
    public Storage scalar(ScalarOp op, Storage x, double s) {
        return mapped(x, switch (op) {
            case ADD -> v -> v + s;
            case MUL -> v -> v * s;
            case RSUB -> v -> s - v;
            case POW -> v -> Math.pow(v, s);
        });
    }

    @Override
    public Storage binary(BinaryOp op, Storage a, Storage b) {
        HostStorage x = h(a);
        HostStorage y = h(b);
        DoubleBinaryOperator f = switch (op) {
            case ADD -> Double::sum;
            case SUB -> (p, q) -> p - q;
            case MUL -> (p, q) -> p * q;
            case DIV -> (p, q) -> p / q;
        };
        long[] shape = Shapes.broadcast(op.name().toLowerCase(), x.shape, y.shape);
        if (Shapes.numel(shape) == 0) {
            return empty(x.dtype, shape);
        }
        return of(x.dtype, shape, Ref.binary(x.v, x.shape, y.v, y.shape, f));
    }

    private static Storage reduced(Storage x, int[] axes, boolean keepDims, int op) {
        HostStorage hs = h(x);
        long[] shape = keepDims ? Shapes.keepDims(hs.shape, axes) : Shapes.dropDims(hs.shape, axes);
        return of(hs.dtype, shape, Ref.reduce(hs.v, hs.shape, axes, op));
    }

    @Override
    public Storage sum(Storage x, int[] axes, boolean keepDims) {
        return reduced(x, axes, keepDims, 0);
    }

    @Override
    public Storage mean(Storage x, int[] axes, boolean keepDims) {
        return reduced(x, axes, keepDims, 1);
    }

    @Override
    public Storage max(Storage x, int[] axes, boolean keepDims) {
        if (x.numel() == 0) {
            throw new IllegalArgumentException("max of an empty tensor " + Arrays.toString(x.shape()) + ": no maximum");
        }
        return reduced(x, axes, keepDims, 2);
    }

    @Override
    public Storage sumTo(Storage g, long[] shape) {
        long[] gs = g.shape();
        if (Arrays.equals(gs, shape)) {
            return g;
        }
        HostStorage hs = h(g);
        return of(hs.dtype, shape, Ref.reduce(hs.v, gs, Shapes.sumToAxes(gs, shape), 0));
    }

    @Override
    public Storage expand(Storage g, long[] shape) {
        HostStorage hs = h(g);
        if (Shapes.numel(shape) == 0) {
            return empty(hs.dtype, shape);
        }
        return of(hs.dtype, shape, Ref.binary(new double[Math.toIntExact(Shapes.numel(shape))], shape, hs.v, hs.shape, Double::sum));
    }

    @Override
    public double norm2(Storage x) {
        double s = 0;
        for (double v : h(x).v) {
            s += v * v;
        }
        return Math.sqrt(s);
    }

    @Override
    public Storage matmul(Storage a, Storage b, boolean transA, boolean transB) {
        HostStorage x = h(a);
        HostStorage y = h(b);
        int r = x.shape.length;
        long[] shape = x.shape.clone();
        shape[r - 2] = transA ? x.shape[r - 1] : x.shape[r - 2];
        shape[r - 1] = transB ? y.shape[r - 2] : y.shape[r - 1];
        return of(x.dtype, shape, Ref.matmul(x.v, x.shape, y.v, y.shape, transA, transB));
    }

    @Override
    public Storage reshape(Storage x, long... shape) {
        HostStorage hs = h(x);
        return new HostStorage(hs.dtype, shape, hs.v); // shares the values, as a view does
    }

    @Override
    public Storage permute(Storage x, int... dims) {
        HostStorage hs = h(x);
        long[] shape = new long[dims.length];
        for (int i = 0; i < dims.length; i++) {
            shape[i] = hs.shape[dims[i]];
        }
        return of(hs.dtype, shape, Ref.permute(hs.v, hs.shape, dims));
    }

    private static long[] range(long start, long length) {
        long[] idx = new long[Math.toIntExact(length)];
        for (int i = 0; i < idx.length; i++) {
            idx[i] = start + i;
        }
        return idx;
    }

    @Override
    public Storage narrow(Storage x, int dim, long start, long length) {
        return indexSelect(x, dim, range(start, length));
    }

    @Override
    public Storage unnarrow(Storage g, long[] shape, int dim, long start) {
        return indexAdd(g, shape, dim, range(start, g.shape()[dim]));
    }

    @Override
    public Storage concat(int dim, Storage... xs) {
        long[] shape = xs[0].shape();
        long total = 0;
        for (Storage s : xs) {
            total += s.shape()[dim];
        }
        shape[dim] = total;
        HostStorage out = (HostStorage) empty(xs[0].dtype(), shape);
        long at = 0;
        for (Storage s : xs) {
            long len = s.shape()[dim];
            HostStorage part = (HostStorage) indexAdd(s, shape, dim, range(at, len));
            for (int i = 0; i < out.v.length; i++) {
                out.v[i] += part.v[i];
            }
            at += len;
        }
        return out;
    }

    @Override
    public Storage indexSelect(Storage x, int dim, long[] index) {
        HostStorage hs = h(x);
        long[] shape = hs.shape.clone();
        shape[dim] = index.length;
        return of(hs.dtype, shape, Ref.gather(hs.v, hs.shape, dim, index));
    }

    @Override
    public Storage indexAdd(Storage g, long[] shape, int dim, long[] index) {
        HostStorage hs = h(g);
        double[] out = new double[Math.toIntExact(Shapes.numel(shape))];
        for (int i = 0; i < hs.v.length; i++) {
            long[] idx = Ref.unflat(i, hs.shape);
            idx[dim] = index[(int) idx[dim]];
            out[(int) Ref.flat(idx, shape)] += hs.v[i];
        }
        return of(hs.dtype, shape, out);
    }

    @Override
    public Storage softmax(Storage x) {
        HostStorage hs = h(x);
        return of(hs.dtype, hs.shape, Ref.softmaxRows(hs.v, (int) hs.shape[hs.shape.length - 1]));
    }

    /** Per row of the last axis: gx = f(y, g, row sum of dot(y, g)). */
    private static Storage rows(Storage ys, Storage gs, boolean logOut) {
        HostStorage y = h(ys);
        double[] g = h(gs).v;
        int d = (int) y.shape[y.shape.length - 1];
        double[] out = new double[y.v.length];
        for (int r = 0; d > 0 && r < out.length / d; r++) {
            double s = 0;
            for (int j = r * d; j < (r + 1) * d; j++) {
                s += logOut ? g[j] : g[j] * y.v[j];
            }
            for (int j = r * d; j < (r + 1) * d; j++) {
                out[j] = logOut ? g[j] - Math.exp(y.v[j]) * s : (g[j] - s) * y.v[j];
            }
        }
        return of(y.dtype, y.shape, out);
    }

    @Override
    public Storage softmaxBackward(Storage y, Storage g) {
        return rows(y, g, false);
    }

    @Override
    public Storage logSoftmax(Storage x) {
        HostStorage hs = h(x);
        double[] p = Ref.softmaxRows(hs.v, (int) hs.shape[hs.shape.length - 1]);
        for (int i = 0; i < p.length; i++) {
            p[i] = Math.log(p[i]);
        }
        return of(hs.dtype, hs.shape, p);
    }

    @Override
    public Storage logSoftmaxBackward(Storage y, Storage g) {
        return rows(y, g, true);
    }

    @Override
    public Storage gelu(Storage x) {
        return mapped(x, v -> v * 0.5 * (1 + Ref.erf(v / Math.sqrt(2))));
    }

    @Override
    public Storage geluBackward(Storage x, Storage g) {
        HostStorage hs = h(x);
        double[] gv = h(g).v;
        double[] out = new double[hs.v.length];
        for (int i = 0; i < out.length; i++) {
            double v = hs.v[i];
            out[i] = gv[i] * (0.5 * (1 + Ref.erf(v / Math.sqrt(2))) + v * Math.exp(-0.5 * v * v) / Math.sqrt(2 * Math.PI));
        }
        return of(hs.dtype, hs.shape, out);
    }

    @Override
    public Saved layerNorm(Storage x, Storage weight, Storage bias, double eps) {
        HostStorage hs = h(x);
        double[] w = h(weight).v;
        double[] b = h(bias).v;
        int d = (int) hs.shape[hs.shape.length - 1];
        double[] y = new double[hs.v.length];
        double[] xhat = new double[hs.v.length];
        double[] rstd = new double[d == 0 ? 0 : hs.v.length / d];
        for (int r = 0; r < rstd.length; r++) {
            double mu = 0;
            for (int j = 0; j < d; j++) {
                mu += hs.v[r * d + j];
            }
            mu /= d;
            double var = 0;
            for (int j = 0; j < d; j++) {
                var += (hs.v[r * d + j] - mu) * (hs.v[r * d + j] - mu);
            }
            rstd[r] = 1 / Math.sqrt(var / d + eps);
            for (int j = 0; j < d; j++) {
                xhat[r * d + j] = (hs.v[r * d + j] - mu) * rstd[r];
                y[r * d + j] = xhat[r * d + j] * w[j] + b[j];
            }
        }
        return new Saved(of(hs.dtype, hs.shape, y), new double[][]{xhat, rstd});
    }

    @Override
    public Storage[] layerNormBackward(Saved forward, Storage x, Storage weight, Storage gs, boolean needX, boolean needWeight,
                                       boolean needBias) {
        HostStorage hs = h(x);
        double[] w = h(weight).v;
        double[] g = h(gs).v;
        int d = (int) hs.shape[hs.shape.length - 1];
        double[][] st = forward.state() == null ? new double[][]{new double[0], new double[0]} : (double[][]) forward.state();
        double[] xhat = st[0];
        double[] rstd = st[1];
        double[] gx = new double[hs.v.length];
        double[] gw = new double[d];
        double[] gb = new double[d];
        for (int r = 0; r < rstd.length; r++) {
            double m1 = 0;
            double m2 = 0;
            for (int j = 0; j < d; j++) {
                int e = r * d + j;
                gw[j] += g[e] * xhat[e];
                gb[j] += g[e];
                m1 += g[e] * w[j];
                m2 += g[e] * w[j] * xhat[e];
            }
            m1 /= d;
            m2 /= d;
            for (int j = 0; j < d; j++) {
                int e = r * d + j;
                gx[e] = (g[e] * w[j] - m1 - xhat[e] * m2) * rstd[r];
            }
        }
        DType wt = weight.dtype();
        return new Storage[]{needX ? of(hs.dtype, hs.shape, gx) : null, needWeight ? of(wt, weight.shape(), gw) : null,
            needBias ? of(wt, weight.shape(), gb) : null};
    }

    @Override
    public Storage rationalForward(Storage x, Storage numerator, Storage denominator, int groups) {
        HostStorage hs = h(x);
        double[] y = new double[hs.v.length];
        int d = (int) hs.shape[hs.shape.length - 1];
        if (y.length > 0) {
            Rational.forward(hs.v, y, d, groups, h(numerator).v, h(denominator).v);
        }
        return of(hs.dtype, hs.shape, y);
    }

    @Override
    public Storage[] rationalBackward(Storage x, Storage g, Storage numerator, Storage denominator, int groups, boolean needX) {
        HostStorage hs = h(x);
        int d = (int) hs.shape[hs.shape.length - 1];
        double[] gx = needX ? new double[hs.v.length] : null;
        double[] ga = new double[6];
        double[] gb = new double[4 * groups];
        if (hs.v.length > 0) {
            Rational.backward(hs.v, h(g).v, gx, d, groups, h(numerator).v, h(denominator).v, ga, gb);
        }
        return new Storage[]{gx == null ? null : of(hs.dtype, hs.shape, gx), of(numerator.dtype(), numerator.shape(), ga),
            of(denominator.dtype(), denominator.shape(), gb)};
    }

    @Override
    public Storage crossEntropy(Storage logits, Storage targets) {
        HostStorage x = h(logits);
        double[] t = h(targets).v;
        int n = (int) x.shape[0];
        int c = (int) x.shape[1];
        double[] logp = ((HostStorage) logSoftmax(of(DType.FLOAT64, x.shape, x.v.clone()))).v;
        double loss = 0;
        for (int i = 0; i < n * c; i++) {
            loss -= t[i] * logp[i];
        }
        return of(x.dtype, new long[0], new double[]{loss / n});
    }

    @Override
    public Storage crossEntropyBackward(Storage logits, Storage targets, Storage g) {
        HostStorage x = h(logits);
        double[] t = h(targets).v;
        int n = (int) x.shape[0];
        int c = (int) x.shape[1];
        double s = h(g).v[0] / n;
        double[] p = Ref.softmaxRows(x.v, c);
        double[] out = new double[n * c];
        for (int r = 0; r < n; r++) {
            double mass = 0;
            for (int j = r * c; j < (r + 1) * c; j++) {
                mass += t[j];
            }
            for (int j = r * c; j < (r + 1) * c; j++) {
                out[j] = (p[j] * mass - t[j]) * s;
            }
        }
        return of(x.dtype, x.shape, out);
    }

    @Override
    public void adamwStep(Storage ws, Storage gs, Storage ms, Storage vs, AdamWStep s) {
        HostStorage w = (HostStorage) ws;
        HostStorage m = (HostStorage) ms;
        HostStorage v = (HostStorage) vs;
        double[] g = h(gs).v;
        for (int i = 0; i < w.v.length; i++) {
            m.v[i] = s.beta1() * m.v[i] + (1 - s.beta1()) * g[i];
            v.v[i] = s.beta2() * v.v[i] + (1 - s.beta2()) * g[i] * g[i];
            w.v[i] = w.v[i] * s.decay() - s.lr() / s.bc1() * m.v[i] / (Math.sqrt(v.v[i] / s.bc2()) + s.eps());
        }
        write(w);
        write(m);
        write(v);
    }
}
