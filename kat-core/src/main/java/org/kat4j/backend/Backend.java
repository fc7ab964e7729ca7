package org.kat4j.backend;

import org.kat4j.tensor.DType;

import java.util.function.Supplier;

/**
 * The whole op surface that kat4j's autograd rules, layers and optimizers call: one
 * implementation per device. The rules ({@link org.kat4j.autograd.Ops}, {@link org.kat4j.autograd.Losses},
 * {@link org.kat4j.rational.RationalOp}) say what an op and its derivative are; a backend says how
 * each is computed on its memory. kat-core brings the CPU backend
 * ({@code org.kat4j.backend.cpu.CpuBackend}, ND4J storage and BLAS plus kat4j's own vector kernels);
 * other devices plug in through {@link BackendProvider}.
 *
 * <p>Contract, checked for every backend by one test suite: storages are dense and C-ordered;
 * every method returns a fresh storage unless it says it works in place or returns a view; inputs
 * are never changed except by the in-place methods; all storages passed to one call belong to this
 * backend. Shapes and dtypes have been checked by the caller, so a backend may assume them.
 */
public interface Backend {
    /** The device this backend serves. */
    Device device();

    /** A short description for {@code kat info} ("cpu (ND4J 1.0.0-M2.1, OpenBLAS, 2 threads)"). */
    String describe();

    // ------------------------------------------------------------------ memory

    /** Uninitialised storage (every element is written by the caller). */
    Storage empty(DType dtype, long... shape);

    Storage full(DType dtype, double value, long... shape);

    default Storage zeros(DType dtype, long... shape) {
        return full(dtype, 0.0, shape);
    }

    Storage fromFloats(float[] data, long... shape);

    Storage fromDoubles(double[] data, long... shape);

    /** All values, converted to float, in C order. */
    float[] toFloats(Storage s);

    /** All values, converted to double, in C order. */
    double[] toDoubles(Storage s);

    /** One element by its index in C order. */
    double getDouble(Storage s, long index);

    /** Sets one element by its index in C order. */
    void setDouble(Storage s, long index, double value);

    /** A copy in {@code dtype} (converted if it differs). */
    Storage copy(Storage s, DType dtype);

    default Storage copy(Storage s) {
        return copy(s, s.dtype());
    }

    /** Copies {@code src} (same shape, any dtype, any backend) into {@code dst}, converting. */
    void assign(Storage dst, Storage src);

    void fill(Storage s, double value);

    /** {@code acc += x * alpha} in place; x has acc's shape. */
    void addScaledInPlace(Storage acc, Storage x, double alpha);

    /** {@code acc += x} in place; x has acc's shape. */
    void addInPlace(Storage acc, Storage x);

    /** {@code x *= s} in place. */
    void scaleInPlace(Storage x, double s);

    /**
     * Values from the counter-based generator {@link Philox} (Philox4x32-10): element i of the
     * result depends only on {@code seed}, {@code offset + i} and the distribution, so every device
     * produces the same numbers. Uniform in [lo, hi) when {@code normal} is false, else normal with
     * mean lo and standard deviation hi.
     */
    default Storage random(DType dtype, long seed, long offset, boolean normal, double lo, double hi, long... shape) {
        double[] v = new double[Math.toIntExact(Shapes.numel(shape))];
        Philox.fill(v, seed, offset, normal, lo, hi);
        return copy(fromDoubles(v, shape), dtype);
    }

    /**
     * An inverted-dropout mask of {@code shape}: element i (C order) is 0 when the {@link Philox}
     * stream of {@code seed} drops it ({@code (word(seed, i) >>> 8) < Philox.dropThreshold(p)}, that
     * is, its uniform is below p), else 1 / (1 - p) in {@code dtype}. A function of the seed and
     * the index alone, so every device makes the same mask, in any order, without the host.
     */
    default Storage dropoutMask(DType dtype, double p, long seed, long... shape) {
        int n = Math.toIntExact(Shapes.numel(shape));
        int threshold = Philox.dropThreshold(p);
        double keep = 1.0 / (1.0 - p);
        int[] w = new int[n];
        Philox.words(seed, 0, w, n);
        double[] m = new double[n];
        for (int i = 0; i < n; i++) {
            m[i] = (w[i] >>> 8) < threshold ? 0.0 : keep;
        }
        return copy(fromDoubles(m, shape), dtype);
    }

    // ------------------------------------------------------------------ memory scopes

    /**
     * Starts a region whose temporaries this backend may release together when the returned
     * handle closes ({@link org.kat4j.tensor.Scope}); {@code depth} counts the regions already open
     * on this thread.
     */
    AutoCloseable openScope(int depth);

    /** Runs {@code body} with allocations that outlive every open scope (parameters, optimizer state). */
    <T> T outsideScopes(Supplier<T> body);

    /**
     * Frees the memory of {@code s}, allocated by {@link #outsideScopes} and held by no one else,
     * now rather than when the garbage collector finds it: neither {@code s} nor a view of it may
     * be used again. Default: nothing (the memory goes with the collector).
     */
    default void release(Storage s) {
    }

    // ------------------------------------------------------------------ threads

    /**
     * Opens a region in which several threads issue ops at once, each of them meant to have a
     * core to itself ({@code org.kat4j.nn.DataParallel}'s replicas): until the handle closes, the
     * libraries this backend calls stop starting threads of their own. Regions may overlap; the
     * last one to close restores the settings. Default: nothing to change.
     */
    default AutoCloseable ownThreads() {
        return () -> { };
    }

    /**
     * Runs {@code body} with the work of every op it issues done on the calling thread alone, none
     * handed to this backend's helper threads. Default: {@code body} as is.
     */
    default <T> T onCallingThread(Supplier<T> body) {
        return body.get();
    }

    // ------------------------------------------------------------------ element-wise

    Storage unary(UnaryOp op, Storage x);

    Storage scalar(ScalarOp op, Storage x, double s);

    /** {@code a op b} with numpy broadcasting; a and b have one dtype. */
    Storage binary(BinaryOp op, Storage a, Storage b);

    // ------------------------------------------------------------------ reductions

    /** Sum over {@code axes} (normalised, non-empty). */
    Storage sum(Storage x, int[] axes, boolean keepDims);

    Storage mean(Storage x, int[] axes, boolean keepDims);

    Storage max(Storage x, int[] axes, boolean keepDims);

    /** {@code g} summed down to {@code shape} (undoes broadcasting); returns g itself when the shapes match. */
    Storage sumTo(Storage g, long[] shape);

    /** {@code g} (broadcastable to shape) expanded into a fresh storage of {@code shape}. */
    Storage expand(Storage g, long[] shape);

    /** The L2 norm of all elements. */
    double norm2(Storage x);

    /**
     * The sum of the squares of every element of every storage in {@code xs}, one number read
     * back: what a global gradient-norm clip needs. This default adds {@code norm2(x)^2} in list
     * order (one read per storage); a device backend may reduce them all before reading one.
     */
    default double sumOfSquares(java.util.List<Storage> xs) {
        double sq = 0;
        for (Storage x : xs) {
            double n = norm2(x);
            sq += n * n;
        }
        return sq;
    }

    /**
     * A global-norm clip: when the L2 norm of all of {@code xs} together exceeds {@code max},
     * multiplies each element by {@code max / (norm + 1e-6)}; otherwise (a NaN norm included) leaves
     * them alone. This default reads the norm back ({@link #sumOfSquares}) and scales each storage;
     * a device backend decides on the device, with nothing read back, so the clip can be part of a
     * recorded step ({@link #capture}).
     */
    default void clipNorm(java.util.List<Storage> xs, double max) {
        double norm = Math.sqrt(sumOfSquares(xs));
        if (norm > max) {
            double f = max / (norm + 1e-6);
            for (Storage x : xs) {
                scaleInPlace(x, f);
            }
        }
    }

    /**
     * A model EMA's update of each {@code shadow[i]} towards {@code w[i]} (same shapes):
     * {@code shadow = shadow * decay}, then {@code shadow += (1 - decay) * w}, each step rounded to
     * the storage's type as {@link #scaleInPlace} and {@link #addScaledInPlace} round it. A device
     * backend updates them all in a few launches.
     */
    default void emaUpdate(Storage[] shadow, Storage[] w, double decay) {
        for (int i = 0; i < shadow.length; i++) {
            scaleInPlace(shadow[i], decay);
            addScaledInPlace(shadow[i], w[i], 1 - decay);
        }
    }

    // ------------------------------------------------------------------ matrix products

    /**
     * {@code op(a) @ op(b)} over the last two dims, batched over equal leading dims, op = transpose
     * where the flag is set (read in place, not copied).
     */
    Storage matmul(Storage a, Storage b, boolean transA, boolean transB);

    /**
     * A linear layer's output {@code x @ w^T + bias} for x [rows, in], w [out, in], bias [out]. This
     * default composes it; a backend may add the bias inside the product.
     */
    default Storage linear(Storage x, Storage w, Storage bias) {
        return binary(BinaryOp.ADD, matmul(x, w, false, true), bias);
    }

    /**
     * The product of bf16 autocast: {@link #matmul} of float32 operands rounded to bfloat16
     * ({@link Bf16}), the products summed in float32, a float32 result (what a GPU's bf16 GEMM with
     * float32 accumulation computes). Other dtypes multiply as {@link #matmul}. This default rounds
     * copies of the operands; a GPU backend multiplies bf16 copies on its tensor cores.
     */
    default Storage matmulBf16(Storage a, Storage b, boolean transA, boolean transB) {
        if (a.dtype() != DType.FLOAT32 || b.dtype() != DType.FLOAT32) {
            return matmul(a, b, transA, transB);
        }
        return matmul(roundBf16(a), roundBf16(b), transA, transB);
    }

    /** {@link #linear} under bf16 autocast: x and w rounded as in {@link #matmulBf16}, the bias added in float32. */
    default Storage linearBf16(Storage x, Storage w, Storage bias) {
        if (x.dtype() != DType.FLOAT32 || w.dtype() != DType.FLOAT32) {
            return linear(x, w, bias);
        }
        return linear(roundBf16(x), roundBf16(w), bias);
    }

    /** A float32 copy of float32 x with every element rounded to bfloat16 ({@link Bf16#round}). This default goes through the host. */
    default Storage roundBf16(Storage x) {
        if (x.dtype() != DType.FLOAT32) {
            throw new IllegalArgumentException("roundBf16: a " + x.dtype() + " storage, expected float32");
        }
        float[] v = toFloats(x);
        Bf16.roundInPlace(v);
        return fromFloats(v, x.shape());
    }

    // ------------------------------------------------------------------ layout

    /** The same elements in another shape of equal size: a view sharing the memory. */
    Storage reshape(Storage x, long... shape);

    Storage permute(Storage x, int... dims);

    /** The slice [start, start + length) along {@code dim}. */
    Storage narrow(Storage x, int dim, long start, long length);

    /** Zeros of {@code shape} with {@code g} placed at [start, start + g's size) along {@code dim}: narrow's backward. */
    Storage unnarrow(Storage g, long[] shape, int dim, long start);

    Storage concat(int dim, Storage... xs);

    /** Entries {@code index} along {@code dim} (a gather). */
    Storage indexSelect(Storage x, int dim, long[] index);

    /** Zeros of {@code shape} with slice k of {@code g} added at entry index[k] along {@code dim}: indexSelect's backward. */
    Storage indexAdd(Storage g, long[] shape, int dim, long[] index);

    // ------------------------------------------------------------------ fused kernels

    /** Softmax over the last axis. */
    Storage softmax(Storage x);

    /** dL/dx from the softmax output y and dL/dy. */
    Storage softmaxBackward(Storage y, Storage g);

    Storage logSoftmax(Storage x);

    Storage logSoftmaxBackward(Storage y, Storage g);

    /** Exact GELU, x Phi(x). */
    Storage gelu(Storage x);

    Storage geluBackward(Storage x, Storage g);

    /** A fused op's output and what its backward needs (backend-specific). */
    record Saved(Storage out, Object state) {
    }

    /** LayerNorm over the last dim with weight and bias [d]. */
    Saved layerNorm(Storage x, Storage weight, Storage bias, double eps);

    /** {gx, gWeight, gBias} of LayerNorm, each null where its flag is false. */
    Storage[] layerNormBackward(Saved forward, Storage x, Storage weight, Storage g, boolean needX, boolean needWeight,
                                boolean needBias);

    /**
     * Multi-head scaled dot-product self-attention on timm's packed projections: {@code qkv}
     * [B, N, 3 D] holds q, k and v side by side (each D = heads * headDim wide, head h at columns
     * h * headDim .. of each), and the result out [B, N, D] has, for each head,
     * softmax((scale q) k^T) v in that head's columns. The saved state is the attention
     * probabilities [B, heads, N, N]. This default composes it from the other ops; a backend may
     * fuse it (nothing but the output and the probabilities written).
     */
    default Saved attention(Storage qkv, int heads, double scale) {
        long[] s = qkv.shape();
        Storage[] qkvs = attentionInputs(qkv, heads, scale);
        Storage p = softmax(matmul(qkvs[0], qkvs[1], false, true));
        Storage out = reshape(permute(matmul(p, qkvs[2], false, false), 0, 2, 1, 3), s[0], s[1], s[2] / 3);
        return new Saved(out, p);
    }

    /** dL/dqkv [B, N, 3 D] of {@link #attention} from its saved state and dL/dout {@code g} [B, N, D]. */
    default Storage attentionBackward(Saved forward, Storage qkv, int heads, double scale, Storage g) {
        long[] s = qkv.shape();
        long b = s[0];
        long n = s[1];
        long d = s[2] / 3;
        long hd = d / heads;
        Storage p = (Storage) forward.state();
        Storage[] qkvs = attentionInputs(qkv, heads, scale);
        Storage go = permute(reshape(g, b, n, heads, hd), 0, 2, 1, 3);
        Storage gv = matmul(p, go, true, false);
        Storage gs = softmaxBackward(p, matmul(go, qkvs[2], false, true));
        Storage gq = scalar(ScalarOp.MUL, matmul(gs, qkvs[1], false, false), scale);
        Storage gk = matmul(gs, qkvs[0], true, false);
        long[] one = {1, b, heads, n, hd};
        Storage all = concat(0, reshape(gq, one), reshape(gk, one), reshape(gv, one));
        return reshape(permute(all, 1, 3, 0, 2, 4), b, n, 3 * d);
    }

    /** {scale q, k, v}, each [B, heads, N, head dim], from packed qkv [B, N, 3 D]. */
    private Storage[] attentionInputs(Storage qkv, int heads, double scale) {
        long[] s = qkv.shape();
        long b = s[0];
        long n = s[1];
        long hd = s[2] / 3 / heads;
        Storage packed = permute(reshape(qkv, b, n, 3, heads, hd), 2, 0, 3, 1, 4);
        Storage[] out = new Storage[3];
        for (int i = 0; i < 3; i++) {
            out[i] = reshape(narrow(packed, 0, i, 1), b, heads, n, hd);
        }
        out[0] = scalar(ScalarOp.MUL, out[0], scale);
        return out;
    }

    /**
     * The group-rational function P5(x)/Q4(x) on x [..., d]: numerator [1, 6] shared, denominator
     * [groups, 4] per group of d/groups contiguous channels (formula in org.kat4j.rational.Rational).
     */
    Storage rationalForward(Storage x, Storage numerator, Storage denominator, int groups);

    /** {gx (null unless needX), gNumerator [1, 6], gDenominator [groups, 4]}. */
    Storage[] rationalBackward(Storage x, Storage g, Storage numerator, Storage denominator, int groups, boolean needX);

    /** Mean cross-entropy of logits [N, C] against soft targets [N, C], as a one-element storage. */
    Storage crossEntropy(Storage logits, Storage targets);

    /** dL/dlogits for upstream gradient {@code g} (one element). */
    Storage crossEntropyBackward(Storage logits, Storage targets, Storage g);

    /**
     * One AdamW step on a parameter in place (torch.optim.AdamW's formula): m = b1 m + (1 - b1) g,
     * v = b2 v + (1 - b2) g^2, w = w * decay, w -= stepSize m / (sqrt(v) / sqrt(bc2) + eps) with
     * stepSize = lr / bc1.
     */
    void adamwStep(Storage w, Storage g, Storage m, Storage v, AdamWStep step);

    /**
     * {@link #adamwStep} on each parameter {@code w[i]} with its gradient, moments and constants at
     * index i, with the bits of those steps taken one by one; a device backend updates them in a
     * few launches instead of one per parameter.
     */
    default void adamwSteps(Storage[] w, Storage[] g, Storage[] m, Storage[] v, AdamWStep[] steps) {
        for (int i = 0; i < w.length; i++) {
            adamwStep(w[i], g[i], m[i], v[i], steps[i]);
        }
    }

    /** The constants of one AdamW step. */
    record AdamWStep(double beta1, double beta2, double eps, double decay, double lr, double bc1, double bc2) {
    }

    /**
     * Lets {@code fresh}, a result made inside an open scope, outlive the scopes in place of
     * {@code held} (same dtype and size, made outside them, used by no one else), whose memory is
     * then released: a parameter's gradient takes a step's result instead of a copy of it. Returns
     * the storage to keep in {@code held}'s place (on {@code fresh}'s memory), or null where this
     * backend cannot (the default; the caller then copies): the CPU's scopes are arenas reset whole.
     */
    default Storage outlive(Storage held, Storage fresh) {
        return null;
    }

    /** Whether {@link #capture} records this device's work (a CUDA device does; the CPU does not). */
    default boolean canCapture() {
        return false;
    }

    /**
     * Runs {@code body} once on the calling thread while this device records the work it queues,
     * for {@link Recording#replay} (a CUDA graph on a CUDA device); see {@link Recording} for what
     * a replay repeats. Refused where {@link #canCapture()} is false.
     */
    default Recording capture(Runnable body) {
        throw new UnsupportedOperationException(describe() + " cannot record its work for replay (CUDA graphs need a CUDA"
                + " device)");
    }
}
