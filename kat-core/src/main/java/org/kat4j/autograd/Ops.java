package org.kat4j.autograd;

import org.kat4j.backend.Backend;
import org.kat4j.backend.BinaryOp;
import org.kat4j.backend.ScalarOp;
import org.kat4j.backend.Shapes;
import org.kat4j.backend.Storage;
import org.kat4j.backend.UnaryOp;
import org.kat4j.tensor.Tensor;

import java.util.Arrays;
import java.util.Random;
import java.util.function.UnaryOperator;

/**
 * Every differentiable primitive with its derivative rule, in one place. Each rule checks its
 * arguments, computes the value through its inputs' {@link Backend} and records the derivative
 * (also written with backend calls), so one rule serves every device. Composite functions
 * (tanh-GELU, SiLU, patchify) are written here from primitives; fused ops (GELU, softmax,
 * LayerNorm) have one backend kernel each way. Losses are in {@link Losses}, the group-rational op
 * in {@link org.kat4j.rational.RationalOp}.
 */
public final class Ops {
    private static final double GELU_TANH_C = Math.sqrt(2.0 / Math.PI);

    private Ops() {
    }

    // ================================================================== helpers

    static String shapeOf(Tensor t) {
        return Arrays.toString(t.shape());
    }

    static void sameDType(String op, Tensor a, Tensor b) {
        if (a.dtype() != b.dtype()) {
            throw new IllegalArgumentException(op + ": dtypes differ, " + a.dtype() + " " + shapeOf(a) + " vs "
                    + b.dtype() + " " + shapeOf(b));
        }
    }

    /** The backend of the inputs' device, or an error naming the op and both devices. */
    public static Backend backend(String op, Tensor... xs) {
        Tensor first = null;
        for (Tensor t : xs) {
            if (t == null) {
                continue;
            }
            if (first == null) {
                first = t;
            } else if (!t.device().equals(first.device())) {
                throw new IllegalArgumentException(op + ": inputs on different devices, " + shapeOf(first) + " on "
                        + first.device() + " and " + shapeOf(t) + " on " + t.device() + " (move one with to(Device))");
            }
        }
        return first.backend();
    }

    private static Tensor result(String op, Storage y, Autograd.BackwardFn fn, Tensor... inputs) {
        return Autograd.op(op, y, fn, inputs);
    }

    private static void accumulate(Tensor t, Storage g, boolean owned) {
        Autograd.accumulate(t, g, owned);
    }

    /**
     * g summed down to t's shape into t's gradient: a reduction's result is t's own, g itself (the
     * same buffer the op's other input may get) is not.
     */
    private static void accumulateSum(Tensor t, Backend be, Storage g) {
        Storage s = be.sumTo(g, t.shape());
        accumulate(t, s, s.numel() != g.numel());
    }

    /** A one-input op whose rule maps dL/dy to a fresh dL/dx. */
    private static Tensor unary(String op, Tensor x, Storage y, UnaryOperator<Storage> dx) {
        return result(op, y, g -> accumulate(x, dx.apply(g), true), x);
    }

    // ================================================================== arithmetic

    public static Tensor add(Tensor a, Tensor b) {
        sameDType("add", a, b);
        Backend be = backend("add", a, b);
        Storage y = be.binary(BinaryOp.ADD, a.storage(), b.storage());
        return result("add", y, g -> {
            accumulateSum(a, be, g);
            accumulateSum(b, be, g);
        }, a, b);
    }

    public static Tensor sub(Tensor a, Tensor b) {
        sameDType("sub", a, b);
        Backend be = backend("sub", a, b);
        Storage y = be.binary(BinaryOp.SUB, a.storage(), b.storage());
        return result("sub", y, g -> {
            accumulateSum(a, be, g);
            if (b.requiresGrad()) {
                accumulate(b, be.unary(UnaryOp.NEG, be.sumTo(g, b.shape())), true);
            }
        }, a, b);
    }

    public static Tensor mul(Tensor a, Tensor b) {
        sameDType("mul", a, b);
        Backend be = backend("mul", a, b);
        Storage av = a.storage();
        Storage bv = b.storage();
        Storage y = be.binary(BinaryOp.MUL, av, bv);
        return result("mul", y, g -> {
            if (a.requiresGrad()) {
                accumulate(a, be.sumTo(be.binary(BinaryOp.MUL, g, bv), a.shape()), true);
            }
            if (b.requiresGrad()) {
                accumulate(b, be.sumTo(be.binary(BinaryOp.MUL, g, av), b.shape()), true);
            }
        }, a, b);
    }

    public static Tensor div(Tensor a, Tensor b) {
        sameDType("div", a, b);
        Backend be = backend("div", a, b);
        Storage av = a.storage();
        Storage bv = b.storage();
        Storage y = be.binary(BinaryOp.DIV, av, bv);
        return result("div", y, g -> {
            if (a.requiresGrad()) {
                accumulate(a, be.sumTo(be.binary(BinaryOp.DIV, g, bv), a.shape()), true);
            }
            if (b.requiresGrad()) {
                // d(a/b)/db = -y / b
                Storage t = be.binary(BinaryOp.MUL, g, y);
                accumulate(b, be.unary(UnaryOp.NEG, be.sumTo(be.binary(BinaryOp.DIV, t, bv), b.shape())), true);
            }
        }, a, b);
    }

    public static Tensor addScalar(Tensor x, double s) {
        Backend be = x.backend();
        return unary("addScalar", x, be.scalar(ScalarOp.ADD, x.storage(), s), be::copy);
    }

    public static Tensor mulScalar(Tensor x, double s) {
        Backend be = x.backend();
        return unary("mulScalar", x, be.scalar(ScalarOp.MUL, x.storage(), s), g -> be.scalar(ScalarOp.MUL, g, s));
    }

    public static Tensor neg(Tensor x) {
        Backend be = x.backend();
        return unary("neg", x, be.unary(UnaryOp.NEG, x.storage()), g -> be.unary(UnaryOp.NEG, g));
    }

    // ================================================================== elementwise functions

    public static Tensor exp(Tensor x) {
        Backend be = x.backend();
        Storage y = be.unary(UnaryOp.EXP, x.storage());
        return unary("exp", x, y, g -> be.binary(BinaryOp.MUL, g, y));
    }

    public static Tensor log(Tensor x) {
        Backend be = x.backend();
        Storage xv = x.storage();
        return unary("log", x, be.unary(UnaryOp.LOG, xv), g -> be.binary(BinaryOp.DIV, g, xv));
    }

    public static Tensor sqrt(Tensor x) {
        Backend be = x.backend();
        Storage y = be.unary(UnaryOp.SQRT, x.storage());
        return unary("sqrt", x, y, g -> {
            Storage d = be.binary(BinaryOp.DIV, g, y);
            be.scaleInPlace(d, 0.5);
            return d;
        });
    }

    public static Tensor pow(Tensor x, double p) {
        Backend be = x.backend();
        Storage xv = x.storage();
        return unary("pow", x, be.scalar(ScalarOp.POW, xv, p), g -> {
            Storage d = be.binary(BinaryOp.MUL, be.scalar(ScalarOp.POW, xv, p - 1), g);
            be.scaleInPlace(d, p);
            return d;
        });
    }

    public static Tensor tanh(Tensor x) {
        Backend be = x.backend();
        Storage y = be.unary(UnaryOp.TANH, x.storage());
        // 1 - y^2
        return unary("tanh", x, y, g -> be.binary(BinaryOp.MUL,
                be.scalar(ScalarOp.RSUB, be.binary(BinaryOp.MUL, y, y), 1), g));
    }

    public static Tensor sigmoid(Tensor x) {
        Backend be = x.backend();
        Storage y = be.unary(UnaryOp.SIGMOID, x.storage());
        // (1 - y) y
        return unary("sigmoid", x, y, g -> be.binary(BinaryOp.MUL,
                be.binary(BinaryOp.MUL, be.scalar(ScalarOp.RSUB, y, 1), y), g));
    }

    public static Tensor relu(Tensor x) {
        Backend be = x.backend();
        Storage xv = x.storage();
        return unary("relu", x, be.unary(UnaryOp.RELU, xv), g -> be.binary(BinaryOp.MUL, be.unary(UnaryOp.STEP, xv), g));
    }

    /** GELU, exact erf form: x * Phi(x) (a fused kernel each way). */
    public static Tensor gelu(Tensor x) {
        Backend be = x.backend();
        Storage xv = x.storage();
        return unary("gelu", x, be.gelu(xv), g -> be.geluBackward(xv, g));
    }

    /** GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
    public static Tensor geluTanh(Tensor x) {
        Backend be = x.backend();
        Storage xv = x.storage();
        Storage x2 = be.binary(BinaryOp.MUL, xv, xv);
        // t = tanh(c (1 + 0.044715 x^2) x)
        Storage u = be.scalar(ScalarOp.MUL, be.binary(BinaryOp.MUL,
                be.scalar(ScalarOp.ADD, be.scalar(ScalarOp.MUL, x2, 0.044715), 1), xv), GELU_TANH_C);
        Storage t = be.unary(UnaryOp.TANH, u);
        Storage y = be.scalar(ScalarOp.MUL, be.binary(BinaryOp.MUL, be.scalar(ScalarOp.ADD, t, 1), xv), 0.5);
        return unary("geluTanh", x, y, g -> {
            // 0.5(1+t) + 0.5 x (1-t^2) c (1 + 3*0.044715 x^2)
            Storage du = be.scalar(ScalarOp.MUL, be.scalar(ScalarOp.ADD, be.scalar(ScalarOp.MUL, x2, 3 * 0.044715), 1),
                    GELU_TANH_C);
            Storage d = be.binary(BinaryOp.MUL, be.binary(BinaryOp.MUL,
                    be.scalar(ScalarOp.RSUB, be.binary(BinaryOp.MUL, t, t), 1), du), xv);
            be.scaleInPlace(d, 0.5);
            Storage half = be.scalar(ScalarOp.MUL, be.scalar(ScalarOp.ADD, t, 1), 0.5);
            be.addInPlace(d, half);
            return be.binary(BinaryOp.MUL, d, g);
        });
    }

    /** SiLU / swish: x * sigmoid(x). */
    public static Tensor silu(Tensor x) {
        Backend be = x.backend();
        Storage xv = x.storage();
        Storage s = be.unary(UnaryOp.SIGMOID, xv);
        return unary("silu", x, be.binary(BinaryOp.MUL, xv, s), g -> {
            // s (1 + x (1 - s))
            Storage d = be.binary(BinaryOp.MUL, be.scalar(ScalarOp.ADD,
                    be.binary(BinaryOp.MUL, be.scalar(ScalarOp.RSUB, s, 1), xv), 1), s);
            return be.binary(BinaryOp.MUL, d, g);
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
        Backend be = backend("matmul", a, b);
        long[] as = a.shape();
        long[] bs = b.shape();
        if (as.length < 2 || bs.length < 2) {
            throw new IllegalArgumentException("matmul: operands need rank >= 2, got " + shapeOf(a) + " and " + shapeOf(b));
        }
        int ra = as.length;
        int rb = bs.length;
        long ka = transA ? as[ra - 2] : as[ra - 1];
        long kb = transB ? bs[rb - 1] : bs[rb - 2];
        long n = transB ? bs[rb - 2] : bs[rb - 1];
        if (ka != kb) {
            throw new IllegalArgumentException("matmul: inner dimensions differ, " + shapeOf(a) + (transA ? "^T" : "")
                    + " @ " + shapeOf(b) + (transB ? "^T" : "") + " (" + ka + " vs " + kb + ")");
        }
        Storage bv = b.storage();
        if (rb == 2 && ra > 2) {
            if (transA) {
                throw new IllegalArgumentException("matmul: transA with a batched " + shapeOf(a) + " and a 2-D "
                        + shapeOf(b) + " is not supported");
            }
            return rowsTimes("matmul", be, a, b, transB, null);
        }
        if (ra != rb || !Arrays.equals(Arrays.copyOf(as, ra - 2), Arrays.copyOf(bs, rb - 2))) {
            throw new IllegalArgumentException("matmul: batch dimensions differ, " + shapeOf(a) + " @ " + shapeOf(b));
        }
        Storage av = a.storage();
        boolean bf16 = Autocast.bf16Enabled();
        Storage y = product(be, bf16, av, bv, transA, transB);
        return result("matmul", y, g -> {
            if (a.requiresGrad()) {
                accumulate(a, transA ? product(be, bf16, bv, g, transB, true) : product(be, bf16, g, bv, false, !transB), true);
            }
            if (b.requiresGrad()) {
                accumulate(b, transB ? product(be, bf16, g, av, true, transA) : product(be, bf16, av, g, !transA, false), true);
            }
        }, a, b);
    }

    /** A matrix product, on bfloat16-rounded operands when the op was recorded under {@link Autocast#bf16()}. */
    private static Storage product(Backend be, boolean bf16, Storage a, Storage b, boolean transA, boolean transB) {
        return bf16 ? be.matmulBf16(a, b, transA, transB) : be.matmul(a, b, transA, transB);
    }

    /** {@code x @ w^T + b} with a PyTorch-layout weight [out, in]; b may be null. */
    public static Tensor linear(Tensor x, Tensor w, Tensor b) {
        if (x.size(-1) != w.size(1)) {
            throw new IllegalArgumentException("linear: input " + shapeOf(x) + ", expected last dim " + w.size(1)
                    + " (weight " + shapeOf(w) + ")");
        }
        if (b == null) {
            return matmul(x, w, false, true);
        }
        if (b.rank() != 1 || b.size(0) != w.size(0)) {
            throw new IllegalArgumentException("linear: bias " + shapeOf(b) + ", expected [" + w.size(0) + "] (weight "
                    + shapeOf(w) + ")");
        }
        sameDType("linear", x, w);
        sameDType("linear", x, b);
        if (x.rank() < 2) {
            throw new IllegalArgumentException("linear: input " + shapeOf(x) + ", expected rank >= 2");
        }
        return rowsTimes("linear", backend("linear", x, w, b), x, w, true, b);
    }

    /**
     * a [..., k] @ op(w) for a 2-D w, as one product over a's rows (its leading dims folded), plus
     * bias [n] when given (then op(w) = w^T, and the backend adds the bias inside the product).
     */
    private static Tensor rowsTimes(String op, Backend be, Tensor a, Tensor w, boolean transB, Tensor bias) {
        long[] as = a.shape();
        long k = as[as.length - 1];
        long n = transB ? w.size(0) : w.size(1);
        long rows = a.numel() / k;
        Storage wv = w.storage();
        Storage a2 = be.reshape(a.storage(), rows, k);
        long[] outShape = as.clone();
        outShape[as.length - 1] = n;
        boolean bf16 = Autocast.bf16Enabled();
        Storage y2 = bias == null ? product(be, bf16, a2, wv, false, transB)
                : bf16 ? be.linearBf16(a2, wv, bias.storage()) : be.linear(a2, wv, bias.storage());
        Tensor[] inputs = bias == null ? new Tensor[]{a, w} : new Tensor[]{a, w, bias};
        return result(op, be.reshape(y2, outShape), g -> {
            Storage g2 = be.reshape(g, rows, n);
            if (a.requiresGrad()) {
                accumulate(a, be.reshape(product(be, bf16, g2, wv, false, !transB), as), true);
            }
            if (w.requiresGrad()) {
                accumulate(w, transB ? product(be, bf16, g2, a2, true, false) : product(be, bf16, a2, g2, true, false), true);
            }
            if (bias != null && bias.requiresGrad()) {
                accumulateSum(bias, be, g2);
            }
        }, inputs);
    }

    // ================================================================== reductions

    public static Tensor sum(Tensor x, boolean keepDims, int... axes) {
        Backend be = x.backend();
        long[] xs = x.shape();
        int[] ax = Shapes.axes(xs.length, axes);
        Storage y = be.sum(x.storage(), ax, keepDims);
        long[] keep = Shapes.keepDims(xs, ax);
        return unary("sum", x, y, g -> be.expand(be.reshape(g, keep), xs));
    }

    public static Tensor mean(Tensor x, boolean keepDims, int... axes) {
        Backend be = x.backend();
        long[] xs = x.shape();
        int[] ax = Shapes.axes(xs.length, axes);
        long count = 1;
        for (int a : ax) {
            count *= xs[a];
        }
        double inv = 1.0 / count;
        Storage y = be.mean(x.storage(), ax, keepDims);
        long[] keep = Shapes.keepDims(xs, ax);
        return unary("mean", x, y, g -> {
            Storage d = be.expand(be.reshape(g, keep), xs);
            be.scaleInPlace(d, inv);
            return d;
        });
    }

    public static Tensor max(Tensor x, boolean keepDims, int... axes) {
        Backend be = x.backend();
        long[] xs = x.shape();
        int[] ax = Shapes.axes(xs.length, axes);
        Storage xv = x.storage();
        Storage yk = be.max(xv, ax, true);
        Storage y = keepDims ? yk : be.max(xv, ax, false);
        long[] keep = Shapes.keepDims(xs, ax);
        return unary("max", x, y, g -> {
            // gradient shared equally among tied maxima
            Storage mask = be.unary(UnaryOp.IS_ZERO, be.binary(BinaryOp.SUB, xv, yk));
            Storage count = be.sum(mask, ax, true);
            Storage share = be.binary(BinaryOp.DIV, be.reshape(g, keep), count);
            return be.binary(BinaryOp.MUL, mask, share);
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
        Backend be = x.backend();
        long[] xs = x.shape();
        return unary("reshape", x, be.reshape(x.storage(), target), g -> be.copy(be.reshape(g, xs)));
    }

    public static Tensor permute(Tensor x, int... dims) {
        int r = x.rank();
        if (dims.length != r) {
            throw new IllegalArgumentException("permute: " + dims.length + " dims given for " + shapeOf(x));
        }
        int[] inv = new int[r];
        int[] norm = new int[r];
        boolean[] used = new boolean[r];
        for (int i = 0; i < r; i++) {
            int d = dims[i] < 0 ? dims[i] + r : dims[i];
            if (d < 0 || d >= r || used[d]) {
                throw new IllegalArgumentException("permute: " + Arrays.toString(dims) + " is not a permutation for "
                        + shapeOf(x));
            }
            used[d] = true;
            inv[d] = i;
            norm[i] = d;
        }
        Backend be = x.backend();
        return unary("permute", x, be.permute(x.storage(), norm), g -> be.permute(g, inv));
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

    /** The slice [start, start+length) along {@code dim}. */
    public static Tensor narrow(Tensor x, int dim, long start, long length) {
        int d = dim < 0 ? dim + x.rank() : dim;
        if (d < 0 || d >= x.rank() || start < 0 || length < 0 || start + length > x.size(d)) {
            throw new IllegalArgumentException("narrow: dim " + dim + " [" + start + ", " + (start + length)
                    + ") out of range for " + shapeOf(x));
        }
        Backend be = x.backend();
        long[] xs = x.shape();
        return unary("narrow", x, be.narrow(x.storage(), d, start, length), g -> be.unnarrow(g, xs, d, start));
    }

    /** Joins tensors along {@code dim}; all other dims must match. */
    public static Tensor concat(int dim, Tensor... xs) {
        if (xs.length == 0) {
            throw new IllegalArgumentException("concat: no tensors");
        }
        int r = xs[0].rank();
        int d = dim < 0 ? dim + r : dim;
        Backend be = backend("concat", xs);
        Storage[] parts = new Storage[xs.length];
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
            parts[i] = xs[i].storage();
        }
        return result("concat", be.concat(d, parts), g -> {
            long off = 0;
            for (Tensor t : xs) {
                long len = t.size(d);
                if (t.requiresGrad()) {
                    accumulate(t, be.narrow(g, d, off, len), true);
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
        Backend be = x.backend();
        long[] idx = index.clone();
        return unary("indexSelect", x, be.indexSelect(x.storage(), d, idx), g -> be.indexAdd(g, xs, d, idx));
    }

    // ================================================================== softmax family (last axis)

    public static Tensor softmax(Tensor x) {
        Backend be = x.backend();
        Storage y = be.softmax(x.storage());
        return unary("softmax", x, y, g -> be.softmaxBackward(y, g));
    }

    public static Tensor logSoftmax(Tensor x) {
        Backend be = x.backend();
        Storage y = be.logSoftmax(x.storage());
        return unary("logSoftmax", x, y, g -> be.logSoftmaxBackward(y, g));
    }

    // ================================================================== normalisation and regularisation

    /** Fused LayerNorm over the last dim: (x - mean) / sqrt(var + eps) * weight + bias. */
    public static Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, double eps) {
        long d = x.size(-1);
        if (weight.rank() != 1 || weight.size(0) != d || bias.rank() != 1 || bias.size(0) != d) {
            throw new IllegalArgumentException("layerNorm: input " + shapeOf(x) + ", weight " + shapeOf(weight)
                    + ", bias " + shapeOf(bias) + ": expected weight and bias [" + d + "]");
        }
        Backend be = backend("layerNorm", x, weight, bias);
        Storage xv = x.storage();
        Storage wv = weight.storage();
        Backend.Saved saved = be.layerNorm(xv, wv, bias.storage(), eps);
        return result("layerNorm", saved.out(), g -> {
            Storage[] grads = be.layerNormBackward(saved, xv, wv, g, x.requiresGrad(), weight.requiresGrad(),
                    bias.requiresGrad());
            if (grads[1] != null) {
                accumulate(weight, grads[1], true);
            }
            if (grads[2] != null) {
                accumulate(bias, grads[2], true);
            }
            if (grads[0] != null) {
                accumulate(x, grads[0], true);
            }
        }, x, weight, bias);
    }

    /**
     * Multi-head scaled dot-product self-attention on packed projections, timm's layout:
     * {@code qkv} [B, N, 3 D] holds q, k and v side by side (D = heads * head dim; head h in
     * columns h * head dim .. of each); the result [B, N, D] holds softmax((scale q) k^T) v per
     * head in that head's columns. One op forward and one backward (the composition of reshape,
     * permute, slices, products and softmax gives the same values).
     */
    public static Tensor attention(Tensor qkv, int heads, double scale) {
        if (qkv.rank() != 3 || heads < 1 || qkv.size(2) % (3L * heads) != 0) {
            throw new IllegalArgumentException("attention: qkv " + shapeOf(qkv) + " with " + heads
                    + " heads, expected [batch, tokens, 3 * heads * head dim]");
        }
        Backend be = backend("attention", qkv);
        Storage xs = qkv.storage();
        Backend.Saved saved = be.attention(xs, heads, scale);
        return unary("attention", qkv, saved.out(), g -> be.attentionBackward(saved, xs, heads, scale, g));
    }

    /**
     * Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1-p). The
     * mask comes from the counter-based stream of one seed drawn from {@code rng}
     * ({@link Backend#dropoutMask}): the same rng state gives the same mask on every device.
     */
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
     * index of dim 0), scaling kept samples by 1/(1-p); the mask is drawn as {@link #dropout}'s.
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
        Backend be = x.backend();
        Storage mask = be.dropoutMask(x.dtype(), p, rng.nextLong(), maskShape);
        Storage y = be.binary(BinaryOp.MUL, x.storage(), mask);
        return unary(op, x, y, g -> be.binary(BinaryOp.MUL, g, mask));
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
     * weight [D, C, p, p], bias [D] (may be null) -&gt; [B, (H/p)(W/p), D].
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
