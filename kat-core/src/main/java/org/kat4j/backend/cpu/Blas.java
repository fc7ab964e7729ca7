package org.kat4j.backend.cpu;

import org.bytedeco.openblas.global.openblas_nolapack;

import java.nio.ByteBuffer;
import java.nio.FloatBuffer;

/**
 * The float32 matrix products: kat4j's {@link GemmKernel} on 16-lane vectors (below), else
 * OpenBLAS's GEMM called directly (JavaCPP's binding of {@code cblas_sgemm}, the library
 * ND4J itself calls). ND4J's {@code Nd4j.gemm} wraps the same call in a custom op with its own
 * shape checks and output arrays: 26-88 us more per call, 7-35% of the micro models' products
 * (1088x64x64 .. 64x256x1088, best of 5 x 200 calls on 2 threads of a Zen 3, 2026-12-02).
 *
 * <p>OpenBLAS runs on one thread; a large product is cut into as many blocks of rows of the
 * result (or of columns, where it has more columns than rows) as {@link Parallel} has threads,
 * one single-threaded call each. OpenBLAS's own threads spin for about 0.1 s after each product
 * before they sleep, and beside kat4j's kernels on the other cores that cost more than it saves:
 * the Mlp block's forward+backward at batch 32 x 197, dim 192, with OpenBLAS's 2 threads took
 * 70 ms, of which GELU 15 ms (5.8 ms when run alone), on 2 cores of an Intel Xeon with AVX-512
 * (2026-12-02), and 58 ms split this way. The blocks depend only on the sizes and the number of
 * threads, so a result repeats to the bit; OpenBLAS picks its kernels by size, so a block's last
 * bits can differ from those of one call over the whole product.
 *
 * <p>Where the JDK's vector API runs 16-lane vectors (AVX-512), products go to kat4j's own
 * {@link GemmKernel} instead, split over the threads by rows the same way (1.5-2x OpenBLAS's
 * speed on a Zen 5 whose environment pins OpenBLAS to its AVX2 kernels; its bits do not depend on
 * the split); {@code -Dkat4j.blas=openblas} sends every product to OpenBLAS.
 *
 * <p>{@code -Dkat4j.blas=mkl} makes the same calls to Intel MKL's GEMM instead ({@link MklGemm};
 * the user adds {@code org.bytedeco:mkl} with its {@code linux-x86_64} and
 * {@code linux-x86_64-redist} jars, about 180 MB). On the Xeon above the Mlp block's six products
 * took 33.5 ms instead of 41.7 ms (width 192) and 141.6 instead of 154.6 ms (384), each library on
 * its own 2 threads, and the whole block forward+backward 62.5-65.5 ms instead of 75.1-80.0 ms
 * (192) and 204.6-204.8 instead of 228.5-232.3 ms (384) split this way (JMH, alternating runs).
 */
final class Blas {
    /**
     * Where products go: AUTO to {@link GemmKernel} where it is {@link GemmKernel#available()
     * available}, else OpenBLAS; OPENBLAS and MKL to that library alone.
     */
    enum Library { AUTO, OPENBLAS, MKL }

    /** The system property that chooses the library. */
    static final String PROPERTY = "kat4j.blas";
    /** Products below this many multiply-adds (about 15 us on one AVX-512 core) run as one call, not worth a hand-off. */
    static final long SPLIT_MIN = 1L << 20;
    /** Blocks start at multiples of this many rows or columns (OpenBLAS's kernels work in tiles of 16 and more). */
    private static final int ALIGN = 16;

    private static volatile Library library = Library.AUTO;

    private Blas() {
    }

    /**
     * Sets OpenBLAS to one thread, for every caller in the process (ND4J sets its own count when it
     * starts: call after), and takes the library {@code kat4j.blas} names.
     */
    static void configure() {
        openblas_nolapack.blas_set_num_threads(1);
        use(parse(System.getProperty(PROPERTY)));
    }

    /** The library a value of {@code kat4j.blas} names (null or empty: AUTO). */
    static Library parse(String value) {
        if (value == null || value.isBlank() || value.equalsIgnoreCase("auto")) {
            return Library.AUTO;
        }
        if (value.equalsIgnoreCase("openblas")) {
            return Library.OPENBLAS;
        }
        if (value.equalsIgnoreCase("mkl")) {
            return Library.MKL;
        }
        throw new IllegalArgumentException("-D" + PROPERTY + "=" + value + ": expected auto, openblas or mkl");
    }

    /** Makes later products call {@code l}; MKL must be loadable. */
    static void use(Library l) {
        if (l == Library.MKL) {
            try {
                MklGemm.load();
            } catch (LinkageError e) {
                throw new IllegalStateException("-D" + PROPERTY + "=mkl, but MKL could not be loaded: add org.bytedeco:mkl:"
                        + "2025.3-1.5.13 with its linux-x86_64 and linux-x86_64-redist jars to the class path (" + e + ")", e);
            }
        }
        library = l;
    }

    /** The library products go to. */
    static Library library() {
        return library;
    }

    /** Whether float32 products go to {@link GemmKernel}. */
    static boolean ownKernel() {
        return library == Library.AUTO && Simd.available() && GemmKernel.available();
    }

    /** One line for {@code kat info}: where products go. */
    static String describe() {
        return switch (library) {
            case MKL -> "Intel MKL (-Dkat4j.blas=mkl)";
            case OPENBLAS -> "OpenBLAS (-Dkat4j.blas=openblas)";
            case AUTO -> ownKernel() ? GemmKernel.describe() : "OpenBLAS";
        };
    }

    /**
     * c[i] = op(a[i]) @ op(b[i]) for i &lt; batch over dense row-major operands: a[i] is m x k
     * (stored k x m when ta), b[i] is k x n (stored n x k when tb), c[i] is m x n.
     */
    static void sgemm(FloatBuffer a, FloatBuffer b, ByteBuffer c, long batch, int m, int n, int k, boolean ta, boolean tb) {
        sgemm(a, b, c, batch, m, n, k, ta, tb, 0f);
    }

    /**
     * As {@link #sgemm(FloatBuffer, FloatBuffer, ByteBuffer, long, int, int, int, boolean, boolean)}, c = op(a) @ op(b) +
     * beta c for beta 0 or 1.
     */
    static void sgemm(FloatBuffer a, FloatBuffer b, ByteBuffer c, long batch, int m, int n, int k, boolean ta, boolean tb,
                      float beta) {
        if (beta != 0f && beta != 1f) {
            throw new IllegalArgumentException("beta " + beta + ": expected 0 or 1");
        }
        boolean own = ownKernel();
        FloatBuffer cf = own ? null : c.asFloatBuffer();
        for (long i = 0; i < batch; i++) {
            if (own) {
                GemmKernel.multiply(a, Math.toIntExact(i * m * k), b, Math.toIntExact(i * k * n), c, Math.toIntExact(i * m * n),
                        m, n, k, ta, tb, beta == 1f, null, SPLIT_MIN);
                continue;
            }
            FloatBuffer ai = batch == 1 ? a : slice(a, i * m * k);
            FloatBuffer bi = batch == 1 ? b : slice(b, i * k * n);
            FloatBuffer ci = batch == 1 ? cf : slice(cf, i * m * n);
            product(ai, bi, ci, m, n, k, ta, tb, beta);
        }
    }

    /**
     * A linear layer's y = x w^T + bias for x [rows, in], w [out, in], bias [out]. kat4j's kernel
     * starts each sum at the bias. For OpenBLAS and MKL each thread writes the bias into its own
     * block of y's rows and adds its product onto them (one pass over y, the rows written while
     * that thread's product follows; the same blocks and bits as one fill of all rows and then
     * {@link #sgemm} with beta 1). Filled by the calling thread
     * alone, the rows kept the other core waiting: 6304x192 @ 192x768 took 9.1-10.2 ms best and
     * 11.0-11.4 ms mean that way, 8.8-9.0 and 10.3-10.6 ms now (2 cores of an Intel Xeon with
     * AVX-512, 2026-12-03, alternating processes).
     */
    static void linear(FloatBuffer x, FloatBuffer w, ByteBuffer bias, ByteBuffer y, int rows, int out, int in) {
        if (ownKernel()) {
            // every sum starts at the bias: no pass that writes it first
            GemmKernel.multiply(x, 0, w, 0, y, 0, rows, out, in, false, true, false, bias, SPLIT_MIN);
            return;
        }
        FloatBuffer bb = bias.asFloatBuffer().limit(out);
        FloatBuffer yf = y.asFloatBuffer();
        product(x, w, yf, rows, out, in, false, true, 1f, (from, to) -> {
            for (int r = from; r < to; r++) {
                yf.put(r * out, bb, 0, out);
            }
        });
    }

    /** Writes rows [from, to) of a product's output before the product adds onto them. */
    @FunctionalInterface
    private interface RowFill {
        void rows(int from, int to);
    }

    /** One product, split over the threads when it is large. */
    private static void product(FloatBuffer a, FloatBuffer b, FloatBuffer c, int m, int n, int k, boolean ta, boolean tb,
                                float beta) {
        product(a, b, c, m, n, k, ta, tb, beta, null);
    }

    /** As above, with {@code fill} (when not null) writing each block's rows of c first, on the thread of that block. */
    private static void product(FloatBuffer a, FloatBuffer b, FloatBuffer c, int m, int n, int k, boolean ta, boolean tb,
                                float beta, RowFill fill) {
        boolean byRows = m >= n;
        int extent = byRows ? m : n;
        int parts = (long) m * n * k < SPLIT_MIN ? 1 : Math.min(Parallel.threads(), extent / ALIGN);
        if (fill != null && (parts <= 1 || !byRows)) {
            fill.rows(0, m);
        }
        if (parts <= 1) {
            call(a, b, c, m, n, k, ta, tb, beta, ta ? m : k, tb ? k : n, n);
            return;
        }
        int lda = ta ? m : k;
        int ldb = tb ? k : n;
        Parallel.forEach(parts, p -> {
            int from = boundary(extent, parts, p);
            int to = boundary(extent, parts, p + 1);
            if (byRows) {
                // rows from..to of op(a) and of c
                if (fill != null) {
                    fill.rows(from, to);
                }
                call(slice(a, ta ? from : (long) from * k), b, slice(c, (long) from * n), to - from, n, k, ta, tb, beta, lda, ldb, n);
            } else {
                // columns from..to of op(b) and of c
                call(a, slice(b, tb ? (long) from * k : from), slice(c, from), m, to - from, k, ta, tb, beta, lda, ldb, n);
            }
        });
    }

    /** The start of block p of parts over extent, a multiple of ALIGN (the last block ends at extent). */
    private static int boundary(int extent, int parts, int p) {
        return p == parts ? extent : (int) ((long) extent * p / parts / ALIGN * ALIGN);
    }

    private static void call(FloatBuffer a, FloatBuffer b, FloatBuffer c, int m, int n, int k, boolean ta, boolean tb, float beta,
                             int lda, int ldb, int ldc) {
        if (library == Library.MKL) {
            MklGemm.sgemm(a, b, c, m, n, k, ta, tb, beta, lda, ldb, ldc);
            return;
        }
        openblas_nolapack.cblas_sgemm(openblas_nolapack.CblasRowMajor, ta ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans,
                tb ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans, m, n, k, 1f, a, lda, b, ldb, beta, c, ldc);
    }

    private static FloatBuffer slice(FloatBuffer f, long offset) {
        return f.slice(Math.toIntExact(offset), f.capacity() - Math.toIntExact(offset));
    }
}
