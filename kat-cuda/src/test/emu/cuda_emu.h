// Just enough of CUDA to run kernels.cu on the CPU, for tests on machines without a GPU: a block's
// threads are fibers on the calling thread (blocks run one after another), __syncthreads parks a
// fiber until the whole block is there, __shfl_xor_sync exchanges values among the 32 fibers of a
// warp, __shared__ memory is a static (one block lives at a time). Slow, exact to the kernels'
// index arithmetic and reduction orders.
#pragma once
#include <cmath>
#include <math.h>
#include <memory>
#include <vector>
#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <functional>
#include <ucontext.h>

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
inline double warp_values[1024];

/**
 * One block's threads as fibers on the calling thread (ucontext): a barrier or a shuffle parks
 * the fiber, and the scheduler resumes the parked ones once their whole block (or warp) is there.
 */
struct Fibers {
    enum State { RUN, AT_BLOCK, AT_WARP, DONE };
    unsigned n = 0;
    std::vector<ucontext_t> ctx;
    std::vector<std::vector<char>> stacks;
    std::vector<State> state;
    ucontext_t main{};
    unsigned current = 0;
    std::function<void(unsigned)> job;
};
inline Fibers* fibers = nullptr; // set while a block runs as fibers

inline void park(Fibers::State s) {
    Fibers& f = *fibers;
    unsigned t = f.current;
    f.state[t] = s;
    swapcontext(&f.ctx[t], &f.main);
    threadIdx.x = t; // resumed: this fiber's thread index again
}
}

inline void __syncthreads() {
    emu::park(emu::Fibers::AT_BLOCK);
}

inline double __shfl_xor_sync(unsigned, double v, int offset) {
    unsigned t = threadIdx.x;
    unsigned warp = t / 32;
    emu::warp_values[t] = v;
    emu::park(emu::Fibers::AT_WARP); // every lane has written
    double other = emu::warp_values[warp * 32 + ((t % 32) ^ offset)];
    emu::park(emu::Fibers::AT_WARP); // every lane has read
    return other;
}

inline unsigned __umulhi(unsigned a, unsigned b) {
    return (unsigned)(((unsigned long long)a * b) >> 32);
}

using std::min;
using std::max;

namespace emu {
inline void fiber_entry() {
    Fibers& f = *fibers;
    unsigned t = f.current;
    f.job(t);
    f.state[t] = Fibers::DONE;
    swapcontext(&f.ctx[t], &f.main);
}

/** Runs one block of {@code block} threads as fibers until all are done. */
inline void run_block(unsigned block, const std::function<void(unsigned)>& job) {
    static Fibers f;
    const size_t stack = 64 * 1024;
    if (f.n != block) {
        f.n = block;
        f.ctx.assign(block, ucontext_t{});
        f.stacks.assign(block, std::vector<char>(stack));
        f.state.assign(block, Fibers::RUN);
    }
    f.job = job;
    for (unsigned t = 0; t < block; t++) {
        getcontext(&f.ctx[t]);
        f.ctx[t].uc_stack.ss_sp = f.stacks[t].data();
        f.ctx[t].uc_stack.ss_size = stack;
        f.ctx[t].uc_link = nullptr;
        makecontext(&f.ctx[t], fiber_entry, 0);
        f.state[t] = Fibers::RUN;
    }
    fibers = &f;
    for (;;) {
        bool ran = false;
        for (unsigned t = 0; t < block; t++) {
            if (f.state[t] == Fibers::RUN) {
                f.current = t;
                threadIdx.x = t;
                ran = true;
                swapcontext(&f.main, &f.ctx[t]);
            }
        }
        if (ran) {
            continue;
        }
        bool all_done = true;
        bool all_at_block = true;
        for (unsigned t = 0; t < block; t++) {
            all_done &= f.state[t] == Fibers::DONE;
            all_at_block &= f.state[t] == Fibers::AT_BLOCK;
        }
        if (all_done) {
            break;
        }
        bool released = false;
        if (all_at_block) {
            for (unsigned t = 0; t < block; t++) {
                f.state[t] = Fibers::RUN;
            }
            released = true;
        }
        for (unsigned w = 0; w * 32 < block; w++) {
            bool full = true;
            for (unsigned l = w * 32; l < std::min(block, w * 32 + 32); l++) {
                full &= f.state[l] == Fibers::AT_WARP;
            }
            if (full) {
                for (unsigned l = w * 32; l < std::min(block, w * 32 + 32); l++) {
                    f.state[l] = Fibers::RUN;
                }
                released = true;
            }
        }
        if (!released) {
            std::fprintf(stderr, "cuda_emu: threads of a block wait at different barriers\n");
            std::abort();
        }
    }
    fibers = nullptr;
}

/**
 * kernel(args...) over grid x block threads on the calling thread: with {@code sync} (the kernel
 * has barriers or shuffles) each block's threads as fibers, otherwise thread after thread (a
 * kernel without either cannot tell the difference).
 */
template <typename F, typename... A>
void launch_fast(unsigned grid, unsigned block, bool sync, F kernel, A... args) {
    gridDim.x = grid;
    blockDim.x = block;
    for (unsigned b = 0; b < grid; b++) {
        blockIdx.x = b;
        if (!sync) {
            for (unsigned t = 0; t < block; t++) {
                threadIdx.x = t;
                kernel(args...);
            }
        } else {
            run_block(block, [&](unsigned) { kernel(args...); });
        }
    }
}
}

namespace emu {
/** Runs kernel(args...) over grid x block threads, every block as fibers (what the tests use). */
template <typename F, typename... A>
void launch(unsigned grid, unsigned block, F kernel, A... args) {
    launch_fast(grid, block, true, kernel, args...);
}
}
