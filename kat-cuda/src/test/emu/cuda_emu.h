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
#include <cstdint>
#include <cstring>
#include <functional>

#if !defined(__x86_64__)
#error "cuda_emu.h switches fibers with x86-64 code"
#endif

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

// emu_switch(save, load): saves the callee-saved registers, MXCSR and the x87 control word on the
// current stack, stores the stack pointer in *save, and resumes the stack at load. glibc's
// swapcontext does the same plus two signal-mask system calls per switch, and a block's barriers
// and shuffles switch fibers millions of times a test: where system calls are dear (a guest with
// page-table isolation) the emulated tests spent half their time in the kernel.
asm(R"(
    .text
    .p2align 4
emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
)");
extern "C" void emu_switch(void** save, void* load);

namespace emu {
inline double warp_values[1024];

/**
 * One block's threads as fibers on the calling thread: a barrier or a shuffle parks the fiber,
 * and the scheduler resumes the parked ones once their whole block (or warp) is there.
 */
struct Fibers {
    enum State { RUN, AT_BLOCK, AT_WARP, DONE };
    unsigned n = 0;
    std::vector<void*> sp; // each fiber's saved stack pointer
    std::vector<std::vector<char>> stacks;
    std::vector<State> state;
    void* main = nullptr;  // the scheduler's saved stack pointer
    unsigned current = 0;
    std::function<void(unsigned)> job;
};
inline Fibers* fibers = nullptr; // set while a block runs as fibers

inline void park(Fibers::State s) {
    Fibers& f = *fibers;
    unsigned t = f.current;
    f.state[t] = s;
    emu_switch(&f.sp[t], f.main);
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

inline unsigned int __float_as_uint(float f) {
    unsigned int u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

// products rounded on their own (g++ here fuses nothing: no -mfma)
inline float __fmul_rn(float a, float b) {
    return a * b;
}

inline double __dmul_rn(double a, double b) {
    return a * b;
}

inline unsigned __umulhi(unsigned a, unsigned b) {
    return (unsigned)(((unsigned long long)a * b) >> 32);
}

using std::min;
using std::max;

namespace emu {
/** A fiber's first frame: runs its thread of the job, then hands back for good. */
inline void fiber_entry() {
    Fibers& f = *fibers;
    unsigned t = f.current;
    f.job(t);
    f.state[t] = Fibers::DONE;
    emu_switch(&f.sp[t], f.main);
    std::abort(); // a finished fiber is never resumed
}

/**
 * The stack pointer that starts fiber_entry on a fresh stack: the frame emu_switch pops (MXCSR
 * and control word as they are now, zeros for the registers), then fiber_entry as the return
 * address, then a null return address for fiber_entry itself, so that it starts with the stack
 * aligned as after a call.
 */
inline void* fiber_start(std::vector<char>& stack) {
    auto top = reinterpret_cast<uintptr_t>(stack.data() + stack.size()) & ~uintptr_t(15);
    auto* frame = reinterpret_cast<uint64_t*>(top - 72);
    unsigned mxcsr;
    unsigned short fpcw;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fpcw));
    frame[0] = mxcsr | (uint64_t)fpcw << 32;
    for (int r = 1; r <= 6; r++) {
        frame[r] = 0; // r15 r14 r13 r12 rbx rbp
    }
    frame[7] = reinterpret_cast<uint64_t>(&fiber_entry);
    frame[8] = 0;
    return frame;
}

/** Runs one block of {@code block} threads as fibers until all are done. */
inline void run_block(unsigned block, const std::function<void(unsigned)>& job) {
    static Fibers f;
    const size_t stack = 64 * 1024;
    if (f.n != block) {
        f.n = block;
        f.sp.assign(block, nullptr);
        f.stacks.assign(block, std::vector<char>(stack));
        f.state.assign(block, Fibers::RUN);
    }
    f.job = job;
    for (unsigned t = 0; t < block; t++) {
        f.sp[t] = fiber_start(f.stacks[t]);
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
                emu_switch(&f.main, f.sp[t]);
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
