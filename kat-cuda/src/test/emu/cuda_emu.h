// Just enough of CUDA to run kernels.cu on the CPU, for tests on machines without a GPU: each
// block's threads are OS threads (blocks run one after another), __syncthreads is a barrier of the
// block, __shfl_xor_sync an exchange among the 32 threads of a warp, __shared__ memory a static
// (one block lives at a time). Slow, exact to the kernels' index arithmetic and reduction orders.
#pragma once
#include <barrier>
#include <cmath>
#include <math.h>
#include <memory>
#include <thread>
#include <vector>
#include <algorithm>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

struct Dim3 {
    unsigned x = 1, y = 1, z = 1;
};

inline thread_local Dim3 threadIdx;
inline thread_local Dim3 blockIdx;
inline Dim3 blockDim;
inline Dim3 gridDim;

namespace emu {
inline std::unique_ptr<std::barrier<>> block_barrier;
inline std::vector<std::unique_ptr<std::barrier<>>> warp_barriers;
inline double warp_values[1024];
}

inline void __syncthreads() {
    emu::block_barrier->arrive_and_wait();
}

inline double __shfl_xor_sync(unsigned, double v, int offset) {
    unsigned t = threadIdx.x;
    unsigned warp = t / 32;
    auto& bar = *emu::warp_barriers[warp];
    emu::warp_values[t] = v;
    bar.arrive_and_wait();
    double other = emu::warp_values[warp * 32 + ((t % 32) ^ offset)];
    bar.arrive_and_wait();
    return other;
}

using std::min;
using std::max;

namespace emu {
/** Runs kernel(args...) over grid x block threads, block after block. */
template <typename F, typename... A>
void launch(unsigned grid, unsigned block, F kernel, A... args) {
    gridDim.x = grid;
    blockDim.x = block;
    block_barrier = std::make_unique<std::barrier<>>(block);
    warp_barriers.clear();
    for (unsigned w = 0; w < (block + 31) / 32; w++) {
        warp_barriers.push_back(std::make_unique<std::barrier<>>(std::min(32u, block - w * 32)));
    }
    for (unsigned b = 0; b < grid; b++) {
        std::vector<std::thread> threads;
        threads.reserve(block);
        for (unsigned t = 0; t < block; t++) {
            threads.emplace_back([=] {
                threadIdx.x = t;
                blockIdx.x = b;
                kernel(args...);
            });
        }
        for (auto& th : threads) {
            th.join();
        }
    }
}
}
