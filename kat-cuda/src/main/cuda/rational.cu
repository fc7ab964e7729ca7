// Group-rational forward and backward for kat4j (KAT.md section 1), loaded through the JCuda
// driver API. F(x) = P(x)/Q(x), P = a0 + a1 x + ... + a5 x^5 (one numerator for all groups),
// Q = 1 + |b0||x| + |b1||x|^2 + |b2||x|^3 + |b3||x|^4 (one denominator per group of cpg contiguous
// channels), channels-last data [rows, d]. Storage float32, bfloat16 or float16; math in float32.
//
// Backward never does per-element global atomics (the reference's bottleneck, FlashKAT): each
// thread keeps a fixed channel vector, so its group is fixed and its 10 coefficient sums stay in
// registers (double); a block reduces them in shared memory in a fixed order and writes one
// partial row per block; a second kernel sums the rows in block order. Same input, same bits.
// (Folding that second pass into the first launch, by the last blocks to finish, measured the
// same on an H200, so the simpler two-kernel form stays.)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

template <typename T> __device__ __forceinline__ float to_f(T v);
template <> __device__ __forceinline__ float to_f<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <> __device__ __forceinline__ float to_f<__half>(__half v) { return __half2float(v); }

template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <> __device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }

// shared layout: a0..a5, then |b| of each group (4 per group)
__device__ __forceinline__ void load_coefficients(float* sh, const float* coef, int groups) {
    for (int i = threadIdx.x; i < 6 + 4 * groups; i += blockDim.x) {
        sh[i] = i < 6 ? coef[i] : fabsf(coef[i]);
    }
    __syncthreads();
}

__device__ __forceinline__ float rational(float v, const float* a, const float* b) {
    float av = fabsf(v);
    float p = fmaf(v, fmaf(v, fmaf(v, fmaf(v, fmaf(v, a[5], a[4]), a[3]), a[2]), a[1]), a[0]);
    float q = fmaf(av, fmaf(av, fmaf(av, fmaf(av, b[3], b[2]), b[1]), b[0]), 1.0f);
    // Q >= 1, so the fast division (2 ulp) is safe; a full IEEE division made the kernel compute-bound
    return __fdividef(p, q);
}

// ---------------------------------------------------------------- forward

// VEC elements per thread through one 16-byte load/store; requires cpg % VEC == 0.
template <typename T, int VEC>
__device__ void fwd_vec(const T* __restrict__ x, T* __restrict__ y, long long n, int d, int cpg, int groups,
                        const float* __restrict__ coef) {
    extern __shared__ float sh[];
    load_coefficients(sh, coef, groups);
    long long nv = n / VEC;
    long long stride = (long long)gridDim.x * blockDim.x;
    // two vectors per iteration, both loads issued before any math: more bytes in flight per thread
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < nv; i += 2 * stride) {
        long long j = i + stride;
        bool second = j < nv;
        union { uint4 u; T t[VEC]; } in0, in1, out;
        in0.u = reinterpret_cast<const uint4*>(x)[i];
        if (second) {
            in1.u = reinterpret_cast<const uint4*>(x)[j];
        }
        const float* b = sh + 6 + 4 * ((int)((i * VEC) % d) / cpg);
#pragma unroll
        for (int k = 0; k < VEC; k++) {
            out.t[k] = from_f<T>(rational(to_f<T>(in0.t[k]), sh, b));
        }
        reinterpret_cast<uint4*>(y)[i] = out.u;
        if (second) {
            b = sh + 6 + 4 * ((int)((j * VEC) % d) / cpg);
#pragma unroll
            for (int k = 0; k < VEC; k++) {
                out.t[k] = from_f<T>(rational(to_f<T>(in1.t[k]), sh, b));
            }
            reinterpret_cast<uint4*>(y)[j] = out.u;
        }
    }
}

template <typename T>
__device__ void fwd_scalar(const T* __restrict__ x, T* __restrict__ y, long long n, int d, int cpg, int groups,
                           const float* __restrict__ coef) {
    extern __shared__ float sh[];
    load_coefficients(sh, coef, groups);
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        int g = (int)(i % d) / cpg;
        y[i] = from_f<T>(rational(to_f<T>(x[i]), sh, sh + 6 + 4 * g));
    }
}

// ---------------------------------------------------------------- backward

// One element: returns dL/dx, adds the 10 coefficient terms to acc (sign of b applied in the
// reduction). A is float for a vector's few elements, then folded into the thread's double sums.
template <typename A>
__device__ __forceinline__ float bwd_element(float v, float gv, const float* a, const float* b, A* acc) {
    float av = fabsf(v);
    float p = fmaf(v, fmaf(v, fmaf(v, fmaf(v, fmaf(v, a[5], a[4]), a[3]), a[2]), a[1]), a[0]);
    float dp = fmaf(v, fmaf(v, fmaf(v, fmaf(v, 5.0f * a[5], 4.0f * a[4]), 3.0f * a[3]), 2.0f * a[2]), a[1]);
    float q = fmaf(av, fmaf(av, fmaf(av, fmaf(av, b[3], b[2]), b[1]), b[0]), 1.0f);
    float dqa = fmaf(av, fmaf(av, fmaf(av, 4.0f * b[3], 3.0f * b[2]), 2.0f * b[1]), b[0]);
    float dq = v < 0.0f ? -dqa : dqa;
    float iq = __fdividef(1.0f, q);
    float fq = p * iq;
    float gq = gv * iq;
    float gp = -gq * fq;
    float v2 = v * v;
    float a2 = av * av;
    acc[0] += gq;
    acc[1] += gq * v;
    acc[2] += gq * v2;
    acc[3] += gq * v2 * v;
    acc[4] += gq * v2 * v2;
    acc[5] += gq * v2 * v2 * v;
    acc[6] += gp * av;
    acc[7] += gp * a2;
    acc[8] += gp * a2 * av;
    acc[9] += gp * a2 * a2;
    return gq * (dp - fq * dq);
}

// Block-level deterministic reduction of per-thread sums into partial[blockIdx.x][groups * 10].
// thread_group < 0: the thread had no work. One warp per group: each lane sums its threads' terms
// (t = lane, lane + 32, ... in order), then a fixed shuffle tree; the sums of a group's ten
// coefficients are independent, so they overlap. (The first form, one thread per output looping
// over all 256 threads, cost several microseconds at the end of every block.)
__device__ void block_reduce(const double* acc, int thread_group, int groups, double* __restrict__ partial) {
    // coefficient-major: a warp's 32 lanes read 32 consecutive doubles, no bank conflicts
    __shared__ double red[10 * 256];
    __shared__ int grp[256];
#pragma unroll
    for (int c = 0; c < 10; c++) {
        red[c * 256 + threadIdx.x] = acc[c];
    }
    grp[threadIdx.x] = thread_group;
    __syncthreads();
    int lane = threadIdx.x & 31;
    double* out = partial + (long long)blockIdx.x * groups * 10;
    for (int g = threadIdx.x >> 5; g < groups; g += blockDim.x >> 5) {
        double s[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        for (int t = lane; t < blockDim.x; t += 32) {
            if (grp[t] == g) {
#pragma unroll
                for (int c = 0; c < 10; c++) {
                    s[c] += red[c * 256 + t];
                }
            }
        }
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) {
#pragma unroll
            for (int c = 0; c < 10; c++) {
                s[c] += __shfl_down_sync(0xffffffffu, s[c], off);
            }
        }
        // lane c writes coefficient c: one coalesced store per group (all lanes take part in the shuffles)
        double v = 0.0;
#pragma unroll
        for (int c = 0; c < 10; c++) {
            double total = __shfl_sync(0xffffffffu, s[c], 0);
            v = lane == c ? total : v;
        }
        if (lane < 10) {
            out[g * 10 + lane] = v;
        }
    }
}

// Thread tid < active handles channel vector j = tid % cv (cv = d / VEC) of rows tid / cv,
// tid / cv + active / cv, ... (active is a multiple of cv), so its group never changes. ROWS rows
// per iteration, all their loads issued before any math.
template <typename T, int VEC, int ROWS>
__device__ void bwd_vec(const T* __restrict__ x, const T* __restrict__ gy, T* __restrict__ gx, long long n, int d,
                        int cpg, int groups, const float* __restrict__ coef, long long active,
                        double* __restrict__ partial) {
    extern __shared__ float sh[];
    load_coefficients(sh, coef, groups);
    double acc[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    long long tid = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    int my_group = -1;
    if (tid < active) {
        int cv = d / VEC;
        long long j = tid % cv;
        my_group = (int)(j * VEC / cpg);
        const float* b = sh + 6 + 4 * my_group;
        long long rows = n / d;
        long long row_step = active / cv;
        for (long long r = tid / cv; r < rows; r += ROWS * row_step) {
            union { uint4 u; T t[VEC]; } xv[ROWS], gv[ROWS], out;
#pragma unroll
            for (int k = 0; k < ROWS; k++) {
                if (k == 0 || r + k * row_step < rows) {
                    long long i = (r + k * row_step) * cv + j;
                    xv[k].u = reinterpret_cast<const uint4*>(x)[i];
                    gv[k].u = reinterpret_cast<const uint4*>(gy)[i];
                }
            }
            float f[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
#pragma unroll
            for (int k = 0; k < ROWS; k++) {
                if (k == 0 || r + k * row_step < rows) {
#pragma unroll
                    for (int e = 0; e < VEC; e++) {
                        out.t[e] = from_f<T>(bwd_element(to_f<T>(xv[k].t[e]), to_f<T>(gv[k].t[e]), sh, b, f));
                    }
                    if (gx != nullptr) {
                        reinterpret_cast<uint4*>(gx)[(r + k * row_step) * cv + j] = out.u;
                    }
                }
            }
#pragma unroll
            for (int c = 0; c < 10; c++) {
                acc[c] += f[c];
            }
        }
    }
    block_reduce(acc, my_group, groups, partial);
}

template <typename T>
__device__ void bwd_scalar(const T* __restrict__ x, const T* __restrict__ gy, T* __restrict__ gx, long long n, int d,
                           int cpg, int groups, const float* __restrict__ coef, long long active,
                           double* __restrict__ partial) {
    extern __shared__ float sh[];
    load_coefficients(sh, coef, groups);
    double acc[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    long long tid = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    int my_group = -1;
    if (tid < active) {
        long long j = tid % d;
        my_group = (int)(j / cpg);
        const float* b = sh + 6 + 4 * my_group;
        long long rows = n / d;
        long long row_step = active / d;
        for (long long r = tid / d; r < rows; r += row_step) {
            long long i = r * d + j;
            float out = bwd_element(to_f<T>(x[i]), to_f<T>(gy[i]), sh, b, acc);
            if (gx != nullptr) {
                gx[i] = from_f<T>(out);
            }
        }
    }
    block_reduce(acc, my_group, groups, partial);
}

// ---------------------------------------------------------------- entry points (unmangled)

#define FWD(name, T, VEC, MINB)                                                                                   \
    extern "C" __global__ void __launch_bounds__(256, MINB) name(const T* x, T* y, long long n, int d, int cpg,   \
                                                                 int groups, const float* coef) {                 \
        fwd_vec<T, VEC>(x, y, n, d, cpg, groups, coef);                                                          \
    }
#define FWD1(name, T)                                                                                             \
    extern "C" __global__ void __launch_bounds__(256) name(const T* x, T* y, long long n, int d, int cpg,         \
                                                           int groups, const float* coef) {                       \
        fwd_scalar<T>(x, y, n, d, cpg, groups, coef);                                                            \
    }
#define BWD(name, T, VEC, ROWS, MINB)                                                                            \
    extern "C" __global__ void __launch_bounds__(256, MINB) name(const T* x, const T* gy, T* gx, long long n, int d, \
                                                                 int cpg, int groups, const float* coef,         \
                                                                 long long active, double* partial) {             \
        bwd_vec<T, VEC, ROWS>(x, gy, gx, n, d, cpg, groups, coef, active, partial);                             \
    }
#define BWD1(name, T)                                                                                             \
    extern "C" __global__ void __launch_bounds__(256) name(const T* x, const T* gy, T* gx, long long n, int d,    \
                                                           int cpg, int groups, const float* coef,               \
                                                           long long active, double* partial) {                   \
        bwd_scalar<T>(x, gy, gx, n, d, cpg, groups, coef, active, partial);                                     \
    }

FWD(rational_fwd_f32_v4, float, 4, 0)
FWD1(rational_fwd_f32_v1, float)
FWD(rational_fwd_bf16_v8, __nv_bfloat16, 8, 0)
FWD(rational_fwd_bf16_v8_b8, __nv_bfloat16, 8, 8)
FWD1(rational_fwd_bf16_v1, __nv_bfloat16)
FWD(rational_fwd_f16_v8, __half, 8, 0)
FWD1(rational_fwd_f16_v1, __half)
BWD(rational_bwd_f32_v4, float, 4, 2, 0)
BWD(rational_bwd_f32_v4_r1b4, float, 4, 1, 4)
BWD(rational_bwd_f32_v4_r2b3, float, 4, 2, 3)
BWD(rational_bwd_f32_v4_r2b4, float, 4, 2, 4)
BWD(rational_bwd_f32_v4_r1, float, 4, 1, 0)
BWD1(rational_bwd_f32_v1, float)
BWD(rational_bwd_bf16_v8, __nv_bfloat16, 8, 2, 0)
BWD(rational_bwd_bf16_v8_r1b4, __nv_bfloat16, 8, 1, 4)
BWD(rational_bwd_bf16_v8_r2b3, __nv_bfloat16, 8, 2, 3)
BWD(rational_bwd_bf16_v8_r2b4, __nv_bfloat16, 8, 2, 4)
BWD(rational_bwd_bf16_v8_r1, __nv_bfloat16, 8, 1, 0)
BWD1(rational_bwd_bf16_v1, __nv_bfloat16)
BWD(rational_bwd_f16_v8, __half, 8, 2, 0)
BWD1(rational_bwd_f16_v1, __half)

// Sums the per-block partials: one block per output, each thread a fixed stride of blocks, then
// a fixed shared-memory tree, so the result does not depend on timing. out[0..5] = dL/da (all
// groups), out[6 + 4g + k] = s(b_gk) * dL/d|b_gk| (s(0) = +1). Launch: outputs x 256 threads.
extern "C" __global__ void __launch_bounds__(256) rational_bwd_reduce(const double* __restrict__ partial, int blocks,
                                                                      int groups, const float* __restrict__ coef,
                                                                      double* __restrict__ out) {
    __shared__ double s[256];
    int o = blockIdx.x;
    double acc = 0.0;
    if (o < 6) {
        for (int blk = threadIdx.x; blk < blocks; blk += blockDim.x) {
            const double* p = partial + (long long)blk * groups * 10;
            for (int g = 0; g < groups; g++) {
                acc += p[g * 10 + o];
            }
        }
    } else {
        int g = (o - 6) / 4;
        int k = (o - 6) % 4;
        for (int blk = threadIdx.x; blk < blocks; blk += blockDim.x) {
            acc += partial[(long long)blk * groups * 10 + g * 10 + 6 + k];
        }
    }
    s[threadIdx.x] = acc;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) {
            s[threadIdx.x] += s[threadIdx.x + w];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        out[o] = (o >= 6 && coef[o] < 0.0f) ? -s[0] : s[0];
    }
}
