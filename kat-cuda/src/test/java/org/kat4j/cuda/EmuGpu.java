package org.kat4j.cuda;

import org.kat4j.backend.Backend;
import org.kat4j.backend.BackendProvider;
import org.kat4j.backend.Device;
import org.kat4j.tensor.DType;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@link Gpu} on the CPU emulation of kernels.cu (src/test/emu/emu_jni.cpp, built with g++ on first
 * use): {@link CudaBackend} itself, its launches, arguments, memory and scopes, runs without a GPU on
 * the device {@code emu:0}. Device memory is host memory and every launch completes before it
 * returns; GEMM is a column-major loop with cuBLAS's conventions; the float32 rational runs on the
 * float64 kernels (rational.cu's tuned kernels need a GPU).
 */
final class EmuGpu implements Gpu {
    static final Device DEVICE = new Device("emu", 0);
    private static final String LOADED = load();

    /** Registers {@code emu:0} where the emulation builds (test class path only). */
    public static final class Provider implements BackendProvider {
        private static volatile List<Backend> found;

        @Override
        public String type() {
            return "emu";
        }

        @Override
        public synchronized List<Backend> backends() {
            if (found == null) {
                found = LOADED == null ? List.of(new CudaBackend(new EmuGpu(), DEVICE)) : List.of();
            }
            return found;
        }

        @Override
        public String status() {
            return LOADED == null ? "the CUDA backend on the CPU emulation of its kernels" : "not built: " + LOADED;
        }
    }

    /** Null when the library is loaded, else why not. */
    private static String load() {
        try {
            // from kat-cuda itself or from a module beside it
            Path src = Path.of("src/test/emu/emu_jni.cpp");
            if (!Files.exists(src)) {
                src = Path.of("../kat-cuda/src/test/emu/emu_jni.cpp");
            }
            if (!Files.exists(src)) {
                return "source tree not available";
            }
            Path dir = Files.createDirectories(Path.of("target/emu"));
            Path lib = dir.resolve("libkatemu.so").toAbsolutePath();
            Path log = dir.resolve("jni-build.log");
            Path jdk = Path.of(System.getProperty("java.home"));
            Process p = new ProcessBuilder("g++", "-std=c++20", "-O1", "-w", "-shared", "-fPIC",
                    "-I" + jdk.resolve("include"), "-I" + jdk.resolve("include/linux"), "-o", lib.toString(), src.toString())
                    .redirectErrorStream(true).redirectOutput(log.toFile()).start();
            if (!p.waitFor(5, TimeUnit.MINUTES) || p.exitValue() != 0) {
                return "g++ failed: " + Files.readString(log, StandardCharsets.UTF_8);
            }
            System.load(lib.toString());
            return null;
        } catch (IOException | InterruptedException | UnsatisfiedLinkError e) {
            return e.toString();
        }
    }

    static native long malloc0(long bytes);

    static native void free0(long address);

    static native long address0(ByteBuffer direct);

    static native boolean has0(String kernel);

    static native void launch0(String kernel, int grid, int threads, long table);

    static native void toDevice0(long dst, Object array, long bytes);

    static native void toHost0(Object array, long src, long bytes);

    static native void copy0(long dst, long src, long bytes);

    static native void zero0(long dst, long bytes);

    /** kind: 0 float32, 1 float64, 2 bfloat16 operands into float32. */
    static native void gemm0(int kind, boolean transFirst, boolean transSecond, int rows, int cols, int k, long first, int ldFirst,
                             long strideFirst, long second, int ldSecond, long strideSecond, long c, int ldc, long strideC, int batch,
                             boolean accumulate);

    private long totals;
    private int totalGroups = -1;
    /** The parameter blocks handed out (their tables point into them). */
    private final java.util.List<ByteBuffer> keep = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
    private final ThreadLocal<KernelArgs> own = ThreadLocal.withInitial(() -> newArgs(16));
    /** The work recorded since beginCapture (run on replay), or null when not recording. */
    private List<Runnable> recording;
    /** Device memory the graph being recorded owns (freed with it). */
    private List<Long> recordingOwned;

    /** A recorded graph: its work in order, and the memory it owns. */
    private record EmuGraph(List<Runnable> steps, List<Long> owned) {
    }

    /** Runs {@code work} now, or records it for replay while a graph is recorded. */
    private void run(Runnable work) {
        if (recording != null) {
            recording.add(work);
        } else {
            work.run();
        }
    }

    @Override
    public void beginCapture() {
        if (recording != null) {
            throw new IllegalStateException("the emulated device is already recording a graph");
        }
        recording = new ArrayList<>();
        recordingOwned = new ArrayList<>();
    }

    @Override
    public Object endCapture() {
        EmuGraph g = new EmuGraph(recording, recordingOwned);
        recording = null;
        recordingOwned = null;
        return g;
    }

    @Override
    public void replay(Object graph) {
        for (Runnable r : ((EmuGraph) graph).steps()) {
            r.run();
        }
    }

    @Override
    public void destroyGraph(Object graph) {
        for (long a : ((EmuGraph) graph).owned()) {
            free(a);
        }
    }

    /** An H200's count, so that grids, row splits and reduction parts are the ones the GPU gets. */
    @Override
    public int multiprocessors() {
        return 132;
    }

    @Override
    public String describe() {
        return "CPU emulation of kernels.cu";
    }

    @Override
    public void checkKernel(String name) {
        if (!has0(name)) {
            throw new IllegalStateException("kernel " + name + " missing from the emulation's table");
        }
    }

    @Override
    public long alloc(long bytes) {
        long p = malloc0(bytes);
        if (p == 0) {
            throw new IllegalStateException("emulated device out of memory: " + bytes + " bytes");
        }
        return p;
    }

    @Override
    public void free(long address) {
        free0(address);
    }

    @Override
    public KernelArgs newArgs(int slots) {
        ByteBuffer buf = ByteBuffer.allocateDirect(slots * 16);
        KernelArgs a = new KernelArgs(buf, address0(buf), slots);
        keep.add(buf); // the table points into it
        return a;
    }

    @Override
    public void launch(String name, int grid, int threads, KernelArgs args) {
        if (recording != null) {
            // the driver copies a launch's parameters when it records it: so does the emulation
            KernelArgs snapshot = newArgs(args.slots()).copyFrom(args);
            recording.add(() -> launch0(name, grid, threads, snapshot.table));
            return;
        }
        launch0(name, grid, threads, args.table);
    }

    @Override
    public void upload(long dst, Object array, long bytes) {
        toDevice0(dst, array, bytes);
    }

    @Override
    public void download(Object array, long src, long bytes) {
        toHost0(array, src, bytes);
    }

    @Override
    public void copy(long dst, long src, long bytes) {
        run(() -> copy0(dst, src, bytes));
    }

    @Override
    public void zero(long dst, long bytes) {
        run(() -> zero0(dst, bytes));
    }

    @Override
    public void synchronize() {
    }

    @Override
    public void gemm(DType t, Plans.Gemm g, long a, long b, long c, boolean accumulate) {
        // as CudaBlas: column-major C^T [n, m] = op(B)^T [n, k] op(A)^T [k, m]
        run(() -> gemm0(t == DType.FLOAT64 ? 1 : 0, g.transFirst(), g.transSecond(), g.n(), g.m(), g.k(), b, g.ldFirst(),
                g.strideFirst(), a, g.ldSecond(), g.strideSecond(), c, g.ldc(), g.strideC(), g.batch(), accumulate));
    }

    @Override
    public void gemmBf16(Plans.Gemm g, long a, long b, long c, boolean accumulate) {
        run(() -> gemm0(2, g.transFirst(), g.transSecond(), g.n(), g.m(), g.k(), b, g.ldFirst(), g.strideFirst(), a,
                g.ldSecond(), g.strideSecond(), c, g.ldc(), g.strideC(), g.batch(), accumulate));
    }

    private void convert(String from, String to, long src, long dst, long n) {
        KernelArgs k = own.get().i64(0, src).i64(1, dst).i64(2, n);
        launch0("convert_" + from + "_" + to, 4, 256, k.table);
    }

    /** x, the coefficients and (for the backward) g as float64 copies. */
    private long[] widen(long n, int groups, long... f32) {
        long[] out = new long[f32.length];
        for (int i = 0; i < f32.length; i++) {
            long len = i == 1 ? 6 + 4L * groups : n;
            out[i] = alloc(len * 8);
            convert("f32", "f64", f32[i], out[i], len);
        }
        return out;
    }

    @Override
    public void rationalForwardF32(long x, long y, long n, int d, long coef, int groups) {
        run(() -> rationalForwardNow(x, y, n, d, coef, groups));
    }

    private void rationalForwardNow(long x, long y, long n, int d, long coef, int groups) {
        long[] w = widen(n, groups, x, coef);
        long y64 = alloc(n * 8);
        KernelArgs k = own.get().i64(0, w[0]).i64(1, y64).i64(2, n).i64(3, d).i64(4, d / groups).i64(5, w[1]);
        launch0("rational_fwd_f64", 4, 256, k.table);
        convert("f64", "f32", y64, y, n);
        free(y64);
        free(w[0]);
        free(w[1]);
    }

    @Override
    public long rationalBackwardF32(long x, long g, long gx, long n, int d, long coef, int groups) {
        if (recording != null) {
            // the graph's own gradient buffer: the address its later (recorded) copies read
            long fixed = alloc((6 + 4L * groups) * 8);
            recordingOwned.add(fixed);
            recording.add(() -> rationalBackwardNow(x, g, gx, n, d, coef, groups, fixed));
            return fixed;
        }
        if (totalGroups != groups) {
            if (totals != 0) {
                free(totals);
            }
            totals = alloc((6 + 4L * groups) * 8);
            totalGroups = groups;
        }
        rationalBackwardNow(x, g, gx, n, d, coef, groups, totals);
        return totals;
    }

    private void rationalBackwardNow(long x, long g, long gx, long n, int d, long coef, int groups, long into) {
        long[] w = widen(n, groups, x, coef, g);
        long rows = n / d;
        long parts = Math.max(1, Math.min(4, rows));
        long partial = alloc(parts * groups * 10 * 8);
        long gx64 = gx == 0 ? 0 : alloc(n * 8);
        KernelArgs k = own.get().i64(0, w[0]).i64(1, w[2]).i64(2, gx64).i64(3, rows).i64(4, d).i64(5, d / groups).i64(6, w[1])
                .i64(7, partial).i64(8, parts);
        launch0("rational_bwd_f64", (int) (parts * groups), 256, k.table);
        long total = alloc(groups * 10L * 8);
        k = own.get().i64(0, partial).i64(1, total).i64(2, 1).i64(3, parts).i64(4, groups * 10L).i64(5, 1).i32(6, 0).f64(7, 1.0);
        launch0("reduce_cols_f64_f64", 4, 256, k.table);
        k = own.get().i64(0, total).i64(1, into).i64(2, into + 6 * 8).i32(3, groups);
        launch0("rational_finish_f64", 1, 256, k.table);
        if (gx != 0) {
            convert("f64", "f32", gx64, gx, n);
            free(gx64);
        }
        free(partial);
        free(total);
        for (long p : w) {
            free(p);
        }
    }
}
