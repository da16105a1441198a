// The CUDA path against an independent double-precision model (ref.h) with float32
// tolerances scaled by the reduction length: every entry point, tuned and naive, on odd
// shapes (r = 1, n != m, E > 1, G > 1), long reductions (T > 4096, T n > 1M, r = 64) and
// every subset of NULL gradients; noise equal to the host's; KLs against the CPU path;
// bad arguments rejected; the caller's handle left as it was; no host synchronisation
// (a training step captured in a CUDA graph, real toolkit only). Built twice: through tests/cudacpu (runs everywhere) and with the
// real toolkit (runs only where cudaGetDeviceCount finds a GPU, otherwise skips visibly).
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <cmath>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <algorithm>
#include <functional>
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
    explicit dwork(size_t bytes) { cr_assert_eq(cudaMalloc(&p, bytes), cudaSuccess); cudaMemset(p, 0xA5, bytes); }
    ~dwork() { cudaFree(p); }
};
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
static void *cpu_work(melora_op op, int T, int n, int m, int r, std::vector<char> &keep) {
    size_t b = 0;
    cr_assert_eq(melora_workspace_size(&b, op, T, n, m, r), MELORA_OK);
    keep.assign(b + 64, 0);
    return (void *)(((uintptr_t)keep.data() + 63) & ~(uintptr_t)63);
}
static size_t cu_bytes(melora_op op, int T, int n, int m, int r) {
    size_t b = 0;
    cr_assert_eq(melora_cuda_workspace_size(&b, op, T, n, m, r), MELORA_OK);
    return b;
}

struct shape { int T, n, m, r, E, G; };
static const shape SHAPES[] = {{5, 7, 6, 3, 1, 1}, {1, 1, 1, 1, 1, 1}, {17, 33, 19, 1, 17, 2},
                               {12, 16, 40, 5, 3, 5}, {24, 21, 18, 8, 4, 7},
                               {6, 600, 300, 9, 3, 2},   /* n > block: every warp reduces */
                               {130, 20, 270, 3, 5, 3}}; /* several row tiles and column slices */
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
// with every gradient requested; `patterns` also runs the tuned backward once per subset of
// NULL gradients (the others must still be right, the NULL ones untouched).
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
    if (patterns)
        for (int g = 0; g < all; g++)
            if ((g & all) == g) runs.push_back({0, g});
    for (auto run : runs) {
        int naive = run.first, want_g = run.second;
        char ctx[96];
        snprintf(ctx, sizeof ctx, "method %d T %d n %d m %d r %d E %d G %d naive %d grads %#x", method, T, n, m, r, E, G, naive, want_g);
        dev dx_(x), dA_(A), dB_(B), dGA(GA), dEA(EA), dM_(M), dH_(H), dEC(EC), dsa(sa), dsb(sb), ddz(dz);
        dev dz_(z0), du(vec((size_t)T * r, 0)), dv(vec((size_t)T * r, 0)), dAs(vec((size_t)r * n, 0)), dC(vec((size_t)E * r * r, 0));
        dev gx_(gx0), gA_(gA0), gG_(gG0), gB_(gB0), gM_(gM0), gH_(gH0);
        float *px = want_g & G_DX ? gx_.p : nullptr, *pA = want_g & G_DA ? gA_.p : nullptr, *pB = want_g & G_DB ? gB_.p : nullptr;
        float *pG = want_g & G_DGA ? gG_.p : nullptr, *pM = want_g & G_DM ? gM_.p : nullptr, *pH = want_g & G_DH ? gH_.p : nullptr;
        dwork w(std::max(cu_bytes(of, T, n, m, r), cu_bytes(ob, T, n, m, r)));
        switch (method) {
        case LORA:
            cr_assert_eq((naive ? melora_cuda_lora_forward_naive : melora_cuda_lora_forward)(dz_.p, du.p, w.p, dx_.p, dA_.p, dB_.p, s, T, n, m, r, h, 0), 0, "%s", ctx);
            cr_assert_eq((naive ? melora_cuda_lora_backward_naive : melora_cuda_lora_backward)(px, pA, pB, w.p, ddz.p, du.p, dx_.p, dA_.p, dB_.p, s, T, n, m, r, h, 0), 0, "%s", ctx);
            break;
        case BLOB: // no naive BLoB entry: its GEMMs are LoRA's
            cr_assert_eq(melora_cuda_blob_forward(dz_.p, du.p, dAs.p, w.p, dx_.p, dA_.p, dGA.p, dEA.p, dB_.p, s, T, n, m, r, h, 0), 0, "%s", ctx);
            cr_assert_eq(melora_cuda_blob_backward(px, pA, pG, pB, w.p, ddz.p, du.p, dx_.p, dAs.p, dGA.p, dEA.p, dB_.p, s, T, n, m, r, h, 0), 0, "%s", ctx);
            near("As", dAs.get(), want.As, mag.As, 2, ctx);
            break;
        case FLIP:
            cr_assert_eq((naive ? melora_cuda_blob_flipout_forward_naive : melora_cuda_blob_flipout_forward)(dz_.p, du.p, w.p, dx_.p, dA_.p, dGA.p, dEA.p, dsa.p, dsb.p, dB_.p, s, G, T, n, m, r, h, 0), 0, "%s", ctx);
            cr_assert_eq((naive ? melora_cuda_blob_flipout_backward_naive : melora_cuda_blob_flipout_backward)(px, pA, pG, pB, w.p, ddz.p, du.p, dx_.p, dA_.p, dGA.p, dEA.p, dsa.p, dsb.p, dB_.p, s, G, T, n, m, r, h, 0), 0, "%s", ctx);
            break;
        case MELORA:
            cr_assert_eq(melora_cuda_melora_sample(dC.p, dM_.p, dH_.p, dEC.p, E, r, 0), 0, "%s", ctx);
            near("C", dC.get(), want.C, mag.C, 2, ctx);
            cr_assert_eq((naive ? melora_cuda_melora_forward_naive : melora_cuda_melora_forward)(dz_.p, du.p, dv.p, w.p, dx_.p, dA_.p, dC.p, dB_.p, s, E, T, n, m, r, h, 0), 0, "%s", ctx);
            cr_assert_eq((naive ? melora_cuda_melora_backward_naive : melora_cuda_melora_backward)(px, pA, pB, pM, pH, w.p, ddz.p, du.p, dv.p, dx_.p, dA_.p, dC.p, dB_.p, dH_.p, dEC.p, s, E, T, n, m, r, h, 0), 0, "%s", ctx);
            near("v", dv.get(), want.v, mag.v, K, ctx);
            break;
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

// r = 5: u by k_shrink; r = 32: by cuBLAS (above MELORA__FUSE_MAXR)
static void mc_forward(int r) {
    const int T = 13, n = 21, m = 17, K = 3;
    vec x = rnd(T * n, 1, 1), A = rnd(r * n, 2, 1), B = rnd(m * r, 3, 1), C = rnd(K * r * r, 4, 1), z0 = rnd(K * T * m, 5, 1);
    vec z = z0, u(T * r);
    std::vector<char> keep;
    cr_assert_eq(melora_melora_mc_forward(z.data(), u.data(), cpu_work(MELORA_OP_MELORA_MC_FORWARD, T, n, m, r, keep), x.data(), A.data(), C.data(), B.data(), .5f, K, T, n, m, r), 0);
    dev dx(x), dA(A), dB(B), dC(C), dz(z0), du(vec(T * r, 0));
    dwork w(cu_bytes(MELORA_OP_MELORA_MC_FORWARD, T, n, m, r));
    cublasHandle_t h = handle();
    cr_assert_eq(melora_cuda_melora_mc_forward(dz.p, du.p, w.p, dx.p, dA.p, dC.p, dB.p, .5f, K, T, n, m, r, h, 0), 0);
    close("mc z", dz.get(), z);
    close("mc u", du.get(), u);
    cublasDestroy(h);
}
Test(cuda, mc_forward_matches_cpu) {
    NEED_DEVICE();
    mc_forward(5);
    mc_forward(32);
}

// The KLs (value, status, gradients) against the CPU path (double sums) on (r, n).
static void kls(int r, int n) {
    vec A = rnd(r * n, 1, 1), M = rnd(r * r, 2, 1), H = rnd(r * r, 3, 1), MA = rnd(r * n, 4, 1), GA = rnd(r * n, 5, 1);
    vec gA0 = rnd(r * n, 6, 1), gM0 = rnd(r * r, 7, 1), gH0 = rnd(r * r, 8, 1), gG0 = rnd(r * n, 9, 1);
    std::vector<char> keep;
    void *cw = cpu_work(MELORA_OP_MELORA_KL, 1, n, 1, r, keep);
    dwork w(cu_bytes(MELORA_OP_MELORA_KL, 1, n, 1, r));
    for (int naive = 0; naive < 3; naive++) { // tuned eq. 7, naive eq. 7, eq. 8
        vec gA = gA0, gM = gM0, gH = gH0;
        double kc = 0;
        dkl kg;
        dev dA(A), dM(M), dH(H), ga(gA0), gm(gM0), gh(gH0);
        if (naive == 2) {
            cr_assert_eq(melora_melora_kl_prior_noise(&kc, gA.data(), gM.data(), gH.data(), cw, A.data(), M.data(), H.data(), .2f, .3f, 1.5f, r, n), 0);
            cr_assert_eq(melora_cuda_melora_kl_prior_noise(kg.v, kg.st, ga.p, gm.p, gh.p, w.p, dA.p, dM.p, dH.p, .2f, .3f, 1.5f, r, n, 0), 0);
        } else {
            cr_assert_eq(melora_melora_kl(&kc, gA.data(), gM.data(), gH.data(), cw, A.data(), M.data(), H.data(), .4f, 1.5f, r, n), 0);
            cr_assert_eq((naive ? melora_cuda_melora_kl_naive : melora_cuda_melora_kl)(kg.v, kg.st, ga.p, gm.p, gh.p, w.p, dA.p, dM.p, dH.p, .4f, 1.5f, r, n, 0), 0);
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
        cr_assert_eq(melora_blob_kl(&kc, gA.data(), gG.data(), MA.data(), GA.data(), .2f, .7f, r, n), 0);
        cr_assert_eq(melora_cuda_blob_kl(kg.v, kg.st, ga.p, gg.p, w.p, dMA.p, dGA.p, .2f, .7f, r, n, 0), 0);
        cr_assert_eq(kg.status(), MELORA_OK);
        cr_assert(fabs(kc - kg.value()) <= 1e-9 * (1 + fabs(kc)));
        close("blob dMA", ga.get(), gA);
        close("blob dGA", gg.get(), gG);
        cr_assert_eq(melora_melora_kl_exact(&kc, gM.data(), gH.data(), M.data(), H.data(), .3f, .7f, r), 0);
        cr_assert_eq(melora_cuda_melora_kl_exact(kx.v, kx.st, gm.p, gh.p, w.p, dM.p, dH.p, .3f, .7f, r, 0), 0);
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
    cr_assert_eq(melora_cuda_lora_forward(nullptr, u.p, w.p, x.p, A.p, B.p, 1, T, n, m, r, h, 0), MELORA_ERR_NULL);
    cr_assert_eq(melora_cuda_lora_forward(z.p, u.p, nullptr, x.p, A.p, B.p, 1, T, n, m, r, h, 0), MELORA_ERR_NULL);
    cr_assert_eq(melora_cuda_lora_forward(z.p, u.p, w.p, x.p, A.p, B.p, 1, T, n, m, r, nullptr, 0), MELORA_ERR_NULL);
    cr_assert_eq(melora_cuda_lora_forward(z.p, u.p, w.p, x.p, A.p, B.p, 1, 0, n, m, r, h, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_lora_forward(z.p, u.p, w.p, x.p, A.p, B.p, 1, T, -1, m, r, h, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_lora_forward(z.p, u.p, w.p, x.p, A.p, B.p, 1, INT32_MAX, INT32_MAX, m, r, h, 0), MELORA_ERR_OVERFLOW);
    cr_assert_eq(melora_cuda_lora_forward(z.p, u.p, w.p, x.p, A.p, B.p, NAN, T, n, m, r, h, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_lora_forward(z.p, u.p, (char *)w.p + 4, x.p, A.p, B.p, 1, T, n, m, r, h, 0), MELORA_ERR_ALIGNMENT);
    cr_assert_eq(melora_cuda_melora_forward(z.p, u.p, v.p, w.p, x.p, A.p, C.p, B.p, 1, 3, T, n, m, r, h, 0), MELORA_ERR_DIVISIBILITY);
    cr_assert_eq(melora_cuda_blob_flipout_forward(z.p, u.p, w.p, x.p, A.p, g.p, g.p, x.p, u.p, B.p, 1, 0, T, n, m, r, h, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_noise_normal(nullptr, 1, 0, 5, 0), MELORA_ERR_NULL);
    cr_assert_eq(melora_cuda_noise_sign(z.p, 1, 0, 0, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_melora_kl(kl.v, kl.st, A.p, M.p, H.p, w.p, A.p, M.p, H.p, 0.0f, 1, r, n, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_melora_kl_prior_noise(kl.v, kl.st, A.p, M.p, H.p, w.p, A.p, M.p, H.p, .2f, 1.0f, 1, r, n, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_melora_kl(nullptr, kl.st, A.p, M.p, H.p, w.p, A.p, M.p, H.p, .2f, 1, r, n, 0), MELORA_ERR_NULL);
    cr_assert_eq(melora_cuda_melora_kl(kl.v, nullptr, A.p, M.p, H.p, w.p, A.p, M.p, H.p, .2f, 1, r, n, 0), MELORA_ERR_NULL);
    cr_assert_eq(melora_cuda_blob_kl((double *)((char *)kl.v + 4), kl.st, z.p, g.p, w.p, A.p, g.p, .2f, 1, r, n, 0), MELORA_ERR_ALIGNMENT);
    cr_assert_eq(melora_cuda_melora_kl(kl.v, kl.st, A.p, M.p, H.p, w.p, A.p, M.p, H.p, .2f, NAN, r, n, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_melora_kl(kl.v, kl.st, A.p, M.p, H.p, w.p, A.p, M.p, H.p, NAN, 1, r, n, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_melora_kl(kl.v, kl.st, A.p, M.p, H.p, w.p, A.p, M.p, H.p, .2f, 1, 0, n, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_melora_kl(kl.v, kl.st, A.p, M.p, H.p, w.p, A.p, M.p, H.p, .2f, 1, r, -2, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_melora_kl_prior_noise(kl.v, kl.st, A.p, M.p, H.p, w.p, A.p, M.p, H.p, -.2f, .1f, 1, r, n, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_melora_kl_prior_noise(kl.v, kl.st, A.p, M.p, H.p, w.p, A.p, M.p, H.p, NAN, .1f, 1, r, n, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_melora_kl_prior_noise(kl.v, kl.st, A.p, M.p, H.p, w.p, A.p, M.p, H.p, .2f, NAN, 1, r, n, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_melora_kl_prior_noise(kl.v, kl.st, A.p, M.p, H.p, w.p, A.p, M.p, H.p, .2f, -.1f, 1, r, n, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_blob_kl(kl.v, kl.st, z.p, g.p, w.p, A.p, g.p, .2f, INFINITY, r, n, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_blob_kl(kl.v, kl.st, z.p, g.p, w.p, A.p, g.p, 0.0f, 1, r, n, 0), MELORA_ERR_VALUE);
    cr_assert_eq(melora_cuda_blob_kl(kl.v, kl.st, z.p, g.p, w.p, A.p, g.p, .2f, 1, r, 0, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_melora_kl_exact(kl.v, kl.st, M.p, g.p, w.p, M.p, H.p, .2f, 1, 0, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_blob_sample(z.p, A.p, g.p, g.p, 0, n, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_blob_sample(z.p, A.p, g.p, g.p, r, 0, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_melora_sample(C.p, M.p, H.p, C.p, 2, 0, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_melora_mc_forward(z.p, u.p, w.p, x.p, A.p, C.p, B.p, 1, 0, T, n, m, r, h, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_melora_backward(z.p, A.p, B.p, M.p, H.p, w.p, z.p, u.p, v.p, x.p, A.p, C.p, B.p, H.p, C.p, 1, 3, T, n, m, r, h, 0), MELORA_ERR_DIVISIBILITY);
    cr_assert_eq(melora_cuda_blob_flipout_backward(z.p, A.p, g.p, B.p, w.p, z.p, u.p, x.p, A.p, g.p, g.p, x.p, u.p, B.p, 1, 0, T, n, m, r, h, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_melora_forward(z.p, u.p, v.p, w.p, x.p, A.p, C.p, B.p, 1, 2, 0, n, m, r, h, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_melora_backward(z.p, A.p, B.p, M.p, H.p, w.p, z.p, u.p, v.p, x.p, A.p, C.p, B.p, H.p, C.p, 1, 2, T, 0, m, r, h, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_melora_mc_forward(z.p, u.p, w.p, x.p, A.p, C.p, B.p, 1, 2, T, n, -1, r, h, 0), MELORA_ERR_SIZE);
    cr_assert_eq(melora_cuda_melora_kl(kl.v, kl.st, A.p, M.p, H.p, w.p, A.p, M.p, H.p, .2f, 1, INT32_MAX, INT32_MAX, 0), MELORA_ERR_OVERFLOW);
    cr_assert_eq(melora_cuda_blob_kl(kl.v, kl.st, z.p, g.p, w.p, A.p, g.p, .2f, 1, INT32_MAX, INT32_MAX, 0), MELORA_ERR_OVERFLOW);
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
    for (int which = 0; which < 6; which++) {
        dkl k;
        melora_status st =
            which == 0 ? melora_cuda_melora_kl_exact(k.v, k.st, z.p, g.p, w.p, M.p, Hz.p, .2f, 1, r, 0)
            : which == 1 ? melora_cuda_blob_kl(k.v, k.st, z.p, g.p, w.p, A.p, GAz.p, .2f, 1, r, n, 0)
            : which == 2 ? melora_cuda_melora_kl(k.v, k.st, g.p, v.p, z.p, w.p, A.p, M.p, Hz.p, .2f, 1, r, n, 0)
            : which == 3 ? melora_cuda_melora_kl_naive(k.v, k.st, g.p, v.p, z.p, w.p, A.p, M.p, Hz.p, .2f, 1, r, n, 0)
            : which == 4 ? melora_cuda_melora_kl(k.v, k.st, g.p, v.p, z.p, w.p, Ainf.p, M.p, H.p, .2f, 1, r, n, 0) // sums not finite
                         : melora_cuda_blob_kl(k.v, k.st, z.p, g.p, w.p, Ainf.p, C.p, .2f, 1, r, n, 0); // a mean not finite
        cr_assert_eq(st, MELORA_OK, "case %d", which);
        cr_assert_eq(k.status(), MELORA_ERR_VALUE, "case %d", which);
        cr_assert(std::isnan(k.value()), "case %d", which);
    }
    close("z untouched", z.get(), z0, 0, 0);
    close("g untouched", g.get(), g0, 0, 0);
    close("v untouched", v.get(), v0, 0, 0);
    size_t b;
    cr_assert_eq(melora_cuda_workspace_size(&b, (melora_op)77, T, n, m, r), MELORA_ERR_ENUM);
    cr_assert_eq(melora_cuda_workspace_size(nullptr, MELORA_OP_LORA_FORWARD, T, n, m, r), MELORA_ERR_NULL);
    cublasDestroy(h);
}

// Sizes near INT_MAX: the workspace's chunk counts (T or n + a chunk) and a Flipout sign
// group of G = INT_MAX rows are computed without int overflow (caught by the ASan/UBSan
// emulator build; the inputs the fuzzer found). The group case still matches the host.
Test(cuda, sizes_near_int_max) {
    NEED_DEVICE();
    size_t b = 0;
    melora_status ws = melora_cuda_workspace_size(&b, MELORA_OP_MELORA_BACKWARD, INT_MAX - 1, 1, 1, 1);
    cr_assert(ws == MELORA_OK || ws == MELORA_ERR_OVERFLOW, "status %d", ws);
    ws = melora_cuda_workspace_size(&b, MELORA_OP_MELORA_KL, 1, INT_MAX - 1, 1, 1);
    cr_assert(ws == MELORA_OK || ws == MELORA_ERR_OVERFLOW, "status %d", ws);
    const int T = 64, n = 14, m = 47, r = 5, G = INT_MAX;
    vec hx = rnd(T * n, 1, 1), hMA = rnd(r * n, 2, 1), hGA = rnd(r * n, 3, 0.3), hEA = rnd(r * n, 4, 1);
    vec hsa = signs(n, 5), hsb = signs(r, 6), hB = rnd(m * r, 7, 1), hz = rnd(T * m, 8, 1), hu(T * r, 0.0f);
    dev x(hx), MA(hMA), GA(hGA), EA(hEA), sa(hsa), sb(hsb), B(hB), z(hz), u(hu), dz(rnd(T * m, 9, 1));
    dev dx(vec(T * n, 0.0f)), dMA(vec(r * n, 0.0f)), dGA(vec(r * n, 0.0f)), dB(vec(m * r, 0.0f));
    cublasHandle_t h = handle();
    for (int naive = 0; naive < 2; naive++) {
        dwork wf(cu_bytes(MELORA_OP_FLIPOUT_FORWARD, T, n, m, r)), wb(cu_bytes(MELORA_OP_FLIPOUT_BACKWARD, T, n, m, r));
        melora_status st = (naive ? melora_cuda_blob_flipout_forward_naive : melora_cuda_blob_flipout_forward)(
            z.p, u.p, wf.p, x.p, MA.p, GA.p, EA.p, sa.p, sb.p, B.p, 0.5f, G, T, n, m, r, h, 0);
        cr_assert_eq(st, MELORA_OK, "forward, naive %d: %d", naive, st);
        st = (naive ? melora_cuda_blob_flipout_backward_naive : melora_cuda_blob_flipout_backward)(
            dx.p, dMA.p, dGA.p, dB.p, wb.p, dz.p, u.p, x.p, MA.p, GA.p, EA.p, sa.p, sb.p, B.p, 0.5f, G, T,
            n, m, r, h, 0);
        cr_assert_eq(st, MELORA_OK, "backward, naive %d: %d", naive, st);
    }
    std::vector<char> keep;
    vec cz = hz, cu(T * r, 0.0f);
    cr_assert_eq(melora_blob_flipout_forward(cz.data(), cu.data(), cpu_work(MELORA_OP_FLIPOUT_FORWARD, T, n, m, r, keep),
                                             hx.data(), hMA.data(), hGA.data(), hEA.data(), hsa.data(), hsb.data(),
                                             hB.data(), 0.5f, G, T, n, m, r), MELORA_OK);
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
        size_t bytes = cu_bytes(MELORA_OP_MELORA_KL, 1, n, 1, r);
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
                    melora_status st =
                        f == 0 ? melora_cuda_melora_kl(k.v, k.st, ga.p, gm.p, gh.p, w.p, dA.p, dM.p, dH.p, .3f, .5f, r, n, 0)
                        : f == 1 ? melora_cuda_melora_kl_naive(k.v, k.st, ga.p, gm.p, gh.p, w.p, dA.p, dM.p, dH.p, .3f, .5f, r, n, 0)
                                 : melora_cuda_melora_kl_prior_noise(k.v, k.st, ga.p, gm.p, gh.p, w.p, dA.p, dM.p, dH.p, .2f, .1f, .5f, r, n, 0);
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
        cr_assert_eq(melora_cuda_lora_forward(dz.p, du.p, w.p, dx.p, dA.p, dB.p, .5f, T, n, m, r, h, s2), MELORA_OK);
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
    vec out[2][6];
    double klv[2][2];
    for (int graph = 0; graph < 2; graph++) {
        dev dx(x), dA(A), dB(B), dGA(GA), dM(M), dH(H), ddz(dz);
        dev EA(vec(r * n, 0)), As(vec(r * n, 0)), EC(vec(E * r * r, 0)), C(vec(E * r * r, 0));
        dev z(vec(T * m, 0)), u(vec(T * r, 0)), v(vec(T * r, 0)), gx(vec(T * n, 0)), gA(vec(r * n, 0));
        dev gG(vec(r * n, 0)), gB(vec(m * r, 0)), gM(vec(r * r, 0)), gH(vec(r * r, 0));
        dwork w(wb);
        dkl k1, k2;
        auto step = [&]() {
            cr_assert_eq(melora_cuda_noise_normal(EA.p, 5, 0, r * n, st), MELORA_OK);
            cr_assert_eq(melora_cuda_blob_forward(z.p, u.p, As.p, w.p, dx.p, dA.p, dGA.p, EA.p, dB.p, 1.5f, T, n, m, r, h, st), MELORA_OK);
            cr_assert_eq(melora_cuda_blob_backward(gx.p, gA.p, gG.p, gB.p, w.p, ddz.p, u.p, dx.p, As.p, dGA.p, EA.p, dB.p, 1.5f, T, n, m, r, h, st), MELORA_OK);
            cr_assert_eq(melora_cuda_blob_kl(k1.v, k1.st, gA.p, gG.p, w.p, dA.p, dGA.p, .2f, .5f, r, n, st), MELORA_OK);
            cr_assert_eq(melora_cuda_noise_normal(EC.p, 6, 0, E * r * r, st), MELORA_OK);
            cr_assert_eq(melora_cuda_melora_sample(C.p, dM.p, dH.p, EC.p, E, r, st), MELORA_OK);
            cr_assert_eq(melora_cuda_melora_forward(z.p, u.p, v.p, w.p, dx.p, dA.p, C.p, dB.p, 1.5f, E, T, n, m, r, h, st), MELORA_OK);
            cr_assert_eq(melora_cuda_melora_backward(gx.p, gA.p, gB.p, gM.p, gH.p, w.p, ddz.p, u.p, v.p, dx.p, dA.p, C.p, dB.p, dH.p, EC.p, 1.5f, E, T, n, m, r, h, st), MELORA_OK);
            cr_assert_eq(melora_cuda_melora_kl(k2.v, k2.st, gA.p, gM.p, gH.p, w.p, dA.p, dM.p, dH.p, .3f, .5f, r, n, st), MELORA_OK);
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

// Every pointer argument of every entry point, NULL in turn: MELORA_ERR_NULL where it is
// required, MELORA_OK where it is an optional gradient; then, with every pointer valid,
// the other host-side rejections reach every entry point: an error left pending (taken
// over as MELORA_ERR_CUDA), a misaligned workspace, a NULL handle, a non-finite scale.
Test(cuda, every_pointer_checked) {
    NEED_DEVICE();
    const int T = 4, n = 3, m = 5, r = 2, E = 2, G = 2, K = 2;
    const float s = .5f;
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
    cublasHandle_t hh = h; // the handle the calls use (set to NULL for the handle check)
    float ss = s;          // the scale the calls use
#define F_(i) ((float *)p[i])
#define W_(i) ((void *)p[i])
    struct Call {
        const char *name;
        int np;
        unsigned optional; // bit i: pointer i may be NULL
        bool gemm;         // takes a handle and a scale
        std::function<melora_status(void **)> f;
    };
    std::vector<Call> calls = {
        {"lora_forward", 6, 0, true, [&](void **p) { return melora_cuda_lora_forward(F_(0), F_(1), W_(2), F_(3), F_(4), F_(5), ss, T, n, m, r, hh, 0); }},
        {"lora_forward_naive", 6, 0, false, [&](void **p) { return melora_cuda_lora_forward_naive(F_(0), F_(1), W_(2), F_(3), F_(4), F_(5), s, T, n, m, r, nullptr, 0); }},
        {"lora_backward", 9, 7, true, [&](void **p) { return melora_cuda_lora_backward(F_(0), F_(1), F_(2), W_(3), F_(4), F_(5), F_(6), F_(7), F_(8), ss, T, n, m, r, hh, 0); }},
        {"lora_backward_naive", 9, 7, false, [&](void **p) { return melora_cuda_lora_backward_naive(F_(0), F_(1), F_(2), W_(3), F_(4), F_(5), F_(6), F_(7), F_(8), s, T, n, m, r, nullptr, 0); }},
        {"blob_sample", 4, 0, false, [&](void **p) { return melora_cuda_blob_sample(F_(0), F_(1), F_(2), F_(3), r, n, 0); }},
        {"blob_forward", 9, 0, true, [&](void **p) { return melora_cuda_blob_forward(F_(0), F_(1), F_(2), W_(3), F_(4), F_(5), F_(6), F_(7), F_(8), ss, T, n, m, r, hh, 0); }},
        {"blob_backward", 12, 15, true, [&](void **p) { return melora_cuda_blob_backward(F_(0), F_(1), F_(2), F_(3), W_(4), F_(5), F_(6), F_(7), F_(8), F_(9), F_(10), F_(11), ss, T, n, m, r, hh, 0); }},
        {"flipout_forward", 10, 0, true, [&](void **p) { return melora_cuda_blob_flipout_forward(F_(0), F_(1), W_(2), F_(3), F_(4), F_(5), F_(6), F_(7), F_(8), F_(9), ss, G, T, n, m, r, hh, 0); }},
        {"flipout_forward_naive", 10, 0, false, [&](void **p) { return melora_cuda_blob_flipout_forward_naive(F_(0), F_(1), W_(2), F_(3), F_(4), F_(5), F_(6), F_(7), F_(8), F_(9), s, G, T, n, m, r, nullptr, 0); }},
        {"flipout_backward", 14, 15, true, [&](void **p) { return melora_cuda_blob_flipout_backward(F_(0), F_(1), F_(2), F_(3), W_(4), F_(5), F_(6), F_(7), F_(8), F_(9), F_(10), F_(11), F_(12), F_(13), ss, G, T, n, m, r, hh, 0); }},
        {"flipout_backward_naive", 14, 15, false, [&](void **p) { return melora_cuda_blob_flipout_backward_naive(F_(0), F_(1), F_(2), F_(3), W_(4), F_(5), F_(6), F_(7), F_(8), F_(9), F_(10), F_(11), F_(12), F_(13), s, G, T, n, m, r, nullptr, 0); }},
        {"blob_kl", 7, 12, false, [&](void **p) { return melora_cuda_blob_kl((double *)p[0], (int *)p[1], F_(2), F_(3), W_(4), F_(5), F_(6), .2f, 1, r, n, 0); }},
        {"melora_sample", 4, 0, false, [&](void **p) { return melora_cuda_melora_sample(F_(0), F_(1), F_(2), F_(3), E, r, 0); }},
        {"melora_forward", 8, 0, true, [&](void **p) { return melora_cuda_melora_forward(F_(0), F_(1), F_(2), W_(3), F_(4), F_(5), F_(6), F_(7), ss, E, T, n, m, r, hh, 0); }},
        {"melora_forward_naive", 8, 0, false, [&](void **p) { return melora_cuda_melora_forward_naive(F_(0), F_(1), F_(2), W_(3), F_(4), F_(5), F_(6), F_(7), s, E, T, n, m, r, nullptr, 0); }},
        {"melora_backward", 15, 31, true, [&](void **p) { return melora_cuda_melora_backward(F_(0), F_(1), F_(2), F_(3), F_(4), W_(5), F_(6), F_(7), F_(8), F_(9), F_(10), F_(11), F_(12), F_(13), F_(14), ss, E, T, n, m, r, hh, 0); }},
        {"melora_backward_naive", 15, 31, false, [&](void **p) { return melora_cuda_melora_backward_naive(F_(0), F_(1), F_(2), F_(3), F_(4), W_(5), F_(6), F_(7), F_(8), F_(9), F_(10), F_(11), F_(12), F_(13), F_(14), s, E, T, n, m, r, nullptr, 0); }},
        {"melora_mc_forward", 7, 0, true, [&](void **p) { return melora_cuda_melora_mc_forward(F_(0), F_(1), W_(2), F_(3), F_(4), F_(5), F_(6), ss, K, T, n, m, r, hh, 0); }},
        {"melora_kl", 9, 28, false, [&](void **p) { return melora_cuda_melora_kl((double *)p[0], (int *)p[1], F_(2), F_(3), F_(4), W_(5), F_(6), F_(7), F_(8), .2f, 1, r, n, 0); }},
        {"melora_kl_naive", 9, 28, false, [&](void **p) { return melora_cuda_melora_kl_naive((double *)p[0], (int *)p[1], F_(2), F_(3), F_(4), W_(5), F_(6), F_(7), F_(8), .2f, 1, r, n, 0); }},
        {"melora_kl_prior_noise", 9, 28, false, [&](void **p) { return melora_cuda_melora_kl_prior_noise((double *)p[0], (int *)p[1], F_(2), F_(3), F_(4), W_(5), F_(6), F_(7), F_(8), .2f, .1f, 1, r, n, 0); }},
        {"melora_kl_exact", 7, 12, false, [&](void **p) { return melora_cuda_melora_kl_exact((double *)p[0], (int *)p[1], F_(2), F_(3), W_(4), F_(5), F_(6), .2f, 1, r, 0); }},
    };
#undef F_
#undef W_
    for (auto &c : calls) {
        void *p[NP];
        for (int i = 0; i < NP; i++) p[i] = base[i];
        cr_assert_eq(c.f(p), MELORA_OK, "%s: all pointers valid", c.name);
        for (int i = 0; i < c.np; i++) {
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
            hh = nullptr;
            cr_assert_eq(c.f(p), MELORA_ERR_NULL, "%s: NULL handle", c.name);
            hh = h;
            ss = NAN;
            cr_assert_eq(c.f(p), MELORA_ERR_VALUE, "%s: NaN scale", c.name);
            ss = s;
        }
    }
    // each call's workspace pointer (its index), -1: none
    const int wi[] = {2, 2, 3, 3, -1, 3, 4, 2, 2, 4, 4, 4, -1, 3, 3, 5, 5, 2, 5, 5, 5, 4};
    cr_assert_eq(sizeof wi / sizeof wi[0], calls.size());
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
        for (int i = 0; i < calls[k].np; i++) {
            const Call &c = calls[k];
            void *p[NP];
            for (int j = 0; j < NP; j++) p[j] = base[j];
            p[i] = host.data();
            melora_status st = c.f(p);
            if (st == MELORA_OK && i == wi[k]) continue;
            cr_assert(st == MELORA_ERR_CUDA || st == MELORA_ERR_CUBLAS, "%s: pointer %d on the host: %s", c.name, i, melora_status_string(st));
            cr_assert(melora_cuda_last_error()[0] != '\0', "%s: pointer %d: no call named", c.name, i);
            cudaStream_t got = nullptr;
            cr_assert_eq(cublasGetStream(h, &got), CUBLAS_STATUS_SUCCESS);
            cr_assert_eq(got, mine, "%s: pointer %d: the handle's stream", c.name, i);
        }
    cr_assert_eq(cublasSetStream(h, 0), CUBLAS_STATUS_SUCCESS);
    cudaStreamDestroy(mine);
#endif
    // a misaligned workspace, for each entry point that takes one (its index in the table)
    for (size_t k = 0; k < calls.size(); k++) {
        if (wi[k] < 0) continue;
        void *p[NP];
        for (int j = 0; j < NP; j++) p[j] = base[j];
        p[wi[k]] = (char *)base[wi[k]] + 4;
        cr_assert_eq(calls[k].f(p), MELORA_ERR_ALIGNMENT, "%s: misaligned workspace", calls[k].name);
    }
    cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
    cublasDestroy(h);
    for (auto *b : bufs) delete b;
}

// Overlapping buffers, for every entry point at T=4 n=3 m=5 r=2 E=K=G=2: each written
// buffer (output, workspace, the KLs' value and status) at the start of every other buffer
// of the call, its last element on the other's first and its first on the other's last
// give MELORA_ERR_ALIAS with the whole device arena unchanged; just before or just after
// the other (disjoint) it is accepted. Roles: o float output, k the double kl, s the int
// status, w workspace, i input; lengths (floats) are the documented shapes, by hand.
Test(cuda, every_entry_point_rejects_overlaps) {
    NEED_DEVICE();
    const int T = 4, n = 3, m = 5, r = 2, E = 2, G = 2, K = 2;
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
#define F_(i) ((float *)p[i])
#define W_(i) ((void *)p[i])
    struct Case {
        const char *name, *roles;
        std::vector<int> len;
        size_t ws;
        std::function<melora_status(void **)> f;
    };
    const size_t wlf = cu_bytes(MELORA_OP_LORA_FORWARD, T, n, m, r), wlb = cu_bytes(MELORA_OP_LORA_BACKWARD, T, n, m, r);
    const size_t wff = cu_bytes(MELORA_OP_FLIPOUT_FORWARD, T, n, m, r), wfb = cu_bytes(MELORA_OP_FLIPOUT_BACKWARD, T, n, m, r);
    const size_t wmf = cu_bytes(MELORA_OP_MELORA_FORWARD, T, n, m, r), wmb = cu_bytes(MELORA_OP_MELORA_BACKWARD, T, n, m, r);
    const size_t wmc = cu_bytes(MELORA_OP_MELORA_MC_FORWARD, T, n, m, r), wkl = cu_bytes(MELORA_OP_MELORA_KL, 1, n, 1, r);
    const size_t wkx = cu_bytes(MELORA_OP_MELORA_KL, 1, r, 1, r);
    std::vector<Case> cases = {
        {"lora_forward", "oowiii", {20, 8, 0, 12, 6, 10}, wlf, [&](void **p) { return melora_cuda_lora_forward(F_(0), F_(1), W_(2), F_(3), F_(4), F_(5), .5f, T, n, m, r, h, 0); }},
        {"lora_forward_naive", "oowiii", {20, 8, 0, 12, 6, 10}, wlf, [&](void **p) { return melora_cuda_lora_forward_naive(F_(0), F_(1), W_(2), F_(3), F_(4), F_(5), .5f, T, n, m, r, nullptr, 0); }},
        {"lora_backward", "ooowiiiii", {12, 6, 10, 0, 20, 8, 12, 6, 10}, wlb, [&](void **p) { return melora_cuda_lora_backward(F_(0), F_(1), F_(2), W_(3), F_(4), F_(5), F_(6), F_(7), F_(8), .5f, T, n, m, r, h, 0); }},
        {"lora_backward_naive", "ooowiiiii", {12, 6, 10, 0, 20, 8, 12, 6, 10}, wlb, [&](void **p) { return melora_cuda_lora_backward_naive(F_(0), F_(1), F_(2), W_(3), F_(4), F_(5), F_(6), F_(7), F_(8), .5f, T, n, m, r, nullptr, 0); }},
        {"blob_sample", "oiii", {6, 6, 6, 6}, 0, [&](void **p) { return melora_cuda_blob_sample(F_(0), F_(1), F_(2), F_(3), r, n, 0); }},
        {"blob_forward", "ooowiiiii", {20, 8, 6, 0, 12, 6, 6, 6, 10}, wlf, [&](void **p) { return melora_cuda_blob_forward(F_(0), F_(1), F_(2), W_(3), F_(4), F_(5), F_(6), F_(7), F_(8), .5f, T, n, m, r, h, 0); }},
        {"blob_backward", "oooowiiiiiii", {12, 6, 6, 10, 0, 20, 8, 12, 6, 6, 6, 10}, wlb, [&](void **p) { return melora_cuda_blob_backward(F_(0), F_(1), F_(2), F_(3), W_(4), F_(5), F_(6), F_(7), F_(8), F_(9), F_(10), F_(11), .5f, T, n, m, r, h, 0); }},
        {"flipout_forward", "oowiiiiiii", {20, 8, 0, 12, 6, 6, 6, 6, 4, 10}, wff, [&](void **p) { return melora_cuda_blob_flipout_forward(F_(0), F_(1), W_(2), F_(3), F_(4), F_(5), F_(6), F_(7), F_(8), F_(9), .5f, G, T, n, m, r, h, 0); }},
        {"flipout_forward_naive", "oowiiiiiii", {20, 8, 0, 12, 6, 6, 6, 6, 4, 10}, wff, [&](void **p) { return melora_cuda_blob_flipout_forward_naive(F_(0), F_(1), W_(2), F_(3), F_(4), F_(5), F_(6), F_(7), F_(8), F_(9), .5f, G, T, n, m, r, nullptr, 0); }},
        {"flipout_backward", "oooowiiiiiiiii", {12, 6, 6, 10, 0, 20, 8, 12, 6, 6, 6, 6, 4, 10}, wfb, [&](void **p) { return melora_cuda_blob_flipout_backward(F_(0), F_(1), F_(2), F_(3), W_(4), F_(5), F_(6), F_(7), F_(8), F_(9), F_(10), F_(11), F_(12), F_(13), .5f, G, T, n, m, r, h, 0); }},
        {"flipout_backward_naive", "oooowiiiiiiiii", {12, 6, 6, 10, 0, 20, 8, 12, 6, 6, 6, 6, 4, 10}, wfb, [&](void **p) { return melora_cuda_blob_flipout_backward_naive(F_(0), F_(1), F_(2), F_(3), W_(4), F_(5), F_(6), F_(7), F_(8), F_(9), F_(10), F_(11), F_(12), F_(13), .5f, G, T, n, m, r, nullptr, 0); }},
        {"blob_kl", "ksoowii", {0, 0, 6, 6, 0, 6, 6}, wkl, [&](void **p) { return melora_cuda_blob_kl((double *)p[0], (int *)p[1], F_(2), F_(3), W_(4), F_(5), F_(6), .2f, 1, r, n, 0); }},
        {"melora_sample", "oiii", {8, 4, 4, 8}, 0, [&](void **p) { return melora_cuda_melora_sample(F_(0), F_(1), F_(2), F_(3), E, r, 0); }},
        {"melora_forward", "ooowiiii", {20, 8, 8, 0, 12, 6, 8, 10}, wmf, [&](void **p) { return melora_cuda_melora_forward(F_(0), F_(1), F_(2), W_(3), F_(4), F_(5), F_(6), F_(7), .5f, E, T, n, m, r, h, 0); }},
        {"melora_forward_naive", "ooowiiii", {20, 8, 8, 0, 12, 6, 8, 10}, wmf, [&](void **p) { return melora_cuda_melora_forward_naive(F_(0), F_(1), F_(2), W_(3), F_(4), F_(5), F_(6), F_(7), .5f, E, T, n, m, r, nullptr, 0); }},
        {"melora_backward", "ooooowiiiiiiiii", {12, 6, 10, 4, 4, 0, 20, 8, 8, 12, 6, 8, 10, 4, 8}, wmb, [&](void **p) { return melora_cuda_melora_backward(F_(0), F_(1), F_(2), F_(3), F_(4), W_(5), F_(6), F_(7), F_(8), F_(9), F_(10), F_(11), F_(12), F_(13), F_(14), .5f, E, T, n, m, r, h, 0); }},
        {"melora_backward_naive", "ooooowiiiiiiiii", {12, 6, 10, 4, 4, 0, 20, 8, 8, 12, 6, 8, 10, 4, 8}, wmb, [&](void **p) { return melora_cuda_melora_backward_naive(F_(0), F_(1), F_(2), F_(3), F_(4), W_(5), F_(6), F_(7), F_(8), F_(9), F_(10), F_(11), F_(12), F_(13), F_(14), .5f, E, T, n, m, r, nullptr, 0); }},
        {"melora_mc_forward", "oowiiii", {40, 8, 0, 12, 6, 8, 10}, wmc, [&](void **p) { return melora_cuda_melora_mc_forward(F_(0), F_(1), W_(2), F_(3), F_(4), F_(5), F_(6), .5f, K, T, n, m, r, h, 0); }},
        {"melora_kl", "ksooowiii", {0, 0, 6, 4, 4, 0, 6, 4, 4}, wkl, [&](void **p) { return melora_cuda_melora_kl((double *)p[0], (int *)p[1], F_(2), F_(3), F_(4), W_(5), F_(6), F_(7), F_(8), .2f, 1, r, n, 0); }},
        {"melora_kl_naive", "ksooowiii", {0, 0, 6, 4, 4, 0, 6, 4, 4}, wkl, [&](void **p) { return melora_cuda_melora_kl_naive((double *)p[0], (int *)p[1], F_(2), F_(3), F_(4), W_(5), F_(6), F_(7), F_(8), .2f, 1, r, n, 0); }},
        {"melora_kl_prior_noise", "ksooowiii", {0, 0, 6, 4, 4, 0, 6, 4, 4}, wkl, [&](void **p) { return melora_cuda_melora_kl_prior_noise((double *)p[0], (int *)p[1], F_(2), F_(3), F_(4), W_(5), F_(6), F_(7), F_(8), .2f, .1f, 1, r, n, 0); }},
        {"melora_kl_exact", "ksoowii", {0, 0, 4, 4, 0, 4, 4}, wkx, [&](void **p) { return melora_cuda_melora_kl_exact((double *)p[0], (int *)p[1], F_(2), F_(3), W_(4), F_(5), F_(6), .2f, 1, r, 0); }},
    };
#undef F_
#undef W_
    int rejected = 0, accepted = 0;
    auto unchanged = [&](const Case &c, const char *how, int o, int j) {
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
