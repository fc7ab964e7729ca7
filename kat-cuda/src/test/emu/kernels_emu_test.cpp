// kernels.cu run on the CPU (cuda_emu.h) against direct float64 references: every kernel family of
// the CUDA backend, launched with the arguments CudaBackend passes, on small odd shapes with grids
// smaller than the data (the grid-stride loops) and reductions split into parts. Prints one line
// per check and exits non-zero on the first mismatch. Built and run by KernelEmulationTest.
#include "cuda_emu.h"
#include "../../main/cuda/kernels.cu"

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>

// the layout KernelArgs.dims writes: four arrays of MAXD longs, then rank and the dense flag
static_assert(MAXD == 8, "Plans.MAXD");
static_assert(offsetof(Dims, shape) == 0 && offsetof(Dims, so) == 64 && offsetof(Dims, sa) == 128 && offsetof(Dims, sb) == 192,
              "Dims arrays");
static_assert(offsetof(Dims, rank) == 256 && offsetof(Dims, dense) == 260 && sizeof(Dims) == 264, "Dims tail");

// the layout KernelArgs.adamwList writes
static_assert(ADAMW_LIST == 32 && offsetof(AdamWList, g) == 256 && offsetof(AdamWList, decay) == 1280 &&
                  offsetof(AdamWList, start) == 1536 && offsetof(AdamWList, count) == 1800 && sizeof(AdamWList) == 1808,
              "AdamWList layout");

static std::mt19937_64 rng(7);
static int checks = 0;

static std::vector<double> rnd(size_t n, double lo = -2, double hi = 2) {
    std::uniform_real_distribution<double> u(lo, hi);
    std::vector<double> v(n);
    for (auto& x : v) x = u(rng);
    return v;
}

template <typename T> static std::vector<T> as(const std::vector<double>& v) { return std::vector<T>(v.begin(), v.end()); }

template <typename T>
static void close(const std::string& what, const std::vector<double>& expected, const std::vector<T>& got, double tol) {
    double scale = 1;
    for (double e : expected) scale = std::max(scale, std::fabs(e));
    if (expected.size() != got.size()) {
        std::printf("FAIL %s: %zu elements, expected %zu\n", what.c_str(), got.size(), expected.size());
        std::exit(1);
    }
    for (size_t i = 0; i < expected.size(); i++) {
        double err = std::fabs((double)got[i] - expected[i]);
        if (!(err <= tol * scale)) {
            std::printf("FAIL %s: element %zu is %.9g, expected %.9g\n", what.c_str(), i, (double)got[i], expected[i]);
            std::exit(1);
        }
    }
    checks++;
    std::printf("ok %s\n", what.c_str());
}

static double erf_d(double x) { return std::erf(x); }

static void maps() {
    auto x = rnd(1000, 0.1, 3);
    auto neg = rnd(1000);
    const char* names[] = {"neg", "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "erf", "step", "is_zero", "add_s", "mul_s",
                           "rsub_s", "pow_s", "fill", "gelu"};
    std::function<double(double)> ref[] = {
        [](double v) { return -v; }, [](double v) { return std::exp(v); }, [](double v) { return std::log(v); },
        [](double v) { return std::sqrt(v); }, [](double v) { return std::tanh(v); },
        [](double v) { return 1 / (1 + std::exp(-v)); }, [](double v) { return v > 0 ? v : 0; }, erf_d,
        [](double v) { return v > 0 ? 1.0 : 0.0; }, [](double v) { return v == 0 ? 1.0 : 0.0; },
        [](double v) { return v + 1.5; }, [](double v) { return v * 1.5; }, [](double v) { return 1.5 - v; },
        [](double v) { return std::pow(v, 1.5); }, [](double) { return 1.5; },
        [](double v) { return v * 0.5 * (1 + std::erf(v / std::sqrt(2.0))); }};
    for (int op = 0; op < 16; op++) {
        const auto& in = (op == M_LOG || op == M_SQRT || op == M_POW_S) ? x : neg;
        std::vector<double> e(in.size());
        for (size_t i = 0; i < in.size(); i++) e[i] = ref[op](in[i]);
        auto xf = as<float>(in);
        std::vector<float> y(in.size(), NAN);
        emu::launch(2, THREADS, map_f32, (const float*)xf.data(), y.data(), (i64)in.size(), op, 1.5);
        close(std::string("map_f32 ") + names[op], e, y, 2e-6);
        std::vector<double> yd(in.size(), NAN);
        emu::launch(3, THREADS, map_f64, (const double*)in.data(), yd.data(), (i64)in.size(), op, 1.5);
        close(std::string("map_f64 ") + names[op], e, yd, 1e-14);
    }
}

static Dims dims(std::vector<i64> shape, std::vector<i64> so, std::vector<i64> sa, std::vector<i64> sb, int dense) {
    Dims d{};
    d.rank = (int)shape.size();
    d.dense = dense;
    for (int k = 0; k < MAXD; k++) {
        d.shape[k] = k < d.rank ? shape[k] : 1;
        d.so[k] = k < d.rank ? so[k] : 0;
        d.sa[k] = k < d.rank ? sa[k] : 0;
        d.sb[k] = k < d.rank ? sb[k] : 0;
    }
    return d;
}

static void binaries() {
    // [4, 3, 5] op [3, 1] (b broadcast over dims 0 and 2)
    auto a = rnd(60);
    auto b = rnd(3, 0.5, 2);
    Dims d = dims({4, 3, 5}, {15, 5, 1}, {15, 5, 1}, {0, 1, 0}, 0);
    const char* names[] = {"add", "sub", "mul", "div"};
    for (int op = 0; op < 4; op++) {
        std::vector<double> e(60);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 5; k++) {
                    double x = a[i * 15 + j * 5 + k], y = b[j];
                    e[i * 15 + j * 5 + k] = op == 0 ? x + y : op == 1 ? x - y : op == 2 ? x * y : x / y;
                }
        auto af = as<float>(a);
        auto bf = as<float>(b);
        std::vector<float> y(60, NAN);
        emu::launch(1, THREADS, binary_f32, y.data(), (const float*)af.data(), (const float*)bf.data(), (i64)60, op, 0.0, d);
        close(std::string("binary_f32 broadcast ") + names[op], e, y, 1e-6);
    }
    // permute [2, 3, 4] by (2, 0, 1): out [4, 2, 3], out[i][j][k] = x[j][k][i]
    auto x = rnd(24);
    std::vector<double> e(24);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 2; j++)
            for (int k = 0; k < 3; k++) e[i * 6 + j * 3 + k] = x[j * 12 + k * 4 + i];
    std::vector<double> y(24, NAN);
    emu::launch(1, 16, binary_f64, y.data(), (const double*)x.data(), (const double*)nullptr, (i64)24, (int)B_COPY_A, 0.0,
                dims({4, 2, 3}, {6, 3, 1}, {1, 12, 4}, {0, 0, 0}, 0));
    close("binary_f64 permute copy", e, y, 0);
    // in place axpy (dense) and GELU's backward
    auto acc = rnd(1000);
    auto g = rnd(1000);
    std::vector<double> ea(1000), eg(1000);
    for (int i = 0; i < 1000; i++) {
        ea[i] = acc[i] - 0.25 * g[i];
        double v = acc[i];
        eg[i] = g[i] * (0.5 * (1 + std::erf(v / std::sqrt(2.0))) + v * std::exp(-0.5 * v * v) / std::sqrt(2 * M_PI));
    }
    std::vector<double> gx(1000, NAN);
    Dims flat = dims({1000}, {1}, {1}, {1}, 1);
    emu::launch(2, THREADS, binary_f64, gx.data(), (const double*)acc.data(), (const double*)g.data(), (i64)1000,
                (int)B_GELU_BWD, 0.0, flat);
    close("binary_f64 gelu backward", eg, gx, 1e-14);
    emu::launch(2, THREADS, binary_f64, acc.data(), (const double*)acc.data(), (const double*)g.data(), (i64)1000, (int)B_AXPY,
                -0.25, flat);
    close("binary_f64 axpy in place", ea, acc, 1e-15);
    auto xf = as<float>(x);
    std::vector<double> xd(24, NAN);
    emu::launch(1, THREADS, convert_f32_f64, (const float*)xf.data(), xd.data(), (i64)24);
    std::vector<double> xr(xf.begin(), xf.end());
    close("convert_f32_f64", xr, xd, 0);
}

// sum / max / sum of squares over r of x [outer, r, inner]
static std::vector<double> ref_reduce(const std::vector<double>& x, i64 outer, i64 r, i64 inner, int op, double scale) {
    std::vector<double> out(outer * inner);
    for (i64 o = 0; o < outer; o++)
        for (i64 i = 0; i < inner; i++) {
            double acc = op == R_MAX ? -INFINITY : 0;
            for (i64 k = 0; k < r; k++) {
                double v = x[(o * r + k) * inner + i];
                acc = op == R_MAX ? std::max(acc, v) : op == R_SUMSQ ? acc + v * v : acc + v;
            }
            out[o * inner + i] = op == R_MAX ? acc : acc * scale;
        }
    return out;
}

static void reductions() {
    struct Case { i64 outer, r, inner, parts; };
    Case cases[] = {{3, 700, 1, 1}, {2, 5000, 1, 3}, {1, 1000, 7, 1}, {4, 300, 5, 4}, {1, 6304, 19, 9}, {1, 1, 57, 1}};
    for (auto c : cases) {
        auto x = rnd(c.outer * c.r * c.inner);
        auto xf = as<float>(x);
        std::vector<double> xr(xf.begin(), xf.end());
        for (int op : {R_SUM, R_MAX, R_SUMSQ}) {
            double scale = op == R_SUM ? 1.0 / c.r : 1.0;
            auto e = ref_reduce(xr, c.outer, c.r, c.inner, op, scale);
            std::vector<float> y(c.outer * c.inner, NAN);
            std::string what = "reduce " + std::to_string(c.outer) + "x" + std::to_string(c.r) + "x" + std::to_string(c.inner)
                    + " parts " + std::to_string(c.parts) + " op " + std::to_string(op);
            if (c.parts == 1) {
                if (c.inner == 1) {
                    emu::launch(2, THREADS, reduce_rows_f32_f32, (const float*)xf.data(), y.data(), c.outer, c.r, (i64)1, op, scale);
                } else {
                    emu::launch(1, THREADS, reduce_cols_f32_f32, (const float*)xf.data(), y.data(), c.outer, c.r, c.inner, (i64)1,
                                op, scale);
                }
            } else {
                // the backend's two passes: parts into float64 partials, then the partials summed in order
                std::vector<double> partial(c.outer * c.parts * c.inner, NAN);
                int op2 = op == R_MAX ? R_MAX : R_SUM;
                if (c.inner == 1) {
                    emu::launch(2, THREADS, reduce_rows_f32_f64, (const float*)xf.data(), partial.data(), c.outer, c.r, c.parts,
                                op, 1.0);
                    emu::launch(1, THREADS, reduce_rows_f64_f32, (const double*)partial.data(), y.data(), c.outer, c.parts,
                                (i64)1, op2, scale);
                } else {
                    emu::launch(1, THREADS, reduce_cols_f32_f64, (const float*)xf.data(), partial.data(), c.outer, c.r, c.inner,
                                c.parts, op, 1.0);
                    emu::launch(1, THREADS, reduce_cols_f64_f32, (const double*)partial.data(), y.data(), c.outer, c.parts,
                                c.inner, (i64)1, op2, scale);
                }
            }
            close(what, e, y, 1e-6);
        }
    }
}

static void softmaxes() {
    for (i64 d : {10L, 197L, 33L}) {
        i64 rows = 21;
        auto x = rnd(rows * d, -5, 5);
        auto g = rnd(rows * d);
        std::vector<double> p(rows * d), lp(rows * d), gs(rows * d), gl(rows * d);
        for (i64 r = 0; r < rows; r++) {
            double m = -INFINITY, s = 0, dot = 0, gsum = 0;
            for (i64 j = 0; j < d; j++) m = std::max(m, x[r * d + j]);
            for (i64 j = 0; j < d; j++) s += std::exp(x[r * d + j] - m);
            for (i64 j = 0; j < d; j++) {
                p[r * d + j] = std::exp(x[r * d + j] - m) / s;
                lp[r * d + j] = x[r * d + j] - m - std::log(s);
                dot += g[r * d + j] * p[r * d + j];
                gsum += g[r * d + j];
            }
            for (i64 j = 0; j < d; j++) {
                gs[r * d + j] = (g[r * d + j] - dot) * p[r * d + j];
                gl[r * d + j] = g[r * d + j] - p[r * d + j] * gsum;
            }
        }
        std::vector<double> y(rows * d, NAN), yl(rows * d, NAN), dx(rows * d, NAN), dxl(rows * d, NAN);
        emu::launch(2, 64, softmax_f64, (const double*)x.data(), y.data(), rows, d, 0);
        emu::launch(2, 64, softmax_f64, (const double*)x.data(), yl.data(), rows, d, 1);
        close("softmax_f64 d " + std::to_string(d), p, y, 1e-14);
        close("log_softmax_f64 d " + std::to_string(d), lp, yl, 1e-14);
        emu::launch(1, THREADS, softmax_bwd_f64, (const double*)p.data(), (const double*)g.data(), dx.data(), rows, d, 0);
        emu::launch(1, THREADS, softmax_bwd_f64, (const double*)lp.data(), (const double*)g.data(), dxl.data(), rows, d, 1);
        close("softmax_bwd_f64 d " + std::to_string(d), gs, dx, 1e-14);
        close("log_softmax_bwd_f64 d " + std::to_string(d), gl, dxl, 1e-14);
        auto xf = as<float>(x);
        std::vector<float> yf(rows * d, NAN);
        emu::launch(1, THREADS, softmax_f32, (const float*)xf.data(), yf.data(), rows, d, 0);
        close("softmax_f32 d " + std::to_string(d), p, yf, 1e-6);
    }
}

static void cross_entropy() {
    i64 rows = 13, c = 10;
    auto x = rnd(rows * c, -4, 4);
    auto t = rnd(rows * c, 0, 1); // soft targets, rows not normalised: the mass term counts
    std::vector<double> eloss(1, 0), egx(rows * c);
    double gup = 0.7;
    for (i64 r = 0; r < rows; r++) {
        double m = -INFINITY, s = 0, mass = 0;
        for (i64 j = 0; j < c; j++) m = std::max(m, x[r * c + j]);
        for (i64 j = 0; j < c; j++) s += std::exp(x[r * c + j] - m);
        double lse = m + std::log(s);
        for (i64 j = 0; j < c; j++) {
            eloss[0] -= t[r * c + j] * (x[r * c + j] - lse) / rows;
            mass += t[r * c + j];
        }
        for (i64 j = 0; j < c; j++) egx[r * c + j] = (std::exp(x[r * c + j] - lse) * mass - t[r * c + j]) * gup / rows;
    }
    std::vector<double> loss(rows, NAN), out(1, NAN), gx(rows * c, NAN), g(1, gup);
    emu::launch(1, 64, ce_fwd_f64, (const double*)x.data(), (const double*)t.data(), loss.data(), rows, c);
    emu::launch(1, THREADS, reduce_rows_f64_f64, (const double*)loss.data(), out.data(), (i64)1, rows, (i64)1, (int)R_SUM,
                1.0 / rows);
    close("cross-entropy f64", eloss, out, 1e-14);
    emu::launch(1, 64, ce_bwd_f64, (const double*)x.data(), (const double*)t.data(), (const double*)g.data(), gx.data(), rows, c,
                1.0 / rows);
    close("cross-entropy backward f64", egx, gx, 1e-14);
}

static void layer_norm() {
    i64 rows = 37, d = 48;
    double eps = 1e-6;
    auto x = rnd(rows * d);
    auto w = rnd(d);
    auto b = rnd(d);
    auto g = rnd(rows * d);
    std::vector<double> ey(rows * d), egx(rows * d), egw(d, 0), egb(d, 0);
    for (i64 r = 0; r < rows; r++) {
        double mu = 0, var = 0;
        for (i64 j = 0; j < d; j++) mu += x[r * d + j] / d;
        for (i64 j = 0; j < d; j++) var += (x[r * d + j] - mu) * (x[r * d + j] - mu) / d;
        double rs = 1 / std::sqrt(var + eps);
        double m1 = 0, m2 = 0;
        for (i64 j = 0; j < d; j++) {
            double xh = (x[r * d + j] - mu) * rs;
            ey[r * d + j] = xh * w[j] + b[j];
            egw[j] += g[r * d + j] * xh;
            egb[j] += g[r * d + j];
            m1 += g[r * d + j] * w[j] / d;
            m2 += g[r * d + j] * w[j] * xh / d;
        }
        for (i64 j = 0; j < d; j++) {
            double xh = (x[r * d + j] - mu) * rs;
            egx[r * d + j] = (g[r * d + j] * w[j] - m1 - xh * m2) * rs;
        }
    }
    std::vector<double> y(rows * d, NAN), mean(rows, NAN), rstd(rows, NAN), gx(rows * d, NAN);
    emu::launch(2, 64, ln_fwd_f64, (const double*)x.data(), (const double*)w.data(), (const double*)b.data(), y.data(),
                mean.data(), rstd.data(), rows, d, eps);
    close("layer norm f64", ey, y, 1e-13);
    emu::launch(2, 64, ln_bwd_x_f64, (const double*)x.data(), (const double*)w.data(), (const double*)g.data(),
                (const double*)mean.data(), (const double*)rstd.data(), gx.data(), rows, d);
    close("layer norm backward x f64", egx, gx, 1e-13);
    i64 parts = 5;
    std::vector<double> partial(parts * 2 * d, NAN), both(2 * d, NAN);
    emu::launch(1, THREADS, ln_bwd_wb_f64, (const double*)x.data(), (const double*)g.data(), (const double*)mean.data(),
                (const double*)rstd.data(), partial.data(), rows, d, parts);
    emu::launch(1, THREADS, reduce_cols_f64_f64, (const double*)partial.data(), both.data(), (i64)1, parts, 2 * d, (i64)1,
                (int)R_SUM, 1.0);
    std::vector<double> ewb(egw);
    ewb.insert(ewb.end(), egb.begin(), egb.end());
    close("layer norm backward weight and bias f64", ewb, both, 1e-13);
}

static void adamw_gather_index_add() {
    i64 n = 777;
    auto w = rnd(n), g = rnd(n), m = rnd(n), v = rnd(n, 0, 1);
    double b1 = 0.9, b2 = 0.999, eps = 1e-8, decay = 1 - 1e-3 * 0.05, lr = 1e-3, bc1 = 1 - 0.9 * 0.9, bc2 = 1 - 0.999 * 0.999;
    std::vector<double> ew(n), em(n), ev(n);
    for (i64 i = 0; i < n; i++) {
        em[i] = b1 * m[i] + (1 - b1) * g[i];
        ev[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        ew[i] = w[i] * decay - lr / bc1 * em[i] / (std::sqrt(ev[i]) / std::sqrt(bc2) + eps);
    }
    emu::launch(2, THREADS, adamw_f64, w.data(), (const double*)g.data(), m.data(), v.data(), n, b1, b2, eps, decay, lr / bc1,
                std::sqrt(bc2));
    close("adamw f64 weights", ew, w, 1e-14);
    close("adamw f64 moments", em, m, 1e-15);
    // gather along dim 1 of [2, 5, 3] and its backward (repeated indices summed in order)
    auto x = rnd(30);
    std::vector<i64> index = {4, 0, 4, 2};
    std::vector<double> eg(2 * 4 * 3), y(24, NAN);
    for (int o = 0; o < 2; o++)
        for (int k = 0; k < 4; k++)
            for (int i = 0; i < 3; i++) eg[(o * 4 + k) * 3 + i] = x[(o * 5 + index[k]) * 3 + i];
    emu::launch(1, 16, gather_f64, (const double*)x.data(), y.data(), (const i64*)index.data(), (i64)2, (i64)4, (i64)3, (i64)5);
    close("gather f64", eg, y, 0);
    std::vector<double> eadd(30, 0), out(30, NAN);
    for (int o = 0; o < 2; o++)
        for (int k = 0; k < 4; k++)
            for (int i = 0; i < 3; i++) eadd[(o * 5 + index[k]) * 3 + i] += y[(o * 4 + k) * 3 + i];
    // starts per target j, then the k for each (what Plans.inverseIndex builds): j 0: k 1; j 2: k 3; j 4: k 0, 2
    std::vector<i64> inv = {0, 1, 1, 2, 2, 4, 1, 3, 0, 2};
    emu::launch(1, 16, index_add_f64, (const double*)y.data(), out.data(), (const i64*)inv.data(), (const i64*)inv.data() + 6,
                (i64)2, (i64)5, (i64)4, (i64)3);
    close("index add f64", eadd, out, 0);
}

// several parameters in one adamw_list launch give the bits of one adamw launch each
static void adamw_list() {
    std::vector<i64> sizes = {777, 1, 4097, 2048, 5000};
    double b1 = 0.9, b2 = 0.999, eps = 1e-8, lr = 1e-3, bc1 = 1 - 0.9 * 0.9, bc2 = 1 - 0.999 * 0.999;
    std::vector<std::vector<double>> w, g, m, v, w1, m1, v1, w2, m2, v2;
    AdamWList l{};
    l.count = (int)sizes.size();
    for (size_t t = 0; t < sizes.size(); t++) {
        i64 n = sizes[t];
        w.push_back(rnd(n)), g.push_back(rnd(n)), m.push_back(rnd(n)), v.push_back(rnd(n, 0, 1));
        w1.push_back(w[t]), m1.push_back(m[t]), v1.push_back(v[t]);
        w2.push_back(w[t]), m2.push_back(m[t]), v2.push_back(v[t]);
        double decay = t % 2 ? 1.0 : 1 - lr * 0.05;
        emu::launch(3, THREADS, adamw_f64, w1[t].data(), (const double*)g[t].data(), m1[t].data(), v1[t].data(), n, b1, b2, eps,
                    decay, lr / bc1, std::sqrt(bc2));
        l.w[t] = (i64)w[t].data(), l.g[t] = (i64)g[t].data(), l.m[t] = (i64)m[t].data(), l.v[t] = (i64)v[t].data();
        l.n[t] = n, l.decay[t] = decay;
        l.start[t + 1] = l.start[t] + (n + ADAMW_CHUNK - 1) / ADAMW_CHUNK;
    }
    emu::launch(2, THREADS, adamw_list_f64, (const double*)nullptr, b1, b2, eps, lr / bc1, std::sqrt(bc2), l);
    for (size_t t = 0; t < sizes.size(); t++) {
        close("adamw list f64 weights of " + std::to_string(sizes[t]), w1[t], w[t], 0);
        close("adamw list f64 moments of " + std::to_string(sizes[t]), v1[t], v[t], 0);
    }
    // the same step with its numbers read from device memory (a recorded launch), the arguments wrong
    std::vector<double> at = {b1, b2, eps, lr / bc1, std::sqrt(bc2)};
    AdamWList l2 = l;
    for (size_t t = 0; t < sizes.size(); t++) {
        at.push_back(l.decay[t]);
        l2.w[t] = (i64)w2[t].data(), l2.m[t] = (i64)m2[t].data(), l2.v[t] = (i64)v2[t].data(), l2.decay[t] = 0.5;
    }
    emu::launch(2, THREADS, adamw_list_f64, (const double*)at.data(), 0.5, 0.5, 1.0, 7.0, 3.0, l2);
    for (size_t t = 0; t < sizes.size(); t++) {
        close("adamw list f64 with its numbers in device memory, weights of " + std::to_string(sizes[t]), w1[t], w2[t], 0);
        close("adamw list f64 with its numbers in device memory, moments of " + std::to_string(sizes[t]), v1[t], v2[t], 0);
    }
}

// the global-norm clip's kernels: per-chunk sums of squares over a list of tensors (grid smaller
// than the chunks), a clip that scales every element when the norm exceeds max and writes nothing
// when it does not, and the EMA update's two roundings
static void list_updates() {
    std::vector<i64> sizes = {777, 1, 4097, 2048, 5000};
    std::vector<std::vector<float>> x, x0;
    std::vector<std::vector<double>> shadow, w;
    AdamWList lx{}, le{};
    lx.count = le.count = (int)sizes.size();
    double sq = 0;
    for (size_t t = 0; t < sizes.size(); t++) {
        x.push_back(as<float>(rnd(sizes[t])));
        shadow.push_back(rnd(sizes[t]));
        w.push_back(rnd(sizes[t]));
        for (float v : x[t]) sq += (double)v * v;
    }
    x0 = x;
    std::vector<std::vector<double>> e0 = shadow;
    for (size_t t = 0; t < sizes.size(); t++) {
        lx.w[t] = (i64)x[t].data(), le.w[t] = (i64)shadow[t].data(), le.g[t] = (i64)w[t].data();
        lx.n[t] = le.n[t] = sizes[t];
        lx.start[t + 1] = le.start[t + 1] = lx.start[t] + (sizes[t] + ADAMW_CHUNK - 1) / ADAMW_CHUNK;
    }
    i64 chunks = lx.start[lx.count];
    std::vector<double> partial(chunks, NAN);
    emu::launch(2, THREADS, sumsq_list_f32, partial.data(), lx);
    double total = 0;
    for (double p : partial) total += p;
    close("sumsq list f32: the chunks add up to the sum of squares", {sq}, std::vector<double>{total}, 1e-13);
    // no clip below the norm: not one element written
    double norm = std::sqrt(total);
    emu::launch(2, THREADS, clip_list_f32, (const double*)&total, norm * 2, lx);
    for (size_t t = 0; t < sizes.size(); t++) close("clip list f32 under max leaves " + std::to_string(sizes[t]), std::vector<double>(x0[t].begin(), x0[t].end()), x[t], 0);
    double max = norm / 3;
    emu::launch(2, THREADS, clip_list_f32, (const double*)&total, max, lx);
    float f = (float)(max / (norm + 1e-6));
    for (size_t t = 0; t < sizes.size(); t++) {
        std::vector<double> e(sizes[t]);
        for (i64 i = 0; i < sizes[t]; i++) e[i] = (float)(x0[t][i] * f);
        close("clip list f32 scales " + std::to_string(sizes[t]), e, x[t], 0);
    }
    double decay = 0.99;
    std::vector<std::vector<double>> shadow2 = shadow;
    emu::launch(2, THREADS, ema_list_f64, (const double*)nullptr, decay, le);
    for (size_t t = 0; t < sizes.size(); t++) {
        std::vector<double> e(sizes[t]);
        for (i64 i = 0; i < sizes[t]; i++) e[i] = e0[t][i] * decay + (1 - decay) * w[t][i];
        close("ema list f64 " + std::to_string(sizes[t]), e, shadow[t], 0);
    }
    AdamWList le2 = le;
    for (size_t t = 0; t < sizes.size(); t++) le2.w[t] = (i64)shadow2[t].data();
    emu::launch(2, THREADS, ema_list_f64, (const double*)&decay, 0.5, le2);
    close("ema list f64 with its decay in device memory", shadow[2], shadow2[2], 0);
}

// Philox4x32-10's known answer (Random123): counter 0, key 0 gives 6627e8d5 e169c58d bc57ac4c 9b00dbd8
static void dropout_masks() {
    unsigned kat[4] = {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u};
    int threshold = 0x9b00dc; // drops words whose top 24 bits are below 9b00dc: the first and the last
    std::vector<float> y(7, NAN);
    emu::launch(1, 32, dropout_mask_f32, y.data(), (i64)y.size(), (const i64*)nullptr, (i64)0, threshold, 2.0);
    std::vector<double> e(4);
    for (int q = 0; q < 4; q++) e[q] = (kat[q] >> 8) < (unsigned)threshold ? 0 : 2;
    close("dropout mask f32 = Philox known answer", e, std::vector<float>(y.begin(), y.begin() + 4), 0);
    // a seed with high bits, a grid smaller than the data: about p of the elements dropped, the rest at scale
    i64 n = 100003;
    std::vector<double> d(n, NAN);
    double p = 0.3;
    emu::launch(3, THREADS, dropout_mask_f64, d.data(), n, (const i64*)nullptr, (i64)0x123456789abcdefLL,
                (int)std::ceil(p * (1 << 24) - 0.5), 1 / (1 - p));
    i64 dropped = 0;
    for (double x : d) {
        if (x != 0 && x != 1 / (1 - p)) {
            std::printf("FAIL dropout mask f64: value %.9g\n", x);
            std::exit(1);
        }
        dropped += x == 0;
    }
    close("dropout mask f64 fraction dropped", {p}, std::vector<double>{(double)dropped / n}, 0.01);
    // the seed read from device memory (a graph's seed table) wins over the argument: the same mask as by value
    std::vector<i64> table = {7, (i64)0x123456789abcdefLL};
    std::vector<double> fromTable(n, NAN);
    emu::launch(3, THREADS, dropout_mask_f64, fromTable.data(), n, (const i64*)(table.data() + 1), (i64)99,
                (int)std::ceil(p * (1 << 24) - 0.5), 1 / (1 - p));
    close("dropout mask f64 with its seed in device memory", d, fromTable, 0);
}

static void rational() {
    i64 rows = 29, d = 24, groups = 3, cpg = d / groups;
    auto x = rnd(rows * d, -3, 3);
    auto g = rnd(rows * d);
    std::vector<double> coef = {0.1, 0.9, 0.4, -0.05, 0.02, -0.003, 0.5, -0.2, 0.1, -0.01, 0.3, 0.0, -0.4, 0.05, 0.2, 0.1, 0.0, -0.3};
    auto P = [&](double v) { const double* a = coef.data(); return a[0] + v * (a[1] + v * (a[2] + v * (a[3] + v * (a[4] + v * a[5])))); };
    std::vector<double> ey(rows * d), egx(rows * d), egn(6, 0), egd(4 * groups, 0);
    for (i64 i = 0; i < rows * d; i++) {
        int grp = (int)((i % d) / cpg);
        const double* b = coef.data() + 6 + 4 * grp;
        double v = x[i], av = std::fabs(v);
        double q = 1 + av * (std::fabs(b[0]) + av * (std::fabs(b[1]) + av * (std::fabs(b[2]) + av * std::fabs(b[3]))));
        double p = P(v);
        ey[i] = p / q;
        const double* a = coef.data();
        double dp = a[1] + v * (2 * a[2] + v * (3 * a[3] + v * (4 * a[4] + v * 5 * a[5])));
        double dq = (v < 0 ? -1 : 1) * (std::fabs(b[0]) + av * (2 * std::fabs(b[1]) + av * (3 * std::fabs(b[2]) + av * 4 * std::fabs(b[3]))));
        egx[i] = g[i] * (dp / q - p * dq / (q * q));
        double xi = 1;
        for (int k = 0; k < 6; k++) { egn[k] += g[i] * xi / q; xi *= v; }
        double axk = av;
        for (int k = 0; k < 4; k++) { egd[4 * grp + k] += -g[i] * p / (q * q) * (b[k] < 0 ? -1 : 1) * axk; axk *= av; }
    }
    std::vector<double> y(rows * d, NAN), gx(rows * d, NAN);
    emu::launch(2, THREADS, rational_fwd_f64, (const double*)x.data(), y.data(), rows * d, d, cpg, (const double*)coef.data());
    close("rational forward f64", ey, y, 1e-14);
    i64 parts = 4;
    std::vector<double> partial(parts * groups * 10, NAN), total(groups * 10, NAN), gn(6, NAN), gd(4 * groups, NAN);
    emu::launch(5, THREADS, rational_bwd_f64, (const double*)x.data(), (const double*)g.data(), gx.data(), rows, d, cpg,
                (const double*)coef.data(), partial.data(), parts);
    close("rational backward x f64", egx, gx, 1e-13);
    emu::launch(1, THREADS, reduce_cols_f64_f64, (const double*)partial.data(), total.data(), (i64)1, parts, groups * 10, (i64)1,
                (int)R_SUM, 1.0);
    emu::launch(1, THREADS, rational_finish_f64, (const double*)total.data(), gn.data(), gd.data(), (int)groups);
    close("rational backward numerator f64", egn, gn, 1e-13);
    close("rational backward denominator f64", egd, gd, 1e-13);
}

int main() {
    maps();
    binaries();
    reductions();
    softmaxes();
    cross_entropy();
    layer_norm();
    adamw_gather_index_add();
    adamw_list();
    dropout_masks();
    list_updates();
    rational();
    std::printf("all %d checks passed\n", checks);
    return 0;
}
