// The CUDA backend's kernels (org.kat4j.cuda.CudaBackend): element-wise maps, one strided
// broadcasting family, reductions over (outer, r, inner) views, the softmax family, cross-entropy,
// LayerNorm, GELU, AdamW (one parameter or a list of them), Philox dropout masks, gather /
// index-add, and the group-rational op in float64 (float32 uses rational.cu's tuned kernels). Every kernel exists for float (_f32) and double (_f64) storage.
//
// Conventions: one launch covers any size (grid-stride loops), so the host sizes grids for the
// device, not for the data. Sums accumulate in double and in a fixed order (a fixed tree inside a
// block, partial rows summed in index order by a second launch): the same input on the same device
// gives the same bits. The op codes are CudaKernels' constants on the Java side.
#include <stdint.h>

#define MAXD 8
#define THREADS 256
#define WARP 32

typedef long long i64;

// ---------------------------------------------------------------- element-wise maps (contiguous)

enum MapOp {
    M_NEG = 0, M_EXP, M_LOG, M_SQRT, M_TANH, M_SIGMOID, M_RELU, M_ERF, M_STEP, M_IS_ZERO,
    M_ADD_S, M_MUL_S, M_RSUB_S, M_POW_S, M_FILL, M_GELU
};

__device__ __forceinline__ float f_erf(float v) { return erff(v); }
__device__ __forceinline__ double f_erf(double v) { return erf(v); }

template <typename T> __device__ __forceinline__ T gelu_of(T v) {
    return v * (T)0.5 * ((T)1 + f_erf(v * (T)0.70710678118654752440));
}

template <typename T> __device__ __forceinline__ T gelu_grad(T v) {
    T cdf = (T)0.5 * ((T)1 + f_erf(v * (T)0.70710678118654752440));
    T pdf = exp((T)-0.5 * v * v) * (T)0.39894228040143267794;
    return cdf + v * pdf;
}

template <typename T> __device__ __forceinline__ T map_one(int op, T v, T s) {
    switch (op) {
        case M_NEG: return -v;
        case M_EXP: return exp(v);
        case M_LOG: return log(v);
        case M_SQRT: return sqrt(v);
        case M_TANH: return tanh(v);
        case M_SIGMOID: return (T)1 / ((T)1 + exp(-v));
        case M_RELU: return v > (T)0 ? v : (T)0;
        case M_ERF: return f_erf(v);
        case M_STEP: return v > (T)0 ? (T)1 : (T)0;
        case M_IS_ZERO: return v == (T)0 ? (T)1 : (T)0;
        case M_ADD_S: return v + s;
        case M_MUL_S: return v * s;
        case M_RSUB_S: return s - v;
        case M_POW_S: return pow(v, s);
        case M_FILL: return s;
        default: return gelu_of(v);
    }
}

// y[i] = op(x[i], s); x may be y (in place); x is not read for M_FILL
template <typename T>
__device__ void map_body(const T* x, T* y, i64 n, int op, double s) {
    T st = (T)s;
    i64 step = (i64)gridDim.x * blockDim.x;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        y[i] = map_one<T>(op, op == M_FILL ? (T)0 : x[i], st);
    }
}

// ---------------------------------------------------------------- strided binary family

// out index i (C order over shape) -> element offsets of y, a and b (stride 0: broadcast)
struct Dims {
    i64 shape[MAXD];
    i64 so[MAXD];
    i64 sa[MAXD];
    i64 sb[MAXD];
    int rank;
    int dense; // 1: every operand is contiguous over the output (offsets equal i)
};

enum BinOp { B_ADD = 0, B_SUB, B_MUL, B_DIV, B_COPY_A, B_AXPY, B_GELU_BWD };

template <typename T> __device__ __forceinline__ T bin_one(int op, T a, T b, T s) {
    switch (op) {
        case B_ADD: return a + b;
        case B_SUB: return a - b;
        case B_MUL: return a * b;
        case B_DIV: return a / b;
        case B_COPY_A: return a;
        case B_AXPY: return a + s * b;
        default: return b * gelu_grad(a); // a = x, b = upstream gradient
    }
}

// y[so . idx] = op(a[sa . idx], b[sb . idx]); b is not read for B_COPY_A
template <typename T>
__device__ void binary_body(T* y, const T* a, const T* b, i64 n, int op, double s, const Dims& d) {
    T st = (T)s;
    i64 step = (i64)gridDim.x * blockDim.x;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        i64 oy, oa, ob;
        if (d.dense) {
            oy = oa = ob = i;
        } else {
            oy = oa = ob = 0;
            i64 rest = i;
#pragma unroll
            for (int k = MAXD - 1; k >= 0; k--) {
                if (k < d.rank) {
                    i64 idx = rest % d.shape[k];
                    rest /= d.shape[k];
                    oy += idx * d.so[k];
                    oa += idx * d.sa[k];
                    ob += idx * d.sb[k];
                }
            }
        }
        T bv = op == B_COPY_A ? (T)0 : b[ob];
        y[oy] = bin_one<T>(op, a[oa], bv, st);
    }
}

template <typename S, typename D>
__device__ void convert_body(const S* x, D* y, i64 n) {
    i64 step = (i64)gridDim.x * blockDim.x;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        y[i] = (D)x[i];
    }
}

// float32 -> bfloat16 bits, round to nearest even (a quiet NaN stays a NaN): the operands of a bf16
// GEMM (autocast). Integer arithmetic on the bits, so the CPU's rounding (Bf16.round) is the same.
__device__ void to_bf16_body(const float* x, unsigned short* y, i64 n) {
    i64 step = (i64)gridDim.x * blockDim.x;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        unsigned int u = __float_as_uint(x[i]);
        y[i] = (u & 0x7fffffffu) > 0x7f800000u ? (unsigned short)((u >> 16) | 0x40u)
                                                : (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
}

// ---------------------------------------------------------------- reductions

enum RedOp { R_SUM = 0, R_MAX, R_SUMSQ };

__device__ __forceinline__ double red_init(int op) { return op == R_MAX ? -INFINITY : 0.0; }

__device__ __forceinline__ double red_add(int op, double acc, double v) {
    if (op == R_MAX) {
        // NaN wins, as in a sequential max that propagates it
        return (v > acc || v != v) ? v : acc;
    }
    return op == R_SUMSQ ? fma(v, v, acc) : acc + v;
}

__device__ __forceinline__ double red_join(int op, double a, double b) {
    if (op == R_MAX) {
        return (b > a || b != b) ? b : a;
    }
    return a + b;
}

// fixed-shape tree over a block's THREADS values; the result is valid in thread 0
__device__ __forceinline__ double block_reduce(int op, double v, double* sh) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int w = THREADS / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) {
            sh[threadIdx.x] = red_join(op, sh[threadIdx.x], sh[threadIdx.x + w]);
        }
        __syncthreads();
    }
    double r = sh[0];
    __syncthreads();
    return r;
}

// x viewed as [outer, r] (inner = 1): block per (row, part); part p of a row covers
// k in [p * chunk, (p + 1) * chunk). y[row * parts + p] = scale * op(x[row, k] over the part)
template <typename I, typename O>
__device__ void reduce_rows_body(const I* x, O* y, i64 outer, i64 r, i64 parts, int op, double scale) {
    __shared__ double sh[THREADS];
    i64 chunk = (r + parts - 1) / parts;
    for (i64 blk = blockIdx.x; blk < outer * parts; blk += gridDim.x) {
        i64 row = blk / parts;
        i64 p = blk % parts;
        i64 k0 = p * chunk;
        i64 k1 = min(r, k0 + chunk);
        double acc = red_init(op);
        for (i64 k = k0 + threadIdx.x; k < k1; k += THREADS) {
            acc = red_add(op, acc, (double)x[row * r + k]);
        }
        acc = block_reduce(op, acc, sh);
        if (threadIdx.x == 0) {
            y[blk] = (O)(op == R_MAX ? acc : acc * scale);
        }
    }
}

// x viewed as [outer, r, inner]: thread per (o, part, i), sequential over its part's k.
// y[(o * parts + p) * inner + i] = scale * op(x[o, k, i] over the part)
template <typename I, typename O>
__device__ void reduce_cols_body(const I* x, O* y, i64 outer, i64 r, i64 inner, i64 parts, int op, double scale) {
    i64 chunk = (r + parts - 1) / parts;
    i64 total = outer * parts * inner;
    i64 step = (i64)gridDim.x * blockDim.x;
    for (i64 t = (i64)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += step) {
        i64 i = t % inner;
        i64 op_ = t / inner;
        i64 p = op_ % parts;
        i64 o = op_ / parts;
        i64 k0 = p * chunk;
        i64 k1 = min(r, k0 + chunk);
        double acc = red_init(op);
        const I* base = x + o * r * inner + i;
        for (i64 k = k0; k < k1; k++) {
            acc = red_add(op, acc, (double)base[k * inner]);
        }
        y[t] = (O)(op == R_MAX ? acc : acc * scale);
    }
}

// ---------------------------------------------------------------- warp helpers

__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
    for (int o = WARP / 2; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, o);
    }
    return v;
}

__device__ __forceinline__ double warp_max(double v) {
#pragma unroll
    for (int o = WARP / 2; o > 0; o >>= 1) {
        v = fmax(v, __shfl_xor_sync(0xffffffffu, v, o));
    }
    return v;
}

// warp-per-row loops: every lane of a warp takes the same rows (the shuffles need all 32)
#define ROW_LOOP(rows)                                                                                    \
    int lane = threadIdx.x % WARP;                                                                        \
    i64 warps = (i64)gridDim.x * (blockDim.x / WARP);                                                     \
    for (i64 row = (i64)blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP; row < (rows); row += warps)

// ---------------------------------------------------------------- softmax family (last axis)

// a row's maximum m and sum of exp(x - m), shared by the warp's lanes
struct RowMaxSum {
    double m, s;
};

template <typename T>
__device__ RowMaxSum row_max_sum(const T* xr, i64 d, int lane) {
    double m = -INFINITY;
    for (i64 j = lane; j < d; j += WARP) {
        m = fmax(m, (double)xr[j]);
    }
    m = warp_max(m);
    double s = 0;
    for (i64 j = lane; j < d; j += WARP) {
        s += exp((double)xr[j] - m);
    }
    return {m, warp_sum(s)};
}

template <typename T>
__device__ void softmax_body(const T* x, T* y, i64 rows, i64 d, int logOut) {
    ROW_LOOP(rows) {
        const T* xr = x + row * d;
        T* yr = y + row * d;
        RowMaxSum r = row_max_sum(xr, d, lane);
        if (logOut) {
            double lse = r.m + log(r.s);
            for (i64 j = lane; j < d; j += WARP) {
                yr[j] = (T)((double)xr[j] - lse);
            }
        } else {
            double inv = 1.0 / r.s;
            for (i64 j = lane; j < d; j += WARP) {
                yr[j] = (T)(exp((double)xr[j] - r.m) * inv);
            }
        }
    }
}

// softmax: gx = (g - sum(g y)) y; log-softmax: gx = g - exp(y) sum(g)
template <typename T>
__device__ void softmax_bwd_body(const T* y, const T* g, T* gx, i64 rows, i64 d, int logOut) {
    ROW_LOOP(rows) {
        const T* yr = y + row * d;
        const T* gr = g + row * d;
        T* out = gx + row * d;
        double s = 0;
        for (i64 j = lane; j < d; j += WARP) {
            s += logOut ? (double)gr[j] : (double)gr[j] * (double)yr[j];
        }
        s = warp_sum(s);
        for (i64 j = lane; j < d; j += WARP) {
            out[j] = logOut ? (T)((double)gr[j] - exp((double)yr[j]) * s) : (T)(((double)gr[j] - s) * (double)yr[j]);
        }
    }
}

// ---------------------------------------------------------------- cross-entropy (soft targets)

template <typename T>
__device__ double lse_of_row(const T* xr, i64 c, int lane) {
    RowMaxSum r = row_max_sum(xr, c, lane);
    return r.m + log(r.s);
}

// loss[row] = -sum_j t[row, j] (x[row, j] - lse(x[row])), in double
template <typename T>
__device__ void ce_fwd_body(const T* x, const T* t, double* loss, i64 rows, i64 c) {
    ROW_LOOP(rows) {
        double lse = lse_of_row(x + row * c, c, lane);
        double s = 0;
        for (i64 j = lane; j < c; j += WARP) {
            s += (double)t[row * c + j] * ((double)x[row * c + j] - lse);
        }
        s = warp_sum(s);
        if (lane == 0) {
            loss[row] = -s;
        }
    }
}

// gx = (softmax(x) * mass(t row) - t) * g[0] * invN
template <typename T>
__device__ void ce_bwd_body(const T* x, const T* t, const T* g, T* gx, i64 rows, i64 c, double invN) {
    double sc = (double)g[0] * invN;
    ROW_LOOP(rows) {
        double lse = lse_of_row(x + row * c, c, lane);
        double mass = 0;
        for (i64 j = lane; j < c; j += WARP) {
            mass += (double)t[row * c + j];
        }
        mass = warp_sum(mass);
        for (i64 j = lane; j < c; j += WARP) {
            i64 e = row * c + j;
            gx[e] = (T)((exp((double)x[e] - lse) * mass - (double)t[e]) * sc);
        }
    }
}

// ---------------------------------------------------------------- LayerNorm (last axis)

template <typename T>
__device__ void ln_fwd_body(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, i64 rows, i64 d, double eps) {
    ROW_LOOP(rows) {
        const T* xr = x + row * d;
        double s = 0;
        for (i64 j = lane; j < d; j += WARP) {
            s += (double)xr[j];
        }
        double mu = warp_sum(s) / (double)d;
        double v = 0;
        for (i64 j = lane; j < d; j += WARP) {
            double c = (double)xr[j] - mu;
            v += c * c;
        }
        double rs = 1.0 / sqrt(warp_sum(v) / (double)d + eps);
        for (i64 j = lane; j < d; j += WARP) {
            y[row * d + j] = (T)(((double)xr[j] - mu) * rs * (double)w[j] + (double)b[j]);
        }
        if (lane == 0) {
            mean[row] = (T)mu;
            rstd[row] = (T)rs;
        }
    }
}

// gx = (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) rstd, dxhat = g w
template <typename T>
__device__ void ln_bwd_x_body(const T* x, const T* w, const T* g, const T* mean, const T* rstd, T* gx, i64 rows, i64 d) {
    ROW_LOOP(rows) {
        double mu = (double)mean[row];
        double rs = (double)rstd[row];
        double s1 = 0;
        double s2 = 0;
        for (i64 j = lane; j < d; j += WARP) {
            i64 e = row * d + j;
            double dx = (double)g[e] * (double)w[j];
            s1 += dx;
            s2 += dx * ((double)x[e] - mu) * rs;
        }
        double m1 = warp_sum(s1) / (double)d;
        double m2 = warp_sum(s2) / (double)d;
        for (i64 j = lane; j < d; j += WARP) {
            i64 e = row * d + j;
            double xhat = ((double)x[e] - mu) * rs;
            gx[e] = (T)(((double)g[e] * (double)w[j] - m1 - xhat * m2) * rs);
        }
    }
}

// partial[(p * 2 + 0) * d + c] = sum of g xhat over part p's rows, partial[(p * 2 + 1) * d + c] = sum of g
template <typename T>
__device__ void ln_bwd_wb_body(const T* x, const T* g, const T* mean, const T* rstd, double* partial, i64 rows, i64 d,
                               i64 parts) {
    i64 chunk = (rows + parts - 1) / parts;
    i64 step = (i64)gridDim.x * blockDim.x;
    for (i64 t = (i64)blockIdx.x * blockDim.x + threadIdx.x; t < parts * d; t += step) {
        i64 c = t % d;
        i64 p = t / d;
        i64 r0 = p * chunk;
        i64 r1 = min(rows, r0 + chunk);
        double sw = 0;
        double sb = 0;
        for (i64 r = r0; r < r1; r++) {
            double gv = (double)g[r * d + c];
            sw += gv * ((double)x[r * d + c] - (double)mean[r]) * (double)rstd[r];
            sb += gv;
        }
        partial[(p * 2) * d + c] = sw;
        partial[(p * 2 + 1) * d + c] = sb;
    }
}

// ---------------------------------------------------------------- AdamW (torch.optim.AdamW)

// The constants of one step in the storage type; both AdamW kernels update an element the same way.
template <typename T> struct AdamWConst {
    T b1, b2, c1, c2, eps, decay, stepSize, bc2Sqrt;
    __device__ AdamWConst(double beta1, double beta2, double e, double d, double s, double q)
        : b1((T)beta1), b2((T)beta2), c1((T)(1 - beta1)), c2((T)(1 - beta2)), eps((T)e), decay((T)d), stepSize((T)s),
          bc2Sqrt((T)q) {}
};

template <typename T>
__device__ __forceinline__ void adamw_one(T* w, const T* g, T* m, T* v, i64 i, const AdamWConst<T>& k) {
    T gi = g[i];
    T mi = m[i] * k.b1 + k.c1 * gi;
    T vi = v[i] * k.b2 + k.c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] = w[i] * k.decay - k.stepSize * mi / (sqrt(vi) / k.bc2Sqrt + k.eps);
}

template <typename T>
__device__ void adamw_body(T* w, const T* g, T* m, T* v, i64 n, double b1, double b2, double eps, double decay,
                           double stepSize, double bc2Sqrt) {
    AdamWConst<T> k(b1, b2, eps, decay, stepSize, bc2Sqrt);
    i64 step = (i64)gridDim.x * blockDim.x;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        adamw_one(w, g, m, v, i, k);
    }
}

// Up to ADAMW_LIST parameters in one launch (passed by value: no table in device memory). Tensor t
// is cut into chunks of ADAMW_CHUNK elements numbered from start[t]; a block takes chunks
// blockIdx.x, blockIdx.x + gridDim.x, ... Byte layout as org.kat4j.cuda.KernelArgs.adamwList writes it.
// When at is not null the step's numbers come from device memory instead (b1, b2, eps, stepSize,
// bc2Sqrt, then one decay per tensor): a launch recorded in a CUDA graph reads the numbers the host
// writes there before each replay (the step count and learning rate change every step).
#define ADAMW_LIST 32
#define ADAMW_CHUNK 2048
struct AdamWList {
    i64 w[ADAMW_LIST];
    i64 g[ADAMW_LIST];
    i64 m[ADAMW_LIST];
    i64 v[ADAMW_LIST];
    i64 n[ADAMW_LIST];
    double decay[ADAMW_LIST];
    i64 start[ADAMW_LIST + 1]; // start[count] = all chunks
    int count;
};

template <typename T>
__device__ void adamw_list_body(const double* at, double b1, double b2, double eps, double stepSize, double bc2Sqrt,
                                const AdamWList& l) {
    if (at != nullptr) {
        b1 = at[0];
        b2 = at[1];
        eps = at[2];
        stepSize = at[3];
        bc2Sqrt = at[4];
    }
    i64 chunks = l.start[l.count];
    for (i64 c = blockIdx.x; c < chunks; c += gridDim.x) {
        int t = 0;
        while (c >= l.start[t + 1]) {
            t++;
        }
        AdamWConst<T> k(b1, b2, eps, at != nullptr ? at[5 + t] : l.decay[t], stepSize, bc2Sqrt);
        i64 from = (c - l.start[t]) * ADAMW_CHUNK;
        i64 to = min(from + (i64)ADAMW_CHUNK, l.n[t]);
        for (i64 i = from + threadIdx.x; i < to; i += blockDim.x) {
            adamw_one((T*)l.w[t], (const T*)l.g[t], (T*)l.m[t], (T*)l.v[t], i, k);
        }
    }
}

// The same list for the other per-parameter updates of a step: tensor t's chunk c is elements
// [(c - start[t]) * ADAMW_CHUNK, ...) of l.w[t] (and of l.g[t] where a second tensor is read).
__device__ __forceinline__ int list_tensor(const AdamWList& l, i64 c) {
    int t = 0;
    while (c >= l.start[t + 1]) {
        t++;
    }
    return t;
}

// partial[c] = the sum of squares of chunk c of the listed tensors, in double (a global norm's
// parts: a block per chunk, the same tree every time, so the same bits)
template <typename T>
__device__ void sumsq_list_body(double* partial, const AdamWList& l) {
    __shared__ double sh[THREADS];
    i64 chunks = l.start[l.count];
    for (i64 c = blockIdx.x; c < chunks; c += gridDim.x) {
        int t = list_tensor(l, c);
        const T* x = (const T*)l.w[t];
        i64 from = (c - l.start[t]) * ADAMW_CHUNK;
        i64 to = min(from + (i64)ADAMW_CHUNK, l.n[t]);
        double acc = 0;
        for (i64 i = from + threadIdx.x; i < to; i += blockDim.x) {
            acc = red_add(R_SUMSQ, acc, (double)x[i]);
        }
        acc = block_reduce(R_SUM, acc, sh);
        if (threadIdx.x == 0) {
            partial[c] = acc;
        }
    }
}

// A global-norm clip read from the device: when norm = sqrt(*sumsq) exceeds max, every listed
// tensor is multiplied by max / (norm + 1e-6) rounded to T (as a scalar multiply would); otherwise,
// a NaN norm included, nothing is written.
template <typename T>
__device__ void clip_list_body(const double* sumsq, double max, const AdamWList& l) {
    double norm = sqrt(*sumsq);
    if (!(norm > max)) {
        return;
    }
    T f = (T)(max / (norm + 1e-6));
    i64 chunks = l.start[l.count];
    for (i64 c = blockIdx.x; c < chunks; c += gridDim.x) {
        int t = list_tensor(l, c);
        T* x = (T*)l.w[t];
        i64 from = (c - l.start[t]) * ADAMW_CHUNK;
        i64 to = min(from + (i64)ADAMW_CHUNK, l.n[t]);
        for (i64 i = from + threadIdx.x; i < to; i += blockDim.x) {
            x[i] = x[i] * f;
        }
    }
}

// a product rounded on its own: never fused into an addition that follows it
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }

// A model EMA's update: shadow (l.w) = shadow * decay, then shadow + (1 - decay) * weights (l.g),
// each rounded to T as the two passes of a scale and an axpy would be; decay from *at when at is not
// null (as adamw_list's numbers).
template <typename T>
__device__ void ema_list_body(const double* at, double decay, const AdamWList& l) {
    if (at != nullptr) {
        decay = *at;
    }
    T d = (T)decay;
    T rest = (T)(1.0 - decay);
    i64 chunks = l.start[l.count];
    for (i64 c = blockIdx.x; c < chunks; c += gridDim.x) {
        int t = list_tensor(l, c);
        T* shadow = (T*)l.w[t];
        const T* w = (const T*)l.g[t];
        i64 from = (c - l.start[t]) * ADAMW_CHUNK;
        i64 to = min(from + (i64)ADAMW_CHUNK, l.n[t]);
        for (i64 i = from + threadIdx.x; i < to; i += blockDim.x) {
            shadow[i] = mul_rn(shadow[i], d) + rest * w[i];
        }
    }
}

// ---------------------------------------------------------------- dropout masks (Philox4x32-10)

// org.kat4j.backend.Philox's stream: element i takes word i mod 4 of the block with counter i / 4
// under the 64-bit seed as key; it is dropped (0) when the word's top 24 bits are below threshold
// (Philox.dropThreshold), else scale. Integers decide, so every device gives the same mask. The seed
// is read from seedAt when that is not null: a mask recorded in a CUDA graph takes a new seed at
// every replay from a table the host rewrites between replays.
__device__ __forceinline__ void philox4x32_10(unsigned c[4], unsigned k0, unsigned k1) {
    for (int r = 0; r < 10; r++) {
        unsigned hi0 = __umulhi(0xD2511F53u, c[0]), lo0 = 0xD2511F53u * c[0];
        unsigned hi1 = __umulhi(0xCD9E8D57u, c[2]), lo1 = 0xCD9E8D57u * c[2];
        unsigned n0 = hi1 ^ c[1] ^ k0, n2 = hi0 ^ c[3] ^ k1;
        c[0] = n0;
        c[1] = lo1;
        c[2] = n2;
        c[3] = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}

template <typename T>
__device__ void dropout_mask_body(T* y, i64 n, const i64* seedAt, i64 seed, int threshold, double scale) {
    T keep = (T)scale;
    if (seedAt != nullptr) {
        seed = *seedAt;
    }
    unsigned k0 = (unsigned)seed, k1 = (unsigned)((unsigned long long)seed >> 32);
    i64 blocks = (n + 3) / 4;
    i64 step = (i64)gridDim.x * blockDim.x;
    for (i64 b = (i64)blockIdx.x * blockDim.x + threadIdx.x; b < blocks; b += step) {
        unsigned c[4] = {(unsigned)b, (unsigned)((unsigned long long)b >> 32), 0u, 0u};
        philox4x32_10(c, k0, k1);
        for (int q = 0; q < 4; q++) {
            i64 i = b * 4 + q;
            if (i < n) {
                y[i] = (c[q] >> 8) < (unsigned)threshold ? (T)0 : keep;
            }
        }
    }
}

// ---------------------------------------------------------------- gather and its backward

// y[o, k, i] = x[o, index[k], i] for x [outer, srcLen, inner], y [outer, K, inner]
template <typename T>
__device__ void gather_body(const T* x, T* y, const i64* index, i64 outer, i64 K, i64 inner, i64 srcLen) {
    i64 n = outer * K * inner;
    i64 step = (i64)gridDim.x * blockDim.x;
    for (i64 t = (i64)blockIdx.x * blockDim.x + threadIdx.x; t < n; t += step) {
        i64 i = t % inner;
        i64 k = (t / inner) % K;
        i64 o = t / (inner * K);
        y[t] = x[(o * srcLen + index[k]) * inner + i];
    }
}

// y[o, j, i] = sum of g[o, k, i] over the k with index[k] = j, in increasing k: ks[starts[j] ..
// starts[j + 1]) lists them (built on the host). Every element of y [outer, dimLen, inner] is written.
template <typename T>
__device__ void index_add_body(const T* g, T* y, const i64* starts, const i64* ks, i64 outer, i64 dimLen, i64 K,
                               i64 inner) {
    i64 n = outer * dimLen * inner;
    i64 step = (i64)gridDim.x * blockDim.x;
    for (i64 t = (i64)blockIdx.x * blockDim.x + threadIdx.x; t < n; t += step) {
        i64 i = t % inner;
        i64 j = (t / inner) % dimLen;
        i64 o = t / (inner * dimLen);
        double s = 0;
        for (i64 q = starts[j]; q < starts[j + 1]; q++) {
            s += (double)g[(o * K + ks[q]) * inner + i];
        }
        y[t] = (T)s;
    }
}

// ---------------------------------------------------------------- group rational in float64

// coef: a0..a5, then b0..b3 of each group (raw b; |b| is taken here)
__device__ __forceinline__ double rat_p(double v, const double* a) {
    return a[0] + v * (a[1] + v * (a[2] + v * (a[3] + v * (a[4] + v * a[5]))));
}

__device__ __forceinline__ double rat_q(double av, const double* b) {
    return 1.0 + av * (fabs(b[0]) + av * (fabs(b[1]) + av * (fabs(b[2]) + av * fabs(b[3]))));
}

__device__ void rational_fwd_f64_body(const double* x, double* y, i64 n, i64 d, i64 cpg, const double* coef) {
    i64 step = (i64)gridDim.x * blockDim.x;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        const double* b = coef + 6 + 4 * ((i % d) / cpg);
        double v = x[i];
        y[i] = rat_p(v, coef) / rat_q(fabs(v), b);
    }
}

// block (part p, group grp) over rows [p * chunk, (p + 1) * chunk) and the group's cpg channels:
// gx (if not null) and partial[(p * groups + grp) * 10 + j]: dL/da_j (j < 6), dL/db_(j-6) (j >= 6)
__device__ void rational_bwd_f64_body(const double* x, const double* g, double* gx, i64 rows, i64 d, i64 cpg,
                                      const double* coef, double* partial, i64 parts) {
    __shared__ double sh[THREADS];
    int groups = (int)(d / cpg);
    i64 chunk = (rows + parts - 1) / parts;
    for (i64 blk = blockIdx.x; blk < parts * groups; blk += gridDim.x) {
        i64 p = blk / groups;
        int grp = (int)(blk % groups);
        const double* a = coef;
        const double* b = coef + 6 + 4 * grp;
        i64 r0 = p * chunk;
        i64 r1 = min(rows, r0 + chunk);
        double acc[10];
#pragma unroll
        for (int j = 0; j < 10; j++) {
            acc[j] = 0;
        }
        i64 count = (r1 > r0 ? r1 - r0 : 0) * cpg;
        for (i64 e = threadIdx.x; e < count; e += THREADS) {
            i64 idx = (r0 + e / cpg) * d + grp * cpg + e % cpg;
            double v = x[idx];
            double gv = g[idx];
            double av = fabs(v);
            double pv = rat_p(v, a);
            double q = rat_q(av, b);
            if (gx != nullptr) {
                double r = a[1] + v * (2 * a[2] + v * (3 * a[3] + v * (4 * a[4] + v * 5 * a[5])));
                double sv = (v < 0 ? -1.0 : 1.0)
                        * (fabs(b[0]) + av * (2 * fabs(b[1]) + av * (3 * fabs(b[2]) + av * 4 * fabs(b[3]))));
                gx[idx] = gv * (r / q - pv * sv / (q * q));
            }
            double xi = 1;
#pragma unroll
            for (int j = 0; j < 6; j++) {
                acc[j] += gv * xi / q;
                xi *= v;
            }
            double axk = av;
            double c = -gv * pv / (q * q);
#pragma unroll
            for (int k = 0; k < 4; k++) {
                acc[6 + k] += c * (b[k] < 0 ? -1.0 : 1.0) * axk;
                axk *= av;
            }
        }
#pragma unroll
        for (int j = 0; j < 10; j++) {
            double s = block_reduce(R_SUM, acc[j], sh);
            if (threadIdx.x == 0) {
                partial[blk * 10 + j] = s;
            }
        }
    }
}

// total [groups, 10] (summed over parts) -> gnum [6] (summed over groups in order), gden [groups, 4]
template <typename T>
__device__ void rational_finish_body(const double* total, T* gnum, T* gden, int groups) {
    for (int t = threadIdx.x; t < 6 + 4 * groups; t += blockDim.x) {
        if (t < 6) {
            double s = 0;
            for (int grp = 0; grp < groups; grp++) {
                s += total[grp * 10 + t];
            }
            gnum[t] = (T)s;
        } else {
            int grp = (t - 6) / 4;
            gden[t - 6] = (T)total[grp * 10 + 6 + (t - 6) % 4];
        }
    }
}

// ---------------------------------------------------------------- entry points

#define K extern "C" __global__ void __launch_bounds__(THREADS)
#define BOTH(X) X(float, f32) X(double, f64)

#define ENTRIES(T, S)                                                                                            \
    K map_##S(const T* x, T* y, i64 n, int op, double s) { map_body<T>(x, y, n, op, s); }                    \
    K binary_##S(T* y, const T* a, const T* b, i64 n, int op, double s, Dims d) {                             \
        binary_body<T>(y, a, b, n, op, s, d);                                                                  \
    }                                                                                                          \
    K softmax_##S(const T* x, T* y, i64 rows, i64 d, int logOut) { softmax_body<T>(x, y, rows, d, logOut); } \
    K softmax_bwd_##S(const T* y, const T* g, T* gx, i64 rows, i64 d, int logOut) {                           \
        softmax_bwd_body<T>(y, g, gx, rows, d, logOut);                                                        \
    }                                                                                                          \
    K ce_fwd_##S(const T* x, const T* t, double* loss, i64 rows, i64 c) { ce_fwd_body<T>(x, t, loss, rows, c); } \
    K ce_bwd_##S(const T* x, const T* t, const T* g, T* gx, i64 rows, i64 c, double invN) {                   \
        ce_bwd_body<T>(x, t, g, gx, rows, c, invN);                                                            \
    }                                                                                                          \
    K ln_fwd_##S(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, i64 rows, i64 d, double eps) {    \
        ln_fwd_body<T>(x, w, b, y, mean, rstd, rows, d, eps);                                                  \
    }                                                                                                          \
    K ln_bwd_x_##S(const T* x, const T* w, const T* g, const T* mean, const T* rstd, T* gx, i64 rows, i64 d) { \
        ln_bwd_x_body<T>(x, w, g, mean, rstd, gx, rows, d);                                                    \
    }                                                                                                          \
    K ln_bwd_wb_##S(const T* x, const T* g, const T* mean, const T* rstd, double* partial, i64 rows, i64 d,   \
                    i64 parts) {                                                                               \
        ln_bwd_wb_body<T>(x, g, mean, rstd, partial, rows, d, parts);                                          \
    }                                                                                                          \
    K adamw_##S(T* w, const T* g, T* m, T* v, i64 n, double b1, double b2, double eps, double decay,          \
                double stepSize, double bc2Sqrt) {                                                             \
        adamw_body<T>(w, g, m, v, n, b1, b2, eps, decay, stepSize, bc2Sqrt);                                   \
    }                                                                                                          \
    K adamw_list_##S(const double* at, double b1, double b2, double eps, double stepSize, double bc2Sqrt,     \
                     AdamWList l) {                                                                            \
        adamw_list_body<T>(at, b1, b2, eps, stepSize, bc2Sqrt, l);                                             \
    }                                                                                                          \
    K sumsq_list_##S(double* partial, AdamWList l) {                                                          \
        sumsq_list_body<T>(partial, l);                                                                        \
    }                                                                                                          \
    K clip_list_##S(const double* sumsq, double max, AdamWList l) {                                           \
        clip_list_body<T>(sumsq, max, l);                                                                      \
    }                                                                                                          \
    K ema_list_##S(const double* at, double decay, AdamWList l) {                                             \
        ema_list_body<T>(at, decay, l);                                                                        \
    }                                                                                                          \
    K dropout_mask_##S(T* y, i64 n, const i64* seedAt, i64 seed, int threshold, double scale) {                \
        dropout_mask_body<T>(y, n, seedAt, seed, threshold, scale);                                            \
    }                                                                                                          \
    K gather_##S(const T* x, T* y, const i64* index, i64 outer, i64 k, i64 inner, i64 srcLen) {               \
        gather_body<T>(x, y, index, outer, k, inner, srcLen);                                                  \
    }                                                                                                          \
    K index_add_##S(const T* g, T* y, const i64* starts, const i64* ks, i64 outer, i64 dimLen, i64 k, i64 inner) { \
        index_add_body<T>(g, y, starts, ks, outer, dimLen, k, inner);                                          \
    }                                                                                                          \
    K rational_finish_##S(const double* total, T* gnum, T* gden, int groups) {                                \
        rational_finish_body<T>(total, gnum, gden, groups);                                                    \
    }

BOTH(ENTRIES)

#define REDUCE(I, SI, O, SO)                                                                                     \
    K reduce_rows_##SI##_##SO(const I* x, O* y, i64 outer, i64 r, i64 parts, int op, double scale) {          \
        reduce_rows_body<I, O>(x, y, outer, r, parts, op, scale);                                              \
    }                                                                                                          \
    K reduce_cols_##SI##_##SO(const I* x, O* y, i64 outer, i64 r, i64 inner, i64 parts, int op, double scale) { \
        reduce_cols_body<I, O>(x, y, outer, r, inner, parts, op, scale);                                       \
    }                                                                                                          \
    K convert_##SI##_##SO(const I* x, O* y, i64 n) { convert_body<I, O>(x, y, n); }

K to_bf16_f32(const float* x, unsigned short* y, i64 n) { to_bf16_body(x, y, n); }

REDUCE(float, f32, float, f32)
REDUCE(float, f32, double, f64)
REDUCE(double, f64, float, f32)
REDUCE(double, f64, double, f64)

K rational_fwd_f64(const double* x, double* y, i64 n, i64 d, i64 cpg, const double* coef) {
    rational_fwd_f64_body(x, y, n, d, cpg, coef);
}

K rational_bwd_f64(const double* x, const double* g, double* gx, i64 rows, i64 d, i64 cpg, const double* coef,
                   double* partial, i64 parts) {
    rational_bwd_f64_body(x, g, gx, rows, d, cpg, coef, partial, parts);
}
