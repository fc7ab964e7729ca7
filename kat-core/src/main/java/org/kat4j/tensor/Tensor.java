package org.kat4j.tensor;

import org.kat4j.autograd.Autograd;
import org.kat4j.autograd.Ops;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.Random;

/**
 * An n-dimensional array of float32 (default) or float64 values that records the operations made
 * on it, so that {@link #backward()} can compute gradients (reverse-mode autograd).
 *
 * <p>Values are always stored C-ordered and contiguous, so kernels may read the buffer in place.
 * The ND4J array behind a tensor is an implementation detail; {@link #nd()} exposes it for
 * backend code.
 */
public final class Tensor {
    static {
        org.kat4j.backend.NativeSettings.check();
    }

    private INDArray value;
    private INDArray grad;
    private boolean requiresGrad;
    private final Scope scope;

    // graph: set through link() for results of differentiable ops
    private Tensor[] parents;
    private Autograd.BackwardFn backwardFn;
    private String op;
    private boolean graphFreed;

    private Tensor(INDArray value, boolean requiresGrad) {
        this(value, requiresGrad, Scope.current());
    }

    private Tensor(INDArray value, boolean requiresGrad, Scope scope) {
        if (!isDense(value)) {
            value = value.dup('c');
        }
        this.value = value;
        this.requiresGrad = requiresGrad;
        this.scope = scope;
    }

    /** C-ordered with default strides (an offset is allowed): the layout kernels may read in place. */
    public static boolean isDense(INDArray a) {
        return a.ordering() == 'c' && (a.length() <= 1 || a.elementWiseStride() == 1)
                && Arrays.equals(a.stride(), Nd4j.getStrides(a.shape(), 'c'));
    }

    // ------------------------------------------------------------------ creation

    /** Wraps an ND4J array (copied if it is not C-contiguous). For backend and layer code. */
    public static Tensor wrap(INDArray value) {
        return new Tensor(value, false);
    }

    public static Tensor of(float[] data, long... shape) {
        checkLength("Tensor.of", data.length, shape);
        return new Tensor(Nd4j.create(data, shape, 'c'), false);
    }

    public static Tensor of(double[] data, long... shape) {
        checkLength("Tensor.of", data.length, shape);
        return new Tensor(Nd4j.create(data, shape, 'c'), false);
    }

    public static Tensor scalar(double v, DType dtype) {
        return new Tensor(Nd4j.scalar(dtype.nd4j, v), false);
    }

    public static Tensor zeros(DType dtype, long... shape) {
        return new Tensor(Nd4j.zeros(dtype.nd4j, shape), false);
    }

    public static Tensor ones(DType dtype, long... shape) {
        return new Tensor(Nd4j.ones(dtype.nd4j, shape), false);
    }

    public static Tensor full(DType dtype, double v, long... shape) {
        return new Tensor(Nd4j.valueArrayOf(shape, v, dtype.nd4j), false);
    }

    /** Standard normal values from {@code rng} (deterministic for a seed). */
    public static Tensor randn(Random rng, DType dtype, long... shape) {
        double[] d = new double[Math.toIntExact(numel(shape))];
        for (int i = 0; i < d.length; i++) {
            d[i] = rng.nextGaussian();
        }
        return new Tensor(Nd4j.create(d, shape, 'c').castTo(dtype.nd4j), false);
    }

    /** Uniform values in [lo, hi) from {@code rng}. */
    public static Tensor rand(Random rng, DType dtype, double lo, double hi, long... shape) {
        double[] d = new double[Math.toIntExact(numel(shape))];
        for (int i = 0; i < d.length; i++) {
            d[i] = lo + (hi - lo) * rng.nextDouble();
        }
        return new Tensor(Nd4j.create(d, shape, 'c').castTo(dtype.nd4j), false);
    }

    /** Result of an op; the autograd package links it into the graph. */
    public static Tensor result(INDArray value) {
        return new Tensor(value, false);
    }

    private static void checkLength(String op, int n, long[] shape) {
        if (numel(shape) != n) {
            throw new IllegalArgumentException(op + ": " + n + " values do not fill shape " + Arrays.toString(shape)
                    + " (" + numel(shape) + " elements)");
        }
    }

    public static long numel(long[] shape) {
        long n = 1;
        for (long s : shape) {
            if (s < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            }
            n *= s;
        }
        return n;
    }

    // ------------------------------------------------------------------ access

    /** The ND4J array holding the values (C-contiguous). For backend code; users never need it. */
    public INDArray nd() {
        if (scope != null && scope.isClosed()) {
            throw new IllegalStateException("tensor " + describe() + " was made inside a Scope that has closed;"
                    + " read its values (item(), toFloatArray()) before closing, or copy() it first");
        }
        return value;
    }

    public long[] shape() {
        return value.shape();
    }

    public int rank() {
        return value.rank();
    }

    public long size(int dim) {
        return value.size(dim < 0 ? dim + rank() : dim);
    }

    public long numel() {
        return value.length();
    }

    public DType dtype() {
        return DType.of(value.dataType());
    }

    public float[] toFloatArray() {
        return nd().dup('c').castTo(org.nd4j.linalg.api.buffer.DataType.FLOAT).data().asFloat();
    }

    public double[] toDoubleArray() {
        return nd().dup('c').castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE).data().asDouble();
    }

    /** The single value of a one-element tensor. */
    public double item() {
        if (numel() != 1) {
            throw new IllegalArgumentException("item(): tensor has shape " + Arrays.toString(shape()) + ", expected one element");
        }
        return nd().getDouble(0);
    }

    /** The value at a multi-dimensional index. */
    public double get(long... index) {
        return nd().getDouble(index);
    }

    // ------------------------------------------------------------------ autograd

    public boolean requiresGrad() {
        return requiresGrad;
    }

    /** Marks a leaf tensor as one whose gradient {@link #backward()} computes. Returns this. */
    public Tensor requiresGrad(boolean on) {
        if (backwardFn != null && !on) {
            throw new IllegalStateException("requiresGrad(false) on the result of op '" + op + "': use detach()");
        }
        this.requiresGrad = on;
        return this;
    }

    /**
     * Records that this tensor is the result of {@code op} on {@code inputs}, with {@code fn} as the
     * derivative rule. Does nothing (returns this unlinked) when no input requires grad or grad
     * mode is off. For op implementations.
     */
    public Tensor link(String op, Autograd.BackwardFn fn, Tensor... inputs) {
        this.op = op;
        if (!Autograd.isGradEnabled()) {
            return this;
        }
        for (Tensor t : inputs) {
            if (t != null && t.requiresGrad) {
                this.parents = inputs;
                this.backwardFn = fn;
                this.requiresGrad = true;
                return this;
            }
        }
        return this;
    }

    public Autograd.BackwardFn backwardFn() {
        return backwardFn;
    }

    public boolean graphFreed() {
        return graphFreed;
    }

    /** Cuts this node from its graph after backward; intermediate gradients are dropped. */
    public void freeGraph(boolean keepGrad) {
        if (backwardFn != null) {
            graphFreed = true;
            parents = null;
            backwardFn = null;
            if (!keepGrad) {
                grad = null;
            }
        }
    }

    public boolean isLeaf() {
        return backwardFn == null && !graphFreed;
    }

    /** The accumulated gradient, or null before any backward reached this tensor. */
    public Tensor grad() {
        return grad == null ? null : new Tensor(grad, false);
    }

    /** The gradient array itself (for optimizers); null if none. */
    public INDArray gradNd() {
        return grad;
    }

    /** Clears the gradient (keeps its buffer, filled with zeros, for reuse). */
    public void zeroGrad() {
        if (grad != null) {
            grad.assign(0);
        }
    }

    /** Drops the gradient buffer. */
    public void clearGrad() {
        grad = null;
    }

    /**
     * Adds {@code g} (same shape as this) to the gradient. {@code owned}: g is a fresh array no one
     * else holds, so it may be kept as is.
     */
    public void accumulateGrad(INDArray g, boolean owned) {
        if (!Arrays.equals(g.shape(), value.shape())) {
            throw new IllegalStateException("gradient shape " + Arrays.toString(g.shape()) + " does not match tensor "
                    + Arrays.toString(value.shape()) + " (op " + op + ")");
        }
        if (grad == null) {
            if (backwardFn == null && !graphFreed) {
                // leaf: its gradient outlives the step's scope
                grad = Scope.detached(() -> g.castTo(value.dataType()).dup('c'));
            } else {
                grad = owned && isDense(g) && g.dataType() == value.dataType() ? g : g.castTo(value.dataType()).dup('c');
            }
        } else {
            grad.addi(g);
        }
    }

    /** Backward from a one-element tensor (seed 1). */
    public void backward() {
        if (numel() != 1) {
            throw new IllegalStateException("backward() on a tensor of shape " + Arrays.toString(shape())
                    + ": only one-element tensors can seed themselves; call backward(gradient) with a seed of that shape");
        }
        backward(Tensor.wrap(Nd4j.ones(value.dataType(), value.shape())));
    }

    /** Backward with an explicit seed gradient of this tensor's shape. */
    public void backward(Tensor seed) {
        Autograd.backward(this, seed.nd());
    }

    /** The same values, cut from the graph. */
    public Tensor detach() {
        return new Tensor(value, false);
    }

    /** A copy allocated outside every scope (survives the current step). */
    public Tensor copy() {
        return new Tensor(Scope.detachedCopy(nd()), false, null);
    }

    /** Replaces the values in place (same shape); for parameter loading and optimizers. */
    public void assign(Tensor other) {
        if (!Arrays.equals(other.shape(), shape())) {
            throw new IllegalArgumentException("assign: shape " + Arrays.toString(other.shape()) + " into "
                    + Arrays.toString(shape()));
        }
        value.assign(other.nd());
    }

    /** Graph internals for Autograd. */
    public Tensor[] parents() {
        return parents;
    }

    public String op() {
        return op;
    }

    String describe() {
        return (op == null ? "leaf" : op) + Arrays.toString(value.shape());
    }

    @Override
    public String toString() {
        return "Tensor" + Arrays.toString(shape()) + " " + dtype() + (op != null ? " op=" + op : "")
                + (requiresGrad ? " requiresGrad" : "") + "\n" + value;
    }

    // ------------------------------------------------------------------ fluent ops (rules live in Ops)

    public Tensor add(Tensor o) { return Ops.add(this, o); }
    public Tensor sub(Tensor o) { return Ops.sub(this, o); }
    public Tensor mul(Tensor o) { return Ops.mul(this, o); }
    public Tensor div(Tensor o) { return Ops.div(this, o); }
    public Tensor add(double s) { return Ops.addScalar(this, s); }
    public Tensor mul(double s) { return Ops.mulScalar(this, s); }
    public Tensor neg() { return Ops.neg(this); }
    public Tensor exp() { return Ops.exp(this); }
    public Tensor log() { return Ops.log(this); }
    public Tensor sqrt() { return Ops.sqrt(this); }
    public Tensor pow(double p) { return Ops.pow(this, p); }
    public Tensor tanh() { return Ops.tanh(this); }
    public Tensor relu() { return Ops.relu(this); }
    public Tensor gelu() { return Ops.gelu(this); }
    public Tensor geluTanh() { return Ops.geluTanh(this); }
    public Tensor silu() { return Ops.silu(this); }
    public Tensor matmul(Tensor o) { return Ops.matmul(this, o, false, false); }
    public Tensor sum(boolean keepDims, int... axes) { return Ops.sum(this, keepDims, axes); }
    public Tensor sum() { return Ops.sum(this, false); }
    public Tensor mean(boolean keepDims, int... axes) { return Ops.mean(this, keepDims, axes); }
    public Tensor mean() { return Ops.mean(this, false); }
    public Tensor max(boolean keepDims, int... axes) { return Ops.max(this, keepDims, axes); }
    public Tensor reshape(long... shape) { return Ops.reshape(this, shape); }
    public Tensor permute(int... dims) { return Ops.permute(this, dims); }
    public Tensor transpose(int d0, int d1) { return Ops.transpose(this, d0, d1); }
    public Tensor narrow(int dim, long start, long length) { return Ops.narrow(this, dim, start, length); }
    public Tensor softmax() { return Ops.softmax(this); }
    public Tensor logSoftmax() { return Ops.logSoftmax(this); }
}
