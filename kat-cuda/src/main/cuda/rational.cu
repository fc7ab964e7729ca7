// Group-rational forward and backward for kat4j (docs/design.md, section 1), loaded through the JCuda
// driver API. F(x) = P(x)/Q(x), P = a0 + a1 x + ... + a5 x^5 (one numerator for all groups),
// Q = 1 + |b0||x| + |b1||x|^2 + |b2||x|^3 + |b3||x|^4 (one denominator per group of cpg contiguous
// channels), channels-last data [rows, d]. Storage float32, bfloat16 or float16; math in float32.
//
// Both kernels run one resident wave of threads; thread tid < active keeps one channel vector
// j = tid % cv (cv = d / VEC channel vectors a row) and walks rows tid / cv, + active / cv, ...
// (active is a multiple of cv), so its group, and in the backward its ten coefficient sums, never
// change: no index arithmetic per element, no per-element atomics (the reference's bottleneck,
// FlashKAT). ROWS rows per iteration, all their loads issued before any math; each thread's
// coefficients are loaded into registers beside its first rows (no shared memory, no barrier).
// Measured on an H200 (GpuBench): 2 or 4 waves of blocks, deeper software pipelines, float-only
// sums and 8 blocks per SM were all slower or no better than this.
//
// Backward reduction, deterministic and in the same launch: each block reduces its threads' sums
// (warp per group, fixed shuffle tree) into one partial row; the last block of each set of
// SET_BLOCKS blocks to finish (atomic ticket) sums that set's rows in block order into a level-2
// row; the last set to finish sums the level-2 rows in set order into the outputs. Which block
// does a sum depends on timing, the order of the additions does not: same input, same bits.
// (A separate reduction kernel cost ~3 us per backward on an H200, most of the small shapes' gap.)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#define THREADS 256
#define SET_BLOCKS 16

template <typename T> __device__ __forceinline__ float to_f(T v);
template <> __device__ __forceinline__ float to_f<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <> __device__ __forceinline__ float to_f<__half>(__half v) { return __half2float(v); }

template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <> __device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }

// VEC elements of T moved as one 16-byte word (VEC = 16 / sizeof(T)), or one element (VEC = 1)
template <typename T, int VEC> struct Pack {
    union { uint4 u; T t[VEC]; } v;
    __device__ __forceinline__ void load(const T* p, long long i) { v.u = reinterpret_cast<const uint4*>(p)[i]; }
    __device__ __forceinline__ void store(T* p, long long i) const { reinterpret_cast<uint4*>(p)[i] = v.u; }
};
template <typename T> struct Pack<T, 1> {
    struct { T t[1]; } v;
    __device__ __forceinline__ void load(const T* p, long long i) { v.t[0] = p[i]; }
    __device__ __forceinline__ void store(T* p, long long i) const { p[i] = v.t[0]; }
};

// A thread's coefficients in registers: a0..a5 and |b| of its group (one group per thread). Plain
// loads, no shared memory and no barrier, so they overlap the first data loads.
struct Coef {
    float a[6];
    float b[4];
    __device__ __forceinline__ Coef(const float* __restrict__ coef, int group) {
#pragma unroll
        for (int i = 0; i < 6; i++) {
            a[i] = __ldg(coef + i);
        }
#pragma unroll
        for (int k = 0; k < 4; k++) {
            b[k] = fabsf(__ldg(coef + 6 + 4 * group + k));
        }
    }
};

__device__ __forceinline__ float rational(float v, const float* a, const float* b) {
    float av = fabsf(v);
    float p = fmaf(v, fmaf(v, fmaf(v, fmaf(v, fmaf(v, a[5], a[4]), a[3]), a[2]), a[1]), a[0]);
    float q = fmaf(av, fmaf(av, fmaf(av, fmaf(av, b[3], b[2]), b[1]), b[0]), 1.0f);
    // Q >= 1, so the fast division (2 ulp) is safe; a full IEEE division made the kernel compute-bound
    return __fdividef(p, q);
}

// ---------------------------------------------------------------- forward

template <typename T, int VEC, int ROWS>
__device__ void fwd_rows(const T* __restrict__ x, T* __restrict__ y, long long n, int d, int cpg, int groups,
                         const float* __restrict__ coef, long long active) {
    long long tid = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (tid >= active) {
        return;
    }
    int cv = d / VEC;
    long long j = tid % cv;
    const Coef cf(coef, (int)(j * VEC / cpg));
    long long rows = n / d;
    long long step = active / cv;
    for (long long r = tid / cv; r < rows; r += ROWS * step) {
        Pack<T, VEC> in[ROWS];
#pragma unroll
        for (int k = 0; k < ROWS; k++) {
            if (k == 0 || r + k * step < rows) {
                in[k].load(x, (r + k * step) * cv + j);
            }
        }
#pragma unroll
        for (int k = 0; k < ROWS; k++) {
            if (k == 0 || r + k * step < rows) {
                Pack<T, VEC> out;
#pragma unroll
                for (int e = 0; e < VEC; e++) {
                    out.v.t[e] = from_f<T>(rational(to_f<T>(in[k].v.t[e]), cf.a, cf.b));
                }
                out.store(y, (r + k * step) * cv + j);
            }
        }
    }
}

// ---------------------------------------------------------------- backward

// One element: returns dL/dx, adds the 10 coefficient terms to acc (sign of b applied at the
// end). Powers first, shared by P, P', Q, Q' and the ten terms (|v|^2 = v^2, |v|^4 = v^4, and |.|
// is a free operand modifier): about 40 instructions an element instead of 50 with Horner.
__device__ __forceinline__ float bwd_element(float v, float gv, const float* a, const float* b, float* acc) {
    float v2 = v * v;
    float v3 = v2 * v;
    float v4 = v2 * v2;
    float v5 = v4 * v;
    float av = fabsf(v);
    float a3 = fabsf(v3);
    float p = fmaf(a[5], v5, fmaf(a[4], v4, fmaf(a[3], v3, fmaf(a[2], v2, fmaf(a[1], v, a[0])))));
    float dp = fmaf(5.0f * a[5], v4, fmaf(4.0f * a[4], v3, fmaf(3.0f * a[3], v2, fmaf(2.0f * a[2], v, a[1]))));
    float q = fmaf(b[3], v4, fmaf(b[2], a3, fmaf(b[1], v2, fmaf(b[0], av, 1.0f))));
    float dqa = fmaf(4.0f * b[3], a3, fmaf(3.0f * b[2], v2, fmaf(2.0f * b[1], av, b[0])));
    float dq = v < 0.0f ? -dqa : dqa; // d|v|/dv with s(0) = +1 (docs/design.md, section 1), also for -0

    float iq = __fdividef(1.0f, q);
    float fq = p * iq;
    float gq = gv * iq;
    float gp = -gq * fq;
    acc[0] += gq;
    acc[1] = fmaf(gq, v, acc[1]);
    acc[2] = fmaf(gq, v2, acc[2]);
    acc[3] = fmaf(gq, v3, acc[3]);
    acc[4] = fmaf(gq, v4, acc[4]);
    acc[5] = fmaf(gq, v5, acc[5]);
    acc[6] = fmaf(gp, av, acc[6]);
    acc[7] = fmaf(gp, v2, acc[7]);
    acc[8] = fmaf(gp, a3, acc[8]);
    acc[9] = fmaf(gp, v4, acc[9]);
    return gq * (dp - fq * dq);
}

// The block's threads' sums into partial[blockIdx.x][groups * 10]; thread_group < 0: no work.
// One warp per group: each lane sums its threads' terms (t = lane, lane + 32, ... in order), then a
// fixed shuffle tree; a group's ten sums are independent, so they overlap.
__device__ void block_reduce(const double* acc, int thread_group, int groups, double* __restrict__ partial) {
    // coefficient-major: a warp's 32 lanes read 32 consecutive doubles, no bank conflicts
    __shared__ double red[10 * THREADS];
    __shared__ int grp[THREADS];
#pragma unroll
    for (int c = 0; c < 10; c++) {
        red[c * THREADS + threadIdx.x] = acc[c];
    }
    grp[threadIdx.x] = thread_group;
    __syncthreads();
    int lane = threadIdx.x & 31;
    double* out = partial + (long long)blockIdx.x * groups * 10;
    for (int g = threadIdx.x >> 5; g < groups; g += THREADS / 32) {
        double s[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        for (int t = lane; t < THREADS; t += 32) {
            if (grp[t] == g) {
#pragma unroll
                for (int c = 0; c < 10; c++) {
                    s[c] += red[c * THREADS + t];
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

// True in the block that takes the last of `expected` tickets on *counter (which it resets for the
// next launch). Everything this block wrote before is visible to the winner.
__device__ bool last_to_arrive(unsigned int* counter, unsigned int expected) {
    __shared__ bool last;
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
        unsigned int ticket = atomicAdd(counter, 1u);
        last = ticket == expected - 1;
        if (last) {
            *counter = 0u;
        }
    }
    __syncthreads();
    if (last) {
        __threadfence();
    }
    return last;
}

// Sum of p[0], p[stride], ... p[(count - 1) * stride] in that order; loads issued 8 at a time
// (L2, not L1: other blocks wrote them) so the tail pays a few L2 round trips, not count of them.
__device__ __forceinline__ double ordered_sum(const double* p, long long stride, int count) {
    double s = 0.0;
    for (int base = 0; base < count; base += 8) {
        double v[8];
#pragma unroll
        for (int k = 0; k < 8; k++) {
            v[k] = base + k < count ? __ldcg(p + (base + k) * stride) : 0.0;
        }
#pragma unroll
        for (int k = 0; k < 8; k++) {
            s += v[k];
        }
    }
    return s;
}

// After block_reduce: the two-level reduction (see the top of the file). partial holds `blocks`
// rows of groups * 10, then one level-2 row per set, then the column totals; counters: one per
// set, then one for the sets; out: dL/da[6] then s(b) dL/d|b| [groups * 4] (s(0) = +1).
__device__ void finish_reduce(int groups, const float* __restrict__ coef, double* __restrict__ partial,
                              unsigned int* __restrict__ counters, double* __restrict__ out) {
    int blocks = gridDim.x;
    int sets = (blocks + SET_BLOCKS - 1) / SET_BLOCKS;
    int set = blockIdx.x / SET_BLOCKS;
    int first = set * SET_BLOCKS;
    int last = min(first + SET_BLOCKS, blocks);
    long long width = (long long)groups * 10;
    if (!last_to_arrive(&counters[set], last - first)) {
        return;
    }
    double* level2 = partial + (long long)blocks * width;
    for (int o = threadIdx.x; o < width; o += THREADS) {
        level2[set * width + o] = ordered_sum(partial + first * width + o, width, last - first);
    }
    if (!last_to_arrive(&counters[sets], sets)) {
        return;
    }
    double* total = level2 + (long long)sets * width;
    for (int o = threadIdx.x; o < width; o += THREADS) {
        total[o] = ordered_sum(level2 + o, width, sets);
    }
    __threadfence_block();
    __syncthreads();
    for (int o = threadIdx.x; o < 6 + 4 * groups; o += THREADS) {
        double s;
        if (o < 6) {
            s = 0.0;
            for (int g = 0; g < groups; g++) {
                s += total[g * 10 + o];
            }
        } else {
            s = total[((o - 6) / 4) * 10 + 6 + (o - 6) % 4];
        }
        out[o] = (o >= 6 && coef[o] < 0.0f) ? -s : s;
    }
}

template <typename T, int VEC, int ROWS>
__device__ void bwd_rows(const T* __restrict__ x, const T* __restrict__ gy, T* __restrict__ gx, long long n, int d,
                         int cpg, int groups, const float* __restrict__ coef, long long active,
                         double* __restrict__ partial, unsigned int* __restrict__ counters, double* __restrict__ out) {
    double acc[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    long long tid = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    int my_group = -1;
    if (tid < active) {
        int cv = d / VEC;
        long long j = tid % cv;
        my_group = (int)(j * VEC / cpg);
        const Coef cf(coef, my_group);
        long long rows = n / d;
        long long step = active / cv;
        for (long long r = tid / cv; r < rows; r += ROWS * step) {
            Pack<T, VEC> xv[ROWS], gv[ROWS];
#pragma unroll
            for (int k = 0; k < ROWS; k++) {
                if (k == 0 || r + k * step < rows) {
                    long long i = (r + k * step) * cv + j;
                    xv[k].load(x, i);
                    gv[k].load(gy, i);
                }
            }
            // a row's few terms in float, then into the thread's double sums
            float f[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
#pragma unroll
            for (int k = 0; k < ROWS; k++) {
                if (k == 0 || r + k * step < rows) {
                    Pack<T, VEC> o;
#pragma unroll
                    for (int e = 0; e < VEC; e++) {
                        o.v.t[e] = from_f<T>(bwd_element(to_f<T>(xv[k].v.t[e]), to_f<T>(gv[k].v.t[e]), cf.a, cf.b, f));
                    }
                    if (gx != nullptr) {
                        o.store(gx, (r + k * step) * cv + j);
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
    finish_reduce(groups, coef, partial, counters, out);
}

// ---------------------------------------------------------------- entry points (unmangled)

// MINB: __launch_bounds__ minimum blocks per multiprocessor (0: none, the compiler's choice)
#define FWD(name, T, VEC, ROWS, MINB)                                                                             \
    extern "C" __global__ void __launch_bounds__(THREADS, MINB)                                                   \
        name(const T* x, T* y, long long n, int d, int cpg, int groups, const float* coef, long long active) {    \
        fwd_rows<T, VEC, ROWS>(x, y, n, d, cpg, groups, coef, active);                                           \
    }
#define BWD(name, T, VEC, ROWS, MINB)                                                                             \
    extern "C" __global__ void __launch_bounds__(THREADS, MINB)                                                   \
        name(const T* x, const T* gy, T* gx, long long n, int d, int cpg, int groups, const float* coef,          \
             long long active, double* partial, unsigned int* counters, double* out) {                            \
        bwd_rows<T, VEC, ROWS>(x, gy, gx, n, d, cpg, groups, coef, active, partial, counters, out);             \
    }

FWD(rational_fwd_f32_v4, float, 4, 4, 0)
FWD(rational_fwd_f32_v1, float, 1, 4, 0)
FWD(rational_fwd_bf16_v8, __nv_bfloat16, 8, 4, 0)
FWD(rational_fwd_bf16_v1, __nv_bfloat16, 1, 4, 0)
FWD(rational_fwd_f16_v8, __half, 8, 4, 0)
FWD(rational_fwd_f16_v1, __half, 1, 4, 0)
BWD(rational_bwd_f32_v4, float, 4, 4, 0)
BWD(rational_bwd_f32_v1, float, 1, 2, 0)
BWD(rational_bwd_bf16_v8, __nv_bfloat16, 8, 4, 0)
BWD(rational_bwd_bf16_v1, __nv_bfloat16, 1, 2, 0)
BWD(rational_bwd_f16_v8, __half, 8, 4, 0)
BWD(rational_bwd_f16_v1, __half, 1, 2, 0)
