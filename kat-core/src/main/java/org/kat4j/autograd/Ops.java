package org.kat4j.autograd;

import org.kat4j.backend.ColumnSums;
import org.kat4j.backend.GeluKernel;
import org.kat4j.backend.LayerNormKernel;
import org.kat4j.backend.SoftmaxKernel;
import org.kat4j.backend.Simd;
import org.kat4j.tensor.Tensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.AddOp;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.DivOp;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.MulOp;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.SubOp;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Erf;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.Random;
import java.util.function.UnaryOperator;

/**
 * Every differentiable primitive with its derivative rule, in one place. Composite layers either
 * build on these or are fused ops here with one hand-written backward (LayerNorm, softmax,
 * cross-entropy).
 */
public final class Ops {
    private static final double SQRT2 = Math.sqrt(2.0);
    private static final double INV_SQRT_2PI = 1.0 / Math.sqrt(2.0 * Math.PI);
    private static final double GELU_TANH_C = Math.sqrt(2.0 / Math.PI);

    private Ops() {
    }

    // ================================================================== helpers

    static String shapeOf(Tensor t) {
        return Arrays.toString(t.shape());
    }

    private static void sameDType(String op, Tensor a, Tensor b) {
        if (a.dtype() != b.dtype()) {
            throw new IllegalArgumentException(op + ": dtypes differ, " + a.dtype() + " " + shapeOf(a) + " vs "
                    + b.dtype() + " " + shapeOf(b));
        }
    }

    /** Numpy broadcasting of two shapes, or an error naming the op and both shapes. */
    public static long[] broadcastShape(String op, long[] a, long[] b) {
        int r = Math.max(a.length, b.length);
        long[] out = new long[r];
        for (int i = 0; i < r; i++) {
            long da = i - (r - a.length) >= 0 ? a[i - (r - a.length)] : 1;
            long db = i - (r - b.length) >= 0 ? b[i - (r - b.length)] : 1;
            if (da != db && da != 1 && db != 1) {
                throw new IllegalArgumentException(op + ": shapes " + Arrays.toString(a) + " and " + Arrays.toString(b)
                        + " do not broadcast (dim " + i + ": " + da + " vs " + db + ")");
            }
            out[i] = Math.max(da, db);
        }
        return out;
    }

    /** The float buffer of a dense float32 array, from its first element (what the CPU kernels read). */
    public static FloatBuffer floats(INDArray a) {
        return a.data().asNioFloat().position((int) a.offset()).slice();
    }

    /**
     * The bytes of a dense float32 array from its first element, in native byte order (what the
     * vector CPU kernels read in place).
     */
    public static ByteBuffer bytes(INDArray a) {
        return a.data().asNio().position(Math.toIntExact(4 * a.offset())).slice().order(ByteOrder.nativeOrder());
    }

    /** Sums {@code g} down to {@code shape} (undoes broadcasting). Returns g itself when shapes match. */
    public static INDArray sumTo(INDArray g, long[] shape) {
        if (Arrays.equals(g.shape(), shape)) {
            return g;
        }
        int lead = g.rank() - shape.length;
        int[] axes = new int[g.rank()];
        int n = 0;
        for (int i = 0; i < g.rank(); i++) {
            if (i < lead || (shape[i - lead] == 1 && g.size(i) != 1)) {
                axes[n++] = i;
            }
        }
        long rows = 1;
        for (int i = 0; i < n; i++) {
            rows *= g.size(axes[i]);
        }
        if (axes[n - 1] == n - 1 && g.dataType() == DataType.FLOAT && Tensor.isDense(g) && g.length() < Integer.MAX_VALUE) {
            // only leading axes reduced: column sums of a [rows, cols] matrix (every bias gradient)
            int cols = Math.toIntExact(g.length() / rows);
            float[] s = ColumnSums.sum(floats(g), (int) rows, cols);
            return Nd4j.createFromArray(s).reshape('c', shape);
        }
        INDArray s = g.sum(true, Arrays.copyOf(axes, n));
        return s.reshape('c', shape);
    }

    /** {@code g} (broadcastable) expanded into a fresh array of {@code shape}. */
    static INDArray expandTo(INDArray g, long[] shape) {
        INDArray out = Nd4j.createUninitialized(g.dataType(), shape);
        if (Arrays.equals(g.shape(), shape)) {
            return out.assign(g);
        }
        out.assign(0);
        Nd4j.exec(new AddOp(out, g, out));
        return out;
    }

    private static int[] normAxes(int rank, int[] axes) {
        if (axes.length == 0) {
            int[] all = new int[rank];
            for (int i = 0; i < rank; i++) {
                all[i] = i;
            }
            return all;
        }
        int[] out = new int[axes.length];
        for (int i = 0; i < axes.length; i++) {
            int a = axes[i] < 0 ? axes[i] + rank : axes[i];
            if (a < 0 || a >= rank) {
                throw new IllegalArgumentException("axis " + axes[i] + " out of range for rank " + rank);
            }
            out[i] = a;
        }
        return out;
    }

    private static long[] keepDimsShape(long[] shape, int[] axes) {
        long[] k = shape.clone();
        for (int a : axes) {
            k[a] = 1;
        }
        return k;
    }

    private static void accumulate(Tensor t, INDArray g, boolean owned) {
        if (t.requiresGrad()) {
            t.accumulateGrad(g, owned);
        }
    }

    private static Tensor unary(String op, Tensor x, INDArray y, UnaryOperator<INDArray> dx) {
        return Tensor.result(y).link(op, g -> accumulate(x, dx.apply(g), true), x);
    }

    private static INDArray pairwise(String op, INDArray a, INDArray b) {
        long[] shape = broadcastShape(op, a.shape(), b.shape());
        INDArray out = Nd4j.createUninitialized(a.dataType(), shape);
        switch (op) {
            case "add" -> Nd4j.exec(new AddOp(a, b, out));
            case "sub" -> Nd4j.exec(new SubOp(a, b, out));
            case "mul" -> Nd4j.exec(new MulOp(a, b, out));
            case "div" -> Nd4j.exec(new DivOp(a, b, out));
            default -> throw new AssertionError(op);
        }
        return out;
    }

    // ================================================================== arithmetic

    public static Tensor add(Tensor a, Tensor b) {
        sameDType("add", a, b);
        INDArray y = pairwise("add", a.nd(), b.nd());
        return Tensor.result(y).link("add", g -> {
            accumulate(a, sumTo(g, a.shape()), false);
            accumulate(b, sumTo(g, b.shape()), false);
        }, a, b);
    }

    public static Tensor sub(Tensor a, Tensor b) {
        sameDType("sub", a, b);
        INDArray y = pairwise("sub", a.nd(), b.nd());
        return Tensor.result(y).link("sub", g -> {
            accumulate(a, sumTo(g, a.shape()), false);
            if (b.requiresGrad()) {
                accumulate(b, sumTo(g, b.shape()).neg(), true);
            }
        }, a, b);
    }

    public static Tensor mul(Tensor a, Tensor b) {
        sameDType("mul", a, b);
        INDArray av = a.nd();
        INDArray bv = b.nd();
        INDArray y = pairwise("mul", av, bv);
        return Tensor.result(y).link("mul", g -> {
            if (a.requiresGrad()) {
                accumulate(a, sumTo(pairwise("mul", g, bv), a.shape()), true);
            }
            if (b.requiresGrad()) {
                accumulate(b, sumTo(pairwise("mul", g, av), b.shape()), true);
            }
        }, a, b);
    }

    public static Tensor div(Tensor a, Tensor b) {
        sameDType("div", a, b);
        INDArray av = a.nd();
        INDArray bv = b.nd();
        INDArray y = pairwise("div", av, bv);
        return Tensor.result(y).link("div", g -> {
            if (a.requiresGrad()) {
                accumulate(a, sumTo(pairwise("div", g, bv), a.shape()), true);
            }
            if (b.requiresGrad()) {
                // d(a/b)/db = -y / b
                INDArray t = pairwise("mul", g, y);
                accumulate(b, sumTo(pairwise("div", t, bv), b.shape()).negi(), true);
            }
        }, a, b);
    }

    public static Tensor addScalar(Tensor x, double s) {
        return unary("addScalar", x, x.nd().add(s), g -> g.dup());
    }

    public static Tensor mulScalar(Tensor x, double s) {
        return unary("mulScalar", x, x.nd().mul(s), g -> g.mul(s));
    }

    public static Tensor neg(Tensor x) {
        return unary("neg", x, x.nd().neg(), INDArray::neg);
    }

    // ================================================================== elementwise functions

    public static Tensor exp(Tensor x) {
        INDArray y = Transforms.exp(x.nd(), true);
        return unary("exp", x, y, g -> g.mul(y));
    }

    public static Tensor log(Tensor x) {
        INDArray xv = x.nd();
        return unary("log", x, Transforms.log(xv, true), g -> g.div(xv));
    }

    public static Tensor sqrt(Tensor x) {
        INDArray y = Transforms.sqrt(x.nd(), true);
        return unary("sqrt", x, y, g -> g.div(y).muli(0.5));
    }

    public static Tensor pow(Tensor x, double p) {
        INDArray xv = x.nd();
        return unary("pow", x, Transforms.pow(xv, p, true), g -> Transforms.pow(xv, p - 1, true).muli(g).muli(p));
    }

    public static Tensor tanh(Tensor x) {
        INDArray y = Transforms.tanh(x.nd(), true);
        return unary("tanh", x, y, g -> y.mul(y).rsubi(1).muli(g));
    }

    public static Tensor sigmoid(Tensor x) {
        INDArray y = Transforms.sigmoid(x.nd(), true);
        return unary("sigmoid", x, y, g -> y.rsub(1).muli(y).muli(g));
    }

    public static Tensor relu(Tensor x) {
        INDArray xv = x.nd();
        return unary("relu", x, Transforms.relu(xv, true), g -> xv.gt(0).castTo(g.dataType()).muli(g));
    }

    /** GELU, exact erf form: x * Phi(x). */
    public static Tensor gelu(Tensor x) {
        INDArray xv = x.nd();
        if (Simd.available() && xv.dataType() == DataType.FLOAT && Tensor.isDense(xv) && xv.length() > 0) {
            // fused one-pass vector kernels (org.kat4j.backend.GeluKernel); float64 and JVMs without
            // the vector module keep the composed form (GeluKernel's plain-Java loops measured slower
            // than it: 43 ms vs 29 ms forward+backward at 6304x768)
            int n = Math.toIntExact(xv.length());
            INDArray y = Nd4j.createUninitialized(DataType.FLOAT, xv.shape());
            GeluKernel.forward(floats(xv), floats(y), n);
            return unary("gelu", x, y, g -> {
                INDArray gd = g.dataType() == DataType.FLOAT && Tensor.isDense(g) ? g : g.castTo(DataType.FLOAT).dup('c');
                INDArray gx = Nd4j.createUninitialized(DataType.FLOAT, xv.shape());
                GeluKernel.backward(floats(xv), floats(gd), floats(gx), n);
                return gx;
            });
        }
        INDArray cdf = xv.div(SQRT2);
        Nd4j.exec(new Erf(cdf, cdf));
        cdf.addi(1).muli(0.5); // Phi(x)
        INDArray y = xv.mul(cdf);
        return unary("gelu", x, y, g -> {
            // Phi(x) + x * phi(x)
            INDArray pdf = xv.mul(xv).muli(-0.5);
            Transforms.exp(pdf, false).muli(INV_SQRT_2PI).muli(xv);
            return pdf.addi(cdf).muli(g);
        });
    }

    /** GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
    public static Tensor geluTanh(Tensor x) {
        INDArray xv = x.nd();
        INDArray x2 = xv.mul(xv);
        INDArray t = x2.mul(0.044715).addi(1).muli(xv).muli(GELU_TANH_C);
        Transforms.tanh(t, false);
        INDArray y = t.add(1).muli(xv).muli(0.5);
        return unary("geluTanh", x, y, g -> {
            // 0.5(1+t) + 0.5 x (1-t^2) c (1 + 3*0.044715 x^2)
            INDArray du = x2.mul(3 * 0.044715).addi(1).muli(GELU_TANH_C);
            INDArray d = t.mul(t).rsubi(1).muli(du).muli(xv).muli(0.5);
            d.addi(t.add(1).muli(0.5));
            return d.muli(g);
        });
    }

    /** SiLU / swish: x * sigmoid(x). */
    public static Tensor silu(Tensor x) {
        INDArray xv = x.nd();
        INDArray s = Transforms.sigmoid(xv, true);
        return unary("silu", x, xv.mul(s), g -> {
            // s (1 + x (1 - s))
            INDArray d = s.rsub(1).muli(xv).addi(1).muli(s);
            return d.muli(g);
        });
    }

    // ================================================================== matmul

    /**
     * Matrix product {@code op(a) @ op(b)}, op = transpose of the last two dims where the flag is
     * set (no copy: the BLAS call reads the transpose). {@code a} is [..., M, K]; {@code b} is
     * either [K, N] (shared across a's leading dims, e.g. a weight) or has a's rank and leading dims.
     */
    public static Tensor matmul(Tensor a, Tensor b, boolean transA, boolean transB) {
        sameDType("matmul", a, b);
        long[] as = a.shape();
        long[] bs = b.shape();
        if (as.length < 2 || bs.length < 2) {
            throw new IllegalArgumentException("matmul: operands need rank >= 2, got " + shapeOf(a) + " and " + shapeOf(b));
        }
        int ra = as.length;
        int rb = bs.length;
        long m = transA ? as[ra - 1] : as[ra - 2];
        long ka = transA ? as[ra - 2] : as[ra - 1];
        long kb = transB ? bs[rb - 1] : bs[rb - 2];
        long n = transB ? bs[rb - 2] : bs[rb - 1];
        if (ka != kb) {
            throw new IllegalArgumentException("matmul: inner dimensions differ, " + shapeOf(a) + (transA ? "^T" : "")
                    + " @ " + shapeOf(b) + (transB ? "^T" : "") + " (" + ka + " vs " + kb + ")");
        }
        if (rb == 2 && ra > 2) {
            if (transA) {
                throw new IllegalArgumentException("matmul: transA with a batched " + shapeOf(a) + " and a 2-D "
                        + shapeOf(b) + " is not supported");
            }
            // fold a's leading dims into rows: one big GEMM
            long rows = a.numel() / ka;
            INDArray a2 = a.nd().reshape('c', rows, ka);
            INDArray y2 = gemm(a2, b.nd(), false, transB);
            long[] outShape = as.clone();
            outShape[ra - 1] = n;
            INDArray y = y2.reshape('c', outShape);
            INDArray bv = b.nd();
            return Tensor.result(y).link("matmul", g -> {
                INDArray g2 = g.reshape('c', rows, n);
                if (a.requiresGrad()) {
                    accumulate(a, gemm(g2, bv, false, !transB).reshape('c', as), true);
                }
                if (b.requiresGrad()) {
                    accumulate(b, transB ? gemm(g2, a2, true, false) : gemm(a2, g2, true, false), true);
                }
            }, a, b);
        }
        if (ra != rb || !Arrays.equals(Arrays.copyOf(as, ra - 2), Arrays.copyOf(bs, rb - 2))) {
            throw new IllegalArgumentException("matmul: batch dimensions differ, " + shapeOf(a) + " @ " + shapeOf(b));
        }
        INDArray av = a.nd();
        INDArray bv = b.nd();
        INDArray y = gemm(av, bv, transA, transB);
        return Tensor.result(y).link("matmul", g -> {
            if (a.requiresGrad()) {
                accumulate(a, transA ? gemm(bv, g, transB, true) : gemm(g, bv, false, !transB), true);
            }
            if (b.requiresGrad()) {
                accumulate(b, transB ? gemm(g, av, true, transA) : gemm(av, g, !transA, false), true);
            }
        }, a, b);
    }

    /** BLAS GEMM (batched over leading dims) into a freshly allocated C-ordered output. */
    static INDArray gemm(INDArray a, INDArray b, boolean ta, boolean tb) {
        int r = a.rank();
        long m = ta ? a.size(r - 1) : a.size(r - 2);
        long n = tb ? b.size(r - 2) : b.size(r - 1);
        long[] shape = a.shape().clone();
        shape[r - 2] = m;
        shape[r - 1] = n;
        INDArray c = Nd4j.createUninitialized(a.dataType(), shape);
        Nd4j.gemm(a, b, c, ta, tb, 1.0, 0.0);
        return c;
    }

    /** {@code x @ w^T + b} with a PyTorch-layout weight [out, in]; b may be null. */
    public static Tensor linear(Tensor x, Tensor w, Tensor b) {
        if (x.size(-1) != w.size(1)) {
            throw new IllegalArgumentException("linear: input " + shapeOf(x) + ", expected last dim " + w.size(1)
                    + " (weight " + shapeOf(w) + ")");
        }
        Tensor y = matmul(x, w, false, true);
        return b == null ? y : add(y, b);
    }

    // ================================================================== reductions

    public static Tensor sum(Tensor x, boolean keepDims, int... axes) {
        long[] xs = x.shape();
        int[] ax = normAxes(xs.length, axes);
        INDArray y = x.nd().sum(keepDims, ax);
        long[] keep = keepDimsShape(xs, ax);
        return unary("sum", x, y, g -> expandTo(g.reshape('c', keep), xs));
    }

    public static Tensor mean(Tensor x, boolean keepDims, int... axes) {
        long[] xs = x.shape();
        int[] ax = normAxes(xs.length, axes);
        long count = 1;
        for (int a : ax) {
            count *= xs[a];
        }
        double inv = 1.0 / count;
        INDArray y = x.nd().mean(keepDims, ax);
        long[] keep = keepDimsShape(xs, ax);
        return unary("mean", x, y, g -> expandTo(g.reshape('c', keep), xs).muli(inv));
    }

    public static Tensor max(Tensor x, boolean keepDims, int... axes) {
        long[] xs = x.shape();
        int[] ax = normAxes(xs.length, axes);
        INDArray xv = x.nd();
        INDArray yk = xv.max(true, ax);
        INDArray y = keepDims ? yk : xv.max(false, ax);
        long[] keep = keepDimsShape(xs, ax);
        return unary("max", x, y, g -> {
            // gradient shared equally among tied maxima
            INDArray mask = pairwise("sub", xv, yk);
            mask = mask.eq(0).castTo(xv.dataType());
            INDArray count = mask.sum(true, ax);
            INDArray share = pairwise("div", g.reshape('c', keep), count);
            return pairwise("mul", mask, share);
        });
    }

    // ================================================================== shape

    public static Tensor reshape(Tensor x, long... shape) {
        long[] target = shape.clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < target.length; i++) {
            if (target[i] == -1) {
                if (infer >= 0) {
                    throw new IllegalArgumentException("reshape: more than one -1 in " + Arrays.toString(shape));
                }
                infer = i;
            } else {
                known *= target[i];
            }
        }
        if (infer >= 0 && known > 0) {
            target[infer] = x.numel() / known;
        }
        if (Tensor.numel(target) != x.numel()) {
            throw new IllegalArgumentException("reshape: " + shapeOf(x) + " (" + x.numel() + " elements) cannot become "
                    + Arrays.toString(shape));
        }
        long[] xs = x.shape();
        return unary("reshape", x, x.nd().reshape('c', target), g -> g.reshape('c', xs).dup('c'));
    }

    public static Tensor permute(Tensor x, int... dims) {
        int r = x.rank();
        if (dims.length != r) {
            throw new IllegalArgumentException("permute: " + dims.length + " dims given for " + shapeOf(x));
        }
        int[] inv = new int[r];
        boolean[] used = new boolean[r];
        for (int i = 0; i < r; i++) {
            int d = dims[i] < 0 ? dims[i] + r : dims[i];
            if (d < 0 || d >= r || used[d]) {
                throw new IllegalArgumentException("permute: " + Arrays.toString(dims) + " is not a permutation for "
                        + shapeOf(x));
            }
            used[d] = true;
            inv[d] = i;
        }
        INDArray y = x.nd().permute(dims).dup('c');
        return unary("permute", x, y, g -> g.permute(inv).dup('c'));
    }

    public static Tensor transpose(Tensor x, int d0, int d1) {
        int r = x.rank();
        int[] dims = new int[r];
        for (int i = 0; i < r; i++) {
            dims[i] = i;
        }
        int a = d0 < 0 ? d0 + r : d0;
        int b = d1 < 0 ? d1 + r : d1;
        dims[a] = b;
        dims[b] = a;
        return permute(x, dims);
    }

    private static INDArrayIndex[] narrowIndex(int rank, int dim, long start, long length) {
        INDArrayIndex[] idx = new INDArrayIndex[rank];
        for (int i = 0; i < rank; i++) {
            idx[i] = i == dim ? NDArrayIndex.interval(start, start + length) : NDArrayIndex.all();
        }
        return idx;
    }

    /** The slice [start, start+length) along {@code dim}. */
    public static Tensor narrow(Tensor x, int dim, long start, long length) {
        int d = dim < 0 ? dim + x.rank() : dim;
        if (d < 0 || d >= x.rank() || start < 0 || length < 0 || start + length > x.size(d)) {
            throw new IllegalArgumentException("narrow: dim " + dim + " [" + start + ", " + (start + length)
                    + ") out of range for " + shapeOf(x));
        }
        long[] xs = x.shape();
        INDArrayIndex[] idx = narrowIndex(xs.length, d, start, length);
        INDArray y = x.nd().get(idx).dup('c');
        return unary("narrow", x, y, g -> {
            INDArray dx = Nd4j.zeros(g.dataType(), xs);
            dx.get(idx).assign(g);
            return dx;
        });
    }

    /** Joins tensors along {@code dim}; all other dims must match. */
    public static Tensor concat(int dim, Tensor... xs) {
        if (xs.length == 0) {
            throw new IllegalArgumentException("concat: no tensors");
        }
        int r = xs[0].rank();
        int d = dim < 0 ? dim + r : dim;
        INDArray[] arrs = new INDArray[xs.length];
        for (int i = 0; i < xs.length; i++) {
            sameDType("concat", xs[0], xs[i]);
            long[] a = xs[0].shape().clone();
            long[] b = xs[i].shape().clone();
            if (a.length != b.length) {
                throw new IllegalArgumentException("concat: ranks differ, " + shapeOf(xs[0]) + " vs " + shapeOf(xs[i]));
            }
            a[d] = 0;
            b[d] = 0;
            if (!Arrays.equals(a, b)) {
                throw new IllegalArgumentException("concat along " + dim + ": shapes " + shapeOf(xs[0]) + " and "
                        + shapeOf(xs[i]) + " differ outside that dim");
            }
            arrs[i] = xs[i].nd();
        }
        INDArray y = xs.length == 1 ? arrs[0].dup('c') : Nd4j.concat(d, arrs);
        return Tensor.result(y).link("concat", g -> {
            long off = 0;
            for (Tensor t : xs) {
                long len = t.size(d);
                if (t.requiresGrad()) {
                    accumulate(t, g.get(narrowIndex(r, d, off, len)).dup('c'), true);
                }
                off += len;
            }
        }, xs);
    }

    /** Picks entries {@code index} along {@code dim} (a gather; the CLS token is indexSelect(x, 1, 0)). */
    public static Tensor indexSelect(Tensor x, int dim, long... index) {
        int r = x.rank();
        int d = dim < 0 ? dim + r : dim;
        long[] xs = x.shape();
        for (long i : index) {
            if (i < 0 || i >= xs[d]) {
                throw new IllegalArgumentException("indexSelect: index " + i + " out of range for dim " + dim + " of "
                        + shapeOf(x));
            }
        }
        INDArray xv = x.nd();
        INDArray[] parts = new INDArray[index.length];
        for (int k = 0; k < index.length; k++) {
            parts[k] = xv.get(narrowIndex(r, d, index[k], 1));
        }
        INDArray y = parts.length == 1 ? parts[0].dup('c') : Nd4j.concat(d, parts);
        return unary("indexSelect", x, y, g -> {
            INDArray dx = Nd4j.zeros(g.dataType(), xs);
            for (int k = 0; k < index.length; k++) {
                dx.get(narrowIndex(r, d, index[k], 1)).addi(g.get(narrowIndex(r, d, k, 1)));
            }
            return dx;
        });
    }

    // ================================================================== softmax family (last axis)

    public static Tensor softmax(Tensor x) {
        int last = x.rank() - 1;
        INDArray xv = x.nd();
        if (Simd.available() && xv.dataType() == DataType.FLOAT && Tensor.isDense(xv) && xv.length() > 0) {
            // fused vector kernel (org.kat4j.backend.SoftmaxKernel): one pass each way instead of
            // five and four ND4J ops
            int n = Math.toIntExact(xv.length());
            int d = Math.toIntExact(xv.size(last));
            INDArray y = Nd4j.createUninitialized(DataType.FLOAT, xv.shape());
            SoftmaxKernel.forward(floats(xv), floats(y), n, d);
            return unary("softmax", x, y, g -> {
                INDArray gd = g.dataType() == DataType.FLOAT && Tensor.isDense(g) ? g : g.castTo(DataType.FLOAT).dup('c');
                INDArray gx = Nd4j.createUninitialized(DataType.FLOAT, xv.shape());
                SoftmaxKernel.backward(floats(y), floats(gd), floats(gx), n, d);
                return gx;
            });
        }
        INDArray e = pairwise("sub", xv, xv.max(true, last));
        Transforms.exp(e, false);
        INDArray y = pairwise("div", e, e.sum(true, last));
        return unary("softmax", x, y, g -> {
            INDArray dot = g.mul(y).sum(true, last);
            return pairwise("sub", g, dot).muli(y);
        });
    }

    public static Tensor logSoftmax(Tensor x) {
        int last = x.rank() - 1;
        INDArray xv = x.nd();
        INDArray shifted = pairwise("sub", xv, xv.max(true, last));
        INDArray lse = Transforms.log(Transforms.exp(shifted, true).sum(true, last), false);
        INDArray y = pairwise("sub", shifted, lse);
        return unary("logSoftmax", x, y, g -> {
            INDArray p = Transforms.exp(y, true);
            return pairwise("sub", g, pairwise("mul", p, g.sum(true, last)));
        });
    }

    /**
     * Mean cross-entropy of logits [N, C] against class labels, with label smoothing
     * {@code smoothing} (target (1-s) on the label, s/C spread over all classes).
     */
    public static Tensor crossEntropy(Tensor logits, int[] labels, double smoothing) {
        if (logits.rank() != 2 || logits.size(0) != labels.length) {
            throw new IllegalArgumentException("crossEntropy: logits " + shapeOf(logits) + ", expected [" + labels.length
                    + ", classes] for " + labels.length + " labels");
        }
        long c = logits.size(1);
        double[] t = new double[Math.toIntExact(logits.numel())];
        double off = smoothing / c;
        Arrays.fill(t, off);
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= c) {
                throw new IllegalArgumentException("crossEntropy: label " + labels[i] + " at " + i + " outside [0, " + c + ")");
            }
            t[Math.toIntExact(i * c + labels[i])] += 1.0 - smoothing;
        }
        INDArray targets = Nd4j.create(t, logits.shape(), 'c').castTo(logits.nd().dataType());
        return crossEntropySoft(logits, Tensor.wrap(targets));
    }

    /** Mean cross-entropy against soft targets [N, C] (rows summing to 1: mixup, cutmix, smoothing). */
    public static Tensor crossEntropySoft(Tensor logits, Tensor targets) {
        if (!Arrays.equals(logits.shape(), targets.shape()) || logits.rank() != 2) {
            throw new IllegalArgumentException("crossEntropy: logits " + shapeOf(logits) + " and targets "
                    + shapeOf(targets) + ", expected the same [N, C]");
        }
        INDArray xv = logits.nd();
        INDArray tv = targets.nd();
        long n = logits.size(0);
        INDArray shifted = pairwise("sub", xv, xv.max(true, 1));
        INDArray lse = Transforms.log(Transforms.exp(shifted, true).sum(true, 1), false);
        INDArray logp = pairwise("sub", shifted, lse);
        double loss = -logp.mul(tv).sumNumber().doubleValue() / n;
        INDArray y = Nd4j.scalar(xv.dataType(), loss);
        return unary("crossEntropy", logits, y, g -> {
            double s = g.getDouble(0) / n;
            // (softmax - t) * s, with the target rows' mass (1 for proper distributions) scaling softmax
            INDArray p = Transforms.exp(logp, true);
            INDArray mass = tv.sum(true, 1);
            return pairwise("mul", p, mass).subi(tv).muli(s);
        });
    }

    // ================================================================== normalisation and regularisation

    /** Fused LayerNorm over the last dim: (x - mean) / sqrt(var + eps) * weight + bias. */
    public static Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, double eps) {
        long d = x.size(-1);
        if (weight.rank() != 1 || weight.size(0) != d || bias.rank() != 1 || bias.size(0) != d) {
            throw new IllegalArgumentException("layerNorm: input " + shapeOf(x) + ", weight " + shapeOf(weight)
                    + ", bias " + shapeOf(bias) + ": expected weight and bias [" + d + "]");
        }
        int last = x.rank() - 1;
        INDArray xv = x.nd();
        if (Simd.available() && xv.dataType() == DataType.FLOAT && Tensor.isDense(xv) && xv.length() > 0
                && weight.nd().dataType() == DataType.FLOAT && bias.nd().dataType() == DataType.FLOAT) {
            return layerNormFused(x, weight, bias, eps);
        }
        INDArray xc = pairwise("sub", xv, xv.mean(true, last));
        INDArray var = xc.mul(xc).mean(true, last);
        INDArray rstd = Transforms.pow(var.addi(eps), -0.5, false);
        INDArray xhat = pairwise("mul", xc, rstd);
        INDArray wv = weight.nd();
        INDArray y = pairwise("add", pairwise("mul", xhat, wv), bias.nd());
        long[] ws = weight.shape();
        return Tensor.result(y).link("layerNorm", g -> {
            if (weight.requiresGrad()) {
                accumulate(weight, sumTo(g.mul(xhat), ws), true);
            }
            if (bias.requiresGrad()) {
                accumulate(bias, sumTo(g, ws).dup(), true);
            }
            if (x.requiresGrad()) {
                INDArray dxhat = pairwise("mul", g, wv);
                INDArray m1 = dxhat.mean(true, last);
                INDArray m2 = dxhat.mul(xhat).mean(true, last);
                INDArray dx = pairwise("sub", dxhat, m1);
                dx.subi(pairwise("mul", xhat, m2));
                accumulate(x, pairwise("mul", dx, rstd), true);
            }
        }, x, weight, bias);
    }

    /** LayerNorm through {@link LayerNormKernel}: one pass forward, one backward (float32, vector API). */
    private static Tensor layerNormFused(Tensor x, Tensor weight, Tensor bias, double eps) {
        INDArray xv = x.nd();
        int n = Math.toIntExact(xv.length());
        int d = Math.toIntExact(x.size(-1));
        float[] w = weight.nd().dup('c').toFloatVector();
        float[] b = bias.nd().dup('c').toFloatVector();
        float[] mean = new float[n / d];
        float[] rstd = new float[n / d];
        INDArray y = Nd4j.createUninitialized(DataType.FLOAT, xv.shape());
        LayerNormKernel.forward(floats(xv), floats(y), n, d, w, b, (float) eps, mean, rstd);
        return Tensor.result(y).link("layerNorm", g -> {
            INDArray gd = g.dataType() == DataType.FLOAT && Tensor.isDense(g) ? g : g.castTo(DataType.FLOAT).dup('c');
            INDArray gx = x.requiresGrad() ? Nd4j.createUninitialized(DataType.FLOAT, xv.shape()) : null;
            double[] dw = weight.requiresGrad() ? new double[d] : null;
            double[] db = bias.requiresGrad() ? new double[d] : null;
            LayerNormKernel.backward(floats(xv), floats(gd), gx == null ? null : floats(gx), n, d, w, mean, rstd, dw, db);
            if (dw != null) {
                accumulate(weight, Nd4j.createFromArray(dw).castTo(DataType.FLOAT), true);
            }
            if (db != null) {
                accumulate(bias, Nd4j.createFromArray(db).castTo(DataType.FLOAT), true);
            }
            if (gx != null) {
                accumulate(x, gx, true);
            }
        }, x, weight, bias);
    }

    /** Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1-p). */
    public static Tensor dropout(Tensor x, double p, Random rng) {
        if (p < 0 || p >= 1) {
            throw new IllegalArgumentException("dropout: p = " + p + ", expected 0 <= p < 1");
        }
        if (p == 0) {
            return x;
        }
        return maskedScale("dropout", x, x.shape(), p, rng);
    }

    /**
     * Stochastic depth: drops each sample's whole residual branch with probability p (mask per
     * index of dim 0), scaling kept samples by 1/(1-p).
     */
    public static Tensor dropPath(Tensor x, double p, Random rng) {
        if (p < 0 || p >= 1) {
            throw new IllegalArgumentException("dropPath: p = " + p + ", expected 0 <= p < 1");
        }
        if (p == 0) {
            return x;
        }
        long[] ms = new long[x.rank()];
        Arrays.fill(ms, 1);
        ms[0] = x.size(0);
        return maskedScale("dropPath", x, ms, p, rng);
    }

    private static Tensor maskedScale(String op, Tensor x, long[] maskShape, double p, Random rng) {
        double[] m = new double[Math.toIntExact(Tensor.numel(maskShape))];
        double keep = 1.0 / (1.0 - p);
        for (int i = 0; i < m.length; i++) {
            m[i] = rng.nextDouble() < p ? 0.0 : keep;
        }
        INDArray mask = Nd4j.create(m, maskShape, 'c').castTo(x.nd().dataType());
        INDArray y = pairwise("mul", x.nd(), mask);
        return unary(op, x, y, g -> pairwise("mul", g, mask));
    }

    // ================================================================== patch embedding

    /**
     * Cuts images [B, C, H, W] into non-overlapping p x p patches: [B, (H/p)(W/p), C*p*p], each
     * patch flattened in (C, kh, kw) order, the order of a PyTorch Conv2d weight [D, C, p, p].
     */
    public static Tensor patchify(Tensor x, int p) {
        if (x.rank() != 4 || x.size(2) % p != 0 || x.size(3) % p != 0) {
            throw new IllegalArgumentException("patchify: input " + shapeOf(x) + ", expected [B, C, H, W] with H and W"
                    + " divisible by patch " + p);
        }
        long b = x.size(0);
        long c = x.size(1);
        long hp = x.size(2) / p;
        long wp = x.size(3) / p;
        return x.reshape(b, c, hp, p, wp, p).permute(0, 2, 4, 1, 3, 5).reshape(b, hp * wp, c * p * p);
    }

    /**
     * Convolution with stride = kernel (the ViT patch embedding) as patchify + matmul: x [B,C,H,W],
     * weight [D, C, p, p], bias [D] (may be null) -> [B, (H/p)(W/p), D].
     */
    public static Tensor patchConv(Tensor x, Tensor weight, Tensor bias) {
        if (weight.rank() != 4 || weight.size(2) != weight.size(3) || x.rank() != 4 || weight.size(1) != x.size(1)) {
            throw new IllegalArgumentException("patchConv: input " + shapeOf(x) + ", weight " + shapeOf(weight)
                    + ", expected [B, C, H, W] and [D, C, p, p]");
        }
        int p = Math.toIntExact(weight.size(2));
        Tensor w2 = weight.reshape(weight.size(0), -1);
        return linear(patchify(x, p), w2, bias);
    }
}
