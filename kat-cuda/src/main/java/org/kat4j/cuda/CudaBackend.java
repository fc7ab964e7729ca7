package org.kat4j.cuda;

import org.kat4j.backend.Backend;
import org.kat4j.backend.BinaryOp;
import org.kat4j.backend.Device;
import org.kat4j.backend.Philox;
import org.kat4j.backend.ScalarOp;
import org.kat4j.backend.Shapes;
import org.kat4j.backend.Storage;
import org.kat4j.backend.UnaryOp;
import org.kat4j.tensor.DType;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * The {@link Backend} on one GPU: storages in device memory ({@link CudaStorage}, from a caching
 * allocator, {@link DeviceMemory}), matrix products through cuBLAS 13 ({@link CudaBlas}), every other
 * op a kernel of kernels.cu or rational.cu, all queued in order on one stream. Inside a training
 * step nothing crosses to the host except what the caller reads ({@link #toFloats},
 * {@link #getDouble}, {@link #norm2}) and the index lists of {@link #indexSelect} / {@link #indexAdd},
 * which the interface passes as host arrays; {@link #transfers()} counts the copies.
 *
 * <p>Float32 and float64 storage; sums accumulate in double in a fixed order, so the same inputs
 * give the same bits on the same device.
 */
public final class CudaBackend implements Backend {
    private static final int THREADS = 256;
    private static final int WARPS = THREADS / 32;
    // kernels.cu op codes
    private static final int M_NEG = 0, M_EXP = 1, M_LOG = 2, M_SQRT = 3, M_TANH = 4, M_SIGMOID = 5, M_RELU = 6, M_ERF = 7,
            M_STEP = 8, M_IS_ZERO = 9, M_ADD_S = 10, M_MUL_S = 11, M_RSUB_S = 12, M_POW_S = 13, M_FILL = 14, M_GELU = 15;
    private static final int B_ADD = 0, B_SUB = 1, B_MUL = 2, B_DIV = 3, B_COPY_A = 4, B_AXPY = 5, B_GELU_BWD = 6;
    private static final int R_SUM = 0, R_MAX = 1, R_SUMSQ = 2;

    private final Gpu gpu;
    private final Device device;
    private final DeviceMemory memory;
    private final int sms;
    private final CudaStorage.Block emptyBlock;
    private final AtomicLong transfers = new AtomicLong();
    private final AtomicLong queued = new AtomicLong();
    /** The thread recording a CUDA graph, or null. */
    private volatile Thread capturing;
    /** While recording: the table of mask seeds and optimizer numbers the recorded kernels read. */
    private CudaGraph.Table table;
    /** While a replay's host part runs on this thread: the table whose recorded calls it refills, and the next call. */
    private final ThreadLocal<Refresh> refreshing = new ThreadLocal<>();
    private final ThreadLocal<KernelArgs> args;
    private final ThreadLocal<ArrayDeque<List<CudaStorage.Block>>> scopes = ThreadLocal.withInitial(ArrayDeque::new);
    private final ThreadLocal<int[]> outside = ThreadLocal.withInitial(() -> new int[1]);

    /** The backend on the runtime's device (cuBLAS must load: {@link Cublas#status()}). */
    CudaBackend(CudaRuntime rt) {
        this(new JCudaGpu(rt), Device.cuda(0));
    }

    /** The backend on {@code gpu}, serving {@code device}. */
    CudaBackend(Gpu gpu, Device device) {
        this.gpu = gpu;
        this.device = device;
        this.memory = new DeviceMemory(gpu);
        this.sms = gpu.multiprocessors();
        this.emptyBlock = new CudaStorage.Block(memory, null, false);
        // room for adamw_list's parameter list, the largest block any kernel takes
        this.args = ThreadLocal.withInitial(() -> gpu.newArgs(8 + KernelArgs.ADAMW_LIST_SLOTS));
        for (String k : kernelNames()) {
            gpu.checkKernel(k); // a kernel missing from the module fails here, not in the middle of a step
        }
    }

    /** Every kernels.cu entry point this backend launches. */
    static List<String> kernelNames() {
        List<String> out = new ArrayList<>();
        String[] types = {"f32", "f64"};
        for (String t : types) {
            for (String k : new String[]{"map", "binary", "softmax", "softmax_bwd", "ce_fwd", "ce_bwd", "ln_fwd", "ln_bwd_x",
                "ln_bwd_wb", "adamw", "adamw_list", "sumsq_list", "clip_list", "ema_list", "dropout_mask", "gather", "index_add",
                "rational_finish"}) {
                out.add(k + "_" + t);
            }
            for (String o : types) {
                out.add("reduce_rows_" + t + "_" + o);
                out.add("reduce_cols_" + t + "_" + o);
                out.add("convert_" + t + "_" + o);
            }
        }
        out.add("rational_fwd_f64");
        out.add("rational_bwd_f64");
        out.add("to_bf16_f32");
        return out;
    }

    @Override
    public Device device() {
        return device;
    }

    @Override
    public String describe() {
        return device + " (" + gpu.describe() + ")";
    }

    /** Host-device copies so far (each upload or read-back counts one). */
    public long transfers() {
        return transfers.get();
    }

    /**
     * Host calls that queued device work so far: kernel launches, cuBLAS calls, device-to-device
     * copies and fills, and graph replays (one each, however much work a replay holds). Each costs
     * host time (5.5-8.8 us a launch through JCuda, measured on an H200), which is what a recorded
     * step saves.
     */
    public long queuedCalls() {
        return queued.get();
    }

    /** Bytes of device memory held by storages and scratch now (size classes, not requests). */
    public long memoryInUse() {
        return memory.inUse();
    }

    /** cuMemAlloc calls so far: flat over a training loop once its first step has run. */
    public long driverAllocations() {
        return memory.driverAllocations();
    }

    /** Waits until every queued op has run. */
    public void synchronize() {
        gpu.synchronize();
    }

    @Override
    public boolean canCapture() {
        return true;
    }

    /** Records {@code body}'s work into a graph ({@link CudaGraph#capture}). */
    @Override
    public CudaGraph capture(Runnable body) {
        synchronized (this) {
            if (capturing != null) {
                throw new IllegalStateException("a CUDA graph is already being captured on " + device + " (thread '"
                        + capturing.getName() + "')");
            }
            capturing = Thread.currentThread();
        }
        gpu.synchronize();
        memory.beginGraph();
        CudaGraph.Table t = new CudaGraph.Table(memory.take((long) CudaGraph.Table.WORDS * Long.BYTES));
        Object graph;
        try {
            table = t;
            gpu.beginCapture();
            try {
                body.run();
            } catch (RuntimeException | Error e) {
                try {
                    gpu.destroyGraph(gpu.endCapture());
                } catch (RuntimeException ignored) {
                    // an invalidated capture has no graph to free; the body's error is the one to report
                }
                throw e;
            }
            graph = gpu.endCapture();
        } catch (RuntimeException | Error e) {
            memory.give(t.block);
            memory.closeGraph(memory.endGraph());
            table = null;
            capturing = null;
            throw e;
        }
        DeviceMemory.GraphPool pool = memory.endGraph();
        memory.give(t.block); // the graph's until it closes
        table = null;
        capturing = null;
        return new CudaGraph(this, graph, pool, t);
    }

    /** Copies a recording's table to the device (one host copy, in order with the queued work). */
    void writeTable(CudaGraph.Table t) {
        if (t.used > 0) {
            upload(t.block.address(), t.words, (long) t.used * Long.BYTES);
        }
    }

    /** A replay's host part refilling a table: the next recorded call it must make. */
    private static final class Refresh {
        final CudaGraph.Table table;
        int next;

        Refresh(CudaGraph.Table table) {
            this.table = table;
        }

        void write(String kind, long[] ids, double[] numbers) {
            List<CudaGraph.Table.Call> calls = table.calls;
            if (next == calls.size()) {
                throw new IllegalStateException("a replay's host part made a " + kind + " after the " + calls.size()
                        + " optimizer call(s) the recording made");
            }
            CudaGraph.Table.Call c = calls.get(next);
            if (!c.kind().equals(kind) || !Arrays.equals(c.ids(), ids) || c.length() != numbers.length) {
                int tensors = ids.length / (kind.equals(ADAMW) ? 4 : 2);
                throw new IllegalStateException("a replay's host part made a " + kind + " on " + tensors + " tensors as optimizer"
                        + " call " + (next + 1) + ", where the recording made a " + c.kind()
                        + (c.kind().equals(kind) ? " on other tensors" : ""));
            }
            table.put(c.offset(), numbers);
            next++;
        }
    }

    /** Runs a replay's host part with the optimizer calls writing their numbers into {@code t} instead of launching. */
    void refresh(CudaGraph.Table t, Runnable hostPart) {
        if (refreshing.get() != null) {
            throw new IllegalStateException("a replay's host part replays another recording");
        }
        Refresh r = new Refresh(t);
        refreshing.set(r);
        try {
            hostPart.run();
        } finally {
            refreshing.remove();
        }
        if (r.next != t.calls.size()) {
            throw new IllegalStateException("a replay's host part made " + r.next + " of the " + t.calls.size()
                    + " optimizer calls the recording made (AdamW steps and EMA updates, in order)");
        }
    }

    private static final String ADAMW = "AdamW step";
    private static final String EMA = "EMA update";

    /**
     * Where a refreshable list kernel's launch reads its numbers: 0 (its arguments) eagerly; while
     * recording, the table (a new run of it); -1 while a replay's host part runs: the numbers went
     * to the recorded call's run, and nothing is to be launched.
     */
    private long numbersAt(String kind, long[] ids, double[] numbers) {
        Refresh r = refreshing.get();
        if (r != null) {
            r.write(kind, ids, numbers);
            return -1;
        }
        return capturing == Thread.currentThread() ? table.numbers(kind, ids, numbers) : 0;
    }

    void replay(Object graph) {
        if (capturing != null) {
            throw new IllegalStateException("replay of a CUDA graph while another is being captured on " + device);
        }
        queue();
        gpu.replay(graph);
    }

    void destroy(Object graph, DeviceMemory.GraphPool pool) {
        gpu.destroyGraph(graph);
        memory.closeGraph(pool);
    }

    /** Host copies cannot be recorded: a graph would replay the copy of the recorded values. */
    private void refuseWhileCapturing(String what) {
        if (capturing != null) {
            throw new IllegalStateException(what + " inside a CUDA graph capture: a graph cannot copy between host and device"
                    + " (keep the inputs on the device, e.g. targets as a tensor, and read results after replay())");
        }
    }

    // ------------------------------------------------------------------ helpers

    private CudaStorage cs(Storage s) {
        if (!(s instanceof CudaStorage c) || c.backend() != this) {
            throw new IllegalArgumentException("CUDA backend given a storage on " + s.device() + ": move the tensor with to("
                    + device + ") first");
        }
        return c;
    }

    private long addr(Storage s) {
        return cs(s).address();
    }

    private static String sfx(DType t) {
        return t == DType.FLOAT32 ? "f32" : "f64";
    }

    private CudaStorage alloc(DType t, long... shape) {
        long bytes = Shapes.numel(shape) * t.bytes();
        if (bytes == 0) {
            return new CudaStorage(this, emptyBlock, 0, t, shape, false);
        }
        DeviceMemory.Raw raw = memory.take(bytes);
        ArrayDeque<List<CudaStorage.Block>> open = scopes.get();
        boolean scoped = !open.isEmpty() && outside.get()[0] == 0;
        CudaStorage.Block b = new CudaStorage.Block(memory, raw, !scoped);
        if (scoped) {
            open.peek().add(b);
        }
        return new CudaStorage(this, b, 0, t, shape, true);
    }

    /** Scratch memory for one op: give it back (stream order keeps it safe) once its last user is queued. */
    private DeviceMemory.Raw temp(long bytes) {
        return memory.take(Math.max(bytes, 1));
    }

    private KernelArgs a() {
        return args.get();
    }

    private void go(String fn, long blocks, KernelArgs ka) {
        int g = (int) Math.max(1, Math.min(blocks, Integer.MAX_VALUE));
        queue();
        gpu.launch(fn, g, THREADS, ka);
    }

    /** Blocks for a grid-stride loop over n elements: enough to fill the device, no more. */
    private long elementBlocks(long n) {
        return Math.min((n + THREADS - 1) / THREADS, 8L * sms);
    }

    /** Blocks for a warp-per-row kernel over {@code rows} rows. */
    private long rowBlocks(long rows) {
        return Math.min((rows + WARPS - 1) / WARPS, 16L * sms);
    }

    private void map(CudaStorage x, CudaStorage y, int op, double s) {
        long n = y.numel();
        if (n == 0) {
            return;
        }
        KernelArgs ka = a().i64(0, op == M_FILL ? 0 : x.address()).i64(1, y.address()).i64(2, n).i32(3, op).f64(4, s);
        go("map_" + sfx(y.dtype()), elementBlocks(n), ka);
    }

    /** y[so . i] = op(a[sa . i], b[sb . i]) over {@code shape}; addresses in bytes, strides in elements. */
    private void strided(DType t, int op, double s, long[] shape, long y, long[] so, long a, long[] sa, long b, long[] sb) {
        Plans.Strided p = Plans.collapse(shape, so, sa, sb);
        long n = p.numel();
        if (n == 0) {
            return;
        }
        KernelArgs ka = a().i64(0, y).i64(1, a).i64(2, b).i64(3, n).i32(4, op).f64(5, s).dims(6, p);
        go("binary_" + sfx(t), elementBlocks(n), ka);
    }

    /** Copies x (dense) into y at y's strides {@code so} over x's shape. */
    private void copyInto(CudaStorage x, long yAddress, long[] so) {
        long[] shape = x.shape();
        strided(x.dtype(), B_COPY_A, 0, shape, yAddress, so, x.address(), Plans.contiguous(shape), 0, new long[shape.length]);
    }

    /** Counts a host call that queues device work; a replay's host part may queue none. */
    private void queue() {
        if (refreshing.get() != null) {
            throw new IllegalStateException("a replay's host part queued device work (a kernel, a product or a copy); it may only"
                    + " make the recorded optimizer calls (AdamW steps, EMA updates)");
        }
        queued.incrementAndGet();
    }

    /** Host to device ({@link Gpu#upload}: in order with the queued work), counted. */
    private void upload(long address, Object array, long bytes) {
        refuseWhileCapturing("a copy to the device");
        transfers.incrementAndGet();
        gpu.upload(address, array, bytes);
    }

    /** Device to host after the work queued before it, counted. */
    private void download(Object array, long address, long bytes) {
        refuseWhileCapturing("a read of device values");
        transfers.incrementAndGet();
        gpu.download(array, address, bytes);
    }

    // ------------------------------------------------------------------ memory

    @Override
    public Storage empty(DType dtype, long... shape) {
        return alloc(dtype, shape);
    }

    @Override
    public Storage full(DType dtype, double value, long... shape) {
        CudaStorage s = alloc(dtype, shape);
        fill(s, value);
        return s;
    }

    @Override
    public Storage fromFloats(float[] data, long... shape) {
        CudaStorage s = alloc(DType.FLOAT32, shape);
        if (data.length > 0) {
            upload(s.address(), data, (long) data.length * Float.BYTES);
        }
        return s;
    }

    @Override
    public Storage fromDoubles(double[] data, long... shape) {
        CudaStorage s = alloc(DType.FLOAT64, shape);
        if (data.length > 0) {
            upload(s.address(), data, (long) data.length * Double.BYTES);
        }
        return s;
    }

    @Override
    public float[] toFloats(Storage s) {
        CudaStorage c = cs(s);
        int n = Math.toIntExact(c.numel());
        if (c.dtype() == DType.FLOAT32) {
            float[] out = new float[n];
            if (n > 0) {
                download(out, c.address(), c.bytes());
            }
            return out;
        }
        double[] d = toDoubles(s);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) d[i];
        }
        return out;
    }

    @Override
    public double[] toDoubles(Storage s) {
        CudaStorage c = cs(s);
        int n = Math.toIntExact(c.numel());
        if (c.dtype() == DType.FLOAT64) {
            double[] out = new double[n];
            if (n > 0) {
                download(out, c.address(), c.bytes());
            }
            return out;
        }
        float[] f = toFloats(s);
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            out[i] = f[i];
        }
        return out;
    }

    @Override
    public double getDouble(Storage s, long index) {
        CudaStorage c = cs(s);
        long at = c.address() + index * c.dtype().bytes();
        if (c.dtype() == DType.FLOAT32) {
            float[] v = new float[1];
            download(v, at, Float.BYTES);
            return v[0];
        }
        double[] v = new double[1];
        download(v, at, Double.BYTES);
        return v[0];
    }

    @Override
    public void setDouble(Storage s, long index, double value) {
        CudaStorage c = cs(s);
        long at = c.address() + index * c.dtype().bytes();
        if (c.dtype() == DType.FLOAT32) {
            upload(at, new float[]{(float) value}, Float.BYTES);
        } else {
            upload(at, new double[]{value}, Double.BYTES);
        }
    }

    @Override
    public Storage copy(Storage s, DType dtype) {
        CudaStorage out = alloc(dtype, s.shape());
        assign(out, s);
        return out;
    }

    @Override
    public void assign(Storage dst, Storage src) {
        CudaStorage d = cs(dst);
        if (d.numel() == 0) {
            return;
        }
        if (!(src instanceof CudaStorage c) || c.backend() != this) {
            // from another device: through the host, converted there
            if (d.dtype() == DType.FLOAT32) {
                upload(d.address(), src.backend().toFloats(src), d.bytes());
            } else {
                upload(d.address(), src.backend().toDoubles(src), d.bytes());
            }
            return;
        }
        if (c.dtype() == d.dtype()) {
            queue();
            gpu.copy(d.address(), c.address(), d.bytes());
            return;
        }
        KernelArgs ka = a().i64(0, c.address()).i64(1, d.address()).i64(2, d.numel());
        go("convert_" + sfx(c.dtype()) + "_" + sfx(d.dtype()), elementBlocks(d.numel()), ka);
    }

    @Override
    public void fill(Storage s, double value) {
        CudaStorage c = cs(s);
        if (c.numel() == 0) {
            return;
        }
        if (value == 0 && Double.doubleToRawLongBits(value) == 0) {
            queue();
            gpu.zero(c.address(), c.bytes());
            return;
        }
        map(c, c, M_FILL, value);
    }

    @Override
    public void addScaledInPlace(Storage acc, Storage x, double alpha) {
        CudaStorage y = cs(acc);
        long[] shape = y.shape();
        long[] d = Plans.contiguous(shape);
        strided(y.dtype(), B_AXPY, alpha, shape, y.address(), d, y.address(), d, addr(x), d);
    }

    @Override
    public void addInPlace(Storage acc, Storage x) {
        CudaStorage y = cs(acc);
        long[] shape = y.shape();
        long[] d = Plans.contiguous(shape);
        strided(y.dtype(), B_ADD, 0, shape, y.address(), d, y.address(), d, addr(x), d);
    }

    @Override
    public void scaleInPlace(Storage x, double s) {
        CudaStorage c = cs(x);
        map(c, c, M_MUL_S, s);
    }

    // ------------------------------------------------------------------ scopes

    @Override
    public AutoCloseable openScope(int depth) {
        ArrayDeque<List<CudaStorage.Block>> open = scopes.get();
        List<CudaStorage.Block> blocks = new ArrayList<>();
        open.push(blocks);
        return () -> {
            open.removeIf(l -> l == blocks); // by identity: two empty lists are equal
            for (CudaStorage.Block b : blocks) {
                b.retire(memory);
            }
            blocks.clear();
        };
    }

    @Override
    public <T> T outsideScopes(Supplier<T> body) {
        int[] depth = outside.get();
        depth[0]++;
        try {
            return body.get();
        } finally {
            depth[0]--;
        }
    }

    /**
     * {@code fresh}'s memory leaves the open scope that holds it and outlives the scopes (the
     * collector returns it, as for memory made outside them); {@code held}'s is released. Not while
     * a recorded graph lives: its kernels keep the addresses they recorded, so a gradient must stay
     * in its buffer.
     */
    @Override
    public Storage outlive(Storage held, Storage fresh) {
        if (!(held instanceof CudaStorage h) || h.backend() != this || !(fresh instanceof CudaStorage f) || f.backend() != this
                || !h.owner || !f.owner || f.offset != 0 || f.block.raw == null || !f.block.live() || f.dtype() != h.dtype()
                || f.numel() != h.numel() || capturing != null || memory.graphs() > 0) {
            return null;
        }
        for (List<CudaStorage.Block> scope : scopes.get()) {
            int at = scope.lastIndexOf(f.block); // a result just made: near the end of its scope's list
            if (at >= 0) {
                scope.remove(at);
                f.block.handOver();
                CudaStorage kept = new CudaStorage(this, new CudaStorage.Block(memory, f.block.raw, true), 0, f.dtype(), f.shape(),
                        true);
                release(h);
                return kept;
            }
        }
        return null;
    }

    @Override
    public void release(Storage s) {
        CudaStorage c = cs(s);
        if (c.owner) {
            c.block.retire(memory);
        }
    }

    // ------------------------------------------------------------------ element-wise

    @Override
    public Storage unary(UnaryOp op, Storage x) {
        CudaStorage in = cs(x);
        CudaStorage out = alloc(in.dtype(), in.shape());
        int code = switch (op) {
            case NEG -> M_NEG;
            case EXP -> M_EXP;
            case LOG -> M_LOG;
            case SQRT -> M_SQRT;
            case TANH -> M_TANH;
            case SIGMOID -> M_SIGMOID;
            case RELU -> M_RELU;
            case ERF -> M_ERF;
            case STEP -> M_STEP;
            case IS_ZERO -> M_IS_ZERO;
        };
        map(in, out, code, 0);
        return out;
    }

    @Override
    public Storage scalar(ScalarOp op, Storage x, double s) {
        CudaStorage in = cs(x);
        CudaStorage out = alloc(in.dtype(), in.shape());
        int code = switch (op) {
            case ADD -> M_ADD_S;
            case MUL -> M_MUL_S;
            case RSUB -> M_RSUB_S;
            case POW -> M_POW_S;
        };
        map(in, out, code, s);
        return out;
    }

    @Override
    public Storage binary(BinaryOp op, Storage a, Storage b) {
        CudaStorage x = cs(a);
        CudaStorage y = cs(b);
        long[] shape = Shapes.broadcast(op.name().toLowerCase(), x.shape(), y.shape());
        CudaStorage out = alloc(x.dtype(), shape);
        int code = switch (op) {
            case ADD -> B_ADD;
            case SUB -> B_SUB;
            case MUL -> B_MUL;
            case DIV -> B_DIV;
        };
        strided(x.dtype(), code, 0, shape, out.address(), Plans.contiguous(shape), x.address(),
                Plans.broadcastStrides(x.shape(), shape), y.address(), Plans.broadcastStrides(y.shape(), shape));
        return out;
    }

    // ------------------------------------------------------------------ reductions

    /**
     * op over {@code axes} of x into a fresh storage of {@code outType} and {@code outShape}
     * (scale multiplies each step's result: mean's 1 / r).
     */
    private CudaStorage reduce(CudaStorage x, int[] axes, int op, boolean mean, DType outType, long[] outShape) {
        CudaStorage out = alloc(outType, outShape);
        reduceInto(x, axes, op, mean, outType, out.address());
        return out;
    }

    /**
     * op over {@code axes} of x (numel &gt; 0) into {@code outType} values at {@code dst}, in the C
     * order of the kept dimensions (mean: each step's result times 1 / r).
     */
    private void reduceInto(CudaStorage x, int[] axes, int op, boolean mean, DType outType, long dst) {
        List<Plans.ReduceStep> steps = Plans.reduce(x.shape(), axes, sms);
        if (steps.isEmpty()) {
            // only size-1 dimensions reduced: each value on its own (r = 1), squared for R_SUMSQ
            steps = List.of(new Plans.ReduceStep(1, 1, x.numel(), 1));
        }
        long in = x.address();
        DType inType = x.dtype();
        DeviceMemory.Raw prev = null;
        for (int i = 0; i < steps.size(); i++) {
            Plans.ReduceStep s = steps.get(i);
            boolean last = i == steps.size() - 1;
            DeviceMemory.Raw next = last ? null : temp(s.outer() * s.inner() * outType.bytes());
            long to = last ? dst : next.address();
            double scale = mean ? 1.0 / s.r() : 1.0;
            String kind = s.inner() == 1 ? "reduce_rows_" : "reduce_cols_";
            if (s.parts() == 1) {
                reduceLaunch(kind + sfx(inType) + "_" + sfx(outType), in, to, s, 1, op, scale);
            } else {
                DeviceMemory.Raw partial = temp(s.outer() * s.parts() * s.inner() * Double.BYTES);
                reduceLaunch(kind + sfx(inType) + "_f64", in, partial.address(), s, s.parts(), op, 1.0);
                Plans.ReduceStep second = new Plans.ReduceStep(s.outer(), s.parts(), s.inner(), 1);
                reduceLaunch(kind + "f64_" + sfx(outType), partial.address(), to, second, 1, op == R_MAX ? R_MAX : R_SUM, scale);
                memory.give(partial);
            }
            if (prev != null) {
                memory.give(prev);
            }
            prev = next;
            in = to;
            inType = outType;
        }
    }

    private void reduceLaunch(String fn, long x, long y, Plans.ReduceStep s, long parts, int op, double scale) {
        KernelArgs ka = a().i64(0, x).i64(1, y);
        if (s.inner() == 1) {
            ka.i64(2, s.outer()).i64(3, s.r()).i64(4, parts).i32(5, op).f64(6, scale);
            go(fn, Math.min(s.outer() * parts, 65535L * 16), ka);
        } else {
            ka.i64(2, s.outer()).i64(3, s.r()).i64(4, s.inner()).i64(5, parts).i32(6, op).f64(7, scale);
            go(fn, elementBlocks(s.outer() * parts * s.inner()), ka);
        }
    }

    private static long[] reducedShape(long[] shape, int[] axes, boolean keepDims) {
        return keepDims ? Shapes.keepDims(shape, axes) : Shapes.dropDims(shape, axes);
    }

    @Override
    public Storage sum(Storage x, int[] axes, boolean keepDims) {
        CudaStorage c = cs(x);
        long[] shape = reducedShape(c.shape(), axes, keepDims);
        if (c.numel() == 0) {
            return full(c.dtype(), 0, shape);
        }
        return reduce(c, axes, R_SUM, false, c.dtype(), shape);
    }

    @Override
    public Storage mean(Storage x, int[] axes, boolean keepDims) {
        CudaStorage c = cs(x);
        long[] shape = reducedShape(c.shape(), axes, keepDims);
        if (c.numel() == 0) {
            return full(c.dtype(), Double.NaN, shape);
        }
        return reduce(c, axes, R_SUM, true, c.dtype(), shape);
    }

    @Override
    public Storage max(Storage x, int[] axes, boolean keepDims) {
        CudaStorage c = cs(x);
        if (c.numel() == 0) {
            throw new IllegalArgumentException("max of an empty tensor " + Arrays.toString(c.shape()) + ": no maximum");
        }
        return reduce(c, axes, R_MAX, false, c.dtype(), reducedShape(c.shape(), axes, keepDims));
    }

    @Override
    public Storage sumTo(Storage gs, long[] shape) {
        CudaStorage g = cs(gs);
        if (Arrays.equals(g.shape(), shape)) {
            return gs;
        }
        if (g.numel() == 0) {
            return zeros(g.dtype(), shape);
        }
        // the kept dimensions, in order, are the target's: the reduced values are already in its C order
        return reduce(g, Shapes.sumToAxes(g.shape(), shape), R_SUM, false, g.dtype(), shape);
    }

    @Override
    public Storage expand(Storage gs, long[] shape) {
        CudaStorage g = cs(gs);
        CudaStorage out = alloc(g.dtype(), shape);
        strided(g.dtype(), B_COPY_A, 0, shape, out.address(), Plans.contiguous(shape), g.address(),
                Plans.broadcastStrides(g.shape(), shape), 0, new long[shape.length]);
        return out;
    }

    private static int[] allAxes(CudaStorage c) {
        int[] all = new int[c.rank()];
        for (int i = 0; i < all.length; i++) {
            all[i] = i;
        }
        return all;
    }

    @Override
    public double norm2(Storage x) {
        return Math.sqrt(sumOfSquares(List.of(x)));
    }

    /** Each storage's sum of squares into a float64 slot, the slots summed in order, one read back. */
    @Override
    public double sumOfSquares(List<Storage> xs) {
        List<CudaStorage> some = new ArrayList<>();
        for (Storage s : xs) {
            CudaStorage c = cs(s);
            if (c.numel() > 0) {
                some.add(c);
            }
        }
        if (some.isEmpty()) {
            return 0;
        }
        DeviceMemory.Raw slots = temp((long) some.size() * Double.BYTES);
        for (int i = 0; i < some.size(); i++) {
            CudaStorage c = some.get(i);
            reduceInto(c, allAxes(c), R_SUMSQ, false, DType.FLOAT64, slots.address() + (long) i * Double.BYTES);
        }
        DeviceMemory.Raw total = temp(Double.BYTES);
        reduceLaunch("reduce_rows_f64_f64", slots.address(), total.address(), new Plans.ReduceStep(1, some.size(), 1, 1), 1,
                R_SUM, 1.0);
        double[] v = new double[1];
        download(v, total.address(), Double.BYTES);
        memory.give(slots);
        memory.give(total);
        return v[0];
    }

    // ------------------------------------------------------------------ matrix products

    @Override
    public Storage matmul(Storage a, Storage b, boolean transA, boolean transB) {
        return product(a, b, transA, transB, false);
    }

    /** bf16 operands made on the device ({@code to_bf16_f32}), multiplied by cuBLAS with float32 accumulation. */
    @Override
    public Storage matmulBf16(Storage a, Storage b, boolean transA, boolean transB) {
        return product(a, b, transA, transB, a.dtype() == DType.FLOAT32 && b.dtype() == DType.FLOAT32);
    }

    private Storage product(Storage a, Storage b, boolean transA, boolean transB, boolean bf16) {
        CudaStorage x = cs(a);
        CudaStorage y = cs(b);
        long[] as = x.shape();
        long[] bs = y.shape();
        int ra = as.length;
        int rb = bs.length;
        long m = transA ? as[ra - 1] : as[ra - 2];
        long k = transA ? as[ra - 2] : as[ra - 1];
        long n = transB ? bs[rb - 2] : bs[rb - 1];
        long[] shape = (ra >= rb ? as : bs).clone();
        shape[shape.length - 2] = m;
        shape[shape.length - 1] = n;
        if (x.numel() == 0 || y.numel() == 0) {
            return zeros(x.dtype(), shape); // a sum over k = 0 terms is 0
        }
        CudaStorage out = alloc(x.dtype(), shape);
        Plans.Gemm g = Plans.gemm(m, n, k, transA, transB, x.numel() / (m * k), y.numel() / (k * n));
        gemm(g, x, y, out, false, bf16);
        return out;
    }

    /** One planned GEMM; with bf16, on bfloat16 copies of the float32 operands, given back once queued. */
    private void gemm(Plans.Gemm g, CudaStorage a, CudaStorage b, CudaStorage c, boolean accumulate, boolean bf16) {
        if (!bf16) {
            queue();
            gpu.gemm(a.dtype(), g, a.address(), b.address(), c.address(), accumulate);
            return;
        }
        DeviceMemory.Raw a16 = toBf16(a);
        DeviceMemory.Raw b16 = toBf16(b);
        queue();
        gpu.gemmBf16(g, a16.address(), b16.address(), c.address(), accumulate);
        memory.give(a16);
        memory.give(b16);
    }

    /** A dense float32 storage's elements as bfloat16 bits in scratch memory (the caller gives it back). */
    private DeviceMemory.Raw toBf16(CudaStorage x) {
        long n = x.numel();
        DeviceMemory.Raw r = temp(2 * n);
        go("to_bf16_f32", elementBlocks(n), a().i64(0, x.address()).i64(1, r.address()).i64(2, n));
        return r;
    }

    @Override
    public Storage linear(Storage x, Storage w, Storage bias) {
        return linear(x, w, bias, false);
    }

    @Override
    public Storage linearBf16(Storage x, Storage w, Storage bias) {
        return linear(x, w, bias, x.dtype() == DType.FLOAT32 && w.dtype() == DType.FLOAT32);
    }

    private Storage linear(Storage x, Storage w, Storage bias, boolean bf16) {
        CudaStorage xs = cs(x);
        CudaStorage ws = cs(w);
        CudaStorage bs = cs(bias);
        if (xs.rank() != 2 || ws.rank() != 2 || bs.rank() != 1 || xs.numel() == 0 || ws.numel() == 0) {
            return bf16 ? binary(BinaryOp.ADD, matmulBf16(x, w, false, true), bias) : Backend.super.linear(x, w, bias);
        }
        long rows = xs.shape()[0];
        long in = xs.shape()[1];
        long outs = ws.shape()[0];
        // the bias rows first, then the product accumulated onto them
        CudaStorage y = alloc(xs.dtype(), rows, outs);
        long[] shape = {rows, outs};
        strided(xs.dtype(), B_COPY_A, 0, shape, y.address(), Plans.contiguous(shape), bs.address(), new long[]{0, 1}, 0,
                new long[2]);
        Plans.Gemm g = Plans.gemm(rows, outs, in, false, true, 1, 1);
        gemm(g, xs, ws, y, true, bf16);
        return y;
    }

    // ------------------------------------------------------------------ layout

    @Override
    public Storage reshape(Storage x, long... shape) {
        CudaStorage c = cs(x);
        if (Shapes.numel(shape) != c.numel()) {
            throw new IllegalArgumentException("reshape " + Arrays.toString(c.shape()) + " to " + Arrays.toString(shape)
                    + ": sizes differ");
        }
        return new CudaStorage(this, c.block, c.offset, c.dtype(), shape, false);
    }

    @Override
    public Storage permute(Storage x, int... dims) {
        CudaStorage c = cs(x);
        long[] xs = c.shape();
        long[] st = Plans.contiguous(xs);
        long[] shape = new long[dims.length];
        long[] sa = new long[dims.length];
        for (int i = 0; i < dims.length; i++) {
            shape[i] = xs[dims[i]];
            sa[i] = st[dims[i]];
        }
        CudaStorage out = alloc(c.dtype(), shape);
        strided(c.dtype(), B_COPY_A, 0, shape, out.address(), Plans.contiguous(shape), c.address(), sa, 0,
                new long[shape.length]);
        return out;
    }

    @Override
    public Storage narrow(Storage x, int dim, long start, long length) {
        CudaStorage c = cs(x);
        long[] shape = c.shape();
        long[] st = Plans.contiguous(shape);
        shape[dim] = length;
        CudaStorage out = alloc(c.dtype(), shape);
        long from = c.numel() == 0 ? 0 : c.address() + start * st[dim] * c.dtype().bytes();
        strided(c.dtype(), B_COPY_A, 0, shape, out.address(), Plans.contiguous(shape), from, st, 0, new long[shape.length]);
        return out;
    }

    @Override
    public Storage unnarrow(Storage gs, long[] shape, int dim, long start) {
        CudaStorage g = cs(gs);
        CudaStorage out = alloc(g.dtype(), shape);
        fill(out, 0);
        if (g.numel() > 0) {
            long[] so = Plans.contiguous(shape);
            copyInto(g, out.address() + start * so[dim] * g.dtype().bytes(), so);
        }
        return out;
    }

    @Override
    public Storage concat(int dim, Storage... xs) {
        CudaStorage first = cs(xs[0]);
        long[] shape = first.shape();
        long total = 0;
        for (Storage s : xs) {
            total += s.shape()[dim];
        }
        shape[dim] = total;
        CudaStorage out = alloc(first.dtype(), shape);
        long[] so = Plans.contiguous(shape);
        long at = 0;
        for (Storage s : xs) {
            CudaStorage c = cs(s);
            if (c.numel() > 0) {
                copyInto(c, out.address() + at * so[dim] * c.dtype().bytes(), so);
            }
            at += c.shape()[dim];
        }
        return out;
    }

    private static long prod(long[] s, int from, int to) {
        long p = 1;
        for (int i = from; i < to; i++) {
            p *= s[i];
        }
        return p;
    }

    @Override
    public Storage indexSelect(Storage x, int dim, long[] index) {
        CudaStorage c = cs(x);
        long[] xs = c.shape();
        long[] shape = xs.clone();
        shape[dim] = index.length;
        CudaStorage out = alloc(c.dtype(), shape);
        if (out.numel() == 0) {
            return out;
        }
        for (long j : index) {
            if (j < 0 || j >= xs[dim]) {
                throw new IllegalArgumentException("indexSelect: index " + j + " out of range [0, " + xs[dim] + ")");
            }
        }
        DeviceMemory.Raw idx = temp((long) index.length * Long.BYTES);
        upload(idx.address(), index, (long) index.length * Long.BYTES);
        KernelArgs ka = a().i64(0, c.address()).i64(1, out.address()).i64(2, idx.address()).i64(3, prod(xs, 0, dim))
                .i64(4, index.length).i64(5, prod(xs, dim + 1, xs.length)).i64(6, xs[dim]);
        go("gather_" + sfx(c.dtype()), elementBlocks(out.numel()), ka);
        memory.give(idx);
        return out;
    }

    @Override
    public Storage indexAdd(Storage gs, long[] shape, int dim, long[] index) {
        CudaStorage g = cs(gs);
        CudaStorage out = alloc(g.dtype(), shape);
        if (out.numel() == 0) {
            return out;
        }
        long[] inv = Plans.inverseIndex(index, shape[dim]);
        DeviceMemory.Raw buf = temp((long) inv.length * Long.BYTES);
        upload(buf.address(), inv, (long) inv.length * Long.BYTES);
        KernelArgs ka = a().i64(0, g.numel() == 0 ? 0 : g.address()).i64(1, out.address()).i64(2, buf.address())
                .i64(3, buf.address() + (shape[dim] + 1) * Long.BYTES).i64(4, prod(shape, 0, dim)).i64(5, shape[dim])
                .i64(6, index.length).i64(7, prod(shape, dim + 1, shape.length));
        go("index_add_" + sfx(g.dtype()), elementBlocks(out.numel()), ka);
        memory.give(buf);
        return out;
    }

    // ------------------------------------------------------------------ softmax family (last axis)

    private Storage softmaxFamily(Storage x, boolean log) {
        CudaStorage c = cs(x);
        CudaStorage out = alloc(c.dtype(), c.shape());
        if (c.numel() == 0) {
            return out;
        }
        long d = c.shape()[c.rank() - 1];
        long rows = c.numel() / d;
        KernelArgs ka = a().i64(0, c.address()).i64(1, out.address()).i64(2, rows).i64(3, d).i32(4, log ? 1 : 0);
        go("softmax_" + sfx(c.dtype()), rowBlocks(rows), ka);
        return out;
    }

    private Storage softmaxFamilyBackward(Storage ys, Storage gs, boolean log) {
        CudaStorage y = cs(ys);
        CudaStorage out = alloc(y.dtype(), y.shape());
        if (y.numel() == 0) {
            return out;
        }
        long d = y.shape()[y.rank() - 1];
        long rows = y.numel() / d;
        KernelArgs ka = a().i64(0, y.address()).i64(1, addr(gs)).i64(2, out.address()).i64(3, rows).i64(4, d)
                .i32(5, log ? 1 : 0);
        go("softmax_bwd_" + sfx(y.dtype()), rowBlocks(rows), ka);
        return out;
    }

    @Override
    public Storage softmax(Storage x) {
        return softmaxFamily(x, false);
    }

    @Override
    public Storage softmaxBackward(Storage y, Storage g) {
        return softmaxFamilyBackward(y, g, false);
    }

    @Override
    public Storage logSoftmax(Storage x) {
        return softmaxFamily(x, true);
    }

    @Override
    public Storage logSoftmaxBackward(Storage y, Storage g) {
        return softmaxFamilyBackward(y, g, true);
    }

    // ------------------------------------------------------------------ GELU

    @Override
    public Storage gelu(Storage x) {
        CudaStorage c = cs(x);
        CudaStorage out = alloc(c.dtype(), c.shape());
        map(c, out, M_GELU, 0);
        return out;
    }

    @Override
    public Storage geluBackward(Storage x, Storage gs) {
        CudaStorage c = cs(x);
        long[] shape = c.shape();
        CudaStorage out = alloc(c.dtype(), shape);
        long[] d = Plans.contiguous(shape);
        strided(c.dtype(), B_GELU_BWD, 0, shape, out.address(), d, c.address(), d, addr(gs), d);
        return out;
    }

    // ------------------------------------------------------------------ LayerNorm

    /** What LayerNorm's backward needs: mean and 1 / std per row. */
    private record Norm(CudaStorage mean, CudaStorage rstd) {
    }

    @Override
    public Saved layerNorm(Storage x, Storage weight, Storage bias, double eps) {
        CudaStorage c = cs(x);
        CudaStorage out = alloc(c.dtype(), c.shape());
        if (c.numel() == 0) {
            return new Saved(out, null);
        }
        long d = c.shape()[c.rank() - 1];
        long rows = c.numel() / d;
        CudaStorage mean = alloc(c.dtype(), rows);
        CudaStorage rstd = alloc(c.dtype(), rows);
        KernelArgs ka = a().i64(0, c.address()).i64(1, addr(weight)).i64(2, addr(bias)).i64(3, out.address())
                .i64(4, mean.address()).i64(5, rstd.address()).i64(6, rows).i64(7, d).f64(8, eps);
        go("ln_fwd_" + sfx(c.dtype()), rowBlocks(rows), ka);
        return new Saved(out, new Norm(mean, rstd));
    }

    @Override
    public Storage[] layerNormBackward(Saved forward, Storage x, Storage weight, Storage gs, boolean needX, boolean needWeight,
                                       boolean needBias) {
        CudaStorage c = cs(x);
        CudaStorage w = cs(weight);
        Storage[] out = new Storage[3];
        if (c.numel() == 0) {
            out[0] = needX ? empty(c.dtype(), c.shape()) : null;
            out[1] = needWeight ? zeros(w.dtype(), w.shape()) : null;
            out[2] = needBias ? zeros(w.dtype(), w.shape()) : null;
            return out;
        }
        Norm f = (Norm) forward.state();
        long d = c.shape()[c.rank() - 1];
        long rows = c.numel() / d;
        long g = addr(gs);
        if (needX) {
            CudaStorage gx = alloc(c.dtype(), c.shape());
            KernelArgs ka = a().i64(0, c.address()).i64(1, w.address()).i64(2, g).i64(3, f.mean().address())
                    .i64(4, f.rstd().address()).i64(5, gx.address()).i64(6, rows).i64(7, d);
            go("ln_bwd_x_" + sfx(c.dtype()), rowBlocks(rows), ka);
            out[0] = gx;
        }
        if (needWeight || needBias) {
            long parts = Plans.parts(1, rows, d, sms);
            DeviceMemory.Raw partial = temp(parts * 2 * d * Double.BYTES);
            KernelArgs ka = a().i64(0, c.address()).i64(1, g).i64(2, f.mean().address()).i64(3, f.rstd().address())
                    .i64(4, partial.address()).i64(5, rows).i64(6, d).i64(7, parts);
            go("ln_bwd_wb_" + sfx(c.dtype()), elementBlocks(parts * d), ka);
            CudaStorage both = alloc(w.dtype(), 2, d);
            reduceLaunch("reduce_cols_f64_" + sfx(w.dtype()), partial.address(), both.address(),
                    new Plans.ReduceStep(1, parts, 2 * d, 1), 1, R_SUM, 1.0);
            memory.give(partial);
            long half = d * w.dtype().bytes();
            out[1] = needWeight ? new CudaStorage(this, both.block, both.offset, w.dtype(), w.shape(), false) : null;
            out[2] = needBias ? new CudaStorage(this, both.block, both.offset + half, w.dtype(), w.shape(), false) : null;
        }
        return out;
    }

    // ------------------------------------------------------------------ group rational

    /** numerator [6] then denominator [groups * 4], packed into one scratch buffer of their dtype. */
    private DeviceMemory.Raw packCoefficients(CudaStorage num, CudaStorage den) {
        long nb = num.bytes();
        DeviceMemory.Raw coef = temp(nb + den.bytes());
        queue();
        gpu.copy(coef.address(), num.address(), nb);
        queue();
        gpu.copy(coef.address() + nb, den.address(), den.bytes());
        return coef;
    }

    /** x itself when the vector kernels may read it in place (16-byte aligned), else an aligned copy. */
    private CudaStorage aligned(CudaStorage x) {
        return x.address() % 16 == 0 ? x : (CudaStorage) copy(x);
    }

    @Override
    public Storage rationalForward(Storage x, Storage numerator, Storage denominator, int groups) {
        CudaStorage c = cs(x);
        CudaStorage out = alloc(c.dtype(), c.shape());
        if (c.numel() == 0) {
            return out;
        }
        long n = c.numel();
        int d = Math.toIntExact(c.shape()[c.rank() - 1]);
        DeviceMemory.Raw coef = packCoefficients(cs(numerator), cs(denominator));
        if (c.dtype() == DType.FLOAT32 && numerator.dtype() == DType.FLOAT32) {
            CudaStorage in = aligned(c);
            queue();
            gpu.rationalForwardF32(in.address(), out.address(), n, d, coef.address(), groups);
        } else {
            KernelArgs ka = a().i64(0, c.address()).i64(1, out.address()).i64(2, n).i64(3, d).i64(4, d / groups)
                    .i64(5, coef.address());
            go("rational_fwd_f64", elementBlocks(n), ka);
        }
        memory.give(coef);
        return out;
    }

    @Override
    public Storage[] rationalBackward(Storage x, Storage gs, Storage numerator, Storage denominator, int groups, boolean needX) {
        CudaStorage c = cs(x);
        CudaStorage num = cs(numerator);
        CudaStorage den = cs(denominator);
        CudaStorage gnum = alloc(num.dtype(), num.shape());
        CudaStorage gden = alloc(den.dtype(), den.shape());
        CudaStorage gx = needX ? alloc(c.dtype(), c.shape()) : null;
        if (c.numel() == 0) {
            fill(gnum, 0);
            fill(gden, 0);
            return new Storage[]{gx, gnum, gden};
        }
        long n = c.numel();
        int d = Math.toIntExact(c.shape()[c.rank() - 1]);
        long rows = n / d;
        DeviceMemory.Raw coef = packCoefficients(num, den);
        if (c.dtype() == DType.FLOAT32 && num.dtype() == DType.FLOAT32) {
            CudaStorage in = aligned(c);
            CudaStorage g = aligned(cs(gs));
            queue();
            long totals = gpu.rationalBackwardF32(in.address(), g.address(), gx == null ? 0 : gx.address(), n, d, coef.address(),
                    groups);
            convert(totals, gnum.address(), 6, DType.FLOAT32);
            convert(totals + 6L * Double.BYTES, gden.address(), 4L * groups, DType.FLOAT32);
        } else {
            long parts = Math.max(1, Math.min((4L * sms + groups - 1) / groups, (rows + 15) / 16));
            DeviceMemory.Raw partial = temp(parts * groups * 10 * Double.BYTES);
            KernelArgs ka = a().i64(0, c.address()).i64(1, addr(gs)).i64(2, gx == null ? 0 : gx.address()).i64(3, rows)
                    .i64(4, d).i64(5, d / groups).i64(6, coef.address()).i64(7, partial.address()).i64(8, parts);
            go("rational_bwd_f64", Math.min(parts * groups, 65535L * 16), ka);
            DeviceMemory.Raw total = temp(groups * 10L * Double.BYTES);
            reduceLaunch("reduce_cols_f64_f64", partial.address(), total.address(),
                    new Plans.ReduceStep(1, parts, groups * 10L, 1), 1, R_SUM, 1.0);
            KernelArgs kf = a().i64(0, total.address()).i64(1, gnum.address()).i64(2, gden.address()).i32(3, groups);
            go("rational_finish_" + sfx(num.dtype()), 1, kf);
            memory.give(partial);
            memory.give(total);
        }
        memory.give(coef);
        return new Storage[]{gx, gnum, gden};
    }

    /** n float64 values at {@code from} converted into {@code to} of type t. */
    private void convert(long from, long to, long n, DType t) {
        KernelArgs ka = a().i64(0, from).i64(1, to).i64(2, n);
        go("convert_f64_" + sfx(t), elementBlocks(n), ka);
    }

    // ------------------------------------------------------------------ cross-entropy

    @Override
    public Storage crossEntropy(Storage logits, Storage targets) {
        CudaStorage x = cs(logits);
        long rows = x.shape()[0];
        long c = x.shape()[1];
        CudaStorage out = alloc(x.dtype());
        DeviceMemory.Raw loss = temp(rows * Double.BYTES);
        KernelArgs ka = a().i64(0, x.address()).i64(1, addr(targets)).i64(2, loss.address()).i64(3, rows).i64(4, c);
        go("ce_fwd_" + sfx(x.dtype()), rowBlocks(rows), ka);
        reduceLaunch("reduce_rows_f64_" + sfx(x.dtype()), loss.address(), out.address(), new Plans.ReduceStep(1, rows, 1, 1), 1,
                R_SUM, 1.0 / rows);
        memory.give(loss);
        return out;
    }

    @Override
    public Storage crossEntropyBackward(Storage logits, Storage targets, Storage g) {
        CudaStorage x = cs(logits);
        long rows = x.shape()[0];
        long c = x.shape()[1];
        CudaStorage gx = alloc(x.dtype(), rows, c);
        KernelArgs ka = a().i64(0, x.address()).i64(1, addr(targets)).i64(2, addr(g)).i64(3, gx.address()).i64(4, rows)
                .i64(5, c).f64(6, 1.0 / rows);
        go("ce_bwd_" + sfx(x.dtype()), rowBlocks(rows), ka);
        return gx;
    }

    // ------------------------------------------------------------------ AdamW

    @Override
    public void adamwStep(Storage w, Storage g, Storage m, Storage v, AdamWStep s) {
        CudaStorage ws = cs(w);
        long n = ws.numel();
        if (n == 0) {
            return;
        }
        KernelArgs ka = a().i64(0, ws.address()).i64(1, addr(g)).i64(2, addr(m)).i64(3, addr(v)).i64(4, n).f64(5, s.beta1())
                .f64(6, s.beta2()).f64(7, s.eps()).f64(8, s.decay()).f64(9, s.lr() / s.bc1()).f64(10, Math.sqrt(s.bc2()));
        go("adamw_" + sfx(ws.dtype()), elementBlocks(n), ka);
    }

    /**
     * Runs of parameters with the same dtype and the same constants but decay go to
     * {@code adamw_list} up to {@link KernelArgs#ADAMW_LIST} at a time: kat_tiny's 200 parameter
     * tensors in 7 launches instead of 200 (a launch costs 5.5-8.8 us through JCuda).
     */
    @Override
    public void adamwSteps(Storage[] w, Storage[] g, Storage[] m, Storage[] v, AdamWStep[] steps) {
        int n = w.length;
        long[][] addresses = new long[4][n];
        long[] sizes = new long[n];
        double[] decay = new double[n];
        DType[] types = new DType[n];
        for (int i = 0; i < n; i++) {
            addresses[0][i] = cs(w[i]).address();
            addresses[1][i] = addr(g[i]);
            addresses[2][i] = addr(m[i]);
            addresses[3][i] = addr(v[i]);
            sizes[i] = w[i].numel();
            decay[i] = steps[i].decay();
            types[i] = w[i].dtype();
        }
        listLaunches("adamw_list", types, addresses, sizes, decay, 6, (first, i) -> sameButDecay(steps[first], steps[i]),
                (ka, base, from, count) -> {
                    AdamWStep s = steps[from];
                    double[] numbers = new double[5 + count];
                    numbers[0] = s.beta1();
                    numbers[1] = s.beta2();
                    numbers[2] = s.eps();
                    numbers[3] = s.lr() / s.bc1();
                    numbers[4] = Math.sqrt(s.bc2());
                    System.arraycopy(decay, from, numbers, 5, count);
                    long[] ids = new long[4 * count];
                    for (int a = 0; a < 4; a++) {
                        System.arraycopy(addresses[a], from, ids, a * count, count);
                    }
                    long at = numbersAt(ADAMW, ids, numbers);
                    ka.i64(0, Math.max(at, 0)).f64(1, numbers[0]).f64(2, numbers[1]).f64(3, numbers[2]).f64(4, numbers[3])
                            .f64(5, numbers[4]);
                    return at >= 0;
                });
    }

    /**
     * Fills the scalar slots before a list kernel's list for the tensors [from, from + count);
     * {@code chunkBase}: the chunks of the launches before. False: no launch for them.
     */
    private interface ListArgs {
        boolean fill(KernelArgs ka, long chunkBase, int from, int count);
    }

    /**
     * {@code kernel} over the chunks of the listed tensors (KernelArgs.adamwList's arrays), in
     * launches of up to ADAMW_LIST tensors of one dtype that {@code together} lets share a launch
     * with the first of it, the list at slot {@code listSlot}. Returns the chunks of all launches.
     */
    private long listLaunches(String kernel, DType[] types, long[][] addresses, long[] sizes, double[] decay, int listSlot,
                              java.util.function.BiPredicate<Integer, Integer> together, ListArgs args) {
        int n = sizes.length;
        long base = 0;
        int from = 0;
        while (from < n) {
            int count = 1;
            while (from + count < n && count < KernelArgs.ADAMW_LIST && types[from + count] == types[from]
                    && together.test(from, from + count)) {
                count++;
            }
            KernelArgs ka = a();
            long chunks = 0;
            if (args.fill(ka, base, from, count)) {
                chunks = ka.adamwList(listSlot, addresses, sizes, decay, from, count);
                if (chunks > 0) {
                    go(kernel + "_" + sfx(types[from]), Math.min(chunks, 8L * sms), ka);
                }
            }
            base += chunks;
            from += count;
        }
        return base;
    }

    /** As above over tensors {@code x} (and {@code y}, read beside them, or null), in runs of one dtype. */
    private long listLaunches(String kernel, List<CudaStorage> x, List<CudaStorage> y, int listSlot, ListArgs args) {
        int n = x.size();
        long[][] addresses = new long[4][n];
        long[] sizes = new long[n];
        DType[] types = new DType[n];
        for (int i = 0; i < n; i++) {
            addresses[0][i] = x.get(i).address();
            addresses[1][i] = y == null ? 0 : y.get(i).address();
            sizes[i] = x.get(i).numel();
            types[i] = x.get(i).dtype();
        }
        return listLaunches(kernel, types, addresses, sizes, new double[n], listSlot, (first, i) -> true, args);
    }

    /**
     * The norm on the device: each chunk's sum of squares ({@code sumsq_list}), the chunks summed in
     * order, then {@code clip_list} reads it and scales or leaves the tensors; nothing is read back.
     */
    @Override
    public void clipNorm(List<Storage> xs, double max) {
        List<CudaStorage> some = new ArrayList<>();
        long chunks = 0;
        for (Storage s : xs) {
            CudaStorage c = cs(s);
            if (c.numel() > 0) {
                some.add(c);
                chunks += (c.numel() + KernelArgs.ADAMW_CHUNK - 1) / KernelArgs.ADAMW_CHUNK;
            }
        }
        if (some.isEmpty()) {
            return;
        }
        DeviceMemory.Raw partial = temp(chunks * Double.BYTES);
        DeviceMemory.Raw total = temp(Double.BYTES);
        listLaunches("sumsq_list", some, null, 1, (ka, base, from, count) -> {
            ka.i64(0, partial.address() + base * Double.BYTES);
            return true;
        });
        reduceLaunch("reduce_rows_f64_f64", partial.address(), total.address(), new Plans.ReduceStep(1, chunks, 1, 1), 1, R_SUM,
                1.0);
        listLaunches("clip_list", some, null, 2, (ka, base, from, count) -> {
            ka.i64(0, total.address()).f64(1, max);
            return true;
        });
        memory.give(partial);
        memory.give(total);
    }

    @Override
    public void emaUpdate(Storage[] shadow, Storage[] w, double decay) {
        List<CudaStorage> s = new ArrayList<>();
        List<CudaStorage> v = new ArrayList<>();
        for (int i = 0; i < shadow.length; i++) {
            if (!Arrays.equals(shadow[i].shape(), w[i].shape()) || shadow[i].dtype() != w[i].dtype()) {
                throw new IllegalArgumentException("emaUpdate: average " + Arrays.toString(shadow[i].shape()) + " " + shadow[i].dtype()
                        + " and weights " + Arrays.toString(w[i].shape()) + " " + w[i].dtype() + " at " + i + ", expected the same");
            }
            if (shadow[i].numel() > 0) {
                s.add(cs(shadow[i]));
                v.add(cs(w[i]));
            }
        }
        listLaunches("ema_list", s, v, 2, (ka, base, from, count) -> {
            long[] ids = new long[2 * count];
            for (int i = 0; i < count; i++) {
                ids[i] = s.get(from + i).address();
                ids[count + i] = v.get(from + i).address();
            }
            long at = numbersAt(EMA, ids, new double[]{decay});
            ka.i64(0, Math.max(at, 0)).f64(1, decay);
            return at >= 0;
        });
    }

    private static boolean sameButDecay(AdamWStep a, AdamWStep b) {
        return a.beta1() == b.beta1() && a.beta2() == b.beta2() && a.eps() == b.eps() && a.lr() == b.lr() && a.bc1() == b.bc1()
                && a.bc2() == b.bc2();
    }

    // ------------------------------------------------------------------ dropout

    @Override
    public Storage dropoutMask(DType dtype, double p, long seed, long... shape) {
        CudaStorage y = alloc(dtype, shape);
        long n = y.numel();
        if (n > 0) {
            // recorded: the mask reads its seed from the recording's table, which each replay can rewrite
            long seedAt = capturing == Thread.currentThread() ? table.seed(seed) : 0;
            KernelArgs ka = a().i64(0, y.address()).i64(1, n).i64(2, seedAt).i64(3, seed).i32(4, Philox.dropThreshold(p))
                    .f64(5, 1.0 / (1.0 - p));
            go("dropout_mask_" + sfx(dtype), elementBlocks((n + 3) / 4), ka);
        }
        return y;
    }
}
