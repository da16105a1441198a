// The CUDA path against an independent double-precision model (ref.h) with float32
// tolerances scaled by the reduction length: every entry point, tuned and naive, on odd
// shapes (r = 1, n != m, E > 1, G > 1), long reductions (T > 4096, T n > 1M, r = 64) and
// every subset of NULL gradients; noise equal to the host's (a draw's at the offsets of
// melora_draw_offset); KLs against the CPU path; bad arguments, NULL structs and short
// workspaces rejected with nothing written; the caller's handle left as it was; no host
// synchronisation (a training step captured in a CUDA graph, real toolkit only). Built
// twice: through tests/cudacpu (runs everywhere) and with the real toolkit (runs only
// where cudaGetDeviceCount finds a GPU, otherwise skips visibly).
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <cmath>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <algorithm>
#include <functional>
#include <string>
#include <vector>
#include "melora_cuda.h"
#include "ref.h"

typedef std::vector<float> vec;

static bool have_device() {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}
// Without a device every test skips visibly, unless MELORA_REQUIRE_GPU is set (make
// gpu-check): then it fails.
#define NEED_DEVICE()                                                                       \
    do {                                                                                    \
        if (!have_device()) {                                                               \
            cudaGetLastError();                                                             \
            cr_assert(!getenv("MELORA_REQUIRE_GPU"), "MELORA_REQUIRE_GPU is set and no CUDA device was found"); \
            cr_skip_test("no CUDA device: the CUDA path was compiled, not run");            \
        }                                                                                   \
    } while (0)

static vec rnd(size_t n, uint64_t seed, double scale) {
    vec v(n);
    uint64_t st = seed * 2654435761u + 7;
    for (size_t i = 0; i < n; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        v[i] = (float)(scale * (((double)(st >> 11) / 9007199254740992.0) * 2.0 - 1.0));
    }
    return v;
}
static vec signs(size_t n, uint64_t seed) {
    vec v = rnd(n, seed, 1.0);
    for (auto &x : v) x = x < 0 ? -1.0f : 1.0f;
    return v;
}
// Device copies that free themselves.
struct dev {
    float *p = nullptr;
    size_t n = 0;
    dev() {}
    explicit dev(const vec &h) : n(h.size()) {
        cr_assert_eq(cudaMalloc((void **)&p, n * sizeof(float)), cudaSuccess);
        cr_assert_eq(cudaMemcpy(p, h.data(), n * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
    }
    dev(const dev &) = delete;
    dev &operator=(const dev &) = delete;
    ~dev() { if (p) cudaFree(p); }
    vec get() const {
        vec h(n);
        cr_assert_eq(cudaMemcpy(h.data(), p, n * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
        return h;
    }
};
struct dwork {
    void *p = nullptr;
    size_t bytes = 0;
    explicit dwork(size_t b) : bytes(b) { cr_assert_eq(cudaMalloc(&p, b), cudaSuccess); cudaMemset(p, 0xA5, b); }
    dwork(const dwork &) = delete;
    dwork &operator=(const dwork &) = delete;
    ~dwork() { cudaFree(p); }
    melora_work w() const { melora_work k = {p, bytes}; return k; }
};
static melora_dims dims(int T, int n, int m, int r) {
    melora_dims d = {T, n, m, r, MELORA_FP32};
    return d;
}
static melora_work wk(void *p, size_t bytes) {
    melora_work w = {p, bytes};
    return w;
}
// A KL's device outputs: the value and its status, read back after the stream's work.
struct dkl {
    double *v = nullptr;
    int *st = nullptr;
    dkl() {
        cr_assert_eq(cudaMalloc((void **)&v, sizeof(double)), cudaSuccess);
        cr_assert_eq(cudaMalloc((void **)&st, sizeof(int)), cudaSuccess);
        cr_assert_eq(cudaMemset(st, 0x7f, sizeof(int)), cudaSuccess); // neither OK nor an error code
    }
    dkl(const dkl &) = delete;
    dkl &operator=(const dkl &) = delete;
    ~dkl() { cudaFree(v); cudaFree(st); }
    int status() const {
        int h = -1;
        cr_assert_eq(cudaMemcpy(&h, st, sizeof h, cudaMemcpyDeviceToHost), cudaSuccess);
        return h;
    }
    double value() const {
        double h = 0;
        cr_assert_eq(cudaMemcpy(&h, v, sizeof h, cudaMemcpyDeviceToHost), cudaSuccess);
        return h;
    }
};
static void close(const char *what, const vec &a, const vec &b, double atol = 2e-5, double rtol = 2e-4) {
    cr_assert_eq(a.size(), b.size());
    for (size_t i = 0; i < a.size(); i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        cr_assert(d <= atol + rtol * fabs((double)b[i]), "%s[%zu]: %.9g vs %.9g", what, i, a[i], b[i]);
    }
}
static melora_work cpu_work(melora_op op, int T, int n, int m, int r, std::vector<char> &keep) {
    size_t b = 0;
    cr_assert_eq(melora_workspace_size(&b, op, dims(T, n, m, r)), MELORA_OK);
    keep.assign(b + 64, 0);
    return wk((void *)(((uintptr_t)keep.data() + 63) & ~(uintptr_t)63), b);
}
// The device workspace of op: the tuned calls' (naive 0) or the references' (naive 1).
static size_t cu_bytes(melora_op op, int T, int n, int m, int r, int naive = 0) {
    size_t b = 0;
    cr_assert_eq((naive ? melora_cuda_workspace_size_naive : melora_cuda_workspace_size)(&b, op, dims(T, n, m, r)), MELORA_OK);
    return b;
}

struct shape { int T, n, m, r, E, G; };
static const shape SHAPES[] = {{5, 7, 6, 3, 1, 1}, {1, 1, 1, 1, 1, 1}, {17, 33, 19, 1, 17, 2},
                               {12, 16, 40, 5, 3, 5}, {24, 21, 18, 8, 4, 7},
                               {6, 600, 300, 9, 3, 2},   /* n > block: every warp reduces */
                               {130, 20, 270, 3, 5, 3},  /* several row tiles and column slices */
                               {9, 13, 11, 22, 3, 2},    /* r between the thresholds: fused
                                                            shrink, dz pass by GEMMs */
                               {8, 9, 260, 30, 2, 3}};   /* r > both thresholds, m > 256 */
/* the long reductions: T > 4096 (65 row tiles), T n > 1M, r = 64 (8 rank groups) */
static const shape BIG[] = {{4100, 260, 40, 3, 4, 3}, {72, 300, 270, 64, 3, 5}};

static cublasHandle_t handle() {
    cublasHandle_t h = nullptr;
    cr_assert_eq(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
    return h;
}

Test(cuda, noise_equals_host) {
    NEED_DEVICE();
    const int64_t N = 1001;
    vec h(N), z(N, 0.0f);
    dev d(z);
    for (int kind = 0; kind < 3; kind++) {
        for (uint64_t off : {0ull, 3ull, 129ull, 0xfffffffffffffff0ull}) {
            melora_status (*gpu)(float *, uint64_t, uint64_t, int64_t, cudaStream_t) =
                kind == 0 ? melora_cuda_noise_normal : kind == 1 ? melora_cuda_noise_uniform : melora_cuda_noise_sign;
            melora_status (*cpu)(float *, uint64_t, uint64_t, int64_t) =
                kind == 0 ? melora_noise_normal : kind == 1 ? melora_noise_uniform : melora_noise_sign;
            cr_assert_eq(gpu(d.p, 42, off, N, 0), MELORA_OK);
            cr_assert_eq(cpu(h.data(), 42, off, N), MELORA_OK);
            vec g = d.get();
#ifdef CUDACPU
            cr_assert(memcmp(g.data(), h.data(), N * sizeof(float)) == 0, "kind %d offset %llu", kind, (unsigned long long)off);
#else
            // uniform and sign streams are integer-exact; normals go through logf/sinf/cosf
            close("noise", g, h, kind == 0 ? 2e-6 : 0.0, kind == 0 ? 2e-6 : 0.0);
#endif
        }
    }
}

// Within the float32 bound of the double model (ref.h): |gpu - model| <= tol(K, |model|).
static void near(const char *what, const vec &g, const ref::dvec &want, const ref::dvec &mag,
                 double K, const char *ctx) {
    cr_assert_eq(g.size(), want.size(), "%s %s: size", ctx, what);
    for (size_t i = 0; i < g.size(); i++) {
        double d = fabs((double)g[i] - want[i]), t = ref::tol(K, mag[i]);
        cr_assert(d <= t, "%s %s[%zu]: %.9g vs model %.12g (|diff| %.3g > tol %.3g)", ctx, what, i,
                  (double)g[i], want[i], d, t);
    }
}
static ref::dvec dbl(const vec &v) { return ref::dvec(v.begin(), v.end()); }

// One method on one shape, against the double model: the tuned path and the naive one,
// with every gradient requested; `patterns` also runs the tuned and the naive backward
// once per subset of NULL gradients (the others must still be right, the NULL ones
// untouched).
enum { LORA, BLOB, FLIP, MELORA };
enum { G_DX = 1, G_DA = 2, G_DB = 4, G_DGA = 8, G_DM = 16, G_DH = 32 };
static void check(int method, const shape &S0, bool patterns) {
    shape S = S0;
    if (method != MELORA) S.E = 1;
    if (method != FLIP) S.G = 1;
    int T = S.T, n = S.n, m = S.m, r = S.r, E = S.E, G = S.G, ng = (T + G - 1) / G;
    const float s = 1.75f;
    uint64_t sd = 10 * (uint64_t)method + (uint64_t)T;
    vec x = rnd((size_t)T * n, sd + 1, 1), A = rnd((size_t)r * n, sd + 2, .5), B = rnd((size_t)m * r, sd + 3, .5);
    vec GA = rnd((size_t)r * n, sd + 4, .6), EA = rnd((size_t)r * n, sd + 5, 1.5);
    vec M = rnd((size_t)r * r, sd + 6, .8), H = rnd((size_t)r * r, sd + 7, .6), EC = rnd((size_t)E * r * r, sd + 8, 1.5);
    vec sa = signs((size_t)ng * n, sd + 9), sb = signs((size_t)ng * r, sd + 10);
    vec dz = rnd((size_t)T * m, sd + 11, 1), z0 = rnd((size_t)T * m, sd + 12, 1);
    vec gx0 = rnd((size_t)T * n, sd + 13, 1), gA0 = rnd((size_t)r * n, sd + 14, 1), gG0 = rnd((size_t)r * n, sd + 15, 1);
    vec gB0 = rnd((size_t)m * r, sd + 16, 1), gM0 = rnd((size_t)r * r, sd + 17, 1), gH0 = rnd((size_t)r * r, sd + 18, 1);
    ref::Problem P{method, T, n, m, r, E, G, s, dbl(x), dbl(A), dbl(B), dbl(GA), dbl(EA), dbl(M), dbl(H), dbl(EC),
                   dbl(sa), dbl(sb), dbl(dz), dbl(z0), dbl(gx0), dbl(gA0), dbl(gG0), dbl(gB0), dbl(gM0), dbl(gH0)};
    ref::Result want = ref::run(P, false), mag = ref::run(P, true);
    const double K = ref::chain_k(P);
    melora_op of = method == FLIP ? MELORA_OP_FLIPOUT_FORWARD : method == MELORA ? MELORA_OP_MELORA_FORWARD : MELORA_OP_LORA_FORWARD;
    melora_op ob = method == FLIP ? MELORA_OP_FLIPOUT_BACKWARD : method == MELORA ? MELORA_OP_MELORA_BACKWARD : MELORA_OP_LORA_BACKWARD;
    const int all = G_DX | G_DA | G_DB | (method == BLOB || method == FLIP ? G_DGA : 0) | (method == MELORA ? G_DM | G_DH : 0);
    cublasHandle_t h = handle();
    std::vector<std::pair<int, int>> runs = {{0, all}, {1, all}}; // (naive, gradients)
    if (patterns) // every subset of NULL gradients, on both paths
        for (int nv = 0; nv < 2; nv++)
            for (int g = 0; g < all; g++)
                if ((g & all) == g) runs.push_back({nv, g});
    for (auto run : runs) {
        int naive = run.first, want_g = run.second;
        char ctx[96];
        snprintf(ctx, sizeof ctx, "method %d T %d n %d m %d r %d E %d G %d naive %d grads %#x", method, T, n, m, r, E, G, naive, want_g);
        dev dx_(x), dA_(A), dB_(B), dGA(GA), dEA(EA), dM_(M), dH_(H), dEC(EC), dsa(sa), dsb(sb), ddz(dz);
        dev dz_(z0), du(vec((size_t)T * r, 0)), dv(vec((size_t)T * r, 0)), dAs(vec((size_t)r * n, 0)), dC(vec((size_t)E * r * r, 0));
        dev gx_(gx0), gA_(gA0), gG_(gG0), gB_(gB0), gM_(gM0), gH_(gH0);
        float *px = want_g & G_DX ? gx_.p : nullptr, *pA = want_g & G_DA ? gA_.p : nullptr, *pB = want_g & G_DB ? gB_.p : nullptr;
        float *pG = want_g & G_DGA ? gG_.p : nullptr, *pM = want_g & G_DM ? gM_.p : nullptr, *pH = want_g & G_DH ? gH_.p : nullptr;
        // each path's own workspace, exactly as its size query says (BLoB: always tuned)
        const int wn = method == BLOB ? 0 : naive;
        dwork w(std::max(cu_bytes(of, T, n, m, r, wn), cu_bytes(ob, T, n, m, r, wn)));
        const melora_dims D = dims(T, n, m, r);
        const melora_work W = w.w();
        // no gradient at all: the grads struct itself absent (NULL), else its NULL fields
        const bool nog = want_g == 0;
        const melora_lora_saved sv = {dx_.p, du.p};
        switch (method) {
        case LORA: {
            const melora_lora_params pa = {dA_.p, dB_.p, s};
            const melora_lora_grads g = {pA, pB};
            cr_assert_eq((naive ? melora_cuda_lora_forward_naive : melora_cuda_lora_forward)(dz_.p, &sv, W, &pa, D, h, 0), 0, "%s", ctx);
            cr_assert_eq((naive ? melora_cuda_lora_backward_naive : melora_cuda_lora_backward)(px, nog ? nullptr : &g, &sv, W, ddz.p, &pa, D, h, 0), 0, "%s", ctx);
            break;
        }
        case BLOB: { // no naive BLoB entry: its GEMMs are LoRA's
            const melora_blob_params bp = {dA_.p, dGA.p, dB_.p, s};
            const melora_blob_grads g = {pA, pG, pB};
            const melora_blob_draw dr = {dAs.p, dEA.p};
            cr_assert_eq(melora_cuda_blob_forward(dz_.p, &sv, dAs.p, W, &bp, dEA.p, D, h, 0), 0, "%s", ctx);
            cr_assert_eq(melora_cuda_blob_backward(px, nog ? nullptr : &g, &sv, W, ddz.p, &bp, &dr, D, h, 0), 0, "%s", ctx);
            near("As", dAs.get(), want.As, mag.As, 2, ctx);
            break;
        }
        case FLIP: {
            const melora_blob_params bp = {dA_.p, dGA.p, dB_.p, s};
            const melora_blob_grads g = {pA, pG, pB};
            const melora_flipout_noise nz = {dEA.p, dsa.p, dsb.p, G};
            cr_assert_eq((naive ? melora_cuda_blob_flipout_forward_naive : melora_cuda_blob_flipout_forward)(dz_.p, &sv, W, &bp, &nz, D, h, 0), 0, "%s", ctx);
            cr_assert_eq((naive ? melora_cuda_blob_flipout_backward_naive : melora_cuda_blob_flipout_backward)(px, nog ? nullptr : &g, &sv, W, ddz.p, &bp, &nz, D, h, 0), 0, "%s", ctx);
            break;
        }
        case MELORA: {
            const melora_melora_params mp = {dA_.p, dB_.p, dM_.p, dH_.p, s};
            const melora_melora_saved ms = {dx_.p, du.p, dv.p};
            const melora_melora_draw md = {dC.p, dEC.p, E};
            const melora_melora_grads g = {pA, pB, pM, pH};
            cr_assert_eq(melora_cuda_melora_sample(dC.p, &mp, dEC.p, E, r, 0), 0, "%s", ctx);
            near("C", dC.get(), want.C, mag.C, 2, ctx);
            cr_assert_eq((naive ? melora_cuda_melora_forward_naive : melora_cuda_melora_forward)(dz_.p, &ms, W, &mp, &md, D, h, 0), 0, "%s", ctx);
            cr_assert_eq((naive ? melora_cuda_melora_backward_naive : melora_cuda_melora_backward)(px, nog ? nullptr : &g, &ms, W, ddz.p, &mp, &md, D, h, 0), 0, "%s", ctx);
            near("v", dv.get(), want.v, mag.v, K, ctx);
            break;
        }
        }
        cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
        near("z", dz_.get(), want.z, mag.z, K, ctx);
        near("u", du.get(), want.u, mag.u, K, ctx);
        struct { int bit; const char *name; const dev &d; const vec &g0; const ref::dvec &w, &a; } outs[] = {
            {G_DX, "dx", gx_, gx0, want.gx, mag.gx}, {G_DA, "dA", gA_, gA0, want.gA, mag.gA},
            {G_DB, "dB", gB_, gB0, want.gB, mag.gB}, {G_DGA, "dGA", gG_, gG0, want.gG, mag.gG},
            {G_DM, "dM", gM_, gM0, want.gM, mag.gM}, {G_DH, "dH", gH_, gH0, want.gH, mag.gH}};
        for (auto &o : outs) {
            if (!(all & o.bit)) continue;
            if (want_g & o.bit) near(o.name, o.d.get(), o.w, o.a, K, ctx);
            else close(o.name, o.d.get(), o.g0, 0, 0); // not requested: untouched
        }
    }
    cublasDestroy(h);
}
Test(cuda, lora_matches_model) { NEED_DEVICE(); for (auto &S : SHAPES) check(LORA, S, S.T * S.n < 2000); }
Test(cuda, blob_matches_model) { NEED_DEVICE(); for (auto &S : SHAPES) check(BLOB, S, S.T * S.n < 2000); }
Test(cuda, flipout_matches_model) { NEED_DEVICE(); for (auto &S : SHAPES) check(FLIP, S, S.T * S.n < 2000); }
Test(cuda, melora_matches_model) { NEED_DEVICE(); for (auto &S : SHAPES) check(MELORA, S, S.T * S.n < 2000); }
Test(cuda, long_reductions_match_model) {
    NEED_DEVICE();
    for (auto &S : BIG)
        for (int method = LORA; method <= MELORA; method++) check(method, S, false);
}
// The reductions over T (dB: k_dzpass + k_finish; dA: cuBLAS; dM, dH: k_dc_part +
// k_dc_finish, 256 chunks) at a long T against the model: T = 8192 through the emulator
// (its speed), 262,144 on a GPU.
Test(cuda, reductions_over_long_t) {
    NEED_DEVICE();
#ifdef CUDACPU
    const int T = 8192;
#else
    const int T = 262144;
#endif
    for (int method : {LORA, MELORA}) check(method, shape{T, 16, 8, 8, 4, 1}, false);
}

// r = 5: u by k_shrink; r = 32: by cuBLAS (above MELORA__FUSE_MAXR); r = 300: k_mcexpand's
// rank chunks (256 ranks each); K = 5 and 70 tiles of rows: past the sanitizer build's grid
// caps (3 x 5), so samples and tiles loop in the kernel; m = 300: columns past a block.
// offx, offA: x and A that many floats past an aligned start (k_shrink's 32-bit loads).
static vec pad(const vec &v, int off) {
    vec p(off, 0.0f);
    p.insert(p.end(), v.begin(), v.end());
    return p;
}
static void mc_forward(int T, int n, int m, int r, int K, double atol = 2e-5, int offx = 0, int offA = 0) {
    vec x = rnd(T * n, 1, 1), A = rnd(r * n, 2, 1), B = rnd(m * r, 3, 1), C = rnd(K * r * r, 4, 1), z0 = rnd(K * T * m, 5, 1);
    vec z = z0, u(T * r);
    std::vector<char> keep;
    const melora_lora_saved hs = {x.data(), u.data()};
    const melora_melora_params hp = {A.data(), B.data(), nullptr, nullptr, .5f}; // M, H unread
    cr_assert_eq(melora_melora_mc_forward(z.data(), &hs, cpu_work(MELORA_OP_MELORA_MC_FORWARD, T, n, m, r, keep), &hp, C.data(), K, dims(T, n, m, r)), 0);
    dev dx(pad(x, offx)), dA(pad(A, offA)), dB(B), dC(C), dz(z0), du(vec(T * r, 0));
    dwork w(cu_bytes(MELORA_OP_MELORA_MC_FORWARD, T, n, m, r));
    cublasHandle_t h = handle();
    const melora_lora_saved ds = {dx.p + offx, du.p};
    const melora_melora_params dp = {dA.p + offA, dB.p, nullptr, nullptr, .5f};
    cr_assert_eq(melora_cuda_melora_mc_forward(dz.p, &ds, w.w(), &dp, dC.p, K, dims(T, n, m, r), h, 0), 0);
    close("mc z", dz.get(), z, atol, 2e-4);
    close("mc u", du.get(), u);
    cublasDestroy(h);
}
Test(cuda, mc_forward_matches_cpu) {
    NEED_DEVICE();
    mc_forward(13, 21, 17, 5, 3);
    mc_forward(13, 21, 17, 32, 3);
    mc_forward(279, 12, 300, 3, 5); // n % 4 == 0: k_shrink's 128-bit loads
    mc_forward(9, 12, 10, 5, 2, 2e-5, 1, 0); // n % 4 == 0 but x, then A, misaligned
    mc_forward(9, 12, 10, 5, 2, 2e-5, 0, 1);
    // z sums r = 300 terms of |B v| ~ 5 (v itself 300 terms): float32 sums in another order
    // than the CPU's differ by ~r eps sum|terms| ~ 2e-4 where z cancels to near 0
    mc_forward(6, 7, 9, 300, 2, 5e-4);
}

// The KLs (value, status, gradients) against the CPU path (double sums) on (r, n).
static void kls(int r, int n) {
    vec A = rnd(r * n, 1, 1), M = rnd(r * r, 2, 1), H = rnd(r * r, 3, 1), MA = rnd(r * n, 4, 1), GA = rnd(r * n, 5, 1);
    vec gA0 = rnd(r * n, 6, 1), gM0 = rnd(r * r, 7, 1), gH0 = rnd(r * r, 8, 1), gG0 = rnd(r * n, 9, 1);
    std::vector<char> keep;
    melora_work cw = cpu_work(MELORA_OP_MELORA_KL, 1, n, 1, r, keep);
    for (int naive = 0; naive < 3; naive++) { // tuned eq. 7, naive eq. 7, eq. 8
        vec gA = gA0, gM = gM0, gH = gH0;
        double kc = 0;
        dkl kg;
        dev dA(A), dM(M), dH(H), ga(gA0), gm(gM0), gh(gH0);
        dwork w(cu_bytes(MELORA_OP_MELORA_KL, 1, n, 1, r, naive == 1));
        const melora_melora_grads hg = {gA.data(), nullptr, gM.data(), gH.data()};
        const melora_melora_params hp = {A.data(), nullptr, M.data(), H.data(), 0.0f};
        const melora_melora_grads dg = {ga.p, nullptr, gm.p, gh.p};
        const melora_melora_params dp = {dA.p, nullptr, dM.p, dH.p, 0.0f};
        if (naive == 2) {
            cr_assert_eq(melora_melora_kl_prior_noise(&kc, &hg, cw, &hp, .2f, .3f, 1.5f, r, n), 0);
            cr_assert_eq(melora_cuda_melora_kl_prior_noise(kg.v, kg.st, &dg, w.w(), &dp, .2f, .3f, 1.5f, r, n, 0), 0);
        } else {
            cr_assert_eq(melora_melora_kl(&kc, &hg, cw, &hp, .4f, 1.5f, r, n), 0);
            cr_assert_eq((naive ? melora_cuda_melora_kl_naive : melora_cuda_melora_kl)(kg.v, kg.st, &dg, w.w(), &dp, .4f, 1.5f, r, n, 0), 0);
        }
        cr_assert_eq(kg.status(), MELORA_OK);
        cr_assert(fabs(kc - kg.value()) <= 1e-9 * (1 + fabs(kc)), "eq7 %.12g vs %.12g", kg.value(), kc);
        close("kl dA", ga.get(), gA);
        close("kl dM", gm.get(), gM);
        close("kl dH", gh.get(), gH);
    }
    { // BLoB KL and exact KL_C
        vec gA = gA0, gG = gG0, gM = gM0, gH = gH0;
        double kc = 0;
        dkl kg, kx;
        dev dMA(MA), dGA(GA), ga(gA0), gg(gG0), dM(M), dH(H), gm(gM0), gh(gH0);
        dwork w(MELORA_CUDA_DIAG_KL_BYTES); // the documented size, whatever r and n
        const melora_blob_grads hbg = {gA.data(), gG.data(), nullptr};
        const melora_blob_params hbp = {MA.data(), GA.data(), nullptr, 0.0f};
        const melora_blob_grads dbg = {ga.p, gg.p, nullptr};
        const melora_blob_params dbp = {dMA.p, dGA.p, nullptr, 0.0f};
        cr_assert_eq(melora_blob_kl(&kc, &hbg, &hbp, .2f, .7f, r, n), 0);
        cr_assert_eq(melora_cuda_blob_kl(kg.v, kg.st, &dbg, w.w(), &dbp, .2f, .7f, r, n, 0), 0);
        cr_assert_eq(kg.status(), MELORA_OK);
        cr_assert(fabs(kc - kg.value()) <= 1e-9 * (1 + fabs(kc)));
        close("blob dMA", ga.get(), gA);
        close("blob dGA", gg.get(), gG);
        const melora_melora_grads hxg = {nullptr, nullptr, gM.data(), gH.data()};
        const melora_melora_params hxp = {nullptr, nullptr, M.data(), H.data(), 0.0f};
        const melora_melora_grads dxg = {nullptr, nullptr, gm.p, gh.p};
        const melora_melora_params dxp = {nullptr, nullptr, dM.p, dH.p, 0.0f};
        cr_assert_eq(melora_melora_kl_exact(&kc, &hxg, &hxp, .3f, .7f, r), 0);
        cr_assert_eq(melora_cuda_melora_kl_exact(kx.v, kx.st, &dxg, w.w(), &dxp, .3f, .7f, r, 0), 0);
        cr_assert_eq(kx.status(), MELORA_OK);
        cr_assert(fabs(kc - kx.value()) <= 1e-9 * (1 + fabs(kc)));
        close("exact dM", gm.get(), gM);
        close("exact dH", gh.get(), gH);
    }
}
Test(cuda, kls_match_cpu) {
    NEED_DEVICE();
    kls(4, 23);
    kls(9, 5000); // 64 column chunks in k_eq7_mh_part
    kls(17, 300); // r^2 > 256: more than one block of entries
}

Test(cuda, bad_arguments) {
    NEED_DEVICE();
    const int T = 4, n = 3, m = 5, r = 2;
    dev x(rnd(T * n, 1, 1)), A(rnd(r * n, 2, 1)), B(rnd(m * r, 3, 1)), z(rnd(T * m, 4, 1)), u(rnd(T * r, 5, 1)), v(rnd(T * r, 6, 1));
    dev H(rnd(r * r, 7, 1)), M(rnd(r * r, 8, 1)), g(rnd(r * n, 9, 1)), C(rnd(2 * r * r, 10, 1));
    vec z0 = z.get(), g0 = g.get(), v0 = v.get();
    dwork w(1 << 16);
    cublasHandle_t h = handle();
    dkl kl;
    const melora_work W = w.w(), Wmis = wk((char *)w.p + 4, w.bytes - 4);
    const melora_dims D = dims(T, n, m, r);
    const melora_lora_saved lsv = {x.p, u.p};
    const melora_lora_params lp = {A.p, B.p, 1}, lpn = {A.p, B.p, NAN};
    const melora_melora_saved msv = {x.p, u.p, v.p};
    const melora_melora_params mp = {A.p, B.p, M.p, H.p, 1};
    const melora_melora_draw md3 = {C.p, C.p, 3}, md2 = {C.p, C.p, 2};
    const melora_melora_grads mg = {A.p, nullptr, M.p, H.p}, mgb = {A.p, B.p, M.p, H.p};
    const melora_blob_params bp = {A.p, g.p, B.p, 1};
    const melora_blob_grads bg = {z.p, g.p, nullptr}, fg = {A.p, g.p, B.p};
    const melora_flipout_noise nz0 = {g.p, x.p, u.p, 0};
    const melora_melora_grads xg = {nullptr, nullptr, M.p, g.p};
    cr_assert_eq(melora_cuda_lora_forward(nullptr, &lsv, W, &lp, D, h, 0), MELORA_ERR_NULL);
    cr_assert_eq(melora_cuda_lora_forward(z.p, &lsv, wk(nullptr, w.bytes), &lp, D, h, 0), MELORA_ERR_NULL);
    cr_assert_eq(melora_cuda_lora_forward(z.p, &lsv, W, &lp, D, nullptr, 0), MELORA_ERR_NULL);
    cr_assert_eq(melora_cuda_lora_forward(z.p, &lsv, W, &lp, dims(0, n, m, r), h, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_lora_forward(z.p, &lsv, W, &lp, dims(T, -1, m, r), h, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_lora_forward(z.p, &lsv, W, &lp, dims(INT32_MAX, INT32_MAX, m, r), h, 0), MELORA_ERR_OVERFLOW);
    cr_assert_eq(melora_cuda_lora_forward(z.p, &lsv, W, &lpn, D, h, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_lora_forward(z.p, &lsv, Wmis, &lp, D, h, 0), MELORA_ERR_ALIGNMENT);
    cr_assert_eq(melora_cuda_melora_forward(z.p, &msv, W, &mp, &md3, D, h, 0), MELORA_ERR_DIVISIBILITY);
    cr_assert_eq(melora_cuda_blob_flipout_forward(z.p, &lsv, W, &bp, &nz0, D, h, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_noise_normal(nullptr, 1, 0, 5, 0), MELORA_ERR_NULL);
    cr_assert_eq(melora_cuda_noise_sign(z.p, 1, 0, 0, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_melora_kl(kl.v, kl.st, &mg, W, &mp, 0.0f, 1, r, n, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_melora_kl_prior_noise(kl.v, kl.st, &mg, W, &mp, .2f, 1.0f, 1, r, n, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_melora_kl(nullptr, kl.st, &mg, W, &mp, .2f, 1, r, n, 0), MELORA_ERR_NULL);
    cr_assert_eq(melora_cuda_melora_kl(kl.v, nullptr, &mg, W, &mp, .2f, 1, r, n, 0), MELORA_ERR_NULL);
    cr_assert_eq(melora_cuda_blob_kl((double *)((char *)kl.v + 4), kl.st, &bg, W, &bp, .2f, 1, r, n, 0), MELORA_ERR_ALIGNMENT);
    cr_assert_eq(melora_cuda_melora_kl(kl.v, kl.st, &mg, W, &mp, .2f, NAN, r, n, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_melora_kl(kl.v, kl.st, &mg, W, &mp, NAN, 1, r, n, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_melora_kl(kl.v, kl.st, &mg, W, &mp, .2f, 1, 0, n, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_melora_kl(kl.v, kl.st, &mg, W, &mp, .2f, 1, r, -2, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_melora_kl_prior_noise(kl.v, kl.st, &mg, W, &mp, -.2f, .1f, 1, r, n, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_melora_kl_prior_noise(kl.v, kl.st, &mg, W, &mp, NAN, .1f, 1, r, n, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_melora_kl_prior_noise(kl.v, kl.st, &mg, W, &mp, .2f, NAN, 1, r, n, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_melora_kl_prior_noise(kl.v, kl.st, &mg, W, &mp, .2f, -.1f, 1, r, n, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_blob_kl(kl.v, kl.st, &bg, W, &bp, .2f, INFINITY, r, n, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_blob_kl(kl.v, kl.st, &bg, W, &bp, 0.0f, 1, r, n, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_blob_kl(kl.v, kl.st, &bg, W, &bp, .2f, 1, r, 0, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_melora_kl_exact(kl.v, kl.st, &xg, W, &mp, .2f, 1, 0, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_blob_sample(z.p, &bp, g.p, 0, n, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_blob_sample(z.p, &bp, g.p, r, 0, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_melora_sample(C.p, &mp, C.p, 2, 0, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_melora_mc_forward(z.p, &lsv, W, &mp, C.p, 0, D, h, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_melora_backward(z.p, &mgb, &msv, W, z.p, &mp, &md3, D, h, 0), MELORA_ERR_DIVISIBILITY);
    cr_assert_eq(melora_cuda_blob_flipout_backward(z.p, &fg, &lsv, W, z.p, &bp, &nz0, D, h, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_melora_forward(z.p, &msv, W, &mp, &md2, dims(0, n, m, r), h, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_melora_backward(z.p, &mgb, &msv, W, z.p, &mp, &md2, dims(T, 0, m, r), h, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_melora_mc_forward(z.p, &lsv, W, &mp, C.p, 2, dims(T, n, -1, r), h, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_melora_kl(kl.v, kl.st, &mg, W, &mp, .2f, 1, INT32_MAX, INT32_MAX, 0), MELORA_ERR_OVERFLOW);
    cr_assert_eq(melora_cuda_blob_kl(kl.v, kl.st, &bg, W, &bp, .2f, 1, INT32_MAX, INT32_MAX, 0), MELORA_ERR_OVERFLOW);
    // (r,r) past the address space with (r,n) within it: both eq. 7 paths (the fuzzer's find)
    cr_assert_eq(melora_cuda_melora_kl(kl.v, kl.st, &mg, W, &mp, .2f, 1, 1 << 30, 576, 0), MELORA_ERR_OVERFLOW);
    cr_assert_eq(melora_cuda_melora_kl_naive(kl.v, kl.st, &mg, W, &mp, .2f, 1, 1 << 30, 576, 0), MELORA_ERR_OVERFLOW);
    cr_assert_eq(kl.status(), 0x7f7f7f7f); // host-side rejections write nothing
    // a zero std (or a value that is not finite): the call is enqueued (MELORA_OK), the
    // device status says MELORA_ERR_VALUE, the KL is NaN and no gradient is written
    vec hz = H.get();
    hz[1] = 0.0f;
    dev Hz(hz);
    vec gaz = g.get();
    gaz[4] = 0.0f;
    dev GAz(gaz);
    vec ainf = A.get();
    ainf[3] = INFINITY;
    dev Ainf(ainf);
    const melora_melora_grads kg = {g.p, nullptr, v.p, z.p}, eg = {nullptr, nullptr, z.p, g.p};
    const melora_melora_params mpz = {A.p, nullptr, M.p, Hz.p, 0}, mpinf = {Ainf.p, nullptr, M.p, H.p, 0};
    const melora_blob_params bpz = {A.p, GAz.p, nullptr, 0}, bpinf = {Ainf.p, C.p, nullptr, 0};
    for (int which = 0; which < 6; which++) {
        dkl k;
        melora_status st =
            which == 0 ? melora_cuda_melora_kl_exact(k.v, k.st, &eg, W, &mpz, .2f, 1, r, 0)
            : which == 1 ? melora_cuda_blob_kl(k.v, k.st, &bg, W, &bpz, .2f, 1, r, n, 0)
            : which == 2 ? melora_cuda_melora_kl(k.v, k.st, &kg, W, &mpz, .2f, 1, r, n, 0)
            : which == 3 ? melora_cuda_melora_kl_naive(k.v, k.st, &kg, W, &mpz, .2f, 1, r, n, 0)
            : which == 4 ? melora_cuda_melora_kl(k.v, k.st, &kg, W, &mpinf, .2f, 1, r, n, 0) // sums not finite
                         : melora_cuda_blob_kl(k.v, k.st, &bg, W, &bpinf, .2f, 1, r, n, 0); // a mean not finite
        cr_assert_eq(st, MELORA_OK, "case %d", which);
        cr_assert_eq(k.status(), MELORA_ERR_VALUE, "case %d", which);
        cr_assert(std::isnan(k.value()), "case %d", which);
    }
    close("z untouched", z.get(), z0, 0, 0);
    close("g untouched", g.get(), g0, 0, 0);
    close("v untouched", v.get(), v0, 0, 0);
    size_t b;
    cr_assert_eq(melora_cuda_workspace_size(&b, (melora_op)77, D), MELORA_ERR_ENUM);
    cr_assert_eq(melora_cuda_workspace_size(nullptr, MELORA_OP_LORA_FORWARD, D), MELORA_ERR_NULL);
    cr_assert_eq(melora_cuda_workspace_size_naive(&b, (melora_op)77, D), MELORA_ERR_ENUM);
    cr_assert_eq(melora_cuda_workspace_size(&b, (melora_op)-1, D), MELORA_ERR_ENUM);
    cr_assert_eq(melora_cuda_workspace_size(&b, MELORA_OP_COUNT_, D), MELORA_ERR_ENUM);
    cr_assert_eq(melora_cuda_workspace_size_naive(nullptr, MELORA_OP_LORA_FORWARD, D), MELORA_ERR_NULL);
    cublasDestroy(h);
}

// Sizes near INT_MAX: the workspace's chunk counts (T or n + a chunk) and a Flipout sign
// group of G = INT_MAX rows are computed without int overflow (caught by the ASan/UBSan
// emulator build; the inputs the fuzzer found). The group case still matches the host.
Test(cuda, sizes_near_int_max) {
    NEED_DEVICE();
    size_t b = 0;
    melora_status ws = melora_cuda_workspace_size(&b, MELORA_OP_MELORA_BACKWARD, dims(INT_MAX - 1, 1, 1, 1));
    cr_assert(ws == MELORA_OK || ws == MELORA_ERR_OVERFLOW, "status %d", ws);
    ws = melora_cuda_workspace_size(&b, MELORA_OP_MELORA_KL, dims(1, INT_MAX - 1, 1, 1));
    cr_assert(ws == MELORA_OK || ws == MELORA_ERR_OVERFLOW, "status %d", ws);
    const int T = 64, n = 14, m = 47, r = 5, G = INT_MAX;
    vec hx = rnd(T * n, 1, 1), hMA = rnd(r * n, 2, 1), hGA = rnd(r * n, 3, 0.3), hEA = rnd(r * n, 4, 1);
    vec hsa = signs(n, 5), hsb = signs(r, 6), hB = rnd(m * r, 7, 1), hz = rnd(T * m, 8, 1), hu(T * r, 0.0f);
    dev x(hx), MA(hMA), GA(hGA), EA(hEA), sa(hsa), sb(hsb), B(hB), z(hz), u(hu), dz(rnd(T * m, 9, 1));
    dev dx(vec(T * n, 0.0f)), dMA(vec(r * n, 0.0f)), dGA(vec(r * n, 0.0f)), dB(vec(m * r, 0.0f));
    cublasHandle_t h = handle();
    const melora_dims D = dims(T, n, m, r);
    const melora_lora_saved sv = {x.p, u.p};
    const melora_blob_params bp = {MA.p, GA.p, B.p, 0.5f};
    const melora_blob_grads bg = {dMA.p, dGA.p, dB.p};
    const melora_flipout_noise nz = {EA.p, sa.p, sb.p, G};
    for (int naive = 0; naive < 2; naive++) {
        dwork wf(cu_bytes(MELORA_OP_FLIPOUT_FORWARD, T, n, m, r, naive)), wb(cu_bytes(MELORA_OP_FLIPOUT_BACKWARD, T, n, m, r, naive));
        melora_status st = (naive ? melora_cuda_blob_flipout_forward_naive : melora_cuda_blob_flipout_forward)(
            z.p, &sv, wf.w(), &bp, &nz, D, h, 0);
        cr_assert_eq(st, MELORA_OK, "forward, naive %d: %d", naive, st);
        st = (naive ? melora_cuda_blob_flipout_backward_naive : melora_cuda_blob_flipout_backward)(
            dx.p, &bg, &sv, wb.w(), dz.p, &bp, &nz, D, h, 0);
        cr_assert_eq(st, MELORA_OK, "backward, naive %d: %d", naive, st);
    }
    std::vector<char> keep;
    vec cz = hz, cu(T * r, 0.0f);
    const melora_lora_saved hsv = {hx.data(), cu.data()};
    const melora_blob_params hbp = {hMA.data(), hGA.data(), hB.data(), 0.5f};
    const melora_flipout_noise hnz = {hEA.data(), hsa.data(), hsb.data(), G};
    cr_assert_eq(melora_blob_flipout_forward(cz.data(), &hsv, cpu_work(MELORA_OP_FLIPOUT_FORWARD, T, n, m, r, keep),
                                             &hbp, &hnz, D), MELORA_OK);
    for (auto &v : cz) v = 2 * v - hz[&v - cz.data()]; // the device added the adapter twice
    close("z, G = INT_MAX", z.get(), cz, 1e-4, 1e-4);
    cublasDestroy(h);
}

// eq. 7/8 with a non-finite entry in A, M or H, or a zero std: the device status says
// MELORA_ERR_VALUE, kl is NaN, and neither a gradient nor a byte of the workspace (P, S,
// the partials) is written: the inputs are checked in a first pass that gates the rest.
Test(cuda, eq7_bad_input_writes_nothing) {
    NEED_DEVICE();
    const int shapes[][2] = {{3, 5}, {17, 300}};
    const float bad[] = {NAN, INFINITY, 0.0f};
    for (const auto &sh : shapes) {
        int r = sh[0], n = sh[1];
        size_t bytes = std::max(cu_bytes(MELORA_OP_MELORA_KL, 1, n, 1, r), cu_bytes(MELORA_OP_MELORA_KL, 1, n, 1, r, 1));
        vec A = rnd(r * n, 11, 1), M = rnd(r * r, 12, 1), H = rnd(r * r, 13, 1);
        vec gA0 = rnd(r * n, 14, 1), gM0 = rnd(r * r, 15, 1), gH0 = rnd(r * r, 16, 1);
        for (auto &h : H) h += h < 0 ? -0.2f : 0.2f;
        for (int which = 0; which < 3; which++)     // the bad entry in A, M, H
            for (int b = 0; b < 3; b++) {
                if (b == 2 && which != 2) continue; // zero: an error only as a std
                vec a = A, m = M, h = H;
                (which == 0 ? a[a.size() - 2] : which == 1 ? m[r + 1 < r * r ? r + 1 : 0] : h[r * r - 1]) = bad[b];
                dev dA(a), dM(m), dH(h), ga(gA0), gm(gM0), gh(gH0);
                for (int f = 0; f < 3; f++) { // tuned eq. 7, naive eq. 7, eq. 8
                    dwork w(bytes);
                    std::vector<unsigned char> w0(bytes), w1(bytes);
                    cr_assert_eq(cudaMemcpy(w0.data(), w.p, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
                    dkl k;
                    const melora_melora_grads g = {ga.p, nullptr, gm.p, gh.p};
                    const melora_melora_params p = {dA.p, nullptr, dM.p, dH.p, 0};
                    melora_status st =
                        f == 0 ? melora_cuda_melora_kl(k.v, k.st, &g, w.w(), &p, .3f, .5f, r, n, 0)
                        : f == 1 ? melora_cuda_melora_kl_naive(k.v, k.st, &g, w.w(), &p, .3f, .5f, r, n, 0)
                                 : melora_cuda_melora_kl_prior_noise(k.v, k.st, &g, w.w(), &p, .2f, .1f, .5f, r, n, 0);
                    cr_assert_eq(st, MELORA_OK, "enqueued: input %d bad %d fn %d", which, b, f);
                    cr_assert_eq(k.status(), MELORA_ERR_VALUE, "input %d bad %d fn %d", which, b, f);
                    cr_assert(std::isnan(k.value()));
                    cr_assert_eq(cudaMemcpy(w1.data(), w.p, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
                    cr_assert(w0 == w1, "workspace written: input %d bad %d fn %d (r %d n %d)", which, b, f, r, n);
                    close("dA untouched", ga.get(), gA0, 0, 0);
                    close("dM untouched", gm.get(), gM0, 0, 0);
                    close("dH untouched", gh.get(), gH0, 0, 0);
                }
            }
    }
}

// The caller's handle comes back as it was given: its stream and pointer mode.
Test(cuda, handle_state_restored) {
    NEED_DEVICE();
    const int T = 9, n = 11, m = 7, r = 3;
    vec x = rnd(T * n, 1, 1), A = rnd(r * n, 2, 1), B = rnd(m * r, 3, 1), z0 = rnd(T * m, 4, 1);
    cudaStream_t s1, s2;
    cr_assert_eq(cudaStreamCreate(&s1), cudaSuccess);
    cr_assert_eq(cudaStreamCreate(&s2), cudaSuccess);
    cublasHandle_t h = handle();
    for (int same = 0; same < 2; same++) {
        cr_assert_eq(cublasSetStream(h, same ? s2 : s1), CUBLAS_STATUS_SUCCESS);
        cr_assert_eq(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_DEVICE), CUBLAS_STATUS_SUCCESS);
        dev dx(x), dA(A), dB(B), dz(z0), du(vec(T * r, 0));
        dwork w(cu_bytes(MELORA_OP_LORA_FORWARD, T, n, m, r));
        const melora_lora_saved sv = {dx.p, du.p};
        const melora_lora_params lp = {dA.p, dB.p, .5f};
        cr_assert_eq(melora_cuda_lora_forward(dz.p, &sv, w.w(), &lp, dims(T, n, m, r), h, s2), MELORA_OK);
        cr_assert_eq(cudaStreamSynchronize(s2), cudaSuccess);
        cudaStream_t got = nullptr;
        cublasPointerMode_t mode = CUBLAS_POINTER_MODE_HOST;
        cr_assert_eq(cublasGetStream(h, &got), CUBLAS_STATUS_SUCCESS);
        cr_assert_eq(cublasGetPointerMode(h, &mode), CUBLAS_STATUS_SUCCESS);
        cr_assert_eq(got, same ? s2 : s1);
        cr_assert_eq(mode, CUBLAS_POINTER_MODE_DEVICE);
        // and the GEMMs ran with host alpha and beta: z = z0 + .5 (x A^T) B^T, in double
        vec zg = dz.get();
        for (int t = 0; t < T; t++)
            for (int j = 0; j < m; j++) {
                double acc = 0, mag = 0;
                for (int k = 0; k < r; k++) {
                    double uk = 0, um = 0;
                    for (int l = 0; l < n; l++) uk += (double)x[t * n + l] * A[k * n + l], um += fabs((double)x[t * n + l] * A[k * n + l]);
                    acc += uk * B[j * r + k];
                    mag += um * fabs((double)B[j * r + k]);
                }
                double want = z0[t * m + j] + .5 * acc;
                cr_assert(fabs(zg[t * m + j] - want) <= 1e-6 * (fabs(z0[t * m + j]) + .5 * mag) + 1e-30, "z[%d][%d] %.9g vs %.9g", t, j, zg[t * m + j], want);
            }
    }
    cublasDestroy(h);
    cudaStreamDestroy(s1);
    cudaStreamDestroy(s2);
}

// melora_cuda_last_error names what failed in this call, not an error from before it.
Test(cuda, last_error_is_this_calls) {
    NEED_DEVICE();
    const int64_t N = 64;
    dev d(vec(N, 0));
    int v = 0;
    cr_assert_neq(cudaDeviceGetAttribute(&v, (cudaDeviceAttr)100000, 0), cudaSuccess); // leaves an error pending
    cr_assert_eq(melora_cuda_noise_normal(d.p, 1, 0, N, 0), MELORA_ERR_CUDA);
    cr_assert(strstr(melora_cuda_last_error(), "before this call") != nullptr, "%s", melora_cuda_last_error());
    // the pending error was taken over: the next call succeeds and clears the message
    cr_assert_eq(melora_cuda_noise_normal(d.p, 1, 0, N, 0), MELORA_OK);
    cr_assert_str_eq(melora_cuda_last_error(), "");
    // argument errors are not CUDA errors and leave no message
    cr_assert_eq(melora_cuda_noise_normal(nullptr, 1, 0, N, 0), MELORA_ERR_NULL);
    cr_assert_str_eq(melora_cuda_last_error(), "");
}

#ifndef CUDACPU
// A whole BLoB + Me-LoRA training step (noise, sampling, forward, backward, KL) captured in
// one CUDA graph and replayed: possible only with no host synchronisation in any entry
// point; the replay's outputs equal the same calls run directly (same kernels, same order).
Test(cuda, training_step_in_a_cuda_graph) {
    NEED_DEVICE();
    const int T = 64, n = 96, m = 80, r = 8, E = 4;
    vec x = rnd(T * n, 1, 1), A = rnd(r * n, 2, .5), B = rnd(m * r, 3, .5), GA = rnd(r * n, 4, .6);
    vec M = rnd(r * r, 5, .8), H = rnd(r * r, 6, .6), dz = rnd(T * m, 7, 1);
    cudaStream_t st;
    cr_assert_eq(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), cudaSuccess);
    cublasHandle_t h = handle();
    cr_assert_eq(cublasSetStream(h, st), CUBLAS_STATUS_SUCCESS);
    size_t wb = cu_bytes(MELORA_OP_MELORA_BACKWARD, T, n, m, r);
    wb = std::max(wb, cu_bytes(MELORA_OP_LORA_BACKWARD, T, n, m, r));
    wb = std::max(wb, cu_bytes(MELORA_OP_MELORA_KL, 1, n, 1, r));
    wb = std::max(wb, (size_t)MELORA_CUDA_DIAG_KL_BYTES);
    const melora_dims D = dims(T, n, m, r);
    vec out[2][6];
    double klv[2][2];
    for (int graph = 0; graph < 2; graph++) {
        dev dx(x), dA(A), dB(B), dGA(GA), dM(M), dH(H), ddz(dz);
        dev EA(vec(r * n, 0)), As(vec(r * n, 0)), EC(vec(E * r * r, 0)), C(vec(E * r * r, 0));
        dev z(vec(T * m, 0)), u(vec(T * r, 0)), v(vec(T * r, 0)), gx(vec(T * n, 0)), gA(vec(r * n, 0));
        dev gG(vec(r * n, 0)), gB(vec(m * r, 0)), gM(vec(r * r, 0)), gH(vec(r * r, 0));
        dwork w(wb);
        dkl k1, k2;
        const melora_lora_saved lsv = {dx.p, u.p};
        const melora_blob_params bp = {dA.p, dGA.p, dB.p, 1.5f};
        const melora_blob_grads bg = {gA.p, gG.p, gB.p};
        const melora_blob_draw bd = {As.p, EA.p};
        const melora_melora_saved msv = {dx.p, u.p, v.p};
        const melora_melora_params mp = {dA.p, dB.p, dM.p, dH.p, 1.5f};
        const melora_melora_grads mg = {gA.p, gB.p, gM.p, gH.p};
        const melora_melora_draw md = {C.p, EC.p, E};
        auto step = [&]() {
            cr_assert_eq(melora_cuda_blob_noise(EA.p, 5, 0, r, n, st), MELORA_OK);
            cr_assert_eq(melora_cuda_blob_forward(z.p, &lsv, As.p, w.w(), &bp, EA.p, D, h, st), MELORA_OK);
            cr_assert_eq(melora_cuda_blob_backward(gx.p, &bg, &lsv, w.w(), ddz.p, &bp, &bd, D, h, st), MELORA_OK);
            cr_assert_eq(melora_cuda_blob_kl(k1.v, k1.st, &bg, w.w(), &bp, .2f, .5f, r, n, st), MELORA_OK);
            cr_assert_eq(melora_cuda_melora_noise(EC.p, 6, 0, E, r, st), MELORA_OK);
            cr_assert_eq(melora_cuda_melora_sample(C.p, &mp, EC.p, E, r, st), MELORA_OK);
            cr_assert_eq(melora_cuda_melora_forward(z.p, &msv, w.w(), &mp, &md, D, h, st), MELORA_OK);
            cr_assert_eq(melora_cuda_melora_backward(gx.p, &mg, &msv, w.w(), ddz.p, &mp, &md, D, h, st), MELORA_OK);
            cr_assert_eq(melora_cuda_melora_kl(k2.v, k2.st, &mg, w.w(), &mp, .3f, .5f, r, n, st), MELORA_OK);
        };
        if (graph) {
            cudaGraph_t g;
            cudaGraphExec_t ge;
            cr_assert_eq(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal), cudaSuccess);
            step();
            cr_assert_eq(cudaStreamEndCapture(st, &g), cudaSuccess);
            cr_assert_eq(cudaGraphInstantiate(&ge, g, 0), cudaSuccess);
            cr_assert_eq(cudaGraphLaunch(ge, st), cudaSuccess);
            cr_assert_eq(cudaStreamSynchronize(st), cudaSuccess);
            cudaGraphExecDestroy(ge);
            cudaGraphDestroy(g);
        } else {
            step();
            cr_assert_eq(cudaStreamSynchronize(st), cudaSuccess);
        }
        out[graph][0] = z.get(); out[graph][1] = gx.get(); out[graph][2] = gA.get();
        out[graph][3] = gB.get(); out[graph][4] = gM.get(); out[graph][5] = gH.get();
        cr_assert_eq(k1.status(), MELORA_OK);
        cr_assert_eq(k2.status(), MELORA_OK);
        klv[graph][0] = k1.value();
        klv[graph][1] = k2.value();
    }
    for (int i = 0; i < 6; i++) close("graph replay", out[1][i], out[0][i], 0, 0);
    cr_assert_eq(klv[0][0], klv[1][0]);
    cr_assert_eq(klv[0][1], klv[1][1]);
    cublasDestroy(h);
    cudaStreamDestroy(st);
}
#endif

// Every entry point that takes tensors, in one calling convention for the table-driven
// tests below: its pointers in p[] (outputs, workspace, inputs, in the order of the
// function's arguments with each struct's fields in place), packed into the v0.2 structs
// here. Sizes T=4 n=3 m=5 r=2 E=K=G=2. Roles: o float output (optional gradients too),
// k the double kl, s the int status, w workspace, i input; lengths (floats) are the
// documented shapes, by hand; ws the bytes the workspace is given (its size query) less
// env.cut; optional: bit i, pointer i may be NULL; gemm: takes a handle and a scale,
// env.hh and env.ss (the references get NULL and s).
struct Env {
    int T = 4, n = 3, m = 5, r = 2, E = 2, G = 2, K = 2;
    float s = .5f, ss = .5f;
    cublasHandle_t h = nullptr, hh = nullptr;
    size_t cut = 0;
    melora_dtype dt = MELORA_FP32; // of x, z, dz and dx (the table's lengths are in floats: room enough)
};
struct Entry {
    const char *name, *roles;
    std::vector<int> len;
    size_t ws;
    unsigned optional;
    bool gemm;
    std::function<melora_status(void **)> f;
};
static std::vector<Entry> entries(Env &e) {
    const int T = e.T, n = e.n, m = e.m, r = e.r;
    const melora_dims D = {T, n, m, r, e.dt};
    auto by = [&](melora_op op, int naive) {
        size_t b = 0;
        cr_assert_eq((naive ? melora_cuda_workspace_size_naive : melora_cuda_workspace_size)(&b, op, D), MELORA_OK);
        return b;
    };
    const size_t wlf = by(MELORA_OP_LORA_FORWARD, 0), wlb = by(MELORA_OP_LORA_BACKWARD, 0);
    const size_t wff = by(MELORA_OP_FLIPOUT_FORWARD, 0), wfb = by(MELORA_OP_FLIPOUT_BACKWARD, 0);
    const size_t wmf = by(MELORA_OP_MELORA_FORWARD, 0), wmb = by(MELORA_OP_MELORA_BACKWARD, 0);
    const size_t wlfn = by(MELORA_OP_LORA_FORWARD, 1), wlbn = by(MELORA_OP_LORA_BACKWARD, 1);
    const size_t wffn = by(MELORA_OP_FLIPOUT_FORWARD, 1), wfbn = by(MELORA_OP_FLIPOUT_BACKWARD, 1);
    const size_t wmfn = by(MELORA_OP_MELORA_FORWARD, 1), wmbn = by(MELORA_OP_MELORA_BACKWARD, 1);
    const size_t wmc = by(MELORA_OP_MELORA_MC_FORWARD, 0), wdiag = MELORA_CUDA_DIAG_KL_BYTES;
    const size_t wkl = cu_bytes(MELORA_OP_MELORA_KL, 1, n, 1, r), wkln = cu_bytes(MELORA_OP_MELORA_KL, 1, n, 1, r, 1);
    Env *v = &e;
#define F_(i) ((float *)p[i])
#define W_(i, b) wk(p[i], (b) - v->cut)
    return {
        {"lora_forward", "oowiii", {20, 8, 0, 12, 6, 10}, wlf, 0, true, [=](void **p) {
            const melora_lora_saved sv = {F_(3), F_(1)};
            const melora_lora_params lp = {F_(4), F_(5), v->ss};
            return melora_cuda_lora_forward(F_(0), &sv, W_(2, wlf), &lp, D, v->hh, 0); }},
        {"lora_forward_naive", "oowiii", {20, 8, 0, 12, 6, 10}, wlfn, 0, false, [=](void **p) {
            const melora_lora_saved sv = {F_(3), F_(1)};
            const melora_lora_params lp = {F_(4), F_(5), v->s};
            return melora_cuda_lora_forward_naive(F_(0), &sv, W_(2, wlfn), &lp, D, nullptr, 0); }},
        {"lora_backward", "ooowiiiii", {12, 6, 10, 0, 20, 8, 12, 6, 10}, wlb, 7, true, [=](void **p) {
            const melora_lora_grads g = {F_(1), F_(2)};
            const melora_lora_saved sv = {F_(6), F_(5)};
            const melora_lora_params lp = {F_(7), F_(8), v->ss};
            return melora_cuda_lora_backward(F_(0), &g, &sv, W_(3, wlb), F_(4), &lp, D, v->hh, 0); }},
        {"lora_backward_naive", "ooowiiiii", {12, 6, 10, 0, 20, 8, 12, 6, 10}, wlbn, 7, false, [=](void **p) {
            const melora_lora_grads g = {F_(1), F_(2)};
            const melora_lora_saved sv = {F_(6), F_(5)};
            const melora_lora_params lp = {F_(7), F_(8), v->s};
            return melora_cuda_lora_backward_naive(F_(0), &g, &sv, W_(3, wlbn), F_(4), &lp, D, nullptr, 0); }},
        {"blob_sample", "oiii", {6, 6, 6, 6}, 0, 0, false, [=](void **p) {
            const melora_blob_params bp = {F_(1), F_(2), nullptr, 0};
            return melora_cuda_blob_sample(F_(0), &bp, F_(3), r, n, 0); }},
        {"blob_forward", "ooowiiiii", {20, 8, 6, 0, 12, 6, 6, 6, 10}, wlf, 0, true, [=](void **p) {
            const melora_lora_saved sv = {F_(4), F_(1)};
            const melora_blob_params bp = {F_(5), F_(6), F_(8), v->ss};
            return melora_cuda_blob_forward(F_(0), &sv, F_(2), W_(3, wlf), &bp, F_(7), D, v->hh, 0); }},
        {"blob_backward", "oooowiiiiiii", {12, 6, 6, 10, 0, 20, 8, 12, 6, 6, 6, 10}, wlb, 15, true, [=](void **p) {
            const melora_blob_grads g = {F_(1), F_(2), F_(3)};
            const melora_lora_saved sv = {F_(7), F_(6)};
            const melora_blob_params bp = {nullptr, F_(9), F_(11), v->ss}; // MA is not read
            const melora_blob_draw dr = {F_(8), F_(10)};
            return melora_cuda_blob_backward(F_(0), &g, &sv, W_(4, wlb), F_(5), &bp, &dr, D, v->hh, 0); }},
        {"flipout_forward", "oowiiiiiii", {20, 8, 0, 12, 6, 6, 6, 6, 4, 10}, wff, 0, true, [=](void **p) {
            const melora_lora_saved sv = {F_(3), F_(1)};
            const melora_blob_params bp = {F_(4), F_(5), F_(9), v->ss};
            const melora_flipout_noise nz = {F_(6), F_(7), F_(8), v->G};
            return melora_cuda_blob_flipout_forward(F_(0), &sv, W_(2, wff), &bp, &nz, D, v->hh, 0); }},
        {"flipout_forward_naive", "oowiiiiiii", {20, 8, 0, 12, 6, 6, 6, 6, 4, 10}, wffn, 0, false, [=](void **p) {
            const melora_lora_saved sv = {F_(3), F_(1)};
            const melora_blob_params bp = {F_(4), F_(5), F_(9), v->s};
            const melora_flipout_noise nz = {F_(6), F_(7), F_(8), v->G};
            return melora_cuda_blob_flipout_forward_naive(F_(0), &sv, W_(2, wffn), &bp, &nz, D, nullptr, 0); }},
        {"flipout_backward", "oooowiiiiiiiii", {12, 6, 6, 10, 0, 20, 8, 12, 6, 6, 6, 6, 4, 10}, wfb, 15, true, [=](void **p) {
            const melora_blob_grads g = {F_(1), F_(2), F_(3)};
            const melora_lora_saved sv = {F_(7), F_(6)};
            const melora_blob_params bp = {F_(8), F_(9), F_(13), v->ss};
            const melora_flipout_noise nz = {F_(10), F_(11), F_(12), v->G};
            return melora_cuda_blob_flipout_backward(F_(0), &g, &sv, W_(4, wfb), F_(5), &bp, &nz, D, v->hh, 0); }},
        {"flipout_backward_naive", "oooowiiiiiiiii", {12, 6, 6, 10, 0, 20, 8, 12, 6, 6, 6, 6, 4, 10}, wfbn, 15, false, [=](void **p) {
            const melora_blob_grads g = {F_(1), F_(2), F_(3)};
            const melora_lora_saved sv = {F_(7), F_(6)};
            const melora_blob_params bp = {F_(8), F_(9), F_(13), v->s};
            const melora_flipout_noise nz = {F_(10), F_(11), F_(12), v->G};
            return melora_cuda_blob_flipout_backward_naive(F_(0), &g, &sv, W_(4, wfbn), F_(5), &bp, &nz, D, nullptr, 0); }},
        {"blob_kl", "ksoowii", {0, 0, 6, 6, 0, 6, 6}, wdiag, 12, false, [=](void **p) {
            const melora_blob_grads g = {F_(2), F_(3), nullptr};
            const melora_blob_params bp = {F_(5), F_(6), nullptr, 0};
            return melora_cuda_blob_kl((double *)p[0], (int *)p[1], &g, W_(4, wdiag), &bp, .2f, 1, r, n, 0); }},
        {"melora_sample", "oiii", {8, 4, 4, 8}, 0, 0, false, [=](void **p) {
            const melora_melora_params mp = {nullptr, nullptr, F_(1), F_(2), 0};
            return melora_cuda_melora_sample(F_(0), &mp, F_(3), v->E, r, 0); }},
        {"melora_forward", "ooowiiii", {20, 8, 8, 0, 12, 6, 8, 10}, wmf, 0, true, [=](void **p) {
            const melora_melora_saved sv = {F_(4), F_(1), F_(2)};
            const melora_melora_params mp = {F_(5), F_(7), nullptr, nullptr, v->ss};
            const melora_melora_draw dr = {F_(6), nullptr, v->E};
            return melora_cuda_melora_forward(F_(0), &sv, W_(3, wmf), &mp, &dr, D, v->hh, 0); }},
        {"melora_forward_naive", "ooowiiii", {20, 8, 8, 0, 12, 6, 8, 10}, wmfn, 0, false, [=](void **p) {
            const melora_melora_saved sv = {F_(4), F_(1), F_(2)};
            const melora_melora_params mp = {F_(5), F_(7), nullptr, nullptr, v->s};
            const melora_melora_draw dr = {F_(6), nullptr, v->E};
            return melora_cuda_melora_forward_naive(F_(0), &sv, W_(3, wmfn), &mp, &dr, D, nullptr, 0); }},
        {"melora_backward", "ooooowiiiiiiiii", {12, 6, 10, 4, 4, 0, 20, 8, 8, 12, 6, 8, 10, 4, 8}, wmb, 31, true, [=](void **p) {
            const melora_melora_grads g = {F_(1), F_(2), F_(3), F_(4)};
            const melora_melora_saved sv = {F_(9), F_(7), F_(8)};
            const melora_melora_params mp = {F_(10), F_(12), nullptr, F_(13), v->ss}; // M is not read
            const melora_melora_draw dr = {F_(11), F_(14), v->E};
            return melora_cuda_melora_backward(F_(0), &g, &sv, W_(5, wmb), F_(6), &mp, &dr, D, v->hh, 0); }},
        {"melora_backward_naive", "ooooowiiiiiiiii", {12, 6, 10, 4, 4, 0, 20, 8, 8, 12, 6, 8, 10, 4, 8}, wmbn, 31, false, [=](void **p) {
            const melora_melora_grads g = {F_(1), F_(2), F_(3), F_(4)};
            const melora_melora_saved sv = {F_(9), F_(7), F_(8)};
            const melora_melora_params mp = {F_(10), F_(12), nullptr, F_(13), v->s};
            const melora_melora_draw dr = {F_(11), F_(14), v->E};
            return melora_cuda_melora_backward_naive(F_(0), &g, &sv, W_(5, wmbn), F_(6), &mp, &dr, D, nullptr, 0); }},
        {"melora_mc_forward", "oowiiii", {40, 8, 0, 12, 6, 8, 10}, wmc, 0, true, [=](void **p) {
            const melora_lora_saved sv = {F_(3), F_(1)};
            const melora_melora_params mp = {F_(4), F_(6), nullptr, nullptr, v->ss};
            return melora_cuda_melora_mc_forward(F_(0), &sv, W_(2, wmc), &mp, F_(5), v->K, D, v->hh, 0); }},
        {"melora_kl", "ksooowiii", {0, 0, 6, 4, 4, 0, 6, 4, 4}, wkl, 28, false, [=](void **p) {
            const melora_melora_grads g = {F_(2), nullptr, F_(3), F_(4)};
            const melora_melora_params mp = {F_(6), nullptr, F_(7), F_(8), 0};
            return melora_cuda_melora_kl((double *)p[0], (int *)p[1], &g, W_(5, wkl), &mp, .2f, 1, r, n, 0); }},
        {"melora_kl_naive", "ksooowiii", {0, 0, 6, 4, 4, 0, 6, 4, 4}, wkln, 28, false, [=](void **p) {
            const melora_melora_grads g = {F_(2), nullptr, F_(3), F_(4)};
            const melora_melora_params mp = {F_(6), nullptr, F_(7), F_(8), 0};
            return melora_cuda_melora_kl_naive((double *)p[0], (int *)p[1], &g, W_(5, wkln), &mp, .2f, 1, r, n, 0); }},
        {"melora_kl_prior_noise", "ksooowiii", {0, 0, 6, 4, 4, 0, 6, 4, 4}, wkl, 28, false, [=](void **p) {
            const melora_melora_grads g = {F_(2), nullptr, F_(3), F_(4)};
            const melora_melora_params mp = {F_(6), nullptr, F_(7), F_(8), 0};
            return melora_cuda_melora_kl_prior_noise((double *)p[0], (int *)p[1], &g, W_(5, wkl), &mp, .2f, .1f, 1, r, n, 0); }},
        {"melora_kl_exact", "ksoowii", {0, 0, 4, 4, 0, 4, 4}, wdiag, 12, false, [=](void **p) {
            const melora_melora_grads g = {nullptr, nullptr, F_(2), F_(3)};
            const melora_melora_params mp = {nullptr, nullptr, F_(5), F_(6), 0};
            return melora_cuda_melora_kl_exact((double *)p[0], (int *)p[1], &g, W_(4, wdiag), &mp, .2f, 1, r, 0); }},
    };
#undef F_
#undef W_
}
// The index of an entry's workspace pointer, -1: none.
static int work_index(const Entry &c) {
    const char *w = strchr(c.roles, 'w');
    return w ? (int)(w - c.roles) : -1;
}

// Every pointer argument of every entry point, NULL in turn: MELORA_ERR_NULL where it is
// required, MELORA_OK where it is an optional gradient; then, with every pointer valid,
// the other host-side rejections reach every entry point: an error left pending (taken
// over as MELORA_ERR_CUDA), a misaligned workspace, a NULL handle, a non-finite scale.
Test(cuda, every_pointer_checked) {
    NEED_DEVICE();
    const int NP = 16;
    std::vector<dev *> bufs;
    void *base[NP];
    for (int i = 0; i < NP; i++) {
        vec v = rnd(4096, 100 + i, .5);
        for (auto &f : v) f = f < 0 ? f - .1f : f + .1f; // nonzero: standard deviations too
        bufs.push_back(new dev(v));
        base[i] = bufs.back()->p;
    }
    cublasHandle_t h = handle();
    Env env;
    env.h = env.hh = h; // hh: the handle the calls use (set to NULL for the handle check)
    const float s = env.s;
    std::vector<Entry> calls = entries(env);
    cr_assert_eq(calls.size(), 22u);
    for (auto &c : calls) {
        const int np = (int)strlen(c.roles);
        void *p[NP];
        for (int i = 0; i < NP; i++) p[i] = base[i];
        cr_assert(c.ws <= 4096 * sizeof(float), "%s: workspace of %zu bytes", c.name, c.ws);
        cr_assert_eq(c.f(p), MELORA_OK, "%s: all pointers valid", c.name);
        for (int i = 0; i < np; i++) {
            for (int j = 0; j < NP; j++) p[j] = base[j];
            p[i] = nullptr;
            melora_status st = c.f(p);
            cr_assert_eq(st, (c.optional >> i) & 1 ? MELORA_OK : MELORA_ERR_NULL, "%s: pointer %d NULL: %s", c.name, i, melora_status_string(st));
        }
        for (int j = 0; j < NP; j++) p[j] = base[j];
        int v = 0;
        cr_assert_neq(cudaDeviceGetAttribute(&v, (cudaDeviceAttr)100000, 0), cudaSuccess);
        cr_assert_eq(c.f(p), MELORA_ERR_CUDA, "%s: an error pending", c.name);
        cr_assert(strstr(melora_cuda_last_error(), "before this call") != nullptr, "%s: %s", c.name, melora_cuda_last_error());
        cr_assert_eq(c.f(p), MELORA_OK, "%s: the pending error was taken over", c.name);
        if (c.gemm) {
            env.hh = nullptr;
            cr_assert_eq(c.f(p), MELORA_ERR_NULL, "%s: NULL handle", c.name);
            env.hh = h;
            env.ss = NAN;
            cr_assert_eq(c.f(p), MELORA_ERR_VALUE, "%s: NaN scale", c.name);
            env.ss = s;
        }
    }
#ifdef CUDACPU
    // Failures past the argument checks, through the emulator, which rejects a host pointer
    // passed to a kernel or to cuBLAS (on a GPU that would be a fault): with each pointer
    // in turn a host buffer, the call fails at the launch or GEMM that first uses it, with
    // MELORA_ERR_CUDA or MELORA_ERR_CUBLAS and the failing call named (a workspace the op
    // does not use may be anywhere), and the handle's stream is still put back.
    setenv("CUDACPU_QUIET", "1", 1);
    std::vector<float> host(4096, .5f);
    cudaStream_t mine;
    cr_assert_eq(cudaStreamCreate(&mine), cudaSuccess);
    cr_assert_eq(cublasSetStream(h, mine), CUBLAS_STATUS_SUCCESS);
    for (size_t k = 0; k < calls.size(); k++)
        for (int i = 0; i < (int)strlen(calls[k].roles); i++) {
            const Entry &c = calls[k];
            void *p[NP];
            for (int j = 0; j < NP; j++) p[j] = base[j];
            p[i] = host.data();
            melora_status st = c.f(p);
            if (st == MELORA_OK && i == work_index(c)) continue;
            cr_assert(st == MELORA_ERR_CUDA || st == MELORA_ERR_CUBLAS, "%s: pointer %d on the host: %s", c.name, i, melora_status_string(st));
            cr_assert(melora_cuda_last_error()[0] != '\0', "%s: pointer %d: no call named", c.name, i);
            cudaStream_t got = nullptr;
            cr_assert_eq(cublasGetStream(h, &got), CUBLAS_STATUS_SUCCESS);
            cr_assert_eq(got, mine, "%s: pointer %d: the handle's stream", c.name, i);
        }
    cr_assert_eq(cublasSetStream(h, 0), CUBLAS_STATUS_SUCCESS);
    cudaStreamDestroy(mine);
#endif
    // a misaligned workspace, for each entry point that takes one
    int takes = 0;
    for (size_t k = 0; k < calls.size(); k++) {
        const int wi = work_index(calls[k]);
        if (wi < 0) continue;
        void *p[NP];
        for (int j = 0; j < NP; j++) p[j] = base[j];
        p[wi] = (char *)base[wi] + 4;
        cr_assert_eq(calls[k].f(p), MELORA_ERR_ALIGNMENT, "%s: misaligned workspace", calls[k].name);
        takes++;
    }
    cr_assert_eq(takes, 20);
    cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
    cublasDestroy(h);
    for (auto *b : bufs) delete b;
}

#ifdef CUDACPU
// The host-pointer failures of every_pointer_checked on the other paths: r = 26 is above
// MELORA__DZ_MAXR and MELORA__FUSE_MAXR (dv and dB by GEMMs, Me-LoRA's and the Monte-Carlo
// u by GEMMs, k_rowmix), r = 22 between them (the fused shrink, the dz pass by GEMMs).
// Each pointer on the host in turn: MELORA_ERR_CUDA or MELORA_ERR_CUBLAS, the failing
// call named, the handle's stream put back; with every pointer on the device, MELORA_OK.
Test(cuda, host_pointers_fail_on_every_path) {
    NEED_DEVICE();
    const int NP = 16, LEN = 8192; // floats per buffer: every shape's tensors and workspace
    setenv("CUDACPU_QUIET", "1", 1);
    std::vector<dev *> bufs;
    void *base[NP];
    for (int i = 0; i < NP; i++) {
        vec v = rnd(LEN, 200 + i, .5);
        for (auto &f : v) f = f < 0 ? f - .1f : f + .1f;
        bufs.push_back(new dev(v));
        base[i] = bufs.back()->p;
    }
    std::vector<float> host(LEN, .5f);
    cublasHandle_t h = handle();
    cudaStream_t mine;
    cr_assert_eq(cudaStreamCreate(&mine), cudaSuccess);
    cr_assert_eq(cublasSetStream(h, mine), CUBLAS_STATUS_SUCCESS);
    int failed = 0;
    for (int r : {22, 26}) {
        Env env;
        env.h = env.hh = h;
        env.r = r;
        std::vector<Entry> calls = entries(env);
        for (auto &c : calls) {
            cr_assert(c.ws <= LEN * sizeof(float), "%s r %d: workspace of %zu bytes", c.name, r, c.ws);
            void *p[NP];
            for (int j = 0; j < NP; j++) p[j] = base[j];
            cr_assert_eq(c.f(p), MELORA_OK, "%s r %d: all pointers on the device", c.name, r);
            for (int i = 0; i < (int)strlen(c.roles); i++) {
                for (int j = 0; j < NP; j++) p[j] = base[j];
                p[i] = host.data();
                melora_status st = c.f(p);
                if (st == MELORA_OK && i == work_index(c)) continue;
                cr_assert(st == MELORA_ERR_CUDA || st == MELORA_ERR_CUBLAS, "%s r %d: pointer %d on the host: %s", c.name, r, i, melora_status_string(st));
                cr_assert(melora_cuda_last_error()[0] != '\0', "%s r %d: pointer %d: no call named", c.name, r, i);
                cudaStream_t got = nullptr;
                cr_assert_eq(cublasGetStream(h, &got), CUBLAS_STATUS_SUCCESS);
                cr_assert_eq(got, mine, "%s r %d: pointer %d: the handle's stream", c.name, r, i);
                failed++;
            }
        }
    }
    cr_assert_gt(failed, 0);
    cr_assert_eq(cublasSetStream(h, 0), CUBLAS_STATUS_SUCCESS);
    cudaStreamDestroy(mine);
    cublasDestroy(h);
    for (auto *b : bufs) delete b;
}
#endif

// Overlapping buffers, for every entry point: each written buffer (output, workspace, the
// KLs' value and status) at the start of every other buffer of the call, its last element
// on the other's first and its first on the other's last give MELORA_ERR_ALIAS with the
// whole device arena unchanged; just before or just after the other (disjoint) it is
// accepted.
Test(cuda, every_entry_point_rejects_overlaps) {
    NEED_DEVICE();
    const int NP = 16;
    const size_t REGION = 32 * 1024; // per buffer; a buffer starts REGION/4 in
    cublasHandle_t h = handle();
    vec init(NP * REGION / sizeof(float));
    uint64_t seed = 5;
    for (auto &f : init) { // positive: standard deviations too
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        f = 0.5f + 0.4f * (float)((double)(seed >> 11) / 9007199254740992.0);
    }
    dev arena(init);
    vec snap = arena.get();
    unsigned char *base = (unsigned char *)arena.p;
    auto slot = [&](int i) { return base + (size_t)i * REGION + REGION / 4; };
    Env env;
    env.h = env.hh = h;
    std::vector<Entry> cases = entries(env);
    int rejected = 0, accepted = 0;
    auto unchanged = [&](const Entry &c, const char *how, int o, int j) {
        vec now = arena.get();
        cr_assert(memcmp(now.data(), snap.data(), now.size() * sizeof(float)) == 0,
                  "%s (%s, buffer %d with %d): device memory written", c.name, how, o, j);
    };
    for (auto &c : cases) {
        const int np = (int)strlen(c.roles);
        size_t bytes[NP];
        void *p[NP];
        cr_assert_eq((size_t)np, c.len.size(), "%s: table", c.name);
        for (int i = 0; i < np; i++) {
            char k = c.roles[i];
            bytes[i] = k == 'k' ? sizeof(double) : k == 's' ? sizeof(int) : k == 'w' ? c.ws : (size_t)c.len[i] * sizeof(float);
        }
        for (int i = 0; i < NP; i++) p[i] = slot(i);
        cr_assert(c.ws + 64 < REGION / 4, "%s: workspace of %zu bytes", c.name, c.ws);
        cr_assert_eq(c.f(p), MELORA_OK, "%s: disjoint call", c.name);
        cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
        snap = arena.get();
        for (int o = 0; o < np; o++) {
            if (c.roles[o] == 'i') continue;
            const size_t unit = c.roles[o] == 'o' || c.roles[o] == 's' ? 4 : 8; // keeps o aligned
            for (int j = 0; j < np; j++) {
                if (j == o) continue;
                unsigned char *pj = slot(j);
                unsigned char *at[3] = {pj, pj + unit - bytes[o], pj + ((bytes[j] - 1) & ~(unit - 1))};
                const char *how[3] = {"same start", "last element on the other's first", "first element on the other's last"};
                for (int v = 0; v < 3; v++) {
                    p[o] = at[v];
                    melora_status st = c.f(p);
                    cr_assert_eq(st, MELORA_ERR_ALIAS, "%s: buffer %d (%c) %s of buffer %d (%c): %s", c.name, o,
                                 c.roles[o], how[v], j, c.roles[j], melora_status_string(st));
                    rejected++;
                }
                cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
                unchanged(c, "overlaps", o, j);
                unsigned char *adj[2] = {pj - bytes[o], pj + ((bytes[j] + unit - 1) & ~(unit - 1))};
                for (int v = 0; v < 2; v++) {
                    p[o] = adj[v];
                    melora_status st = c.f(p);
                    cr_assert_eq(st, MELORA_OK, "%s: buffer %d adjacent %s buffer %d: %s", c.name, o, v ? "after" : "before", j,
                                 melora_status_string(st));
                    accepted++;
                }
                cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
                snap = arena.get();
                p[o] = slot(o);
            }
        }
    }
    cr_assert(rejected > 1000 && accepted > 700, "%d rejected, %d accepted", rejected, accepted);
    cublasDestroy(h);
}

// A workspace one byte short of its size query (and an empty one), for every entry point
// that takes one: MELORA_ERR_WORKSPACE with the whole device arena unchanged; the size
// the query says is enough (the calls before and after).
Test(cuda, short_workspace_writes_nothing) {
    NEED_DEVICE();
    const int NP = 16;
    const size_t REGION = 16 * 1024;
    cublasHandle_t h = handle();
    dev arena(rnd(NP * REGION / sizeof(float), 77, .5));
    {   // positive entries: standard deviations too
        vec v = arena.get();
        for (auto &f : v) f = f < 0 ? .1f - f : f + .1f;
        cr_assert_eq(cudaMemcpy(arena.p, v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
    }
    void *p[NP];
    for (int i = 0; i < NP; i++) p[i] = (unsigned char *)arena.p + (size_t)i * REGION;
    Env env;
    env.h = env.hh = h;
    int checked = 0;
    for (auto &c : entries(env)) {
        if (work_index(c) < 0) continue;
        cr_assert(c.ws > 0 && c.ws <= REGION, "%s: workspace of %zu bytes", c.name, c.ws);
        env.cut = 0;
        cr_assert_eq(c.f(p), MELORA_OK, "%s: the queried size", c.name);
        cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
        vec snap = arena.get();
        for (size_t cut : {(size_t)1, c.ws}) {
            env.cut = cut;
            melora_status st = c.f(p);
            cr_assert_eq(st, MELORA_ERR_WORKSPACE, "%s: %zu of %zu bytes: %s", c.name, c.ws - cut, c.ws, melora_status_string(st));
            cr_assert_str_eq(melora_cuda_last_error(), "");
            cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
            vec now = arena.get();
            cr_assert(memcmp(now.data(), snap.data(), now.size() * sizeof(float)) == 0, "%s: written with %zu bytes short", c.name, cut);
            checked++;
        }
        env.cut = 0;
        cr_assert_eq(c.f(p), MELORA_OK, "%s: the queried size, after", c.name);
    }
    cr_assert_eq(checked, 40);
    cublasDestroy(h);
}

// The struct pointers: each params, saved, draw and noise pointer NULL in turn gives
// MELORA_ERR_NULL and writes nothing; an absent grads struct is no gradient (MELORA_OK).
Test(cuda, struct_pointers_checked) {
    NEED_DEVICE();
    const int T = 4, n = 3, m = 5, r = 2, E = 2, K = 2;
    dev x(rnd(T * n, 1, 1)), A(rnd(r * n, 2, 1)), B(rnd(m * r, 3, 1)), z(rnd(T * m, 4, 1)), u(rnd(T * r, 5, 1));
    dev v(rnd(T * r, 6, 1)), H(rnd(r * r, 7, 1)), M(rnd(r * r, 8, 1)), g(rnd(r * n, 9, 1)), C(rnd(E * r * r, 10, 1));
    dev G(vec(r * n, .7f)), sa(signs(T * n, 11)), sb(signs(T * r, 12)), dz(rnd(T * m, 13, 1)), zk(rnd(K * T * m, 14, 1));
    dev out(vec(4096, 3.0f));
    dwork w(1 << 16);
    dkl kl;
    cublasHandle_t h = handle();
    const melora_dims D = dims(T, n, m, r);
    const melora_work W = w.w();
    const melora_lora_saved ls = {x.p, u.p};
    const melora_lora_params lp = {A.p, B.p, .5f};
    const melora_blob_params bp = {A.p, G.p, B.p, .5f};
    const melora_blob_draw bd = {A.p, g.p};
    const melora_flipout_noise nz = {g.p, sa.p, sb.p, 1};
    const melora_melora_saved ms = {x.p, u.p, v.p};
    const melora_melora_params mp = {A.p, B.p, M.p, H.p, .5f};
    const melora_melora_draw md = {C.p, C.p, E};
    const vec z0 = z.get(), u0 = u.get(), v0 = v.get(), o0 = out.get();
    struct { const char *what; std::function<melora_status()> f; } nulls[] = {
        {"lora_forward sv", [&] { return melora_cuda_lora_forward(z.p, nullptr, W, &lp, D, h, 0); }},
        {"lora_forward p", [&] { return melora_cuda_lora_forward(z.p, &ls, W, nullptr, D, h, 0); }},
        {"lora_forward_naive sv", [&] { return melora_cuda_lora_forward_naive(z.p, nullptr, W, &lp, D, nullptr, 0); }},
        {"lora_forward_naive p", [&] { return melora_cuda_lora_forward_naive(z.p, &ls, W, nullptr, D, nullptr, 0); }},
        {"lora_backward sv", [&] { return melora_cuda_lora_backward(out.p, nullptr, nullptr, W, dz.p, &lp, D, h, 0); }},
        {"lora_backward p", [&] { return melora_cuda_lora_backward(out.p, nullptr, &ls, W, dz.p, nullptr, D, h, 0); }},
        {"lora_backward_naive sv", [&] { return melora_cuda_lora_backward_naive(out.p, nullptr, nullptr, W, dz.p, &lp, D, nullptr, 0); }},
        {"lora_backward_naive p", [&] { return melora_cuda_lora_backward_naive(out.p, nullptr, &ls, W, dz.p, nullptr, D, nullptr, 0); }},
        {"blob_sample p", [&] { return melora_cuda_blob_sample(out.p, nullptr, g.p, r, n, 0); }},
        {"blob_forward sv", [&] { return melora_cuda_blob_forward(z.p, nullptr, out.p, W, &bp, g.p, D, h, 0); }},
        {"blob_forward p", [&] { return melora_cuda_blob_forward(z.p, &ls, out.p, W, nullptr, g.p, D, h, 0); }},
        {"blob_backward sv", [&] { return melora_cuda_blob_backward(out.p, nullptr, nullptr, W, dz.p, &bp, &bd, D, h, 0); }},
        {"blob_backward p", [&] { return melora_cuda_blob_backward(out.p, nullptr, &ls, W, dz.p, nullptr, &bd, D, h, 0); }},
        {"blob_backward dr", [&] { return melora_cuda_blob_backward(out.p, nullptr, &ls, W, dz.p, &bp, nullptr, D, h, 0); }},
        {"flipout_forward sv", [&] { return melora_cuda_blob_flipout_forward(z.p, nullptr, W, &bp, &nz, D, h, 0); }},
        {"flipout_forward p", [&] { return melora_cuda_blob_flipout_forward(z.p, &ls, W, nullptr, &nz, D, h, 0); }},
        {"flipout_forward nz", [&] { return melora_cuda_blob_flipout_forward(z.p, &ls, W, &bp, nullptr, D, h, 0); }},
        {"flipout_forward_naive nz", [&] { return melora_cuda_blob_flipout_forward_naive(z.p, &ls, W, &bp, nullptr, D, nullptr, 0); }},
        {"flipout_backward sv", [&] { return melora_cuda_blob_flipout_backward(out.p, nullptr, nullptr, W, dz.p, &bp, &nz, D, h, 0); }},
        {"flipout_backward p", [&] { return melora_cuda_blob_flipout_backward(out.p, nullptr, &ls, W, dz.p, nullptr, &nz, D, h, 0); }},
        {"flipout_backward nz", [&] { return melora_cuda_blob_flipout_backward(out.p, nullptr, &ls, W, dz.p, &bp, nullptr, D, h, 0); }},
        {"flipout_backward_naive nz", [&] { return melora_cuda_blob_flipout_backward_naive(out.p, nullptr, &ls, W, dz.p, &bp, nullptr, D, nullptr, 0); }},
        {"blob_kl p", [&] { return melora_cuda_blob_kl(kl.v, kl.st, nullptr, W, nullptr, .2f, 1, r, n, 0); }},
        {"melora_sample p", [&] { return melora_cuda_melora_sample(out.p, nullptr, C.p, E, r, 0); }},
        {"melora_forward sv", [&] { return melora_cuda_melora_forward(z.p, nullptr, W, &mp, &md, D, h, 0); }},
        {"melora_forward p", [&] { return melora_cuda_melora_forward(z.p, &ms, W, nullptr, &md, D, h, 0); }},
        {"melora_forward dr", [&] { return melora_cuda_melora_forward(z.p, &ms, W, &mp, nullptr, D, h, 0); }},
        {"melora_forward_naive dr", [&] { return melora_cuda_melora_forward_naive(z.p, &ms, W, &mp, nullptr, D, nullptr, 0); }},
        {"melora_backward sv", [&] { return melora_cuda_melora_backward(out.p, nullptr, nullptr, W, dz.p, &mp, &md, D, h, 0); }},
        {"melora_backward p", [&] { return melora_cuda_melora_backward(out.p, nullptr, &ms, W, dz.p, nullptr, &md, D, h, 0); }},
        {"melora_backward dr", [&] { return melora_cuda_melora_backward(out.p, nullptr, &ms, W, dz.p, &mp, nullptr, D, h, 0); }},
        {"melora_backward_naive dr", [&] { return melora_cuda_melora_backward_naive(out.p, nullptr, &ms, W, dz.p, &mp, nullptr, D, nullptr, 0); }},
        {"melora_mc_forward sv", [&] { return melora_cuda_melora_mc_forward(zk.p, nullptr, W, &mp, C.p, K, D, h, 0); }},
        {"melora_mc_forward p", [&] { return melora_cuda_melora_mc_forward(zk.p, &ls, W, nullptr, C.p, K, D, h, 0); }},
        {"melora_kl p", [&] { return melora_cuda_melora_kl(kl.v, kl.st, nullptr, W, nullptr, .2f, 1, r, n, 0); }},
        {"melora_kl_naive p", [&] { return melora_cuda_melora_kl_naive(kl.v, kl.st, nullptr, W, nullptr, .2f, 1, r, n, 0); }},
        {"melora_kl_prior_noise p", [&] { return melora_cuda_melora_kl_prior_noise(kl.v, kl.st, nullptr, W, nullptr, .2f, .1f, 1, r, n, 0); }},
        {"melora_kl_exact p", [&] { return melora_cuda_melora_kl_exact(kl.v, kl.st, nullptr, W, nullptr, .2f, 1, r, 0); }},
    };
    for (auto &c : nulls) cr_assert_eq(c.f(), MELORA_ERR_NULL, "%s NULL", c.what);
    cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
    close("z untouched", z.get(), z0, 0, 0);
    close("u untouched", u.get(), u0, 0, 0);
    close("v untouched", v.get(), v0, 0, 0);
    close("out untouched", out.get(), o0, 0, 0);
    cr_assert_eq(kl.status(), 0x7f7f7f7f);
    // no grads struct: dx alone for the backwards; the value alone for the KLs
    cr_assert_eq(melora_cuda_blob_flipout_backward(out.p, nullptr, &ls, W, dz.p, &bp, &nz, D, h, 0), MELORA_OK);
    cr_assert_eq(melora_cuda_blob_kl(kl.v, kl.st, nullptr, W, &bp, .2f, 1, r, n, 0), MELORA_OK);
    cr_assert_eq(kl.status(), MELORA_OK);
    cr_assert_eq(melora_cuda_melora_kl(kl.v, kl.st, nullptr, W, &mp, .2f, 1, r, n, 0), MELORA_OK);
    cr_assert_eq(kl.status(), MELORA_OK);
    cr_assert_eq(melora_cuda_melora_kl_exact(kl.v, kl.st, nullptr, W, &mp, .2f, 1, r, 0), MELORA_OK);
    cr_assert_eq(kl.status(), MELORA_OK);
    cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
    cublasDestroy(h);
}

// The per-method noise of a draw: equal to melora.h's (melora_blob_noise,
// melora_blob_flipout_noise, melora_melora_noise) and to melora_rng_normal / _sign at the
// offsets melora_draw_offset gives (sb right after sa's ceil(T/G) n signs); bad arguments
// rejected with nothing written.
static void same_numbers(const char *what, const vec &got, const vec &want, int normal) {
#ifdef CUDACPU
    (void)normal;
    cr_assert(memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0, "%s", what);
#else
    close(what, got, want, normal ? 2e-6 : 0.0, normal ? 2e-6 : 0.0);
#endif
}
Test(cuda, draw_noise_equals_host) {
    NEED_DEVICE();
    const uint64_t seed = 99;
    const int T = 7, n = 5, m = 3, r = 4, E = 3, G = 3, ng = (T + G - 1) / G;
    const melora_dims D = dims(T, n, m, r);
    for (uint64_t draw : {0ull, 1ull, 7ull, (1ull << 24) - 1}) {
        uint64_t off = 0;
        cr_assert_eq(melora_draw_offset(&off, draw), MELORA_OK);
        dev EA(vec(r * n, 0)), sa(vec(ng * n, 0)), sb(vec(ng * r, 0)), EC(vec(E * r * r, 0));
        vec hEA(r * n), hsa(ng * n), hsb(ng * r), hEC(E * r * r);
        vec lEA(r * n), lsa(ng * n), lsb(ng * r), lEC(E * r * r);
        for (int i = 0; i < r * n; i++) lEA[i] = melora_rng_normal(seed, off + i);
        for (int i = 0; i < ng * n; i++) lsa[i] = melora_rng_sign(seed, off + i);
        for (int i = 0; i < ng * r; i++) lsb[i] = melora_rng_sign(seed, off + (uint64_t)ng * n + i);
        for (int i = 0; i < E * r * r; i++) lEC[i] = melora_rng_normal(seed, off + i);
        cr_assert_eq(melora_cuda_blob_noise(EA.p, seed, draw, r, n, 0), MELORA_OK);
        cr_assert_eq(melora_blob_noise(hEA.data(), seed, draw, r, n), MELORA_OK);
        same_numbers("blob EA vs host", EA.get(), hEA, 1);
        same_numbers("blob EA vs melora_rng", EA.get(), lEA, 1);
        cr_assert_eq(melora_cuda_blob_flipout_noise(EA.p, sa.p, sb.p, seed, draw, G, D, 0), MELORA_OK);
        cr_assert_eq(melora_blob_flipout_noise(hEA.data(), hsa.data(), hsb.data(), seed, draw, G, D), MELORA_OK);
        same_numbers("flipout EA vs host", EA.get(), hEA, 1);
        same_numbers("flipout sa vs host", sa.get(), hsa, 0);
        same_numbers("flipout sb vs host", sb.get(), hsb, 0);
        same_numbers("flipout EA vs melora_rng", EA.get(), lEA, 1);
        same_numbers("flipout sa vs melora_rng", sa.get(), lsa, 0);
        same_numbers("flipout sb vs melora_rng", sb.get(), lsb, 0);
        cr_assert_eq(melora_cuda_melora_noise(EC.p, seed, draw, E, r, 0), MELORA_OK);
        cr_assert_eq(melora_melora_noise(hEC.data(), seed, draw, E, r), MELORA_OK);
        same_numbers("melora EC vs host", EC.get(), hEC, 1);
        same_numbers("melora EC vs melora_rng", EC.get(), lEC, 1);
    }
    // rejected, nothing written: a draw past 2^24, NULL, sizes, a tensor past its draw's
    // window (2^21 x 2^21 = 2^42 numbers), overlapping Flipout tensors
    dev buf(vec(64, 5.0f));
    const vec b0 = buf.get();
    float *o = buf.p;
    cr_assert_eq(melora_cuda_blob_noise(o, seed, 1ull << 24, r, n, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_melora_noise(o, seed, 1ull << 24, E, r, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_blob_flipout_noise(o, o + 20, o + 40, seed, 1ull << 24, G, D, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_blob_noise(nullptr, seed, 0, r, n, 0), MELORA_ERR_NULL);
    cr_assert_eq(melora_cuda_melora_noise(nullptr, seed, 0, E, r, 0), MELORA_ERR_NULL);
    cr_assert_eq(melora_cuda_blob_flipout_noise(o, nullptr, o + 40, seed, 0, G, D, 0), MELORA_ERR_NULL);
    cr_assert_eq(melora_cuda_blob_noise(o, seed, 0, 0, n, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_melora_noise(o, seed, 0, 0, r, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_blob_flipout_noise(o, o + 20, o + 40, seed, 0, 0, D, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_blob_flipout_noise(o, o + 20, o + 40, seed, 0, G, dims(T, n, 0, r), 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_blob_noise(o, seed, 0, 1 << 21, 1 << 21, 0), MELORA_ERR_OVERFLOW);
    cr_assert_eq(melora_cuda_melora_noise(o, seed, 0, 1 << 20, 1 << 11, 0), MELORA_ERR_OVERFLOW);
    cr_assert_eq(melora_cuda_blob_flipout_noise(o, o + 20, o + 40, seed, 0, 1, dims(1 << 21, 1 << 21, 1, 1), 0), MELORA_ERR_OVERFLOW);
    cr_assert_eq(melora_cuda_blob_flipout_noise(o, o + 10, o + 40, seed, 0, G, D, 0), MELORA_ERR_ALIAS);
    cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
    close("nothing written", buf.get(), b0, 0, 0);
}

// ------------------------------------------------------------- bf16 and fp16 activations --
// x, z, dz, dx in half precision, everything else float32. The reference is melora.h's
// naive path in the same dtype (double sums on widened copies, z or dx rounded once);
// BLoB's is LoRA's with A = As (its gradients of MA and GA by the chain rule here), the
// Monte-Carlo forward's one Me-LoRA forward per sample. Both sides round
// float(z_old) + delta once, with deltas that differ by float32 accumulation error, so a
// half result may land on the neighbouring half value: the bound is one half ulp at the
// larger of the two plus the float32 tolerance (atol 2e-5, rtol 2e-4), and at most one
// element in 32 (+1) not bit for bit the reference's; the float32 outputs (u, v, the
// gradients) get the float32 tolerance alone.
typedef std::vector<uint16_t> hvec;
static hvec halves(const vec &v, melora_dtype dt) {
    hvec h(v.size());
    cr_assert_eq(melora_convert(h.data(), dt, v.data(), MELORA_FP32, (int64_t)v.size()), MELORA_OK);
    return h;
}
static vec widened(const hvec &h, melora_dtype dt) {
    vec v(h.size());
    cr_assert_eq(melora_convert(v.data(), MELORA_FP32, h.data(), dt, (int64_t)h.size()), MELORA_OK);
    return v;
}
// Device halves `off` elements past a 256-byte aligned allocation (off % 8 != 0: not
// 16-byte aligned, the conversions' scalar path).
struct hdev {
    uint16_t *base = nullptr, *p = nullptr;
    size_t n = 0;
    hdev(const hvec &h, int off) : n(h.size()) {
        cr_assert_eq(cudaMalloc((void **)&base, (n + (size_t)off + 1) * 2), cudaSuccess);
        p = base + off;
        cr_assert_eq(cudaMemcpy(p, h.data(), n * 2, cudaMemcpyHostToDevice), cudaSuccess);
    }
    hdev(const hdev &) = delete;
    hdev &operator=(const hdev &) = delete;
    ~hdev() { cudaFree(base); }
    hvec get() const {
        hvec h(n);
        cr_assert_eq(cudaMemcpy(h.data(), p, n * 2, cudaMemcpyDeviceToHost), cudaSuccess);
        return h;
    }
};
// One unit in the last place of a half value of magnitude v (bf16: 8 significant bits,
// fp16: 11, subnormal below 2^-14).
static double hulp(double v, melora_dtype dt) {
    int e;
    if (v == 0.0) return dt == MELORA_FP16 ? ldexp(1.0, -24) : ldexp(1.0, -133);
    frexp(fabs(v), &e); // |v| in [2^(e-1), 2^e)
    if (dt == MELORA_FP16 && e - 1 < -14) e = -13;
    return ldexp(1.0, e - (dt == MELORA_FP16 ? 11 : 8));
}
static void near_half(const char *what, const hvec &got, const hvec &want, melora_dtype dt,
                      const char *ctx) {
    vec g = widened(got, dt), w = widened(want, dt);
    cr_assert_eq(g.size(), w.size());
    // a neighbour needs the exact sum within float32 error of a rounding midpoint: ~1e-6 /
    // 2^-11 of the elements at most, so a few in a hundred flag a systematic error (a
    // wrong rounding, a missed one) that the one-ulp bound alone would let through
    size_t differ = 0;
    for (size_t i = 0; i < g.size(); i++) differ += got[i] != want[i];
    cr_assert(differ <= g.size() / 32 + 1, "%s: %zu of %zu differ (%s)", what, differ, g.size(), ctx);
    for (size_t i = 0; i < g.size(); i++) {
        double a = fabs((double)g[i]), b = fabs((double)w[i]);
        double tol = hulp(a > b ? a : b, dt) + 2e-5 + 2e-4 * b;
        cr_assert(fabs((double)g[i] - (double)w[i]) <= tol, "%s[%zu]: %.9g vs %.9g (%s)", what, i,
                  g[i], w[i], ctx);
    }
}
static const char *dtname(melora_dtype dt) { return dt == MELORA_BF16 ? "bf16" : "fp16"; }

static void half_check(int method, const shape &S0, melora_dtype dt, int naive, int off) {
    shape S = S0;
    if (method != MELORA) S.E = 1;
    if (method != FLIP) S.G = 1;
    int T = S.T, n = S.n, m = S.m, r = S.r, E = S.E, G = S.G, ng = (T + G - 1) / G;
    const float s = 1.25f;
    uint64_t sd = 100 + 10 * (uint64_t)method + (uint64_t)T;
    vec A = rnd((size_t)r * n, sd + 2, .5), B = rnd((size_t)m * r, sd + 3, .5);
    vec GA = rnd((size_t)r * n, sd + 4, .6), EA = rnd((size_t)r * n, sd + 5, 1.5);
    vec M = rnd((size_t)r * r, sd + 6, .8), H = rnd((size_t)r * r, sd + 7, .6), EC = rnd((size_t)E * r * r, sd + 8, 1.5);
    vec sa = signs((size_t)ng * n, sd + 9), sb = signs((size_t)ng * r, sd + 10);
    vec gA0 = rnd((size_t)r * n, sd + 14, 1), gG0 = rnd((size_t)r * n, sd + 15, 1);
    vec gB0 = rnd((size_t)m * r, sd + 16, 1), gM0 = rnd((size_t)r * r, sd + 17, 1), gH0 = rnd((size_t)r * r, sd + 18, 1);
    const hvec x = halves(rnd((size_t)T * n, sd + 1, 1), dt), dz = halves(rnd((size_t)T * m, sd + 11, 1), dt);
    const hvec z0 = halves(rnd((size_t)T * m, sd + 12, 1), dt), gx0 = halves(rnd((size_t)T * n, sd + 13, 1), dt);
    melora_dims D = dims(T, n, m, r);
    D.dtype = dt;
    char ctx[128];
    snprintf(ctx, sizeof ctx, "%s method %d T %d n %d m %d r %d E %d G %d naive %d off %d", dtname(dt),
             method, T, n, m, r, E, G, naive, off);

    // the host reference
    hvec hz = z0, hgx = gx0;
    vec hu((size_t)T * r, 0), hv((size_t)T * r, 0), hAs((size_t)r * n), hC((size_t)E * r * r);
    vec hgA = gA0, hgG = gG0, hgB = gB0, hgM = gM0, hgH = gH0;
    const melora_lora_saved hs = {x.data(), hu.data()};
    switch (method) {
    case LORA: {
        const melora_lora_params p = {A.data(), B.data(), s};
        const melora_lora_grads g = {hgA.data(), hgB.data()};
        cr_assert_eq(melora_lora_forward_naive(hz.data(), &hs, &p, D), 0, "%s", ctx);
        cr_assert_eq(melora_lora_backward_naive(hgx.data(), &g, &hs, dz.data(), &p, D), 0, "%s", ctx);
        break;
    }
    case BLOB: {
        const melora_blob_params bp = {A.data(), GA.data(), B.data(), s};
        cr_assert_eq(melora_blob_sample(hAs.data(), &bp, EA.data(), r, n), 0);
        const melora_lora_params p = {hAs.data(), B.data(), s};
        vec dAs((size_t)r * n, 0);
        const melora_lora_grads g = {dAs.data(), hgB.data()};
        cr_assert_eq(melora_lora_forward_naive(hz.data(), &hs, &p, D), 0, "%s", ctx);
        cr_assert_eq(melora_lora_backward_naive(hgx.data(), &g, &hs, dz.data(), &p, D), 0, "%s", ctx);
        for (size_t i = 0; i < dAs.size(); i++) { // As = MA + GA^2 EA
            hgA[i] += dAs[i];
            hgG[i] += (float)((double)dAs[i] * EA[i] * 2.0 * GA[i]);
        }
        break;
    }
    case FLIP: {
        const melora_blob_params bp = {A.data(), GA.data(), B.data(), s};
        const melora_blob_grads g = {hgA.data(), hgG.data(), hgB.data()};
        const melora_flipout_noise nz = {EA.data(), sa.data(), sb.data(), G};
        cr_assert_eq(melora_blob_flipout_forward_naive(hz.data(), &hs, &bp, &nz, D), 0, "%s", ctx);
        cr_assert_eq(melora_blob_flipout_backward_naive(hgx.data(), &g, &hs, dz.data(), &bp, &nz, D), 0, "%s", ctx);
        break;
    }
    case MELORA: {
        const melora_melora_params mp = {A.data(), B.data(), M.data(), H.data(), s};
        cr_assert_eq(melora_melora_sample(hC.data(), &mp, EC.data(), E, r), 0);
        const melora_melora_saved ms = {x.data(), hu.data(), hv.data()};
        const melora_melora_draw md = {hC.data(), EC.data(), E};
        const melora_melora_grads g = {hgA.data(), hgB.data(), hgM.data(), hgH.data()};
        cr_assert_eq(melora_melora_forward_naive(hz.data(), &ms, &mp, &md, D), 0, "%s", ctx);
        cr_assert_eq(melora_melora_backward_naive(hgx.data(), &g, &ms, dz.data(), &mp, &md, D), 0, "%s", ctx);
        break;
    }
    }

    // the device
    hdev dx_(x, off), dz_(z0, off), ddz(dz, off), gx_(gx0, off);
    dev dA_(A), dB_(B), dGA(GA), dEA(EA), dM_(M), dH_(H), dEC(EC), dsa(sa), dsb(sb), dC(hC);
    dev du(vec((size_t)T * r, 0)), dv(vec((size_t)T * r, 0)), dAs(vec((size_t)r * n, 0));
    dev gA_(gA0), gG_(gG0), gB_(gB0), gM_(gM0), gH_(gH0);
    melora_op of = method == FLIP ? MELORA_OP_FLIPOUT_FORWARD : method == MELORA ? MELORA_OP_MELORA_FORWARD : MELORA_OP_LORA_FORWARD;
    melora_op ob = method == FLIP ? MELORA_OP_FLIPOUT_BACKWARD : method == MELORA ? MELORA_OP_MELORA_BACKWARD : MELORA_OP_LORA_BACKWARD;
    auto qs = naive ? melora_cuda_workspace_size_naive : melora_cuda_workspace_size;
    size_t bf = 0, bb = 0, bf32 = 0;
    cr_assert_eq(qs(&bf, of, D), 0);
    cr_assert_eq(qs(&bb, ob, D), 0);
    cr_assert_eq(qs(&bf32, ob, dims(T, n, m, r)), 0);
    cr_assert(bb > bf32, "the half copies are in the workspace (%s)", ctx);
    dwork w(std::max(bf, bb));
    const melora_work W = w.w();
    cublasHandle_t h = handle();
    const melora_lora_saved sv = {dx_.p, du.p};
    switch (method) {
    case LORA: {
        const melora_lora_params pa = {dA_.p, dB_.p, s};
        const melora_lora_grads g = {gA_.p, gB_.p};
        cr_assert_eq((naive ? melora_cuda_lora_forward_naive : melora_cuda_lora_forward)(dz_.p, &sv, W, &pa, D, h, 0), 0, "%s", ctx);
        cr_assert_eq((naive ? melora_cuda_lora_backward_naive : melora_cuda_lora_backward)(gx_.p, &g, &sv, W, ddz.p, &pa, D, h, 0), 0, "%s", ctx);
        break;
    }
    case BLOB: {
        const melora_blob_params bp = {dA_.p, dGA.p, dB_.p, s};
        const melora_blob_grads g = {gA_.p, gG_.p, gB_.p};
        const melora_blob_draw dr = {dAs.p, dEA.p};
        cr_assert_eq(melora_cuda_blob_forward(dz_.p, &sv, dAs.p, W, &bp, dEA.p, D, h, 0), 0, "%s", ctx);
        cr_assert_eq(melora_cuda_blob_backward(gx_.p, &g, &sv, W, ddz.p, &bp, &dr, D, h, 0), 0, "%s", ctx);
        close("As", dAs.get(), hAs, 0, 0);
        break;
    }
    case FLIP: {
        const melora_blob_params bp = {dA_.p, dGA.p, dB_.p, s};
        const melora_blob_grads g = {gA_.p, gG_.p, gB_.p};
        const melora_flipout_noise nz = {dEA.p, dsa.p, dsb.p, G};
        cr_assert_eq((naive ? melora_cuda_blob_flipout_forward_naive : melora_cuda_blob_flipout_forward)(dz_.p, &sv, W, &bp, &nz, D, h, 0), 0, "%s", ctx);
        cr_assert_eq((naive ? melora_cuda_blob_flipout_backward_naive : melora_cuda_blob_flipout_backward)(gx_.p, &g, &sv, W, ddz.p, &bp, &nz, D, h, 0), 0, "%s", ctx);
        break;
    }
    case MELORA: {
        const melora_melora_params mp = {dA_.p, dB_.p, dM_.p, dH_.p, s};
        const melora_melora_saved ms = {dx_.p, du.p, dv.p};
        const melora_melora_draw md = {dC.p, dEC.p, E};
        const melora_melora_grads g = {gA_.p, gB_.p, gM_.p, gH_.p};
        cr_assert_eq((naive ? melora_cuda_melora_forward_naive : melora_cuda_melora_forward)(dz_.p, &ms, W, &mp, &md, D, h, 0), 0, "%s", ctx);
        cr_assert_eq((naive ? melora_cuda_melora_backward_naive : melora_cuda_melora_backward)(gx_.p, &g, &ms, W, ddz.p, &mp, &md, D, h, 0), 0, "%s", ctx);
        close("v", dv.get(), hv);
        close("dM", gM_.get(), hgM);
        close("dH", gH_.get(), hgH);
        break;
    }
    }
    cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
    near_half("z", dz_.get(), hz, dt, ctx);
    near_half("dx", gx_.get(), hgx, dt, ctx);
    cr_assert(dx_.get() == x && ddz.get() == dz, "x and dz are read only (%s)", ctx);
    close("u", du.get(), hu);
    close("dA", gA_.get(), hgA);
    close("dB", gB_.get(), hgB);
    if (method == BLOB || method == FLIP) close("dGA", gG_.get(), hgG);
    cublasDestroy(h);
}
// odd sizes (scalar conversions), n and m multiples of 8 (128-bit ones), r past
// MELORA__DZ_MAXR (the dz products by GEMMs) and past MELORA__FUSE_MAXR
static const shape HSHAPES[] = {{5, 7, 6, 3, 1, 1},   {17, 33, 19, 1, 17, 2}, {24, 21, 18, 8, 4, 7},
                                {16, 40, 24, 5, 4, 3}, {9, 48, 40, 22, 3, 2}, {6, 40, 32, 30, 2, 3}};
static void half_method(int method) {
    const melora_dtype dts[] = {MELORA_BF16, MELORA_FP16};
    for (melora_dtype dt : dts)
        for (int naive = 0; naive < (method == BLOB ? 1 : 2); naive++)
            for (size_t i = 0; i < sizeof HSHAPES / sizeof HSHAPES[0]; i++)
                half_check(method, HSHAPES[i], dt, naive, (int)(i % 3 == 1)); // some 2-byte aligned only
}
Test(cuda_half, lora_matches_cpu) { NEED_DEVICE(); half_method(LORA); }
Test(cuda_half, blob_matches_cpu) { NEED_DEVICE(); half_method(BLOB); }
Test(cuda_half, flipout_matches_cpu) { NEED_DEVICE(); half_method(FLIP); }
Test(cuda_half, melora_matches_cpu) { NEED_DEVICE(); half_method(MELORA); }

// The Monte-Carlo forward in half: z_k against one Me-LoRA forward per sample (C = C_k).
static void half_mc(int T, int n, int m, int r, int K, melora_dtype dt, int off) {
    vec A = rnd((size_t)r * n, 2, 1), B = rnd((size_t)m * r, 3, 1), C = rnd((size_t)K * r * r, 4, .5);
    const hvec x = halves(rnd((size_t)T * n, 1, 1), dt), z0 = halves(rnd((size_t)K * T * m, 5, 1), dt);
    melora_dims D = dims(T, n, m, r);
    D.dtype = dt;
    char ctx[96];
    snprintf(ctx, sizeof ctx, "mc %s T %d n %d m %d r %d K %d off %d", dtname(dt), T, n, m, r, K, off);
    hvec hz = z0;
    vec hu((size_t)T * r), hv((size_t)T * r);
    const melora_melora_params hp = {A.data(), B.data(), nullptr, nullptr, .5f};
    const melora_melora_saved hs = {x.data(), hu.data(), hv.data()};
    for (int k = 0; k < K; k++) {
        const melora_melora_draw md = {C.data() + (size_t)k * r * r, nullptr, 1};
        cr_assert_eq(melora_melora_forward_naive(hz.data() + (size_t)k * T * m, &hs, &hp, &md, D), 0, "%s", ctx);
    }
    hdev dx(x, off), dz(z0, off);
    dev dA(A), dB(B), dC(C), du(vec((size_t)T * r, 0));
    size_t b = 0;
    cr_assert_eq(melora_cuda_workspace_size(&b, MELORA_OP_MELORA_MC_FORWARD, D), 0);
    dwork w(b);
    cublasHandle_t h = handle();
    const melora_lora_saved ds = {dx.p, du.p};
    const melora_melora_params dp = {dA.p, dB.p, nullptr, nullptr, .5f};
    cr_assert_eq(melora_cuda_melora_mc_forward(dz.p, &ds, w.w(), &dp, dC.p, K, D, h, 0), 0, "%s", ctx);
    near_half("mc z", dz.get(), hz, dt, ctx);
    close("mc u", du.get(), hu);
    cublasDestroy(h);
}
Test(cuda_half, mc_forward_matches_cpu) {
    NEED_DEVICE();
    const melora_dtype dts[] = {MELORA_BF16, MELORA_FP16};
    for (melora_dtype dt : dts) {
        half_mc(13, 21, 17, 5, 3, dt, 0);
        half_mc(12, 16, 24, 30, 2, dt, 0); // r > MELORA__FUSE_MAXR: u by cuBLAS
        half_mc(9, 24, 40, 4, 3, dt, 1);   // 2-byte aligned only: scalar conversions
    }
}

// A bad dtype is MELORA_ERR_ENUM, a half activation at an odd address MELORA_ERR_ALIGNMENT
// (an fp32 one not 4-byte aligned too), on every pass, with nothing written.
Test(cuda_half, bad_dtype_and_alignment) {
    NEED_DEVICE();
    const int T = 6, n = 9, m = 7, r = 3, E = 2, G = 2;
    dev A(rnd(r * n, 1, 1)), B(rnd(m * r, 2, 1)), M(rnd(r * r, 3, 1)), H(rnd(r * r, 4, 1)), EC(rnd(E * r * r, 5, 1));
    dev C(rnd(E * r * r, 6, 1)), EA(rnd(r * n, 7, 1)), sa(signs(3 * n, 8)), sb(signs(3 * r, 9)), As(rnd(r * n, 10, 1));
    dev u(rnd(T * r, 11, 1)), v(rnd(T * r, 12, 1)), gA(rnd(r * n, 13, 1)), gB(rnd(m * r, 14, 1));
    // the activations: room for T*m*E floats, 1 byte in for the misaligned cases
    dev x(rnd(T * n + 4, 15, 1)), z(rnd(E * T * m + 4, 16, 1)), dz(rnd(T * m + 4, 17, 1)), dx(rnd(T * n + 4, 18, 1));
    const vec keep[] = {u.get(), v.get(), gA.get(), gB.get(), As.get(), z.get(), dx.get()};
    dwork w(1 << 20);
    cublasHandle_t h = handle();
    auto odd = [](float *p) { return (void *)((char *)p + 1); };
    const melora_lora_params lp = {A.p, B.p, .5f};
    const melora_blob_params bp = {A.p, EA.p, B.p, .5f};
    const melora_melora_params mp = {A.p, B.p, M.p, H.p, .5f};
    const melora_lora_grads lg = {gA.p, gB.p};
    const melora_blob_grads bg = {gA.p, nullptr, gB.p};
    const melora_melora_grads mg = {gA.p, gB.p, nullptr, nullptr};
    const melora_blob_draw bd = {As.p, EA.p};
    const melora_melora_draw md = {C.p, EC.p, E};
    const melora_flipout_noise nz = {EA.p, sa.p, sb.p, G};
    const int bad_vals[] = {3, 7, -1};
    struct { melora_dtype dt; int misalign; } cases[] = {{MELORA_FP32, 0}, {MELORA_BF16, 1}, {MELORA_FP16, 1}, {MELORA_FP32, 1}};
    for (int bv : bad_vals)
        for (auto cs : cases) {
            melora_dims D = dims(T, n, m, r);
            const int enum_case = cs.dt == MELORA_FP32 && !cs.misalign;
            if (enum_case) memcpy(&D.dtype, &bv, sizeof bv); // as a C caller may store it
            else D.dtype = cs.dt;
            const melora_status want = enum_case ? MELORA_ERR_ENUM : MELORA_ERR_ALIGNMENT;
            for (int which = 0; which < 4; which++) { // which activation is misaligned
                if (enum_case && which) break;
                void *px = cs.misalign && which == 0 ? odd(x.p) : x.p;
                void *pz = cs.misalign && which == 1 ? odd(z.p) : z.p;
                void *pdz = cs.misalign && which == 2 ? odd(dz.p) : dz.p;
                void *pdx = cs.misalign && which == 3 ? odd(dx.p) : dx.p;
                const melora_lora_saved ls = {px, u.p};
                const melora_melora_saved ms = {px, u.p, v.p};
                const char *ctx = enum_case ? "bad dtype" : "misaligned";
                if (which <= 1) { // the forwards read x and write z
                    cr_assert_eq(melora_cuda_lora_forward(pz, &ls, w.w(), &lp, D, h, 0), want, "%s %d", ctx, which);
                    cr_assert_eq(melora_cuda_lora_forward_naive(pz, &ls, w.w(), &lp, D, h, 0), want, "%s %d", ctx, which);
                    cr_assert_eq(melora_cuda_blob_forward(pz, &ls, As.p, w.w(), &bp, EA.p, D, h, 0), want, "%s %d", ctx, which);
                    cr_assert_eq(melora_cuda_blob_flipout_forward(pz, &ls, w.w(), &bp, &nz, D, h, 0), want, "%s %d", ctx, which);
                    cr_assert_eq(melora_cuda_blob_flipout_forward_naive(pz, &ls, w.w(), &bp, &nz, D, h, 0), want, "%s %d", ctx, which);
                    cr_assert_eq(melora_cuda_melora_forward(pz, &ms, w.w(), &mp, &md, D, h, 0), want, "%s %d", ctx, which);
                    cr_assert_eq(melora_cuda_melora_forward_naive(pz, &ms, w.w(), &mp, &md, D, h, 0), want, "%s %d", ctx, which);
                    cr_assert_eq(melora_cuda_melora_mc_forward(pz, &ls, w.w(), &mp, C.p, E, D, h, 0), want, "%s %d", ctx, which);
                }
                if (which != 1) { // the backwards read x and dz, write dx
                    cr_assert_eq(melora_cuda_lora_backward(pdx, &lg, &ls, w.w(), pdz, &lp, D, h, 0), want, "%s %d", ctx, which);
                    cr_assert_eq(melora_cuda_lora_backward_naive(pdx, &lg, &ls, w.w(), pdz, &lp, D, h, 0), want, "%s %d", ctx, which);
                    cr_assert_eq(melora_cuda_blob_backward(pdx, &bg, &ls, w.w(), pdz, &bp, &bd, D, h, 0), want, "%s %d", ctx, which);
                    cr_assert_eq(melora_cuda_blob_flipout_backward(pdx, &bg, &ls, w.w(), pdz, &bp, &nz, D, h, 0), want, "%s %d", ctx, which);
                    cr_assert_eq(melora_cuda_blob_flipout_backward_naive(pdx, &bg, &ls, w.w(), pdz, &bp, &nz, D, h, 0), want, "%s %d", ctx, which);
                    cr_assert_eq(melora_cuda_melora_backward(pdx, &mg, &ms, w.w(), pdz, &mp, &md, D, h, 0), want, "%s %d", ctx, which);
                    cr_assert_eq(melora_cuda_melora_backward_naive(pdx, &mg, &ms, w.w(), pdz, &mp, &md, D, h, 0), want, "%s %d", ctx, which);
                }
            }
            if (enum_case) {
                size_t b = 0;
                cr_assert_eq(melora_cuda_workspace_size(&b, MELORA_OP_LORA_FORWARD, D), MELORA_ERR_ENUM);
                cr_assert_eq(melora_cuda_workspace_size_naive(&b, MELORA_OP_MELORA_BACKWARD, D), MELORA_ERR_ENUM);
            }
        }
    cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
    const vec now[] = {u.get(), v.get(), gA.get(), gB.get(), As.get(), z.get(), dx.get()};
    for (int i = 0; i < 7; i++) close("untouched", now[i], keep[i], 0, 0);
    cublasDestroy(h);
}

// The workspace: float32 sizes as before the half dtypes (no copies), half ones larger by
// the float32 copies of x, z or dx, and dz.
Test(cuda_half, workspace_sizes) {
    const int T = 37, n = 41, m = 29, r = 5;
    const melora_op ops[] = {MELORA_OP_LORA_FORWARD, MELORA_OP_LORA_BACKWARD, MELORA_OP_FLIPOUT_FORWARD,
                             MELORA_OP_FLIPOUT_BACKWARD, MELORA_OP_MELORA_FORWARD, MELORA_OP_MELORA_BACKWARD,
                             MELORA_OP_MELORA_MC_FORWARD};
    for (int naive = 0; naive < 2; naive++)
        for (melora_op op : ops) {
            size_t b32 = 0, bbf = 0, bfp = 0;
            melora_dims D = dims(T, n, m, r);
            auto q = naive ? melora_cuda_workspace_size_naive : melora_cuda_workspace_size;
            cr_assert_eq(q(&b32, op, D), 0);
            D.dtype = MELORA_BF16;
            cr_assert_eq(q(&bbf, op, D), 0);
            D.dtype = MELORA_FP16;
            cr_assert_eq(q(&bfp, op, D), 0);
            const int fwd = op == MELORA_OP_LORA_FORWARD || op == MELORA_OP_FLIPOUT_FORWARD ||
                            op == MELORA_OP_MELORA_FORWARD || op == MELORA_OP_MELORA_MC_FORWARD;
            auto up = [](size_t c) { return (c * 4 + 255) / 256 * 256; };
            size_t extra = fwd ? up((size_t)T * n) + up((size_t)T * m) : 2 * up((size_t)T * n) + up((size_t)T * m);
            cr_assert_eq(bbf, bfp);
            cr_assert(bbf == b32 + extra || (b32 == 256 && bbf == extra), "op %d naive %d: %zu vs %zu + %zu", (int)op, naive, bbf, b32, extra);
        }
    size_t b = 0; // eq. 7 has no activations
    melora_dims D = dims(1, 64, 1, 4);
    cr_assert_eq(melora_cuda_workspace_size(&b, MELORA_OP_MELORA_KL, D), 0);
    size_t b2 = 0;
    D.dtype = MELORA_BF16;
    cr_assert_eq(melora_cuda_workspace_size(&b2, MELORA_OP_MELORA_KL, D), 0);
    cr_assert_eq(b, b2);
}

// melora_cuda_convert against melora_convert, bit for bit (both use melora.h's scalar
// conversions): every half pattern and the floats whose low 16 bits decide a rounding,
// for every pair of dtypes, 16-byte aligned (the 128-bit path) and one element off.
Test(cuda_half, convert_matches_host) {
    NEED_DEVICE();
    const melora_dtype dts[] = {MELORA_FP32, MELORA_BF16, MELORA_FP16};
    std::vector<uint16_t> halfs(65536);
    for (uint32_t h = 0; h < 65536; h++) halfs[h] = (uint16_t)h;
    std::vector<uint32_t> fbits;
    const uint32_t lo[] = {0x0000, 0x0FFF, 0x1000, 0x1001, 0x7FFF, 0x8000, 0x8001, 0xFFFF};
    for (uint32_t hi = 0; hi < 65536; hi += 3) // every third upper half: 175k floats
        for (uint32_t l : lo) fbits.push_back(hi << 16 | l);
    for (melora_dtype id : dts)
        for (melora_dtype od : dts)
            for (int off = 0; off < 2; off++) {
                const size_t ei = id == MELORA_FP32 ? 4 : 2, eo = od == MELORA_FP32 ? 4 : 2;
                const void *src = id == MELORA_FP32 ? (const void *)fbits.data() : (const void *)halfs.data();
                const size_t n = (id == MELORA_FP32 ? fbits.size() : halfs.size()) - 1;
                const char *hin = (const char *)src + off * ei;
                std::vector<char> want(n * eo), got(n * eo);
                cr_assert_eq(melora_convert(want.data(), od, hin, id, (int64_t)n), MELORA_OK);
                char *din = nullptr, *dout = nullptr;
                cr_assert_eq(cudaMalloc((void **)&din, (n + 1) * ei), cudaSuccess);
                cr_assert_eq(cudaMalloc((void **)&dout, (n + 1) * eo), cudaSuccess);
                cr_assert_eq(cudaMemcpy(din + off * ei, hin, n * ei, cudaMemcpyHostToDevice), cudaSuccess);
                cr_assert_eq(melora_cuda_convert(dout + off * eo, od, din + off * ei, id, (int64_t)n, 0), MELORA_OK);
                cr_assert_eq(cudaMemcpy(got.data(), dout + off * eo, n * eo, cudaMemcpyDeviceToHost), cudaSuccess);
                size_t bad = 0;
                while (bad < got.size() && got[bad] == want[bad]) bad++;
                cr_assert(bad == got.size(), "convert %d -> %d off %d: byte %zu differs", (int)id, (int)od, off, bad);
                cudaFree(din);
                cudaFree(dout);
            }
}
// Its checks, in melora_convert's order, each with nothing written.
Test(cuda_half, convert_rejects) {
    NEED_DEVICE();
    dev a(rnd(64, 1, 1)), b(rnd(64, 2, 1));
    const vec b0 = b.get();
    cr_assert_eq(melora_cuda_convert(nullptr, MELORA_BF16, a.p, MELORA_FP32, 8, 0), MELORA_ERR_NULL);
    cr_assert_eq(melora_cuda_convert(b.p, MELORA_BF16, nullptr, MELORA_FP32, 8, 0), MELORA_ERR_NULL);
    cr_assert_eq(melora_cuda_convert(b.p, (melora_dtype)7, a.p, MELORA_FP32, 8, 0), MELORA_ERR_ENUM); // a cast: loading such an enum is UB
    cr_assert_eq(melora_cuda_convert(b.p, MELORA_FP16, a.p, (melora_dtype)-1, 8, 0), MELORA_ERR_ENUM);
    cr_assert_eq(melora_cuda_convert(b.p, MELORA_FP16, a.p, MELORA_FP32, -1, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_convert(b.p, MELORA_FP16, a.p, MELORA_FP32, INT64_MAX, 0), MELORA_ERR_OVERFLOW);
    cr_assert_eq(melora_cuda_convert((char *)b.p + 1, MELORA_FP16, a.p, MELORA_FP32, 8, 0), MELORA_ERR_ALIGNMENT);
    cr_assert_eq(melora_cuda_convert(b.p, MELORA_FP32, (char *)a.p + 1, MELORA_BF16, 8, 0), MELORA_ERR_ALIGNMENT);
    cr_assert_eq(melora_cuda_convert(b.p, MELORA_FP32, (char *)a.p + 2, MELORA_FP32, 8, 0), MELORA_ERR_ALIGNMENT);
    cr_assert_eq(melora_cuda_convert((char *)b.p + 2, MELORA_FP32, a.p, MELORA_FP16, 8, 0), MELORA_ERR_ALIGNMENT);
    cr_assert_eq(melora_cuda_convert(b.p, MELORA_FP32, b.p + 4, MELORA_BF16, 16, 0), MELORA_ERR_ALIAS);
    cr_assert_eq(melora_cuda_convert(b.p, MELORA_FP32, b.p, MELORA_FP32, 16, 0), MELORA_ERR_ALIAS);
    cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
    close("untouched", b.get(), b0, 0, 0);
    cr_assert_eq(melora_cuda_convert(b.p, MELORA_BF16, a.p, MELORA_FP32, 0, 0), MELORA_OK); // writes nothing
    cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
    close("untouched", b.get(), b0, 0, 0);
}

#ifdef CUDACPU
// Every CUDA runtime call, launch and cuBLAS call an entry point makes, failed in turn
// through the emulator (cudacpu::fail_call): every entry point of the table (tuned and
// naive, fp32, and bf16 for the passes that take activations) plus the noise and convert
// calls. Failing counted call k (k from 0 to the count of a clean call, less one) gives
// MELORA_ERR_CUBLAS for a cuBLAS call and MELORA_ERR_CUDA otherwise, with
// melora_cuda_last_error() naming the call (a launch is reported by cudaGetLastError);
// the handle keeps the caller's stream and pointer mode (but for the one a failed restoring
// call could not put back: the stream is put back even then); and the same call made again
// without a failure succeeds with the same bytes in every buffer as a clean call (nothing
// left pending, no state left behind).
struct fault_call {
    std::string name;
    std::function<melora_status(void **)> f;
};
static std::vector<fault_call> fault_calls(Env &e) {
    std::vector<fault_call> out;
    for (auto &c : entries(e))
        if (e.dt == MELORA_FP32 || strstr(c.name, "forward") || strstr(c.name, "backward"))
            out.push_back({std::string(c.name) + (e.dt == MELORA_FP32 ? "" : " bf16"), c.f});
    if (e.dt != MELORA_FP32) return out;
    const melora_dims D = dims(e.T, e.n, e.m, e.r);
    const int r = e.r, n = e.n, E = e.E, G = e.G;
    out.push_back({"noise_normal", [](void **p) { return melora_cuda_noise_normal((float *)p[0], 3, 5, 300, 0); }});
    out.push_back({"noise_uniform", [](void **p) { return melora_cuda_noise_uniform((float *)p[0], 3, 5, 300, 0); }});
    out.push_back({"noise_sign", [](void **p) { return melora_cuda_noise_sign((float *)p[0], 3, 5, 300, 0); }});
    out.push_back({"blob_noise", [=](void **p) { return melora_cuda_blob_noise((float *)p[0], 3, 1, r, n, 0); }});
    out.push_back({"flipout_noise", [=](void **p) {
        return melora_cuda_blob_flipout_noise((float *)p[0], (float *)p[1], (float *)p[2], 3, 1, G, D, 0); }});
    out.push_back({"melora_noise", [=](void **p) { return melora_cuda_melora_noise((float *)p[0], 3, 1, E, r, 0); }});
    const melora_dtype dts[][2] = {{MELORA_FP32, MELORA_FP32}, {MELORA_BF16, MELORA_FP32}, {MELORA_FP32, MELORA_BF16},
                                   {MELORA_BF16, MELORA_FP16}};
    for (auto &io : dts) {
        const melora_dtype od = io[0], id = io[1];
        out.push_back({std::string("convert ") + (id == MELORA_FP32 ? "fp32" : "bf16") + " -> " +
                           (od == MELORA_FP32 ? "fp32" : od == MELORA_BF16 ? "bf16" : "fp16"),
                       [=](void **p) { return melora_cuda_convert(p[0], od, p[1], id, 300, 0); }});
    }
    return out;
}
Test(cuda, every_failing_call_reported) {
    NEED_DEVICE();
    setenv("CUDACPU_QUIET", "1", 1);
    const int NP = 16;
    const size_t REGION = 8 * 1024; // bytes per buffer: every table shape's tensors and workspace
    vec init = rnd(NP * REGION / sizeof(float), 91, .5);
    for (auto &f : init) f = f < 0 ? .1f - f : f + .1f; // positive: standard deviations too
    dev arena(init);
    void *p[NP];
    for (int i = 0; i < NP; i++) p[i] = (unsigned char *)arena.p + (size_t)i * REGION;
    auto restore = [&]() {
        cr_assert_eq(cudaMemcpy(arena.p, init.data(), init.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
    };
    cublasHandle_t h = handle();
    cudaStream_t mine;
    cr_assert_eq(cudaStreamCreate(&mine), cudaSuccess);
    cr_assert_eq(cublasSetStream(h, mine), CUBLAS_STATUS_SUCCESS);
    cr_assert_eq(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_DEVICE), CUBLAS_STATUS_SUCCESS);
    int injected = 0, kinds[4] = {0, 0, 0, 0}, entries_run = 0;
    for (melora_dtype dt : {MELORA_FP32, MELORA_BF16}) {
        Env env;
        env.h = env.hh = h;
        env.dt = dt;
        for (auto &c : fault_calls(env)) {
            const char *name = c.name.c_str();
            restore();
            cudacpu::fail_call(-1);
            cr_assert_eq(c.f(p), MELORA_OK, "%s: a clean call", name);
            const long calls = cudacpu::counted_calls();
            cr_assert_gt(calls, 0, "%s: no counted call", name);
            const vec want = arena.get();
            entries_run++;
            // a failed runtime call of the caller's before this one: taken over, then gone
            cudacpu::fail_call(0);
            cr_assert_eq(cudaMemsetAsync(p[NP - 1], 0, 4, mine), cudaErrorMemoryAllocation);
            cr_assert_eq(c.f(p), MELORA_ERR_CUDA, "%s: an injected error pending", name);
            cr_assert(strstr(melora_cuda_last_error(), "before this call") != nullptr, "%s: %s", name, melora_cuda_last_error());
            cr_assert_eq(cudacpu::counted_calls(), 1, "%s: a call made after the pending error was found", name);
            cr_assert_eq(cudaPeekAtLastError(), cudaSuccess, "%s: the pending error was not taken", name);
            for (long k = 0; k < calls; k++) {
                restore();
                cudacpu::fail_call(k, cudaErrorMemoryAllocation, CUBLAS_STATUS_EXECUTION_FAILED);
                const melora_status st = c.f(p);
                int kind = cudacpu::FAULT_NONE;
                const char *hit = cudacpu::failed_call(&kind);
                cudacpu::fail_call(-1);
                cr_assert_not_null(hit, "%s: call %ld of %ld not reached", name, k, calls);
                kinds[kind]++;
                injected++;
                cr_assert_eq(st, kind == cudacpu::FAULT_BLAS ? MELORA_ERR_CUBLAS : MELORA_ERR_CUDA,
                             "%s: call %ld (%s) failed: %s", name, k, hit, melora_status_string(st));
                const char *api = kind == cudacpu::FAULT_LAUNCH ? "cudaGetLastError" : hit;
                cr_assert(strstr(melora_cuda_last_error(), api) != nullptr, "%s: call %ld (%s): message '%s'", name,
                          k, hit, melora_cuda_last_error());
                cudaStream_t got = nullptr;
                cublasPointerMode_t mode = CUBLAS_POINTER_MODE_HOST;
                cr_assert_eq(cublasGetStream(h, &got), CUBLAS_STATUS_SUCCESS);
                cr_assert_eq(cublasGetPointerMode(h, &mode), CUBLAS_STATUS_SUCCESS);
                // put back unless the failed call is the one putting it back (a failure reported)
                if (strcmp(hit, "cublasSetStream") != 0)
                    cr_assert_eq(got, mine, "%s: call %ld (%s): the handle's stream", name, k, hit);
                if (strcmp(hit, "cublasSetPointerMode") != 0)
                    cr_assert_eq(mode, CUBLAS_POINTER_MODE_DEVICE, "%s: call %ld (%s): the handle's pointer mode", name, k, hit);
                cr_assert_eq(cublasSetStream(h, mine), CUBLAS_STATUS_SUCCESS);
                cr_assert_eq(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_DEVICE), CUBLAS_STATUS_SUCCESS);
                restore();
                const melora_status again = c.f(p);
                cr_assert_eq(again, MELORA_OK, "%s: after call %ld (%s) failed: %s (%s)", name, k, hit,
                             melora_status_string(again), melora_cuda_last_error());
                cr_assert_str_eq(melora_cuda_last_error(), "");
                const vec now = arena.get();
                cr_assert(memcmp(now.data(), want.data(), now.size() * sizeof(float)) == 0,
                          "%s: after call %ld (%s) failed, a clean call gives other bytes", name, k, hit);
            }
        }
    }
    cr_assert_eq(entries_run, 22 + 15 + 10); // the table, its 15 passes in bf16, noise and convert
    cr_assert(kinds[cudacpu::FAULT_RUNTIME] > 0 && kinds[cudacpu::FAULT_LAUNCH] > 0 && kinds[cudacpu::FAULT_BLAS] > 0,
              "runtime %d, launch %d, cuBLAS %d", kinds[1], kinds[2], kinds[3]);
    cr_log_info("every_failing_call_reported: %d entry points, %d failures injected (runtime %d, launch %d, cuBLAS %d)",
                entries_run, injected, kinds[1], kinds[2], kinds[3]);
    cr_assert_eq(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST), CUBLAS_STATUS_SUCCESS);
    cr_assert_eq(cublasSetStream(h, 0), CUBLAS_STATUS_SUCCESS);
    cudaStreamDestroy(mine);
    cublasDestroy(h);
}
#endif

// The KLs' and convert's remaining argument checks: r = 0, a misaligned status, a zero or
// non-finite prior, an out dtype below 0 and an in dtype past the last; nothing written.
Test(cuda, kl_and_convert_argument_edges) {
    NEED_DEVICE();
    const int r = 2, n = 3;
    dev MA(rnd(r * n, 1, .5)), GA(vec(r * n, .7f)), dMA(vec(r * n, 0)), dGA(vec(r * n, 0)), out(vec(16, 0));
    dkl k;
    dwork w(MELORA_CUDA_DIAG_KL_BYTES + 8);
    const melora_blob_grads g = {dMA.p, dGA.p, nullptr};
    const melora_blob_params bp = {MA.p, GA.p, nullptr, 0};
    const melora_work ww = w.w();
    cr_assert_eq(melora_cuda_blob_kl(k.v, k.st, &g, ww, &bp, .2f, 1, 0, n, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_blob_kl(k.v, k.st, &g, ww, &bp, .2f, 1, r, 0, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_blob_kl(k.v, (int *)((char *)k.st + 2), &g, ww, &bp, .2f, 1, r, n, 0), MELORA_ERR_ALIGNMENT);
    cr_assert_eq(melora_cuda_blob_kl(k.v, k.st, &g, ww, &bp, 0.0f, 1, r, n, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_blob_kl(k.v, k.st, &g, ww, &bp, NAN, 1, r, n, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_blob_kl(k.v, k.st, &g, ww, &bp, .2f, INFINITY, r, n, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_convert(out.p, (melora_dtype)-1, MA.p, MELORA_FP32, 4, 0), MELORA_ERR_ENUM);
    cr_assert_eq(melora_cuda_convert(out.p, MELORA_FP32, MA.p, (melora_dtype)7, 4, 0), MELORA_ERR_ENUM);
    cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
    cr_assert_eq(k.status(), 0x7f7f7f7f, "the status was written");
    close("dMA", dMA.get(), vec(r * n, 0), 0, 0);
    close("dGA", dGA.get(), vec(r * n, 0), 0, 0);
    close("out", out.get(), vec(16, 0), 0, 0);
    // and the same call with valid arguments runs
    cr_assert_eq(melora_cuda_blob_kl(k.v, k.st, &g, ww, &bp, .2f, 1, r, n, 0), MELORA_OK);
    cr_assert_eq(k.status(), MELORA_OK);
}

// Me-LoRA's naive KLs without a grads struct (the value alone, as with one), the naive
// forward's NULL structs, and a sample with E = 0.
Test(cuda, melora_struct_edges) {
    NEED_DEVICE();
    const int r = 2, n = 3, E = 2;
    dev A(rnd(r * n, 1, .5)), M(rnd(r * r, 2, .5)), H(vec(r * r, .6f)), EC(rnd(E * r * r, 3, 1));
    dev dA(vec(r * n, 0)), dM(vec(r * r, 0)), dH(vec(r * r, 0)), C(vec(E * r * r, 0)), z(vec(64, 0));
    const size_t wb = std::max(cu_bytes(MELORA_OP_MELORA_KL, 1, n, 1, r, 1), cu_bytes(MELORA_OP_MELORA_KL, 1, n, 1, r));
    dwork w(wb); // the naive KL's and the prior-noise KL's (tuned)
    const melora_melora_params mp = {A.p, nullptr, M.p, H.p, 0};
    const melora_melora_grads g = {dA.p, nullptr, dM.p, dH.p};
    for (int prior = 0; prior < 2; prior++) {
        dkl with, without;
        auto kl = [&](dkl &k, const melora_melora_grads *gg) {
            return prior ? melora_cuda_melora_kl_prior_noise(k.v, k.st, gg, w.w(), &mp, .2f, .1f, 1, r, n, 0)
                         : melora_cuda_melora_kl_naive(k.v, k.st, gg, w.w(), &mp, .2f, 1, r, n, 0);
        };
        melora_status st = kl(with, &g);
        cr_assert_eq(st, MELORA_OK, "prior %d: %s", prior, melora_status_string(st));
        st = kl(without, nullptr);
        cr_assert_eq(st, MELORA_OK, "prior %d, no grads: %s", prior, melora_status_string(st));
        cr_assert_eq(with.status(), MELORA_OK);
        cr_assert_eq(without.status(), MELORA_OK);
        cr_assert(std::isfinite(with.value()) && with.value() == without.value(), "prior %d: %.17g vs %.17g", prior,
                  with.value(), without.value());
    }
    const melora_melora_saved sv = {z.p, z.p + 16, z.p + 32};
    const melora_melora_draw dr = {C.p, nullptr, E};
    const vec z0 = z.get();
    cr_assert_eq(melora_cuda_melora_forward_naive(z.p, nullptr, w.w(), &mp, &dr, dims(4, n, 5, r), nullptr, 0), MELORA_ERR_NULL);
    cr_assert_eq(melora_cuda_melora_forward_naive(z.p, &sv, w.w(), nullptr, &dr, dims(4, n, 5, r), nullptr, 0), MELORA_ERR_NULL);
    cr_assert_eq(melora_cuda_melora_forward_naive(z.p, &sv, w.w(), &mp, nullptr, dims(4, n, 5, r), nullptr, 0), MELORA_ERR_NULL);
    const vec c0 = C.get();
    cr_assert_eq(melora_cuda_melora_sample(C.p, &mp, EC.p, 0, r, 0), MELORA_ERR_SIZE);
    cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
    close("z", z.get(), z0, 0, 0);
    close("C", C.get(), c0, 0, 0);
}
