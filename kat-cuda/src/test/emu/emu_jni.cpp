// kernels.cu on the CPU behind JNI: the native side of the test class org.kat4j.cuda.EmuGpu, so that
// CudaBackend itself runs on the emulated kernels (cuda_emu.h) without a GPU. "Device" memory is
// host memory; launches run to completion before they return; GEMM is a plain column-major loop
// with cuBLAS's argument conventions.
#include <jni.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "cuda_emu.h"
#include "../../main/cuda/kernels.cu"

namespace {
template <typename... A, size_t... I>
void run_impl(void (*f)(A...), unsigned grid, unsigned block, bool sync, void** p, std::index_sequence<I...>) {
    std::tuple<std::remove_cv_t<A>...> args(*reinterpret_cast<std::remove_cv_t<A>*>(p[I])...);
    std::apply([&](auto... a) { emu::launch_fast(grid, block, sync, f, a...); }, args);
}

template <typename... A>
void dispatch(void (*f)(A...), unsigned grid, unsigned block, bool sync, void** p) {
    run_impl(f, grid, block, sync, p, std::index_sequence_for<A...>{});
}

struct Entry {
    void (*fn)();
    void (*call)(void (*)(), unsigned, unsigned, bool, void**);
    bool sync;
};

template <typename... A>
void call_as(void (*fn)(), unsigned grid, unsigned block, bool sync, void** p) {
    dispatch(reinterpret_cast<void (*)(A...)>(fn), grid, block, sync, p);
}

template <typename... A>
Entry entry(void (*f)(A...), bool sync) {
    return Entry{reinterpret_cast<void (*)()>(f), &call_as<A...>, sync};
}

std::unordered_map<std::string, Entry>& table() {
    static std::unordered_map<std::string, Entry> t = [] {
        std::unordered_map<std::string, Entry> m;
#define PLAIN(n) m[#n] = entry(n, false);
#define SYNC(n) m[#n] = entry(n, true);
#define BOTH_T(X, n) X(n##_f32) X(n##_f64)
        BOTH_T(PLAIN, map) BOTH_T(PLAIN, binary) BOTH_T(SYNC, softmax) BOTH_T(SYNC, softmax_bwd) BOTH_T(SYNC, ce_fwd)
        BOTH_T(SYNC, ce_bwd) BOTH_T(SYNC, ln_fwd) BOTH_T(SYNC, ln_bwd_x) BOTH_T(PLAIN, ln_bwd_wb) BOTH_T(PLAIN, adamw)
        BOTH_T(PLAIN, gather) BOTH_T(PLAIN, index_add) BOTH_T(PLAIN, rational_finish)
        BOTH_T(PLAIN, adamw_list) BOTH_T(PLAIN, dropout_mask) BOTH_T(SYNC, sumsq_list) BOTH_T(PLAIN, clip_list)
        BOTH_T(PLAIN, ema_list)
#define RED(a, b) SYNC(reduce_rows_##a##_##b) PLAIN(reduce_cols_##a##_##b) PLAIN(convert_##a##_##b)
        RED(f32, f32) RED(f32, f64) RED(f64, f32) RED(f64, f64)
        PLAIN(rational_fwd_f64) SYNC(rational_bwd_f64) PLAIN(to_bf16_f32)
        return m;
    }();
    return t;
}

std::string str(JNIEnv* env, jstring s) {
    const char* c = env->GetStringUTFChars(s, nullptr);
    std::string r(c);
    env->ReleaseStringUTFChars(s, c);
    return r;
}
}  // namespace

// a bfloat16 operand: its bits are the high half of a float32's
struct Bf16 {
    uint16_t bits;
    operator double() const {
        uint32_t u = (uint32_t)bits << 16;
        float f;
        std::memcpy(&f, &u, sizeof f);
        return f;
    }
};

// column-major C (rows x cols, ldc) = op1(first) (rows x k) op2(second) (k x cols) [+ C], batched with strides
template <typename T, typename In = T>
static void gemm_ref(bool t1, bool t2, int rows, int cols, int k, const In* first, int ld1, long long s1, const In* second, int ld2,
                 long long s2, T* c, int ldc, long long sc, int batch, bool acc) {
    for (int bt = 0; bt < batch; bt++) {
        for (int col = 0; col < cols; col++) {
            for (int row = 0; row < rows; row++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    double f = t1 ? first[bt * s1 + (long long)row * ld1 + p] : first[bt * s1 + (long long)p * ld1 + row];
                    double q = t2 ? second[bt * s2 + (long long)p * ld2 + col] : second[bt * s2 + (long long)col * ld2 + p];
                    s += f * q;
                }
                T* out = c + bt * sc + (long long)col * ldc + row;
                *out = (T)((acc ? (double)*out : 0.0) + s);
            }
        }
    }
}

extern "C" {
JNIEXPORT jlong JNICALL Java_org_kat4j_cuda_EmuGpu_malloc0(JNIEnv*, jclass, jlong bytes) {
    void* p = std::aligned_alloc(256, (size_t)((bytes + 255) / 256 * 256));
    return (jlong)p;
}

JNIEXPORT void JNICALL Java_org_kat4j_cuda_EmuGpu_free0(JNIEnv*, jclass, jlong p) {
    std::free((void*)p);
}

JNIEXPORT jlong JNICALL Java_org_kat4j_cuda_EmuGpu_address0(JNIEnv* env, jclass, jobject buf) {
    return (jlong)env->GetDirectBufferAddress(buf);
}

JNIEXPORT jboolean JNICALL Java_org_kat4j_cuda_EmuGpu_has0(JNIEnv* env, jclass, jstring name) {
    return table().count(str(env, name)) ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT void JNICALL Java_org_kat4j_cuda_EmuGpu_launch0(JNIEnv* env, jclass, jstring name, jint grid, jint block, jlong params) {
    auto& e = table().at(str(env, name));
    e.call(e.fn, (unsigned)grid, (unsigned)block, e.sync, (void**)params);
}

JNIEXPORT void JNICALL Java_org_kat4j_cuda_EmuGpu_toDevice0(JNIEnv* env, jclass, jlong dst, jobject array, jlong bytes) {
    void* src = env->GetPrimitiveArrayCritical((jarray)array, nullptr);
    std::memcpy((void*)dst, src, (size_t)bytes);
    env->ReleasePrimitiveArrayCritical((jarray)array, src, JNI_ABORT);
}

JNIEXPORT void JNICALL Java_org_kat4j_cuda_EmuGpu_toHost0(JNIEnv* env, jclass, jobject array, jlong src, jlong bytes) {
    void* dst = env->GetPrimitiveArrayCritical((jarray)array, nullptr);
    std::memcpy(dst, (void*)src, (size_t)bytes);
    env->ReleasePrimitiveArrayCritical((jarray)array, dst, 0);
}

JNIEXPORT void JNICALL Java_org_kat4j_cuda_EmuGpu_copy0(JNIEnv*, jclass, jlong dst, jlong src, jlong bytes) {
    std::memmove((void*)dst, (void*)src, (size_t)bytes);
}

JNIEXPORT void JNICALL Java_org_kat4j_cuda_EmuGpu_zero0(JNIEnv*, jclass, jlong dst, jlong bytes) {
    std::memset((void*)dst, 0, (size_t)bytes);
}

JNIEXPORT void JNICALL Java_org_kat4j_cuda_EmuGpu_gemm0(JNIEnv*, jclass, jint kind, jboolean t1, jboolean t2, jint rows, jint cols,
                                                        jint k, jlong first, jint ld1, jlong s1, jlong second, jint ld2, jlong s2,
                                                        jlong c, jint ldc, jlong sc, jint batch, jboolean acc) {
    if (kind == 2) {
        gemm_ref<float, Bf16>(t1, t2, rows, cols, k, (const Bf16*)first, ld1, s1, (const Bf16*)second, ld2, s2, (float*)c, ldc, sc,
                              batch, acc);
    } else if (kind == 1) {
        gemm_ref<double>(t1, t2, rows, cols, k, (const double*)first, ld1, s1, (const double*)second, ld2, s2, (double*)c, ldc, sc, batch,
                     acc);
    } else {
        gemm_ref<float>(t1, t2, rows, cols, k, (const float*)first, ld1, s1, (const float*)second, ld2, s2, (float*)c, ldc, sc, batch, acc);
    }
}
}
