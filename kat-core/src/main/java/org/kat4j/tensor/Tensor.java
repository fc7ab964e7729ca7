package org.kat4j.tensor;

import org.kat4j.autograd.Autograd;
import org.kat4j.autograd.Ops;
import org.kat4j.autograd.TensorGraph;
import org.kat4j.backend.Backend;
import org.kat4j.backend.Backends;
import org.kat4j.backend.BinaryOp;
import org.kat4j.backend.Device;
import org.kat4j.backend.Shapes;
import org.kat4j.backend.Storage;

import java.util.Arrays;
import java.util.Random;

/**
 * An n-dimensional array of float32 (default) or float64 values on one {@link Device} that
 * records the operations made on it, so that {@link #backward()} can compute gradients
 * (reverse-mode autograd).
 *
 * <p>Values live in a {@link Storage} owned by the device's {@link Backend}: dense and C-ordered,
 * so kernels may read them in place. Tensors made by the factory methods live on the CPU;
 * {@link #to(Device)} moves them. Every op runs on its inputs' device, and inputs on two devices
 * are an error.
 */
public final class Tensor {
    private Storage value;
    private Storage grad;
    /** True after {@link #zeroGrad()}: grad's buffer is kept but its contents stand for zeros until written. */
    private boolean gradZero;
    /** True while grad is a leaf's buffer allocated outside the scopes that {@link #grad()} has not handed out: {@link #clearGrad()} frees it. */
    private boolean gradPrivate;
    /**
     * True while grad is a gradient this tensor received without owning it (one op's backward
     * handing the same buffer to several inputs): it is replaced, never written, when another
     * gradient arrives, so that a tensor whose only gradient is a shared one costs no copy.
     */
    private boolean gradShared;
    private boolean requiresGrad;
    private final Scope scope;

    // graph: set through link() for results of differentiable ops
    private Tensor[] parents;
    private Autograd.BackwardFn backwardFn;
    private String op;
    private boolean graphFreed;

    static {
        new Graph();
    }

    private Tensor(Storage value, boolean requiresGrad, Scope scope) {
        this.value = value;
        this.requiresGrad = requiresGrad;
        this.scope = scope;
    }

    private static Tensor make(Storage value) {
        return new Tensor(value, false, Scope.current());
    }

    private static Backend cpu() {
        return Backends.cpu();
    }

    // ------------------------------------------------------------------ creation

    /** A tensor over a backend's storage (for backend and op code). */
    public static Tensor of(Storage value) {
        return make(value);
    }

    public static Tensor of(float[] data, long... shape) {
        checkLength("Tensor.of", data.length, shape);
        return make(cpu().fromFloats(data, shape));
    }

    public static Tensor of(double[] data, long... shape) {
        checkLength("Tensor.of", data.length, shape);
        return make(cpu().fromDoubles(data, shape));
    }

    public static Tensor scalar(double v, DType dtype) {
        return make(cpu().full(dtype, v));
    }

    public static Tensor zeros(DType dtype, long... shape) {
        return make(cpu().zeros(dtype, shape));
    }

    public static Tensor ones(DType dtype, long... shape) {
        return make(cpu().full(dtype, 1.0, shape));
    }

    public static Tensor full(DType dtype, double v, long... shape) {
        return make(cpu().full(dtype, v, shape));
    }

    /** Standard normal values from {@code rng} (deterministic for a seed). */
    public static Tensor randn(Random rng, DType dtype, long... shape) {
        double[] d = new double[Math.toIntExact(numel(shape))];
        for (int i = 0; i < d.length; i++) {
            d[i] = rng.nextGaussian();
        }
        return make(fromDoubles(d, dtype, shape));
    }

    /** Uniform values in [lo, hi) from {@code rng}. */
    public static Tensor rand(Random rng, DType dtype, double lo, double hi, long... shape) {
        double[] d = new double[Math.toIntExact(numel(shape))];
        for (int i = 0; i < d.length; i++) {
            d[i] = lo + (hi - lo) * rng.nextDouble();
        }
        return make(fromDoubles(d, dtype, shape));
    }

    private static Storage fromDoubles(double[] d, DType dtype, long[] shape) {
        Storage s = cpu().fromDoubles(d, shape);
        return dtype == DType.FLOAT64 ? s : cpu().copy(s, dtype);
    }

    /**
     * Values of the counter-based generator ({@link org.kat4j.backend.Philox}) made on
     * {@code device}: the same seed gives the same values on every device. Uniform in [lo, hi).
     */
    public static Tensor rand(long seed, DType dtype, Device device, double lo, double hi, long... shape) {
        return make(Backends.forDevice(device).random(dtype, seed, 0, false, lo, hi, shape));
    }

    /** Standard normal values of the counter-based generator made on {@code device}. */
    public static Tensor randn(long seed, DType dtype, Device device, long... shape) {
        return make(Backends.forDevice(device).random(dtype, seed, 0, true, 0, 1, shape));
    }

    private static void checkLength(String op, int n, long[] shape) {
        if (numel(shape) != n) {
            throw new IllegalArgumentException(op + ": " + n + " values do not fill shape " + Arrays.toString(shape)
                    + " (" + numel(shape) + " elements)");
        }
    }

    public static long numel(long[] shape) {
        return Shapes.numel(shape);
    }

    // ------------------------------------------------------------------ access

    /** The storage holding the values. For backend and op code; users never need it. */
    public Storage storage() {
        if (scope != null && scope.isClosed()) {
            throw new IllegalStateException("tensor " + describe() + " was made inside a Scope that has closed;"
                    + " read its values (item(), toFloatArray()) before closing, or copy() it first");
        }
        return value;
    }

    /** The backend of this tensor's device. */
    public Backend backend() {
        return value.backend();
    }

    public Device device() {
        return value.device();
    }

    public long[] shape() {
        return value.shape();
    }

    public int rank() {
        return value.rank();
    }

    public long size(int dim) {
        long[] s = value.shape();
        int d = dim < 0 ? dim + s.length : dim;
        if (d < 0 || d >= s.length) {
            throw new IllegalArgumentException("size(" + dim + "): dim out of range for shape " + Arrays.toString(s));
        }
        return s[d];
    }

    public long numel() {
        return value.numel();
    }

    public DType dtype() {
        return value.dtype();
    }

    public float[] toFloatArray() {
        return backend().toFloats(storage());
    }

    public double[] toDoubleArray() {
        return backend().toDoubles(storage());
    }

    /** The single value of a one-element tensor. */
    public double item() {
        if (numel() != 1) {
            throw new IllegalArgumentException("item(): tensor has shape " + Arrays.toString(shape()) + ", expected one element");
        }
        return backend().getDouble(storage(), 0);
    }

    /** The value at a multi-dimensional index. */
    public double get(long... index) {
        long[] s = shape();
        if (index.length != s.length) {
            throw new IllegalArgumentException("get: " + index.length + " indices for shape " + Arrays.toString(s));
        }
        long flat = 0;
        for (int i = 0; i < s.length; i++) {
            if (index[i] < 0 || index[i] >= s[i]) {
                throw new IllegalArgumentException("get: index " + Arrays.toString(index) + " out of range for shape "
                        + Arrays.toString(s));
            }
            flat = flat * s[i] + index[i];
        }
        return backend().getDouble(storage(), flat);
    }

    // ------------------------------------------------------------------ devices

    /**
     * This tensor on {@code device}: itself when it is there already, else a copy, linked into the
     * graph so that gradients flow back to this tensor's device.
     */
    public Tensor to(Device device) {
        if (device.equals(device())) {
            return this;
        }
        Backend target = Backends.forDevice(device);
        Storage moved = transfer(storage(), target);
        Backend source = backend();
        Tensor out = make(moved);
        Graph.INSTANCE.link(out, "to(" + device + ")", g -> Graph.INSTANCE.accumulateGrad(this, transfer(g, source), true), new Tensor[]{this});
        return out;
    }

    private static Storage transfer(Storage s, Backend target) {
        Storage out = target.empty(s.dtype(), s.shape());
        target.assign(out, s);
        return out;
    }

    /**
     * Moves this leaf tensor's values (and its gradient) to {@code device} in place, outside every
     * scope: what {@code Module.to} does to parameters.
     */
    public void moveTo(Device device) {
        if (backwardFn != null) {
            throw new IllegalStateException("moveTo on the result of op '" + op + "': only leaf tensors move in place;"
                    + " use to(Device)");
        }
        if (device.equals(device())) {
            return;
        }
        Backend target = Backends.forDevice(device);
        value = Scope.detached(() -> transfer(value, target));
        if (grad != null) {
            Storage g = gradStorage();
            grad = Scope.detached(() -> transfer(g, target));
            if (gradPrivate) {
                g.backend().release(g);
            }
            gradPrivate = true;
            gradShared = false;
        }
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

    public boolean isLeaf() {
        return backwardFn == null && !graphFreed;
    }

    /** The name of the op that made this tensor, or null for a leaf. */
    public String op() {
        return op;
    }

    /**
     * The accumulated gradient, or null before any backward reached this tensor. The tensor shares
     * the gradient's buffer: a later backward adds into it, and {@link #zeroGrad()} keeps it for the
     * next one; after {@link #clearGrad()} it keeps its values.
     */
    public Tensor grad() {
        if (grad == null) {
            return null;
        }
        gradPrivate = false;
        return new Tensor(gradStorage(), false, null);
    }

    /**
     * The gradient's buffer itself, or null: for code that reads or updates it at once, as an
     * optimizer step does. Unlike {@link #grad()} it does not keep the buffer from being freed by
     * {@link #clearGrad()}, so it must not be held past that.
     */
    public Storage gradBuffer() {
        return grad == null ? null : gradStorage();
    }

    /**
     * Clears the gradient to zeros, keeping its buffer for reuse. The zeros are written only if
     * something reads the gradient before the next backward writes it (the first gradient of a
     * step is copied into the buffer instead of added to zeros).
     */
    public void zeroGrad() {
        gradZero = grad != null;
    }

    /**
     * Drops the gradient: {@link #grad()} is null until the next backward reaches this tensor. A
     * leaf's buffer that {@link #grad()} never handed out is freed at once (a step that clears its
     * gradients, as PyTorch's {@code zero_grad(set_to_none=True)} does, then reuses the memory
     * instead of taking fresh pages from the system every step).
     */
    public void clearGrad() {
        if (gradPrivate) {
            grad.backend().release(grad);
        }
        grad = null;
        gradZero = false;
        gradPrivate = false;
        gradShared = false;
    }

    /** The gradient buffer with its zeros written if {@link #zeroGrad()} left them pending. */
    private Storage gradStorage() {
        if (gradZero) {
            if (gradShared) {
                grad = grad.backend().zeros(grad.dtype(), grad.shape());
                gradShared = false;
            } else {
                grad.backend().fill(grad, 0);
            }
            gradZero = false;
        }
        return grad;
    }

    /** Backward from a one-element tensor (seed 1). */
    public void backward() {
        if (numel() != 1) {
            throw new IllegalStateException("backward() on a tensor of shape " + Arrays.toString(shape())
                    + ": only one-element tensors can seed themselves; call backward(gradient) with a seed of that shape");
        }
        Autograd.backward(this, backend().full(dtype(), 1.0, shape()));
    }

    /** Backward with an explicit seed gradient of this tensor's shape. */
    public void backward(Tensor seed) {
        Autograd.backward(this, seed.storage());
    }

    /** The same values, cut from the graph. */
    public Tensor detach() {
        return make(value);
    }

    /** A copy allocated outside every scope (survives the current step). */
    public Tensor copy() {
        Storage s = storage();
        return new Tensor(Scope.detached(() -> s.backend().copy(s)), false, null);
    }

    /**
     * Makes this leaf tensor read and write {@code source}'s values from now on (same shape, dtype
     * and device): a write through either is seen by both. Its gradient stays its own. For module
     * replicas that compute on parts of a batch with the same weights ({@code DataParallel}).
     */
    public void shareValues(Tensor source) {
        if (backwardFn != null || source.backwardFn != null) {
            throw new IllegalStateException("shareValues between '" + describe() + "' and '" + source.describe()
                    + "': only leaf tensors share values");
        }
        if (!Arrays.equals(source.shape(), shape()) || source.dtype() != dtype() || !source.device().equals(device())) {
            throw new IllegalArgumentException("shareValues: source is " + source.dtype() + Arrays.toString(source.shape())
                    + " on " + source.device() + ", this tensor " + dtype() + Arrays.toString(shape()) + " on " + device());
        }
        value = source.value;
    }

    /**
     * Adds {@code g} (this tensor's shape and device) into this leaf's gradient, creating it when
     * there is none, as backward does for each contribution, and like backward only when this
     * tensor requires grad: for gradients computed elsewhere, such as a replica's.
     */
    public void addToGrad(Tensor g) {
        if (backwardFn != null) {
            throw new IllegalStateException("addToGrad on the result of op '" + op + "': only leaf tensors hold gradients");
        }
        if (requiresGrad) {
            Graph.INSTANCE.accumulateGrad(this, g.storage(), false);
        }
    }

    /** Whether a gradient was written since the last {@link #zeroGrad()} or {@link #clearGrad()}. */
    public boolean hasFreshGrad() {
        return grad != null && !gradZero;
    }

    /** Replaces the values in place (same shape; converted from any dtype and device); for parameter loading and optimizers. */
    public void assign(Tensor other) {
        if (!Arrays.equals(other.shape(), shape())) {
            throw new IllegalArgumentException("assign: shape " + Arrays.toString(other.shape()) + " into "
                    + Arrays.toString(shape()));
        }
        backend().assign(storage(), other.storage());
    }

    String describe() {
        return (op == null ? "leaf" : op) + Arrays.toString(value.shape());
    }

    @Override
    public String toString() {
        return "Tensor" + Arrays.toString(shape()) + " " + dtype() + " " + device() + (op != null ? " op=" + op : "")
                + (requiresGrad ? " requiresGrad" : "") + "\n" + value;
    }

    // ------------------------------------------------------------------ graph internals, for org.kat4j.autograd only

    private static final class Graph extends TensorGraph {
        static Graph INSTANCE;

        Graph() {
            INSTANCE = this;
        }

        @Override
        protected void link(Tensor t, String op, Autograd.BackwardFn fn, Tensor[] inputs) {
            t.op = op;
            if (!Autograd.isGradEnabled()) {
                return;
            }
            for (Tensor in : inputs) {
                if (in != null && in.requiresGrad) {
                    t.parents = inputs;
                    t.backwardFn = fn;
                    t.requiresGrad = true;
                    return;
                }
            }
        }

        @Override
        protected Tensor[] parents(Tensor t) {
            return t.parents;
        }

        @Override
        protected Autograd.BackwardFn backwardFn(Tensor t) {
            return t.backwardFn;
        }

        @Override
        protected boolean graphFreed(Tensor t) {
            return t.graphFreed;
        }

        @Override
        protected String op(Tensor t) {
            return t.op;
        }

        @Override
        protected void freeGraph(Tensor t, boolean keepGrad) {
            if (t.backwardFn != null) {
                t.graphFreed = true;
                t.parents = null;
                t.backwardFn = null;
                if (!keepGrad) {
                    t.clearGrad();
                }
            }
        }

        @Override
        protected void accumulateGrad(Tensor t, Storage g, boolean owned) {
            if (!Arrays.equals(g.shape(), t.value.shape())) {
                throw new IllegalStateException("gradient shape " + Arrays.toString(g.shape()) + " does not match tensor "
                        + Arrays.toString(t.value.shape()) + " (op " + t.op + ")");
            }
            if (!g.device().equals(t.value.device())) {
                throw new IllegalStateException("gradient on " + g.device() + " for a tensor on " + t.value.device()
                        + " (op " + t.op + ")");
            }
            Backend be = t.value.backend();
            DType dt = t.value.dtype();
            if (t.grad == null) {
                if (t.backwardFn == null && !t.graphFreed) {
                    // leaf: its gradient outlives the step's scope
                    t.grad = Scope.detached(() -> be.copy(g, dt));
                    t.gradPrivate = true;
                } else {
                    t.grad = g.dtype() == dt ? g : be.copy(g, dt);
                    t.gradShared = !owned && g.dtype() == dt;
                }
            } else if (t.gradZero) {
                if (t.gradShared) {
                    t.grad = g.dtype() == dt ? g : be.copy(g, dt);
                    t.gradShared = !owned && g.dtype() == dt;
                } else {
                    // the step's result in the buffer's place where the device can keep it (no copy)
                    Storage kept = owned && t.gradPrivate && g.dtype() == dt ? be.outlive(t.grad, g) : null;
                    if (kept != null) {
                        t.grad = kept;
                    } else {
                        be.assign(t.grad, g);
                    }
                }
                t.gradZero = false;
            } else if (t.gradShared && g.dtype() == dt) {
                // a second gradient: the sum into a fresh buffer (the same bits as adding into a copy)
                t.grad = be.binary(BinaryOp.ADD, t.grad, g);
                t.gradShared = false;
            } else {
                if (t.gradShared) {
                    t.grad = be.copy(t.grad, dt);
                    t.gradShared = false;
                }
                be.addInPlace(t.grad, g);
            }
        }

        @Override
        protected Storage gradStorage(Tensor t) {
            return t.grad == null ? null : t.gradStorage();
        }

        @Override
        protected Tensor result(Storage value) {
            return make(value);
        }
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
