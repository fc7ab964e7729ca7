package org.kat4j.backend.cpu;

import org.kat4j.backend.Backend;
import org.kat4j.backend.Bf16;
import org.kat4j.backend.BinaryOp;
import org.kat4j.backend.Device;
import org.kat4j.backend.Philox;
import org.kat4j.backend.ScalarOp;
import org.kat4j.backend.Shapes;
import org.kat4j.backend.Storage;
import org.kat4j.backend.UnaryOp;
import org.kat4j.rational.Rational;
import org.kat4j.rational.RationalKernels;
import org.kat4j.tensor.DType;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.memory.enums.SpillPolicy;
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
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntConsumer;
import java.util.function.Supplier;

import static java.lang.ref.Reference.reachabilityFence;

/**
 * The CPU backend: ND4J arrays for storage, OpenBLAS (through ND4J) for matrix products, ND4J's
 * element-wise ops, and kat4j's own fused float32 kernels (GELU, softmax, LayerNorm, column sums,
 * AdamW, the group-rational op) where the vector API is available ({@link Simd}). The only place in
 * kat4j that calls ND4J.
 */
public final class CpuBackend implements Backend {
    static {
        NativeSettings.configureJavaCpp(); // before ND4J loads JavaCPP
    }

    /** The one CPU backend. */
    public static final CpuBackend INSTANCE = new CpuBackend();

    private static final double SQRT2 = Math.sqrt(2.0);
    private static final double INV_SQRT_2PI = 1.0 / Math.sqrt(2.0 * Math.PI);
    private static final WorkspaceConfiguration SCOPE_CONFIG = WorkspaceConfiguration.builder()
            .policyAllocation(AllocationPolicy.STRICT)
            .policyLearning(LearningPolicy.FIRST_LOOP)
            .policySpill(SpillPolicy.REALLOCATE)
            .build();

    private CpuBackend() {
        NativeSettings.check();
        Nd4j.getEnvironment(); // ND4J sets OpenBLAS's thread count as it starts; Blas then sets its own
        Blas.configure();
    }

    private static INDArray nd(Storage s) {
        return CpuStorage.nd(s);
    }

    private static Storage wrap(INDArray a) {
        return CpuStorage.of(a);
    }

    /**
     * Whether the vector kernels on byte buffers take this storage ({@link Simd#available()}, and
     * {@link #loopable}).
     */
    private static boolean fusable(Storage s) {
        return Simd.available() && loopable(s);
    }

    /** Whether the vector kernels on Java arrays (attention, softmax) take this storage. */
    private static boolean fusableArrays(Storage s) {
        return Simd.arrays() && loopable(s);
    }

    /** Whether kat4j's own loops take this storage: float32, not empty (every CPU storage is dense). */
    private static boolean loopable(Storage s) {
        return isFloat(s) && s.numel() > 0;
    }

    private static boolean isFloat(Storage s) {
        return CpuStorage.cpu(s).dataType() == DataType.FLOAT;
    }

    /** {@code g} as float32 (itself when it is). */
    private Storage asFloat(Storage g) {
        return isFloat(g) ? g : wrap(nd(g).castTo(DataType.FLOAT));
    }

    @Override
    public Device device() {
        return Device.CPU;
    }

    @Override
    public String describe() {
        return "ND4J " + Nd4j.getBackend().getClass().getSimpleName() + ", " + Nd4j.getEnvironment().maxThreads()
                + " threads, GEMM " + Blas.describe()
                + ", large products split over " + Parallel.threads() + " threads, vector kernels " + Simd.describe();
    }

    // ------------------------------------------------------------------ memory

    @Override
    public Storage empty(DType dtype, long... shape) {
        Shapes.numel(shape); // negative dimensions and overflowing sizes are refused, not wrapped
        return CpuStorage.allocate(CpuStorage.nd4j(dtype), shape);
    }

    @Override
    public Storage full(DType dtype, double value, long... shape) {
        long n = Shapes.numel(shape);
        DataType t = CpuStorage.nd4j(dtype);
        if (shape.length == 0) {
            return wrap(Nd4j.scalar(t, value));
        }
        if (n > 0 && n * t.width() < Integer.MAX_VALUE) {
            // kat4j's memory filled in bulk: ND4J's zeros made an array and ran an op for the class
            // token's zeros of every step (0.4% of the main job's CPU time)
            Storage out = CpuStorage.allocate(t, shape);
            fill(out, value);
            return out;
        }
        if (value == 0) {
            return wrap(Nd4j.zeros(t, shape));
        }
        if (value == 1) {
            return wrap(Nd4j.ones(t, shape));
        }
        return wrap(Nd4j.valueArrayOf(shape, value, t));
    }

    /** Dropout masks are made in chunks of this many elements, a chunk per item of the thread pool. */
    private static final int MASK_CHUNK = 1 << 14;

    @Override
    public Storage dropoutMask(DType dtype, double p, long seed, long... shape) {
        if (dtype != DType.FLOAT32) {
            return Backend.super.dropoutMask(dtype, p, seed, shape);
        }
        long n = Shapes.numel(shape);
        int threshold = Philox.dropThreshold(p);
        float keep = (float) (1.0 / (1.0 - p));
        Storage m = CpuStorage.allocate(DataType.FLOAT, shape);
        FloatBuffer out = CpuStorage.floats(m);
        int chunks = Math.toIntExact((n + MASK_CHUNK - 1) / MASK_CHUNK);
        Parallel.forEach(chunks, c -> {
            int from = c * MASK_CHUNK;
            int count = (int) Math.min(MASK_CHUNK, n - from);
            int[] w = new int[count];
            Philox.words(seed, from, w, count);
            for (int i = 0; i < count; i++) {
                out.put(from + i, (w[i] >>> 8) < threshold ? 0f : keep);
            }
        });
        return m;
    }

    @Override
    public Storage fromFloats(float[] data, long... shape) {
        if (shape.length == 0 || data.length == 0 || data.length != Shapes.numel(shape)) {
            return wrap(Nd4j.create(data, shape, 'c'));
        }
        // one bulk copy into aligned memory: Nd4j.create took 180-195 us for a batch of 64 28x28
        // images (200 KB), this 7-27 us (2 cores of an AMD EPYC Zen 5, 2026-12-07)
        Storage s = CpuStorage.allocate(DataType.FLOAT, shape);
        CpuStorage.floats(s).put(data);
        return s;
    }

    @Override
    public Storage fromDoubles(double[] data, long... shape) {
        if (shape.length == 0 || data.length == 0 || data.length != Shapes.numel(shape)) {
            return wrap(Nd4j.create(data, shape, 'c'));
        }
        Storage s = CpuStorage.allocate(DataType.DOUBLE, shape);
        CpuStorage.bytes(s).asDoubleBuffer().put(data); // one bulk copy
        return s;
    }

    /** Chunks of the same value, copied in bulk over a buffer. */
    private static final int FILL_CHUNK = 1024;

    /** The first count elements of buf as t: value (rounded to float for FLOAT, as ND4J's assign does). */
    private static void fillBytes(ByteBuffer buf, DataType t, double value, int count) {
        if (t == DataType.FLOAT) {
            float[] chunk = new float[Math.min(count, FILL_CHUNK)];
            Arrays.fill(chunk, (float) value);
            FloatBuffer f = buf.asFloatBuffer();
            for (int i = 0; i < count; i += chunk.length) {
                f.put(i, chunk, 0, Math.min(chunk.length, count - i));
            }
        } else {
            double[] chunk = new double[Math.min(count, FILL_CHUNK)];
            Arrays.fill(chunk, value);
            java.nio.DoubleBuffer d = buf.asDoubleBuffer();
            for (int i = 0; i < count; i += chunk.length) {
                d.put(i, chunk, 0, Math.min(chunk.length, count - i));
            }
        }
    }

    @Override
    public float[] toFloats(Storage s) {
        if (s.numel() == 0) {
            return new float[0];
        }
        if (isFloat(s)) {
            float[] v = new float[Math.toIntExact(s.numel())];
            CpuStorage.floats(s).get(0, v); // one bulk read, no copy through ND4J
            reachabilityFence(s);
            return v;
        }
        return nd(s).dup('c').castTo(DataType.FLOAT).data().asFloat();
    }

    @Override
    public double[] toDoubles(Storage s) {
        if (s.numel() == 0) {
            return new double[0];
        }
        return nd(s).dup('c').castTo(DataType.DOUBLE).data().asDouble();
    }

    @Override
    public double getDouble(Storage s, long index) {
        return nd(s).getDouble(index);
    }

    @Override
    public void setDouble(Storage s, long index, double value) {
        nd(s).putScalar(index, value);
    }

    @Override
    public Storage copy(Storage s, DType dtype) {
        if (s.numel() == 0) {
            return empty(dtype, s.shape());
        }
        DataType t = CpuStorage.nd4j(dtype);
        if (t == DataType.FLOAT && isFloat(s)) {
            Storage c = CpuStorage.allocate(DataType.FLOAT, s.shape());
            CpuStorage.floats(c).put(CpuStorage.floats(s).limit(Math.toIntExact(s.numel()))); // one bulk copy
            reachabilityFence(s);
            return c;
        }
        DataType from = CpuStorage.cpu(s).dataType();
        if ((from == DataType.DOUBLE || from == DataType.FLOAT) && from != t && s.numel() < Integer.MAX_VALUE) {
            // a cast element by element, as ND4J's (a double rounds to the nearest float): the loss's
            // targets every step made an ND4J array and ran its cast (0.9% of the main job's CPU time)
            Storage c = CpuStorage.allocate(t, s.shape());
            int n = (int) s.numel();
            if (t == DataType.FLOAT) {
                java.nio.DoubleBuffer src = CpuStorage.bytes(s).asDoubleBuffer();
                FloatBuffer dst = CpuStorage.floats(c);
                for (int i = 0; i < n; i++) {
                    dst.put(i, (float) src.get(i));
                }
            } else {
                FloatBuffer src = CpuStorage.floats(s);
                java.nio.DoubleBuffer dst = CpuStorage.bytes(c).asDoubleBuffer();
                for (int i = 0; i < n; i++) {
                    dst.put(i, src.get(i));
                }
            }
            reachabilityFence(s);
            return c;
        }
        INDArray a = nd(s);
        // a cast already makes a fresh array; only the same dtype needs the copy
        return wrap(a.dataType() == t ? a.dup('c') : a.castTo(t));
    }

    @Override
    public void assign(Storage dst, Storage src) {
        if (dst.numel() == 0) {
            return;
        }
        if (!(src instanceof CpuStorage)) {
            src = src.dtype() == DType.FLOAT32 ? fromFloats(src.backend().toFloats(src), src.shape())
                    : fromDoubles(src.backend().toDoubles(src), src.shape());
        }
        if (isFloat(dst) && isFloat(src) && dst.numel() == src.numel()) {
            CpuStorage.floats(dst).put(CpuStorage.floats(src).limit(Math.toIntExact(src.numel()))); // one bulk copy, no ND4J op
            reachabilityFence(src);
            reachabilityFence(dst);
            return;
        }
        INDArray d = nd(dst);
        INDArray sv = nd(src);
        d.assign(sv.dataType() == d.dataType() ? sv : sv.castTo(d.dataType()));
    }

    /**
     * The float view of a float32 CPU storage, from its first element: what CPU kernels read and
     * write in place (benchmarks call kernels on it directly). The buffer does not keep the storage
     * alive: hold the storage (or its tensor) for as long as the buffer is used.
     */
    public static FloatBuffer floats(Storage s) {
        return CpuStorage.floats(float32(s));
    }

    /** The bytes of a float32 CPU storage from its first element, in native byte order; hold the storage while they are used. */
    public static java.nio.ByteBuffer bytes(Storage s) {
        return CpuStorage.bytes(float32(s));
    }

    private static Storage float32(Storage s) {
        if (!isFloat(s)) {
            throw new IllegalArgumentException("expected a float32 storage, got " + s.dtype());
        }
        return s;
    }

    @Override
    public void fill(Storage s, double value) {
        if (s.numel() == 0) {
            return;
        }
        DataType t = CpuStorage.cpu(s).dataType();
        if ((t == DataType.FLOAT || t == DataType.DOUBLE) && s.numel() * t.width() < Integer.MAX_VALUE) {
            fillBytes(CpuStorage.bytes(s), t, value, (int) s.numel());
            reachabilityFence(s);
            return;
        }
        nd(s).assign(value);
    }

    @Override
    public void addScaledInPlace(Storage acc, Storage x, double alpha) {
        if (acc.numel() == 0) {
            return;
        }
        nd(acc).addi(nd(x).mul(alpha));
    }

    @Override
    public void addInPlace(Storage acc, Storage x) {
        if (acc.numel() == 0) {
            return;
        }
        if (fusable(acc) && isFloat(x) && acc.numel() == x.numel()) {
            // gradient accumulation: same shapes, mostly small tensors where ND4J's per-op setup dominated
            ByteBuffer sum = CpuStorage.bytes(acc);
            BinaryKernel.apply(BinaryOp.ADD, sum, CpuStorage.bytes(x), sum, (int) acc.numel(), (int) acc.numel());
            reachabilityFence(acc);
            reachabilityFence(x);
            return;
        }
        nd(acc).addi(nd(x));
    }

    @Override
    public void scaleInPlace(Storage x, double s) {
        if (x.numel() == 0) {
            return;
        }
        if (fusable(x)) {
            // the many small gradients of gradient clipping: ND4J's per-op setup cost more than the
            // multiplications; a micro model's 216K gradient elements took 48.8 us (best of 300)
            // in the scalar loop below, 22.1 us in vectors (2 cores of a Zen 5, 2026-12-07)
            BinaryKernel.scaleInPlace(CpuStorage.bytes(x), (int) x.numel(), (float) s);
            reachabilityFence(x);
            return;
        }
        if (isFloat(x)) {
            FloatBuffer b = CpuStorage.floats(x);
            float f = (float) s;
            for (int i = 0, n = (int) x.numel(); i < n; i++) {
                b.put(i, b.get(i) * f);
            }
            reachabilityFence(x);
            return;
        }
        nd(x).muli(s);
    }

    @Override
    public AutoCloseable openScope(int depth) {
        // every array allocated inside lives in an ND4J workspace (an arena): after the first step
        // learns its size, later steps reuse the memory instead of allocating and freeing buffers,
        // which on this stack otherwise waits on the garbage collector
        MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(SCOPE_CONFIG, "kat4j-scope-" + depth);
        return ws::close;
    }

    @Override
    public <T> T outsideScopes(Supplier<T> body) {
        if (!Nd4j.getWorkspaceManager().anyWorkspaceActiveForCurrentThread()) {
            return body.get();
        }
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            return body.get();
        }
    }

    @Override
    public void release(Storage s) {
        CpuStorage.cpu(s).release();
    }

    // ------------------------------------------------------------------ threads

    @Override
    public AutoCloseable ownThreads() {
        return Parallel.nativeSingleThreaded();
    }

    @Override
    public <T> T onCallingThread(Supplier<T> body) {
        return Parallel.onCallingThread(body);
    }

    // ------------------------------------------------------------------ element-wise

    @Override
    public Storage unary(UnaryOp op, Storage x) {
        if (x.numel() == 0) {
            return empty(x.dtype(), x.shape());
        }
        INDArray v = nd(x);
        return wrap(switch (op) {
            case NEG -> v.neg();
            case EXP -> Transforms.exp(v, true);
            case LOG -> Transforms.log(v, true);
            case SQRT -> Transforms.sqrt(v, true);
            case TANH -> Transforms.tanh(v, true);
            case SIGMOID -> Transforms.sigmoid(v, true);
            case RELU -> Transforms.relu(v, true);
            case ERF -> {
                INDArray y = v.dup('c');
                Nd4j.exec(new Erf(y, y));
                yield y;
            }
            case STEP -> v.gt(0).castTo(v.dataType());
            case IS_ZERO -> v.eq(0).castTo(v.dataType());
        });
    }

    @Override
    public Storage scalar(ScalarOp op, Storage x, double s) {
        if (x.numel() == 0) {
            return empty(x.dtype(), x.shape());
        }
        INDArray v = nd(x);
        return wrap(switch (op) {
            case ADD -> v.add(s);
            case MUL -> v.mul(s);
            case RSUB -> v.rsub(s);
            case POW -> Transforms.pow(v, s, true);
        });
    }

    @Override
    public Storage binary(BinaryOp op, Storage a, Storage b) {
        if (a.numel() == 0 || b.numel() == 0) {
            return empty(a.dtype(), Shapes.broadcast(op.name().toLowerCase(), a.shape(), b.shape()));
        }
        long[] as = a.shape();
        long[] bs = b.shape();
        if (fusable(a) && isFloat(b) && trailing(as, bs) && BinaryKernel.suits(a.numel(), b.numel())) {
            return inKernel(op, a, b);
        }
        if ((op == BinaryOp.ADD || op == BinaryOp.MUL) && fusable(b) && isFloat(a) && trailing(bs, as)
                && BinaryKernel.suits(b.numel(), a.numel())) {
            // a broadcasts over b (the class token expanded over the batch): b op a, the same bits
            // since float addition and multiplication commute
            return inKernel(op, b, a);
        }
        return wrap(pairwise(op, nd(a), nd(b)));
    }

    /** x op y in x's shape, y repeated over x's leading dimensions, in the vector kernel. */
    private static Storage inKernel(BinaryOp op, Storage x, Storage y) {
        Storage out = CpuStorage.allocate(DataType.FLOAT, x.shape());
        BinaryKernel.apply(op, CpuStorage.bytes(x), CpuStorage.bytes(y), CpuStorage.bytes(out), (int) x.numel(),
                (int) y.numel());
        reachabilityFence(x);
        reachabilityFence(y);
        return out;
    }

    /** Whether b's shape, leading 1s dropped, is a's trailing dimensions (b broadcasts over a's leading ones). */
    private static boolean trailing(long[] a, long[] b) {
        int lead = 0;
        while (lead < b.length && b[lead] == 1) {
            lead++;
        }
        int r = b.length - lead;
        if (b.length > a.length) {
            return false; // the result would have b's rank
        }
        for (int i = 0; i < r; i++) {
            if (b[lead + i] != a[a.length - r + i]) {
                return false;
            }
        }
        return true;
    }

    private static INDArray pairwise(BinaryOp op, INDArray a, INDArray b) {
        long[] shape = Shapes.broadcast(op.name().toLowerCase(), a.shape(), b.shape());
        INDArray out = CpuStorage.uninitialized(a.dataType(), shape);
        switch (op) {
            case ADD -> Nd4j.exec(new AddOp(a, b, out));
            case SUB -> Nd4j.exec(new SubOp(a, b, out));
            case MUL -> Nd4j.exec(new MulOp(a, b, out));
            case DIV -> Nd4j.exec(new DivOp(a, b, out));
            default -> throw new AssertionError(op);
        }
        return out;
    }

    // ------------------------------------------------------------------ reductions

    @Override
    public Storage sum(Storage x, int[] axes, boolean keepDims) {
        if (x.numel() == 0) {
            return full(x.dtype(), 0, keepDims ? Shapes.keepDims(x.shape(), axes) : Shapes.dropDims(x.shape(), axes));
        }
        return wrap(nd(x).sum(keepDims, axes));
    }

    @Override
    public Storage mean(Storage x, int[] axes, boolean keepDims) {
        if (x.numel() == 0) {
            return full(x.dtype(), Double.NaN, keepDims ? Shapes.keepDims(x.shape(), axes) : Shapes.dropDims(x.shape(), axes));
        }
        return wrap(nd(x).mean(keepDims, axes));
    }

    @Override
    public Storage max(Storage x, int[] axes, boolean keepDims) {
        if (x.numel() == 0) {
            throw new IllegalArgumentException("max of an empty tensor " + Arrays.toString(x.shape()) + ": no maximum");
        }
        return wrap(nd(x).max(keepDims, axes));
    }

    @Override
    public Storage sumTo(Storage gs, long[] shape) {
        if (gs.numel() == 0 && !Arrays.equals(gs.shape(), shape)) {
            return zeros(gs.dtype(), shape);
        }
        long[] gshape = gs.shape();
        if (Arrays.equals(gshape, shape)) {
            return gs;
        }
        int[] axes = Shapes.sumToAxes(gshape, shape);
        int n = axes.length;
        long rows = 1;
        for (int i = 0; i < n; i++) {
            rows *= gshape[axes[i]];
        }
        if (axes[n - 1] == n - 1 && isFloat(gs) && gs.numel() < Integer.MAX_VALUE) {
            // only leading axes reduced: column sums of a [rows, cols] matrix (every bias gradient)
            int cols = Math.toIntExact(gs.numel() / rows);
            float[] s = ColumnSums.sum(CpuStorage.bytes(gs), (int) rows, cols);
            reachabilityFence(gs);
            return fromFloats(s, shape);
        }
        INDArray s = nd(gs).sum(true, axes);
        return wrap(s.reshape('c', shape));
    }

    @Override
    public Storage expand(Storage gs, long[] shape) {
        if (Shapes.numel(shape) == 0) {
            return empty(gs.dtype(), shape);
        }
        INDArray g = nd(gs);
        INDArray out = CpuStorage.uninitialized(g.dataType(), shape);
        if (Arrays.equals(g.shape(), shape)) {
            return wrap(out.assign(g));
        }
        out.assign(0);
        Nd4j.exec(new AddOp(out, g, out));
        return wrap(out);
    }

    @Override
    public double norm2(Storage x) {
        if (x.numel() == 0) {
            return 0;
        }
        if (isFloat(x)) {
            // in double, over the buffer (as scaleInPlace: small tensors, ND4J's setup dominated)
            FloatBuffer b = CpuStorage.floats(x);
            int n = (int) x.numel();
            double s0 = 0;
            double s1 = 0;
            double s2 = 0;
            double s3 = 0;
            int i = 0;
            for (; i + 4 <= n; i += 4) {
                double v0 = b.get(i);
                double v1 = b.get(i + 1);
                double v2 = b.get(i + 2);
                double v3 = b.get(i + 3);
                s0 += v0 * v0;
                s1 += v1 * v1;
                s2 += v2 * v2;
                s3 += v3 * v3;
            }
            for (; i < n; i++) {
                double v = b.get(i);
                s0 += v * v;
            }
            reachabilityFence(x);
            return Math.sqrt((s0 + s1) + (s2 + s3));
        }
        return nd(x).norm2Number().doubleValue();
    }

    /**
     * The default's sum (each storage's {@link #norm2} squared, added in list order: the same
     * bits) with the norms taken on all cores when there are enough elements: a model's
     * gradients at a clip.
     */
    @Override
    public double sumOfSquares(List<Storage> xs) {
        long total = 0;
        for (Storage x : xs) {
            total += x.numel();
        }
        if (total < SUM_OF_SQUARES_SPLIT || xs.size() < 2) {
            return Backend.super.sumOfSquares(xs);
        }
        double[] norms = new double[xs.size()];
        Parallel.forEach(xs.size(), i -> norms[i] = norm2(xs.get(i)));
        double sq = 0;
        for (double n : norms) {
            sq += n * n;
        }
        return sq;
    }

    /** Elements below which {@link #sumOfSquares} stays on the calling thread. */
    private static final long SUM_OF_SQUARES_SPLIT = 1 << 16;

    // ------------------------------------------------------------------ matrix products

    @Override
    public Storage matmul(Storage a, Storage b, boolean transA, boolean transB) {
        if (a.numel() == 0 || b.numel() == 0) {
            long[] as = a.shape();
            long[] bs = b.shape();
            int r = as.length;
            long[] shape = as.clone();
            shape[r - 2] = transA ? as[r - 1] : as[r - 2];
            shape[r - 1] = transB ? bs[r - 2] : bs[r - 1];
            return zeros(a.dtype(), shape); // a sum over k = 0 terms is 0
        }
        long[] as = a.shape();
        long[] bs = b.shape();
        int r = as.length;
        long m = transA ? as[r - 1] : as[r - 2];
        long k = transA ? as[r - 2] : as[r - 1];
        long n = transB ? bs[r - 2] : bs[r - 1];
        long batch = a.numel() / (m * k);
        long[] shape = as.clone();
        shape[r - 2] = m;
        shape[r - 1] = n;
        if (!isFloat(a) || !isFloat(b)) {
            INDArray c = CpuStorage.uninitialized(nd(a).dataType(), shape);
            Nd4j.gemm(nd(a), nd(b), c, transA, transB, 1.0, 0.0);
            return wrap(c);
        }
        Storage c = CpuStorage.allocate(DataType.FLOAT, shape);
        if (r > 2 && Simd.arrays() && SmallMatmulKernel.suits(batch, m, n, k)) {
            SmallMatmulKernel.multiply(CpuStorage.floats(a), CpuStorage.floats(b), CpuStorage.floats(c),
                    (int) batch, (int) m, (int) n, (int) k, transA, transB);
        } else {
            Blas.sgemm(CpuStorage.floats(a), CpuStorage.floats(b), CpuStorage.bytes(c), batch,
                    Math.toIntExact(m), Math.toIntExact(n), Math.toIntExact(k), transA, transB);
        }
        reachabilityFence(a);
        reachabilityFence(b);
        return c;
    }

    @Override
    public Storage linear(Storage x, Storage w, Storage bias) {
        if (!fusable(x) || !fusable(w) || !fusable(bias)) {
            return Backend.super.linear(x, w, bias);
        }
        // the bias rows first, then the product added onto them: one pass over the output instead of two
        long[] xs = x.shape();
        int rows = Math.toIntExact(xs[0]);
        int in = Math.toIntExact(xs[1]);
        int out = Math.toIntExact(w.shape()[0]);
        Storage y = CpuStorage.allocate(DataType.FLOAT, rows, out);
        Blas.linear(CpuStorage.floats(x), CpuStorage.floats(w), CpuStorage.bytes(bias), CpuStorage.bytes(y), rows, out, in);
        reachabilityFence(x);
        reachabilityFence(w);
        reachabilityFence(bias);
        return y;
    }

    @Override
    public Storage roundBf16(Storage x) {
        if (!isFloat(x) || x.numel() == 0) {
            return Backend.super.roundBf16(x);
        }
        Storage y = CpuStorage.allocate(DataType.FLOAT, x.shape());
        FloatBuffer src = CpuStorage.floats(x);
        FloatBuffer dst = CpuStorage.floats(y);
        Chunks.forEach(Math.toIntExact(x.numel()), 1, 1 << 16, (c, from, len) -> {
            for (int i = from; i < from + len; i++) {
                dst.put(i, Bf16.round(src.get(i)));
            }
        });
        reachabilityFence(x);
        return y;
    }

    /**
     * {@code c = op(a) @ op(b)} into a preallocated 2-D {@code c}: the bare BLAS call, the baseline
     * that benchmarks measure {@link #matmul} against.
     */
    public void gemmInto(Storage a, Storage b, Storage c, boolean transA, boolean transB) {
        Nd4j.gemm(nd(a), nd(b), nd(c), transA, transB, 1.0, 0.0);
    }

    // ------------------------------------------------------------------ layout

    @Override
    public Storage reshape(Storage x, long... shape) {
        if (Shapes.numel(shape) != x.numel()) {
            throw new IllegalArgumentException("reshape " + Arrays.toString(x.shape()) + " to " + Arrays.toString(shape)
                    + ": sizes differ");
        }
        return CpuStorage.cpu(x).view(shape);
    }

    @Override
    public Storage permute(Storage x, int... dims) {
        long[] xs = x.shape();
        long[] shape = new long[dims.length];
        for (int i = 0; i < dims.length; i++) {
            shape[i] = xs[dims[i]];
        }
        if (x.numel() == 0) {
            return empty(x.dtype(), shape);
        }
        if (loopable(x) && PermuteKernel.suits(x.numel(), dims)) {
            Storage out = CpuStorage.allocate(DataType.FLOAT, shape);
            PermuteKernel.permute(CpuStorage.floats(x), xs, dims, CpuStorage.floats(out));
            reachabilityFence(x);
            return out;
        }
        return wrap(nd(x).permute(dims).dup('c'));
    }

    private static INDArrayIndex[] narrowIndex(int rank, int dim, long start, long length) {
        INDArrayIndex[] idx = new INDArrayIndex[rank];
        for (int i = 0; i < rank; i++) {
            idx[i] = i == dim ? NDArrayIndex.interval(start, start + length) : NDArrayIndex.all();
        }
        return idx;
    }

    @Override
    public Storage narrow(Storage x, int dim, long start, long length) {
        long[] xs = x.shape();
        if (copiesInBlocks(x) && dim >= 0 && dim < xs.length && length > 0 && start >= 0 && start + length <= xs[dim]) {
            // one contiguous block per index before dim (ND4J's get and dup: 0.85% of the main job's CPU time)
            long[] shape = xs.clone();
            shape[dim] = length;
            Storage out = CpuStorage.allocate(CpuStorage.cpu(x).dataType(), shape);
            long inner = innerBytes(x, dim);
            copyBlocks(CpuStorage.bytes(x), xs[dim] * inner, start * inner, CpuStorage.bytes(out), length * inner, 0,
                    outer(xs, dim), length * inner);
            reachabilityFence(x);
            return out;
        }
        INDArray v = nd(x);
        return wrap(v.get(narrowIndex(v.rank(), dim, start, length)).dup('c'));
    }

    /**
     * Whether narrow and concat may copy x as blocks of bytes: float32 or float64, not empty, its
     * bytes addressable by an int.
     */
    private static boolean copiesInBlocks(Storage x) {
        return x.numel() > 0 && x.numel() * CpuStorage.cpu(x).dataType().width() < Integer.MAX_VALUE
                && (isFloat(x) || CpuStorage.cpu(x).dataType() == DataType.DOUBLE);
    }

    /** Bytes of one index of dim: the product of the later dims times the element size. */
    private static long innerBytes(Storage x, int dim) {
        long[] s = x.shape();
        long inner = CpuStorage.cpu(x).dataType().width();
        for (int i = dim + 1; i < s.length; i++) {
            inner *= s[i];
        }
        return inner;
    }

    /** Whether a and b have the same rank and the same sizes in every dimension but dim. */
    private static boolean sameOutside(long[] a, long[] b, int dim) {
        if (a.length != b.length) {
            return false;
        }
        for (int i = 0; i < a.length; i++) {
            if (i != dim && a[i] != b[i]) {
                return false;
            }
        }
        return true;
    }

    /** The product of the dims before dim. */
    private static long outer(long[] s, int dim) {
        long outer = 1;
        for (int i = 0; i < dim; i++) {
            outer *= s[i];
        }
        return outer;
    }

    /** For o &lt; count: bytes [o * srcStride + srcOff, + len) of src to o * dstStride + dstOff of dst. */
    private static void copyBlocks(ByteBuffer src, long srcStride, long srcOff, ByteBuffer dst, long dstStride, long dstOff,
                                   long count, long len) {
        for (long o = 0; o < count; o++) {
            dst.put((int) (o * dstStride + dstOff), src, (int) (o * srcStride + srcOff), (int) len);
        }
    }

    @Override
    public Storage unnarrow(Storage g, long[] shape, int dim, long start) {
        long[] gs = g.shape();
        if (copiesInBlocks(g) && dim >= 0 && dim < shape.length && sameOutside(gs, shape, dim) && start >= 0
                && start + gs[dim] <= shape[dim] && Shapes.numel(shape) * CpuStorage.cpu(g).dataType().width() < Integer.MAX_VALUE) {
            // zeros, then g's blocks into their places: narrow's copy the other way
            Storage out = CpuStorage.allocate(CpuStorage.cpu(g).dataType(), shape);
            fill(out, 0);
            long inner = innerBytes(g, dim);
            copyBlocks(CpuStorage.bytes(g), gs[dim] * inner, 0, CpuStorage.bytes(out), shape[dim] * inner, start * inner,
                    outer(gs, dim), gs[dim] * inner);
            reachabilityFence(g);
            return out;
        }
        INDArray gv = nd(g);
        INDArray dx = Nd4j.zeros(gv.dataType(), shape);
        dx.get(narrowIndex(shape.length, dim, start, gv.size(dim))).assign(gv);
        return wrap(dx);
    }

    @Override
    public Storage concat(int dim, Storage... xs) {
        if (xs.length == 1) {
            return wrap(nd(xs[0]).dup('c'));
        }
        Storage blocks = concatInBlocks(dim, xs);
        if (blocks != null) {
            return blocks;
        }
        INDArray[] arrs = new INDArray[xs.length];
        for (int i = 0; i < xs.length; i++) {
            arrs[i] = nd(xs[i]);
        }
        return wrap(Nd4j.concat(dim, arrs));
    }

    /** concat as contiguous block copies, or null where the parts do not allow it (ND4J then checks and concatenates). */
    private static Storage concatInBlocks(int dim, Storage... xs) {
        long[] first = xs[0].shape();
        DataType t = CpuStorage.cpu(xs[0]).dataType();
        long along = 0;
        for (Storage x : xs) {
            long[] s = x.shape();
            if (!copiesInBlocks(x) || CpuStorage.cpu(x).dataType() != t || s.length != first.length || dim < 0 || dim >= s.length) {
                return null;
            }
            for (int i = 0; i < s.length; i++) {
                if (i != dim && s[i] != first[i]) {
                    return null;
                }
            }
            along += s[dim];
        }
        long[] shape = first.clone();
        shape[dim] = along;
        if (Shapes.numel(shape) * t.width() >= Integer.MAX_VALUE) {
            return null;
        }
        Storage out = CpuStorage.allocate(t, shape);
        ByteBuffer o = CpuStorage.bytes(out);
        long inner = innerBytes(out, dim);
        long count = outer(shape, dim);
        long at = 0;
        for (Storage x : xs) {
            long len = x.shape()[dim] * inner;
            copyBlocks(CpuStorage.bytes(x), len, 0, o, along * inner, at, count, len);
            at += len;
        }
        reachabilityFence(xs);
        return out;
    }

    @Override
    public Storage indexSelect(Storage x, int dim, long[] index) {
        INDArray xv = nd(x);
        INDArray[] parts = new INDArray[index.length];
        for (int k = 0; k < index.length; k++) {
            parts[k] = xv.get(narrowIndex(xv.rank(), dim, index[k], 1));
        }
        return wrap(parts.length == 1 ? parts[0].dup('c') : Nd4j.concat(dim, parts));
    }

    @Override
    public Storage indexAdd(Storage g, long[] shape, int dim, long[] index) {
        INDArray gv = nd(g);
        int r = shape.length;
        INDArray dx = Nd4j.zeros(gv.dataType(), shape);
        for (int k = 0; k < index.length; k++) {
            dx.get(narrowIndex(r, dim, index[k], 1)).addi(gv.get(narrowIndex(r, dim, k, 1)));
        }
        return wrap(dx);
    }

    // ------------------------------------------------------------------ softmax family (last axis)

    @Override
    public Storage softmax(Storage x) {
        if (x.numel() == 0) {
            return empty(x.dtype(), x.shape());
        }
        long[] xs = x.shape();
        int last = xs.length - 1;
        if (fusableArrays(x)) {
            // one pass each way (SoftmaxKernel) instead of five and four ND4J ops
            int n = Math.toIntExact(x.numel());
            int d = Math.toIntExact(xs[last]);
            Storage y = CpuStorage.allocate(DataType.FLOAT, xs);
            SoftmaxKernel.forward(CpuStorage.floats(x), CpuStorage.floats(y), n, d);
            reachabilityFence(x);
            return y;
        }
        INDArray xv = nd(x);
        INDArray e = pairwise(BinaryOp.SUB, xv, xv.max(true, last));
        Transforms.exp(e, false);
        return wrap(pairwise(BinaryOp.DIV, e, e.sum(true, last)));
    }

    @Override
    public Storage softmaxBackward(Storage ys, Storage gs) {
        if (ys.numel() == 0) {
            return empty(ys.dtype(), ys.shape());
        }
        long[] shape = ys.shape();
        int last = shape.length - 1;
        if (fusableArrays(ys)) {
            int n = Math.toIntExact(ys.numel());
            int d = Math.toIntExact(shape[last]);
            Storage gx = CpuStorage.allocate(DataType.FLOAT, shape);
            Storage g = asFloat(gs);
            SoftmaxKernel.backward(CpuStorage.floats(ys), CpuStorage.floats(g), CpuStorage.floats(gx), n, d);
            reachabilityFence(ys);
            reachabilityFence(g);
            return gx;
        }
        INDArray y = nd(ys);
        INDArray g = nd(gs);
        INDArray dot = g.mul(y).sum(true, last);
        return wrap(pairwise(BinaryOp.SUB, g, dot).muli(y));
    }

    @Override
    public Storage logSoftmax(Storage x) {
        if (x.numel() == 0) {
            return empty(x.dtype(), x.shape());
        }
        INDArray xv = nd(x);
        return wrap(logSoftmax(xv, xv.rank() - 1));
    }

    private static INDArray logSoftmax(INDArray xv, int last) {
        INDArray shifted = pairwise(BinaryOp.SUB, xv, xv.max(true, last));
        INDArray lse = Transforms.log(Transforms.exp(shifted, true).sum(true, last), false);
        return pairwise(BinaryOp.SUB, shifted, lse);
    }

    @Override
    public Storage logSoftmaxBackward(Storage ys, Storage gs) {
        if (ys.numel() == 0) {
            return empty(ys.dtype(), ys.shape());
        }
        INDArray y = nd(ys);
        INDArray g = nd(gs);
        int last = y.rank() - 1;
        INDArray p = Transforms.exp(y, true);
        return wrap(pairwise(BinaryOp.SUB, g, pairwise(BinaryOp.MUL, p, g.sum(true, last))));
    }

    @Override
    public Storage crossEntropy(Storage logits, Storage targets) {
        if (loopable(logits) && loopable(targets)) {
            // a few thousand elements: one loop beats the seven ND4J ops of the composed form
            long[] ls = logits.shape();
            int n = Math.toIntExact(ls[0]);
            int c = Math.toIntExact(ls[1]);
            float[] x = toFloats(logits);
            float[] t = toFloats(targets);
            double loss = 0;
            for (int r = 0; r < n; r++) {
                double shift = rowLogSumExp(x, r * c, c);
                for (int j = r * c; j < (r + 1) * c; j++) {
                    loss -= t[j] * (x[j] - shift);
                }
            }
            return wrap(Nd4j.scalar(DataType.FLOAT, (float) (loss / n)));
        }
        INDArray xv = nd(logits);
        INDArray logp = logSoftmax(xv, 1);
        double loss = -logp.mul(nd(targets)).sumNumber().doubleValue() / xv.size(0);
        return wrap(Nd4j.scalar(xv.dataType(), loss));
    }

    @Override
    public Storage crossEntropyBackward(Storage logits, Storage targets, Storage g) {
        INDArray xv = nd(logits);
        INDArray tv = nd(targets);
        double s = nd(g).getDouble(0) / xv.size(0);
        if (loopable(logits) && loopable(targets)) {
            int n = Math.toIntExact(xv.size(0));
            int c = Math.toIntExact(xv.size(1));
            float[] x = toFloats(logits);
            float[] t = toFloats(targets);
            float[] gx = new float[n * c];
            for (int r = 0; r < n; r++) {
                double shift = rowLogSumExp(x, r * c, c);
                double mass = 0;
                for (int j = r * c; j < (r + 1) * c; j++) {
                    mass += t[j];
                }
                for (int j = r * c; j < (r + 1) * c; j++) {
                    gx[j] = (float) ((Math.exp(x[j] - shift) * mass - t[j]) * s);
                }
            }
            return fromFloats(gx, n, c);
        }
        // (softmax - t) * s, with the target rows' mass (1 for proper distributions) scaling softmax
        INDArray p = Transforms.exp(logSoftmax(xv, 1), false);
        INDArray mass = tv.sum(true, 1);
        return wrap(pairwise(BinaryOp.MUL, p, mass).subi(tv).muli(s));
    }

    /** max + log(sum(exp(x - max))) over x[from .. from + c), in double. */
    private static double rowLogSumExp(float[] x, int from, int c) {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = from; j < from + c; j++) {
            max = Math.max(max, x[j]);
        }
        double sum = 0;
        for (int j = from; j < from + c; j++) {
            sum += Math.exp(x[j] - max);
        }
        return max + Math.log(sum);
    }

    // ------------------------------------------------------------------ attention

    @Override
    public Saved attention(Storage qkv, int heads, double scale) {
        long[] s = qkv.shape();
        if (qkv.numel() == 0) {
            return new Saved(empty(qkv.dtype(), s[0], s[1], s[2] / 3), empty(qkv.dtype(), s[0], heads, s[1], s[1]));
        }
        if (!fusableArrays(qkv)) {
            return Backend.super.attention(qkv, heads, scale);
        }
        // one pass per sample over its rows (AttentionKernel) instead of ten composed ops
        int b = Math.toIntExact(s[0]);
        int n = Math.toIntExact(s[1]);
        int d = Math.toIntExact(s[2] / 3);
        Storage out = CpuStorage.allocate(DataType.FLOAT, b, n, d);
        Storage p = CpuStorage.allocate(DataType.FLOAT, b, heads, n, n);
        AttentionKernel.forward(CpuStorage.floats(qkv), CpuStorage.floats(out), CpuStorage.floats(p), b, n, heads, d / heads,
                (float) scale);
        reachabilityFence(qkv);
        return new Saved(out, p);
    }

    @Override
    public Storage attentionBackward(Saved forward, Storage qkv, int heads, double scale, Storage g) {
        long[] s = qkv.shape();
        if (qkv.numel() == 0) {
            return empty(qkv.dtype(), s);
        }
        Storage p = (Storage) forward.state();
        if (!fusableArrays(qkv) || !fusableArrays(p)) {
            return Backend.super.attentionBackward(forward, qkv, heads, scale, g);
        }
        int b = Math.toIntExact(s[0]);
        int n = Math.toIntExact(s[1]);
        int d = Math.toIntExact(s[2] / 3);
        Storage gx = CpuStorage.allocate(DataType.FLOAT, s);
        Storage gf = asFloat(g);
        AttentionKernel.backward(CpuStorage.floats(qkv), CpuStorage.floats(p), CpuStorage.floats(gf), CpuStorage.floats(gx), b, n,
                heads, d / heads, (float) scale);
        reachabilityFence(qkv);
        reachabilityFence(p);
        reachabilityFence(gf);
        return gx;
    }

    // ------------------------------------------------------------------ GELU

    @Override
    public Storage gelu(Storage x) {
        if (x.numel() == 0) {
            return empty(x.dtype(), x.shape());
        }
        if (fusable(x)) {
            // one-pass vector kernel (GeluKernel); float64 and JVMs without the vector module keep
            // the composed form (GeluKernel's plain-Java loops measured slower than it: 43 ms vs
            // 29 ms forward+backward at 6304x768)
            Storage y = CpuStorage.allocate(DataType.FLOAT, x.shape());
            GeluKernel.forward(CpuStorage.bytes(x), CpuStorage.bytes(y), Math.toIntExact(x.numel()));
            reachabilityFence(x);
            return y;
        }
        INDArray xv = nd(x);
        return wrap(xv.mul(geluCdf(xv)));
    }

    /** Phi(x) = (1 + erf(x / sqrt 2)) / 2. */
    private static INDArray geluCdf(INDArray xv) {
        INDArray cdf = xv.div(SQRT2);
        Nd4j.exec(new Erf(cdf, cdf));
        return cdf.addi(1).muli(0.5);
    }

    @Override
    public Storage geluBackward(Storage x, Storage gs) {
        if (x.numel() == 0) {
            return empty(x.dtype(), x.shape());
        }
        if (fusable(x)) {
            Storage gx = CpuStorage.allocate(DataType.FLOAT, x.shape());
            Storage g = asFloat(gs);
            GeluKernel.backward(CpuStorage.bytes(x), CpuStorage.bytes(g), CpuStorage.bytes(gx), Math.toIntExact(x.numel()));
            reachabilityFence(x);
            reachabilityFence(g);
            return gx;
        }
        INDArray xv = nd(x);
        INDArray g = nd(gs);
        // Phi(x) + x * phi(x)
        INDArray pdf = xv.mul(xv).muli(-0.5);
        Transforms.exp(pdf, false).muli(INV_SQRT_2PI).muli(xv);
        return wrap(pdf.addi(geluCdf(xv)).muli(g));
    }

    // ------------------------------------------------------------------ LayerNorm

    private record FusedNorm(float[] w, float[] mean, float[] rstd) {
    }

    private record ComposedNorm(INDArray xhat, INDArray rstd) {
    }

    @Override
    public Saved layerNorm(Storage x, Storage weight, Storage bias, double eps) {
        if (x.numel() == 0) {
            return new Saved(empty(x.dtype(), x.shape()), null);
        }
        long[] xs = x.shape();
        int last = xs.length - 1;
        if (fusable(x) && isFloat(weight) && isFloat(bias)) {
            // one pass forward, one backward (LayerNormKernel); mean and 1/std kept per row
            int n = Math.toIntExact(x.numel());
            int d = Math.toIntExact(xs[last]);
            float[] w = toFloats(weight);
            float[] b = toFloats(bias);
            float[] mean = new float[n / d];
            float[] rstd = new float[n / d];
            Storage y = CpuStorage.allocate(DataType.FLOAT, xs);
            LayerNormKernel.forward(CpuStorage.bytes(x), CpuStorage.bytes(y), n, d, w, b, (float) eps, mean, rstd);
            reachabilityFence(x);
            return new Saved(y, new FusedNorm(w, mean, rstd));
        }
        INDArray xv = nd(x);
        INDArray wv = nd(weight);
        INDArray bv = nd(bias);
        INDArray xc = pairwise(BinaryOp.SUB, xv, xv.mean(true, last));
        INDArray var = xc.mul(xc).mean(true, last);
        INDArray rstd = Transforms.pow(var.addi(eps), -0.5, false);
        INDArray xhat = pairwise(BinaryOp.MUL, xc, rstd);
        INDArray y = pairwise(BinaryOp.ADD, pairwise(BinaryOp.MUL, xhat, wv), bv);
        return new Saved(wrap(y), new ComposedNorm(xhat, rstd));
    }

    @Override
    public Storage[] layerNormBackward(Saved forward, Storage x, Storage weight, Storage gs, boolean needX,
                                       boolean needWeight, boolean needBias) {
        if (x.numel() == 0) {
            return new Storage[]{needX ? empty(x.dtype(), x.shape()) : null, needWeight ? zeros(weight.dtype(), weight.shape()) : null,
                needBias ? zeros(weight.dtype(), weight.shape()) : null};
        }
        Storage[] out = new Storage[3];
        if (forward.state() instanceof FusedNorm f) {
            long[] xs = x.shape();
            int n = Math.toIntExact(x.numel());
            int d = Math.toIntExact(xs[xs.length - 1]);
            Storage gx = needX ? CpuStorage.allocate(DataType.FLOAT, xs) : null;
            double[] dw = needWeight ? new double[d] : null;
            double[] db = needBias ? new double[d] : null;
            Storage g = asFloat(gs);
            LayerNormKernel.backward(CpuStorage.bytes(x), CpuStorage.bytes(g), gx == null ? null : CpuStorage.bytes(gx),
                    n, d, f.w(), f.mean(), f.rstd(), dw, db);
            reachabilityFence(x);
            reachabilityFence(g);
            out[0] = gx;
            out[1] = dw == null ? null : fromFloats(toFloat(dw), d);
            out[2] = db == null ? null : fromFloats(toFloat(db), d);
            return out;
        }
        INDArray xv = nd(x);
        INDArray g = nd(gs);
        ComposedNorm c = (ComposedNorm) forward.state();
        INDArray wv = nd(weight);
        long[] ws = wv.shape();
        int last = xv.rank() - 1;
        if (needWeight) {
            out[1] = sumTo(wrap(g.mul(c.xhat())), ws);
        }
        if (needBias) {
            out[2] = wrap(nd(sumTo(gs, ws)).dup());
        }
        if (needX) {
            INDArray dxhat = pairwise(BinaryOp.MUL, g, wv);
            INDArray m1 = dxhat.mean(true, last);
            INDArray m2 = dxhat.mul(c.xhat()).mean(true, last);
            INDArray dx = pairwise(BinaryOp.SUB, dxhat, m1);
            dx.subi(pairwise(BinaryOp.MUL, c.xhat(), m2));
            out[0] = wrap(pairwise(BinaryOp.MUL, dx, c.rstd()));
        }
        return out;
    }

    // ------------------------------------------------------------------ group rational

    @Override
    public Storage rationalForward(Storage x, Storage numerator, Storage denominator, int groups) {
        if (x.numel() == 0) {
            return empty(x.dtype(), x.shape());
        }
        long[] xs = x.shape();
        int n = Math.toIntExact(x.numel());
        int d = Math.toIntExact(xs[xs.length - 1]);
        if (isFloat(x)) {
            Storage y = CpuStorage.allocate(DataType.FLOAT, xs);
            RationalKernels.get().forward(CpuStorage.bytes(x), CpuStorage.bytes(y), n, d, groups,
                    toFloats(numerator), toFloats(denominator));
            reachabilityFence(x);
            return y;
        }
        double[] out = new double[n];
        Rational.forward(toDoubles(x), out, d, groups, toDoubles(numerator), toDoubles(denominator));
        return wrap(Nd4j.create(out, xs, 'c'));
    }

    @Override
    public Storage[] rationalBackward(Storage x, Storage gs, Storage numerator, Storage denominator, int groups,
                                      boolean needX) {
        if (x.numel() == 0) {
            return new Storage[]{needX ? empty(x.dtype(), x.shape()) : null, zeros(numerator.dtype(), numerator.shape()),
                zeros(denominator.dtype(), denominator.shape())};
        }
        long[] xs = x.shape();
        int n = Math.toIntExact(x.numel());
        int d = Math.toIntExact(xs[xs.length - 1]);
        double[] ga = new double[6];
        double[] gb = new double[groups * 4];
        Storage gx = null;
        if (isFloat(x)) {
            gx = needX ? CpuStorage.allocate(DataType.FLOAT, xs) : null;
            Storage g = asFloat(gs);
            RationalKernels.get().backward(CpuStorage.bytes(x), CpuStorage.bytes(g), gx == null ? null : CpuStorage.bytes(gx),
                    n, d, groups, toFloats(numerator), toFloats(denominator), ga, gb);
            reachabilityFence(x);
            reachabilityFence(g);
        } else {
            double[] gxs = needX ? new double[n] : null;
            Rational.backward(toDoubles(x), toDoubles(gs), gxs, d, groups, toDoubles(numerator), toDoubles(denominator), ga, gb);
            if (gxs != null) {
                gx = wrap(Nd4j.create(gxs, xs, 'c'));
            }
        }
        return new Storage[]{gx, coefficients(ga, numerator), coefficients(gb, denominator)};
    }

    /** Coefficient gradients summed in double, stored in the coefficients' dtype and shape. */
    private Storage coefficients(double[] g, Storage like) {
        return isFloat(like) ? fromFloats(toFloat(g), like.shape()) : fromDoubles(g, like.shape());
    }

    private static float[] toFloat(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        return f;
    }

    // ------------------------------------------------------------------ AdamW

    private static final int ADAMW_CHUNK = 1 << 14;

    @Override
    public void adamwStep(Storage ws, Storage gs, Storage ms, Storage vs, AdamWStep s) {
        if (ws.numel() == 0) {
            return;
        }
        if (isFloat(ws) && isFloat(gs) && isFloat(ms) && isFloat(vs)) {
            adamwSteps(new Storage[]{ws}, new Storage[]{gs}, new Storage[]{ms}, new Storage[]{vs}, new AdamWStep[]{s});
            return;
        }
        INDArray w = nd(ws);
        INDArray g = nd(gs);
        INDArray m = nd(ms);
        INDArray v = nd(vs);
        m.muli(s.beta1()).addi(g.mul(1 - s.beta1()));
        v.muli(s.beta2()).addi(g.mul(g).muli(1 - s.beta2()));
        if (s.decay() != 1) {
            w.muli(s.decay());
        }
        INDArray denom = Transforms.sqrt(v.div(s.bc2()), false).addi(s.eps());
        w.subi(m.div(denom).muli(s.lr() / s.bc1()));
    }

    /**
     * All parameters in one pass of chunks on all cores when they are float32 (same chunks and bits
     * as {@link #adamwStep} one by one). A micro model's parameters are each below the size that
     * {@link #adamwStep} hands to other cores, so one by one they were all updated on the calling
     * thread while the other core waited: 1.6% of the main job's wall time (profile, 2 cores of a
     * Zen 5, 2026-12-07). Fewer than 5 chunks (80K elements) stay on the calling thread.
     */
    @Override
    public void adamwSteps(Storage[] w, Storage[] g, Storage[] m, Storage[] v, AdamWStep[] steps) {
        int chunks = 0;
        for (int i = 0; i < w.length; i++) {
            if (!isFloat(w[i]) || !isFloat(g[i]) || !isFloat(m[i]) || !isFloat(v[i])) {
                Backend.super.adamwSteps(w, g, m, v, steps);
                return;
            }
            chunks += (int) ((w[i].numel() + ADAMW_CHUNK - 1) / ADAMW_CHUNK);
        }
        // chunk c: parameter of[c], elements from[c] .. from[c] + ADAMW_CHUNK (or the parameter's end)
        int[] of = new int[chunks];
        int[] from = new int[chunks];
        ByteBuffer[][] buffers = new ByteBuffer[w.length][];
        for (int i = 0, c = 0; i < w.length; i++) {
            buffers[i] = new ByteBuffer[]{CpuStorage.bytes(w[i]), CpuStorage.bytes(g[i]), CpuStorage.bytes(m[i]), CpuStorage.bytes(v[i])};
            for (long off = 0; off < w[i].numel(); off += ADAMW_CHUNK, c++) {
                of[c] = i;
                from[c] = (int) off;
            }
        }
        IntConsumer chunk = c -> {
            int i = of[c];
            ByteBuffer[] b = buffers[i];
            adamwChunk(b[0], b[1], b[2], b[3], from[c], (int) Math.min(w[i].numel(), from[c] + (long) ADAMW_CHUNK), steps[i]);
        };
        if (chunks < 5) {
            for (int c = 0; c < chunks; c++) {
                chunk.accept(c);
            }
        } else {
            Parallel.forEach(chunks, chunk);
        }
        reachabilityFence(w);
        reachabilityFence(g);
        reachabilityFence(m);
        reachabilityFence(v);
    }

    /**
     * Elements [from, to) of one float32 parameter's AdamW update, with its gradient and both
     * moments, in float32 like torch.optim.AdamW, on their bytes in place. The ND4J composition took
     * eleven native calls and six temporary arrays per parameter: 8% of a vit_micro training step.
     * With the vector module {@link AdamWVectorKernel} does it, with the same bits as
     * {@link #adamwPlain}.
     */
    private static void adamwChunk(ByteBuffer w, ByteBuffer g, ByteBuffer m, ByteBuffer v, int from, int to, AdamWStep s) {
        float b1 = (float) s.beta1();
        float b2 = (float) s.beta2();
        float c1 = (float) (1 - s.beta1());
        float c2 = (float) (1 - s.beta2());
        float e = (float) s.eps();
        float decay = (float) s.decay();
        float stepSize = (float) (s.lr() / s.bc1());
        float bc2Sqrt = (float) Math.sqrt(s.bc2());
        if (Simd.available()) {
            AdamWVectorKernel.update(w, g, m, v, from, to, b1, b2, c1, c2, e, decay, stepSize, bc2Sqrt);
        } else {
            adamwPlain(w, g, m, v, from, to, b1, b2, c1, c2, e, decay, stepSize, bc2Sqrt);
        }
    }

    /** Elements [from, to) of the AdamW update, one at a time (native-order float32 bytes). */
    static void adamwPlain(ByteBuffer w, ByteBuffer g, ByteBuffer m, ByteBuffer v, int from, int to, float b1, float b2,
                           float c1, float c2, float e, float decay, float stepSize, float bc2Sqrt) {
        for (int i = from; i < to; i++) {
            int at = 4 * i;
            float gi = g.getFloat(at);
            float mi = m.getFloat(at) * b1 + c1 * gi;
            float vi = v.getFloat(at) * b2 + c2 * gi * gi;
            m.putFloat(at, mi);
            v.putFloat(at, vi);
            w.putFloat(at, w.getFloat(at) * decay - stepSize * mi / ((float) Math.sqrt(vi) / bc2Sqrt + e));
        }
    }
}
