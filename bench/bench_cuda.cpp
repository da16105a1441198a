/* bench_cuda: the main table of bench_adapters for the CUDA path (melora_cuda.cu), timed
   with CUDA events, after checking each method's outputs against the CPU path.

   For each shape and method: one step on the CPU (melora.h) and one on the GPU with the
   same inputs and the same noise, z, dx and every gradient compared (max |gpu - cpu| /
   max |cpu| <= 1e-3, fp32 with different summation orders); then 2 warm-up rounds and
   REPS rounds, each round running every method once (interleaved): a fresh draw of noise
   on the device (melora_cuda_blob_noise, _blob_flipout_noise, _melora_noise) and the
   forward between two events, the backward between the next two. Median, min, max and the ratio to LoRA of the same run.
   Each library method has a bf16 row too (x, z, dz, dx in bf16, the rest float32), checked
   against the same float32 CPU step within BF16_TOL and timed in the same rounds.

   The peer: LoRA as six plain cublasSgemm calls (no fusion), in the same rounds. Each op's
   achieved bandwidth = the bytes it must move / its median time, against the device's
   peak. Built with -DMELORA_CUDA_PROFILE (make gpu-check), also a table of every kernel
   launch of one step of each method: time, bytes by the model, bandwidth.

   Usage: bench_cuda [--small | --paper] [--reps N] [--out DIR] [--name NAME]
   --small: one small shape (for the CPU emulator in tests/cudacpu; its timings mean
   nothing); --paper: the paper's shapes only (T = 1200, n = m = 4096, r = 8 and 64).
   Exit status 1 when a check fails. Writes DIR/NAME.md and DIR/NAME.csv (NAME: cuda). */
#define MELORA_IMPLEMENTATION
#include "melora.h"
#include "melora_cuda.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

enum { LORA, BLOB, FLIPOUT, MEL_B, MEL_E, LORA_BLAS, NMETH };
static const char *NAMES[NMETH] = {"LoRA", "BLoB", "BLoB+Flipout", "Me-LoRA (C/batch)",
                                   "Me-LoRA (C/example)", "peer: LoRA as 6 cublasSgemm"};
static const char *KEYS[NMETH] = {"lora", "blob", "flipout", "melora_batch", "melora_example",
                                  "lora_6sgemm"};

#define CK(x) do { melora_status st_ = (x); if (st_ != MELORA_OK) { \
    std::fprintf(stderr, "%s:%d: %s %s\n", __FILE__, __LINE__, melora_status_string(st_), \
                 melora_cuda_last_error()); std::exit(2); } } while (0)
#define CB(x) do { cublasStatus_t b_ = (x); if (b_ != CUBLAS_STATUS_SUCCESS) { \
    std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, cublasGetStatusString(b_)); \
    std::exit(2); } } while (0)
#define CU(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { \
    std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, cudaGetErrorString(e_)); \
    std::exit(2); } } while (0)

struct Shape { int T, n, m, r; const char *what; };

/* One set of tensors, on the host (h) or on the device (d). */
struct Bufs {
    float *x, *z, *dz, *dx, *u, *v, *A, *B, *GA, *EA, *As, *M, *H, *EC, *C, *sa, *sb;
    float *dA, *dGA, *dB, *dM, *dH;
    void *work;
    size_t wbytes;
    void *xh, *zh, *dzh, *dxh; /* the device's bf16 copies of x, z, dz, dx (bf16 rows) */
};
struct Sizes { size_t x, z, u, rn, mr, rr, err, sa, sb, work; };

static float **field(Bufs &b, int i) {
    float **f[] = {&b.x, &b.z, &b.dz, &b.dx, &b.u, &b.v, &b.A, &b.B, &b.GA, &b.EA, &b.As,
                   &b.M, &b.H, &b.EC, &b.C, &b.sa, &b.sb, &b.dA, &b.dGA, &b.dB, &b.dM, &b.dH};
    return f[i];
}
static const int NFIELD = 22;
static size_t count_of(const Sizes &s, int i) {
    const size_t c[] = {s.x, s.z, s.z, s.x, s.u, s.u, s.rn, s.mr, s.rn, s.rn, s.rn,
                        s.rr, s.rr, s.err, s.err, s.sa, s.sb, s.rn, s.rn, s.mr, s.rr, s.rr};
    return c[i];
}

/* One step of method k with the noise already in EA / EC / sa, sb (check) or drawn on the
   device (timing, draw != 0: the draw's noise at melora_draw_offset's place). ev: 3
   events. */
static void step_gpu(Bufs &d0, const Shape &sh, int k, int E, int draw, uint64_t dnum,
                     cublasHandle_t h, cudaStream_t st, cudaEvent_t *ev,
                     melora_dtype dt = MELORA_FP32) {
    const int T = sh.T, n = sh.n, m = sh.m, r = sh.r;
    const float s = 16.0f / (float)r;
    const uint64_t seed = 2024;
    const melora_dims D = {T, n, m, r, dt};
    const melora_work W = {d0.work, d0.wbytes};
    /* bf16: the same step on the bf16 activations (parameters and gradients float32) */
    struct {
        float *A, *B, *GA, *EA, *As, *M, *H, *EC, *C, *sa, *sb, *u, *v, *dA, *dGA, *dB, *dM, *dH;
        void *x, *z, *dz, *dx;
    } d = {d0.A, d0.B, d0.GA, d0.EA, d0.As, d0.M, d0.H, d0.EC, d0.C, d0.sa, d0.sb, d0.u, d0.v,
           d0.dA, d0.dGA, d0.dB, d0.dM, d0.dH, d0.x, d0.z, d0.dz, d0.dx};
    if (dt != MELORA_FP32) d.x = d0.xh, d.z = d0.zh, d.dz = d0.dzh, d.dx = d0.dxh;
    const melora_lora_saved sv = {d.x, d.u};
    CU(cudaEventRecord(ev[0], st));
    switch (k) {
    case LORA: {
        const melora_lora_params p = {d.A, d.B, s};
        const melora_lora_grads g = {d.dA, d.dB};
        CK(melora_cuda_lora_forward(d.z, &sv, W, &p, D, h, st));
        CU(cudaEventRecord(ev[1], st));
        CK(melora_cuda_lora_backward(d.dx, &g, &sv, W, d.dz, &p, D, h, st));
        break;
    }
    case BLOB: {
        const melora_blob_params p = {d.A, d.GA, d.B, s};
        const melora_blob_grads g = {d.dA, d.dGA, d.dB};
        const melora_blob_draw dr = {d.As, d.EA};
        if (draw) CK(melora_cuda_blob_noise(d.EA, seed, dnum, r, n, st));
        CK(melora_cuda_blob_forward(d.z, &sv, d.As, W, &p, d.EA, D, h, st));
        CU(cudaEventRecord(ev[1], st));
        CK(melora_cuda_blob_backward(d.dx, &g, &sv, W, d.dz, &p, &dr, D, h, st));
        break;
    }
    case FLIPOUT: {
        const melora_blob_params p = {d.A, d.GA, d.B, s};
        const melora_blob_grads g = {d.dA, d.dGA, d.dB};
        const melora_flipout_noise nz = {d.EA, d.sa, d.sb, 1};
        if (draw) CK(melora_cuda_blob_flipout_noise(d.EA, d.sa, d.sb, seed, dnum, 1, D, st));
        CK(melora_cuda_blob_flipout_forward(d.z, &sv, W, &p, &nz, D, h, st));
        CU(cudaEventRecord(ev[1], st));
        CK(melora_cuda_blob_flipout_backward(d.dx, &g, &sv, W, d.dz, &p, &nz, D, h, st));
        break;
    }
    case LORA_BLAS: {
        /* The peer: LoRA composed of six plain cublasSgemm calls, no fusion. Row-major
           (R,C) data is column-major (C,R) with leading dimension C, so each row-major
           product Y = X W is called as the column-major Y^T = W^T X^T. (h is bound to st.) */
        const float one = 1.0f, zero = 0.0f;
        /* u (T,r) = x (T,n) A^T: u^T (r,T) = A (col-major (n,r), transposed) x^T (n,T) */
        CB(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, r, T, n, &one, d.A, n, d0.x, n, &zero, d.u, r));
        /* z (T,m) += s u B^T: z^T (m,T) += s B (col-major (r,m), transposed) u^T (r,T) */
        CB(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, m, T, r, &s, d.B, r, d.u, r, &one, d0.z, m));
        CU(cudaEventRecord(ev[1], st));
        /* dv (T,r) = s dz B: dv^T (r,T) = s B^T (col-major (r,m)) dz^T (col-major (m,T)) */
        CB(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, r, T, m, &s, d.B, r, d0.dz, m, &zero, d.v, r));
        /* dB (m,r) += s dz^T u: dB^T (r,m) += s u^T (col-major (r,T)) dz (col-major (m,T), transposed) */
        CB(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, r, m, T, &s, d.u, r, d0.dz, m, &one, d.dB, r));
        /* dA (r,n) += dv^T x: dA^T (n,r) += x^T (col-major (n,T)) dv (col-major (r,T), transposed) */
        CB(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, n, r, T, &one, d0.x, n, d.v, r, &one, d.dA, n));
        /* dx (T,n) += dv A: dx^T (n,T) += A^T (col-major (n,r)) dv^T (col-major (r,T)) */
        CB(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, T, r, &one, d.A, n, d.v, r, &one, d0.dx, n));
        break;
    }
    default: {
        const int e = k == MEL_E ? E : 1;
        const melora_melora_params p = {d.A, d.B, d.M, d.H, s};
        const melora_melora_grads g = {d.dA, d.dB, d.dM, d.dH};
        const melora_melora_saved ms = {d.x, d.u, d.v};
        const melora_melora_draw dr = {d.C, d.EC, e};
        if (draw) CK(melora_cuda_melora_noise(d.EC, seed, dnum, e, r, st));
        CK(melora_cuda_melora_sample(d.C, &p, d.EC, e, r, st));
        CK(melora_cuda_melora_forward(d.z, &ms, W, &p, &dr, D, h, st));
        CU(cudaEventRecord(ev[1], st));
        CK(melora_cuda_melora_backward(d.dx, &g, &ms, W, d.dz, &p, &dr, D, h, st));
    }
    }
    CU(cudaEventRecord(ev[2], st));
}

static void step_cpu(Bufs &c, const Shape &sh, int k, int E) {
    const int T = sh.T, n = sh.n, m = sh.m, r = sh.r;
    const float s = 16.0f / (float)r;
    const melora_dims D = {T, n, m, r, MELORA_FP32};
    const melora_work W = {c.work, c.wbytes};
    const melora_lora_saved sv = {c.x, c.u};
    switch (k) {
    case LORA:
    case LORA_BLAS: {
        const melora_lora_params p = {c.A, c.B, s};
        const melora_lora_grads g = {c.dA, c.dB};
        CK(melora_lora_forward(c.z, &sv, W, &p, D));
        CK(melora_lora_backward(c.dx, &g, &sv, W, c.dz, &p, D));
        break;
    }
    case BLOB: {
        const melora_blob_params p = {c.A, c.GA, c.B, s};
        const melora_blob_grads g = {c.dA, c.dGA, c.dB};
        const melora_blob_draw dr = {c.As, c.EA};
        CK(melora_blob_forward(c.z, &sv, c.As, W, &p, c.EA, D));
        CK(melora_blob_backward(c.dx, &g, &sv, W, c.dz, &p, &dr, D));
        break;
    }
    case FLIPOUT: {
        const melora_blob_params p = {c.A, c.GA, c.B, s};
        const melora_blob_grads g = {c.dA, c.dGA, c.dB};
        const melora_flipout_noise nz = {c.EA, c.sa, c.sb, 1};
        CK(melora_blob_flipout_forward(c.z, &sv, W, &p, &nz, D));
        CK(melora_blob_flipout_backward(c.dx, &g, &sv, W, c.dz, &p, &nz, D));
        break;
    }
    default: {
        const int e = k == MEL_E ? E : 1;
        const melora_melora_params p = {c.A, c.B, c.M, c.H, s};
        const melora_melora_grads g = {c.dA, c.dB, c.dM, c.dH};
        const melora_melora_saved ms = {c.x, c.u, c.v};
        const melora_melora_draw dr = {c.C, c.EC, e};
        CK(melora_melora_sample(c.C, &p, c.EC, e, r));
        CK(melora_melora_forward(c.z, &ms, W, &p, &dr, D));
        CK(melora_melora_backward(c.dx, &g, &ms, W, c.dz, &p, &dr, D));
    }
    }
}

struct Stat { double med, min, max; };
static Stat stats(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    size_t k = v.size();
    Stat s = {k % 2 ? v[k / 2] : 0.5 * (v[k / 2 - 1] + v[k / 2]), v[0], v[k - 1]};
    return s;
}

/* Bytes each op must move at least as this library does it: the passes over the (T,n) and
   (T,m) tensors (the rank-r ones are < 1% at the paper's shapes). fwd: read x, read and
   write z (Flipout: and read sa); bwd: read dz and x, read and write dx (Flipout: and read
   sa twice, in k_xpass and k_expand). */
static double op_bytes(const Shape &sh, int k, int bwd, double es = 4.0) {
    double tn = es * sh.T * sh.n, tm = es * sh.T * sh.m; /* es: bytes per activation */
    double b = bwd ? tm + 3.0 * tn : tn + 2.0 * tm;
    if (k == FLIPOUT) b += bwd ? 2.0 * tn : tn;
    return b;
}
/* The device's peak memory bandwidth in bytes/s from its memory clock and bus width (0 when
   the runtime does not say, as in the CPU emulator). */
static double peak_bw(int dev) {
#ifdef CUDACPU
    (void)dev;
    return 0.0;
#else
    int khz = 0, bits = 0;
    if (cudaDeviceGetAttribute(&khz, cudaDevAttrMemoryClockRate, dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&bits, cudaDevAttrGlobalMemoryBusWidth, dev) != cudaSuccess) {
        cudaGetLastError();
        return 0.0;
    }
    return 2.0 * khz * 1e3 * bits / 8.0; /* double data rate */
#endif
}
static void pct(char *buf, size_t len, double bytes, double ms, double peak) {
    double bw = bytes / (ms * 1e-3);
    if (peak > 0) std::snprintf(buf, len, "%.0f GB/s (%.0f%%)", bw / 1e9, 100.0 * bw / peak);
    else std::snprintf(buf, len, "%.0f GB/s", bw / 1e9);
}

struct Opts {
    const char *dir = "bench/results", *name = "cuda";
    int reps = 15, small = 0, paper = 0;
};
static bool parse_args(int argc, char **argv, Opts &o) {
    for (int i = 1; i < argc; i++) {
        if (!std::strcmp(argv[i], "--small")) o.small = 1;
        else if (!std::strcmp(argv[i], "--paper")) o.paper = 1;
        else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) o.reps = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--out") && i + 1 < argc) o.dir = argv[++i];
        else if (!std::strcmp(argv[i], "--name") && i + 1 < argc) o.name = argv[++i];
        else return false;
    }
    if (o.reps < 7) o.reps = 7;
    return true;
}
static std::vector<Shape> shapes_of(const Opts &o) {
    if (o.small) return {Shape{48, 40, 36, 4, "small"}};
    if (o.paper) return {Shape{1200, 4096, 4096, 8, "7B q/v"}, Shape{1200, 4096, 4096, 64, "7B q/v"}};
    return {{1200, 4096, 4096, 8, "7B q/v"},     {1200, 4096, 4096, 64, "7B q/v"},
            {1200, 5120, 5120, 8, "13B q/v"},    {1200, 5120, 5120, 64, "13B q/v"},
            {1200, 4096, 11008, 8, "7B MLP up"}, {1200, 4096, 11008, 64, "7B MLP up"}};
}

/* What every part of a run shares: the device, the stream and handle, the events, the
   output files, the per-kernel table and whether a check failed. */
struct Run {
    Opts o;
    int E = 4;
    double peak = 0;
    cublasHandle_t h = nullptr;
    cudaStream_t st = nullptr;
    cudaEvent_t ev[3];
    FILE *md = nullptr, *csv = nullptr;
    std::string ktable;
    int failed = 0;
    uint64_t draw = 0; /* the next noise draw of the timed steps */
};

static int open_run(Run &R) {
    if (cublasCreate(&R.h) != CUBLAS_STATUS_SUCCESS) { std::fprintf(stderr, "cublasCreate failed\n"); return 2; }
    CU(cudaStreamCreate(&R.st));
    CB(cublasSetStream(R.h, R.st)); /* the library then leaves the handle's stream alone */
    for (int i = 0; i < 3; i++) CU(cudaEventCreate(&R.ev[i]));
    char path[1024];
    std::snprintf(path, sizeof path, "%s/%s.md", R.o.dir, R.o.name);
    R.md = std::fopen(path, "w");
    std::snprintf(path, sizeof path, "%s/%s.csv", R.o.dir, R.o.name);
    R.csv = std::fopen(path, "w");
    if (!R.md || !R.csv) { std::fprintf(stderr, "cannot write to %s\n", R.o.dir); return 2; }
    return 0;
}
static void close_run(Run &R) {
    std::fclose(R.md);
    std::fclose(R.csv);
    for (int i = 0; i < 3; i++) cudaEventDestroy(R.ev[i]);
    cudaStreamDestroy(R.st);
    cublasDestroy(R.h);
}

static void write_header(Run &R) {
    cudaDeviceProp prop;
    int dev = 0, rt = 0, drv = 0;
    CU(cudaGetDevice(&dev));
    CU(cudaGetDeviceProperties(&prop, dev));
    CU(cudaRuntimeGetVersion(&rt));
    CU(cudaDriverGetVersion(&drv));
    R.peak = peak_bw(dev);
    std::fprintf(R.csv, "shape,T,n,m,r,method,fwd_ms,bwd_ms,total_ms,total_min_ms,total_max_ms,"
                        "ratio_to_lora,fwd_GBps,bwd_GBps,max_rel_diff_vs_cpu\n");
    char head[2048], peaks[64];
    if (R.peak > 0) std::snprintf(peaks, sizeof peaks, "%.0f GB/s", R.peak / 1e9);
    else std::snprintf(peaks, sizeof peaks, "unknown");
    std::snprintf(head, sizeof head,
                  "\n## CUDA path: forward + backward of the adapter alone (%s)\n\n"
                  "%s, %d SMs, peak memory bandwidth %s (memory clock x bus width); CUDA "
                  "runtime %d, driver %d. CUDA events, median of %d interleaved rounds after 2 "
                  "warm-up rounds, ms; bandwidth = the bytes the op must move (read x, read and "
                  "write z; read dz and x, read and write dx; Flipout also reads its signs) / "
                  "median time; ratio = total / LoRA's; check = max |GPU - CPU| / max |CPU| "
                  "over z, dx and the gradients of one step with the same inputs and noise. "
                  "The peer is LoRA composed of six cublasSgemm calls.\n\n"
                  "| shape (T, n->m, r) | method | fwd | bwd | fwd+bwd [min-max] | ratio | fwd bandwidth | bwd bandwidth | check |\n"
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
                  prop.name, prop.name, prop.multiProcessorCount, peaks, rt, drv, R.o.reps);
    std::fputs(head, stdout);
    std::fputs(head, R.md);
}

/* One shape's buffers: the inputs on the host (hb), the CPU step's outputs (cb), the
   device's (db); each workspace is the largest any method's ops need. */
struct ShapeBufs {
    Sizes sz;
    Bufs hb, cb, db;
    std::vector<std::vector<float>> hv, cv;
};
static void alloc_shape(ShapeBufs &S, const Shape &sh, int E) {
    Sizes &sz = S.sz;
    sz.x = (size_t)sh.T * sh.n; sz.z = (size_t)sh.T * sh.m; sz.u = (size_t)sh.T * sh.r;
    sz.rn = (size_t)sh.r * sh.n; sz.mr = (size_t)sh.m * sh.r; sz.rr = (size_t)sh.r * sh.r;
    sz.err = (size_t)E * sh.r * sh.r; sz.sa = sz.x; sz.sb = sz.u;
    const melora_dims D = {sh.T, sh.n, sh.m, sh.r, MELORA_FP32};
    size_t wc = 0, wg = 0, w1;
    for (int op = 0; op < (int)MELORA_OP_MELORA_MC_FORWARD; op++) {
        CK(melora_workspace_size(&w1, (melora_op)op, D));
        wc = std::max(wc, w1);
        CK(melora_cuda_workspace_size(&w1, (melora_op)op, D));
        wg = std::max(wg, w1);
        const melora_dims Dh = {sh.T, sh.n, sh.m, sh.r, MELORA_BF16}; /* + the float32 copies */
        CK(melora_cuda_workspace_size(&w1, (melora_op)op, Dh));
        wg = std::max(wg, w1);
    }
    CU(cudaMalloc(&S.db.xh, sz.x * 2));
    CU(cudaMalloc(&S.db.dxh, sz.x * 2));
    CU(cudaMalloc(&S.db.zh, sz.z * 2));
    CU(cudaMalloc(&S.db.dzh, sz.z * 2));
    S.hv.assign(NFIELD, {});
    S.cv.assign(NFIELD, {});
    for (int i = 0; i < NFIELD; i++) {
        S.hv[i].assign(count_of(sz, i), 0.0f);
        S.cv[i].assign(count_of(sz, i), 0.0f);
        *field(S.hb, i) = S.hv[i].data();
        *field(S.cb, i) = S.cv[i].data();
        CU(cudaMalloc((void **)field(S.db, i), count_of(sz, i) * sizeof(float)));
    }
    CK(melora_alloc(&S.cb.work, wc));
    S.cb.wbytes = wc;
    CU(cudaMalloc(&S.db.work, wg));
    S.db.wbytes = wg;
    /* inputs: small random values; GA > 0 */
    uint64_t o = 0;
    const int in[] = {0, 2, 6, 7, 8, 11, 12};
    for (int i : in) {
        CK(melora_noise_normal(*field(S.hb, i), 7, o, (int64_t)count_of(sz, i)));
        o += count_of(sz, i);
        for (float &f : S.hv[i]) f *= (i == 8 || i == 12) ? 0.05f : 0.1f;
    }
    CK(melora_noise_normal(S.hb.EA, 9, 0, (int64_t)sz.rn));
    CK(melora_noise_normal(S.hb.EC, 9, 1u << 30, (int64_t)sz.err));
    CK(melora_noise_sign(S.hb.sa, 9, 1u << 31, (int64_t)sz.sa));
    CK(melora_noise_sign(S.hb.sb, 9, 3u << 30, (int64_t)sz.sb));
}
static void free_shape(ShapeBufs &S) {
    for (int i = 0; i < NFIELD; i++) CU(cudaFree(*field(S.db, i)));
    void *hb[] = {S.db.xh, S.db.zh, S.db.dzh, S.db.dxh};
    for (void *p : hb) CU(cudaFree(p));
    CU(cudaFree(S.db.work));
    melora_free(S.cb.work);
}

/* A host float buffer to the device as bf16, and a device bf16 buffer back as floats. */
static void up_bf16(void *dst, const std::vector<float> &h) {
    std::vector<uint16_t> b(h.size());
    CK(melora_convert(b.data(), MELORA_BF16, h.data(), MELORA_FP32, (int64_t)h.size()));
    CU(cudaMemcpy(dst, b.data(), b.size() * 2, cudaMemcpyHostToDevice));
}
static std::vector<float> down_bf16(const void *src, size_t count) {
    std::vector<uint16_t> b(count);
    std::vector<float> f(count);
    CU(cudaMemcpy(b.data(), src, count * 2, cudaMemcpyDeviceToHost));
    CK(melora_convert(f.data(), MELORA_FP32, b.data(), MELORA_BF16, (int64_t)count));
    return f;
}
#define BF16_TOL 2e-2 /* bf16 x, z, dz, dx: 2^-9 relative each way, then sums of such terms */

/* Each method once on both sides with the same inputs and zeroed outputs: max |GPU - CPU|
   / max |CPU| over z, dx and the gradients it has; the library's methods also with bf16
   activations on the device against the same float32 CPU step (maxrel_h, bound BF16_TOL). */
static void check_methods(Run &R, ShapeBufs &S, const Shape &sh, double *maxrel, double *maxrel_h) {
    for (int k = 0; k < NMETH; k++) {
        for (int i = 0; i < NFIELD; i++) {
            S.cv[i] = S.hv[i];
            CU(cudaMemcpy(*field(S.db, i), S.hv[i].data(), count_of(S.sz, i) * sizeof(float),
                          cudaMemcpyHostToDevice));
        }
        step_cpu(S.cb, sh, k, R.E);
        step_gpu(S.db, sh, k, R.E, 0, 0, R.h, R.st, R.ev);
        CU(cudaStreamSynchronize(R.st));
        const int outs[] = {1, 3, 17, 18, 19, 20, 21}; /* z dx dA dGA dB dM dH */
        double worst = 0;
        for (int i : outs) {
            bool used = (i == 18) ? (k == BLOB || k == FLIPOUT) : (i >= 20) ? (k == MEL_B || k == MEL_E) : true;
            if (!used) continue;
            std::vector<float> g(count_of(S.sz, i));
            CU(cudaMemcpy(g.data(), *field(S.db, i), g.size() * sizeof(float), cudaMemcpyDeviceToHost));
            double amax = 0, dmax = 0;
            for (size_t j = 0; j < g.size(); j++) {
                amax = std::max(amax, (double)std::fabs(S.cv[i][j]));
                dmax = std::max(dmax, (double)std::fabs(g[j] - S.cv[i][j]));
            }
            worst = std::max(worst, dmax / (amax + 1e-30));
        }
        maxrel[k] = worst;
        if (!(worst <= 1e-3)) R.failed = 1;
        maxrel_h[k] = 0;
        if (k == LORA_BLAS) continue;
        for (int i = 0; i < NFIELD; i++)
            CU(cudaMemcpy(*field(S.db, i), S.hv[i].data(), count_of(S.sz, i) * sizeof(float),
                          cudaMemcpyHostToDevice));
        up_bf16(S.db.xh, S.hv[0]);
        up_bf16(S.db.zh, S.hv[1]);
        up_bf16(S.db.dzh, S.hv[2]);
        up_bf16(S.db.dxh, S.hv[3]);
        step_gpu(S.db, sh, k, R.E, 0, 0, R.h, R.st, R.ev, MELORA_BF16);
        CU(cudaStreamSynchronize(R.st));
        worst = 0;
        for (int i : outs) {
            bool used = (i == 18) ? (k == BLOB || k == FLIPOUT) : (i >= 20) ? (k == MEL_B || k == MEL_E) : true;
            if (!used) continue;
            std::vector<float> g(count_of(S.sz, i));
            if (i == 1 || i == 3) g = down_bf16(i == 1 ? S.db.zh : S.db.dxh, g.size());
            else CU(cudaMemcpy(g.data(), *field(S.db, i), g.size() * sizeof(float), cudaMemcpyDeviceToHost));
            double amax = 0, dmax = 0;
            for (size_t j = 0; j < g.size(); j++) {
                amax = std::max(amax, (double)std::fabs(S.cv[i][j]));
                dmax = std::max(dmax, (double)std::fabs(g[j] - S.cv[i][j]));
            }
            worst = std::max(worst, dmax / (amax + 1e-30));
        }
        maxrel_h[k] = worst;
        if (!(worst <= BF16_TOL)) R.failed = 1;
    }
}

/* 2 warm-up and reps timed rounds, every method once per round (interleaved), each step
   with its own noise draw; one table row and one CSV line per method. */
/* Rows: the NMETH fp32 ones, then the library's methods (not the peer) with bf16
   activations, each beside the others in the same interleaved rounds. The bf16 rows'
   bandwidth counts 2-byte activations: the bytes a bf16 step must move at least. */
static void time_methods(Run &R, ShapeBufs &S, const Shape &sh, const double *maxrel,
                         const double *maxrel_h) {
    const int NROW = 2 * NMETH - 1;
    std::vector<double> tf[2 * NMETH], tb[2 * NMETH], tt[2 * NMETH];
    for (int rep = -2; rep < R.o.reps; rep++)
        for (int q = 0; q < NROW; q++) {
            const int k = q < NMETH ? q : q - NMETH;
            step_gpu(S.db, sh, k, R.E, 1, R.draw++, R.h, R.st, R.ev, q < NMETH ? MELORA_FP32 : MELORA_BF16);
            CU(cudaEventSynchronize(R.ev[2]));
            float f = 0, b = 0;
            CU(cudaEventElapsedTime(&f, R.ev[0], R.ev[1]));
            CU(cudaEventElapsedTime(&b, R.ev[1], R.ev[2]));
            if (rep >= 0) { tf[q].push_back(f); tb[q].push_back(b); tt[q].push_back(f + b); }
        }
    double base = stats(tt[LORA]).med;
    for (int q = 0; q < NROW; q++) {
        const int k = q < NMETH ? q : q - NMETH, bf = q >= NMETH;
        const double es = bf ? 2.0 : 4.0, mr = bf ? maxrel_h[k] : maxrel[k], lim = bf ? BF16_TOL : 1e-3;
        Stat F = stats(tf[q]), Bk = stats(tb[q]), Tt = stats(tt[q]);
        char line[768], bwf[64], bwb[64], name[96];
        std::snprintf(name, sizeof name, "%s%s", NAMES[k], bf ? " (bf16)" : "");
        pct(bwf, sizeof bwf, op_bytes(sh, k, 0, es), F.med, R.peak);
        pct(bwb, sizeof bwb, op_bytes(sh, k, 1, es), Bk.med, R.peak);
        std::snprintf(line, sizeof line,
                      "| %d, %d->%d, %d (%s) | %s | %.4f | %.4f | **%.4f** [%.4f-%.4f] | "
                      "%.3f | %s | %s | %.1e%s |\n", sh.T, sh.n, sh.m, sh.r, sh.what, name, F.med,
                      Bk.med, Tt.med, Tt.min, Tt.max, Tt.med / base, bwf, bwb, mr,
                      mr <= lim ? "" : " FAILED");
        std::fputs(line, stdout);
        std::fputs(line, R.md);
        std::fprintf(R.csv, "%s,%d,%d,%d,%d,%s%s,%.5f,%.5f,%.5f,%.5f,%.5f,%.4f,%.1f,%.1f,%.3e\n", sh.what,
                     sh.T, sh.n, sh.m, sh.r, KEYS[k], bf ? "_bf16" : "", F.med, Bk.med, Tt.med, Tt.min, Tt.max,
                     Tt.med / base, op_bytes(sh, k, 0, es) / (F.med * 1e6), op_bytes(sh, k, 1, es) / (Bk.med * 1e6), mr);
    }
}

/* Profile builds: every launch of one step of each library method, timed between events
   recorded after each launch (the median of 5 steps per launch), into R.ktable. */
static int profile_kernels(Run &R, ShapeBufs &S, const Shape &sh) {
#ifdef MELORA_CUDA_PROFILE
    for (int k = 0; k < LORA_BLAS; k++) {
        const int P = 5, CAP = 256;
        std::vector<std::vector<double>> ms(CAP);
        const char *names[CAP];
        double bytes[CAP];
        float t[CAP];
        int cnt = 0;
        for (int p = 0; p < P; p++) {
            CK(melora_cuda_profile_start(R.st));
            step_gpu(S.db, sh, k, R.E, 1, R.draw++, R.h, R.st, R.ev);
            cnt = melora_cuda_profile_stop(names, bytes, t, CAP);
            if (cnt < 0) { std::fprintf(stderr, "profile: CUDA error\n"); return 2; }
            for (int i = 0; i < cnt; i++) ms[i].push_back(t[i]);
        }
        for (int i = 0; i < cnt; i++) {
            double med = stats(ms[i]).med;
            char row[512], bw[64] = "-";
            if (bytes[i] > 0) pct(bw, sizeof bw, bytes[i], med, R.peak);
            std::snprintf(row, sizeof row, "| %d, %d->%d, %d | %s | %d | %s | %.1f | %.2f | %s |\n",
                          sh.T, sh.n, sh.m, sh.r, NAMES[k], i + 1, names[i], med * 1e3,
                          bytes[i] / 1e6, bw);
            R.ktable += row;
        }
    }
#else
    (void)R, (void)S, (void)sh;
#endif
    return 0;
}

static void write_footer(Run &R) {
    if (!R.ktable.empty()) {
        const char *kh = "\n## Per kernel\n\nEvery launch of one step (noise, sampling, forward, "
                         "backward) of each method, in order: the time between the event recorded "
                         "after it and the one after the launch before (so a gap between launches "
                         "counts towards the next kernel), median of 5 steps; bytes = the minimum "
                         "the kernel must move by the model in melora_cuda.cu's comments; "
                         "bandwidth = bytes / time (of peak).\n\n"
                         "| shape | method | # | kernel | us | MB | bandwidth |\n"
                         "|---|---|---:|---|---:|---:|---:|\n";
        std::fputs(kh, stdout);
        std::fputs(R.ktable.c_str(), stdout);
        std::fputs(kh, R.md);
        std::fputs(R.ktable.c_str(), R.md);
    }
    std::fprintf(R.md, "\n%s\n", R.failed ? "A CUDA result differs from the CPU's: see 'check'."
                                          : "Every CUDA result agrees with the CPU's.");
    std::printf("\n%s\n", R.failed ? "CUDA check FAILED: a result differs from the CPU's."
                                   : "CUDA check: every result agrees with the CPU's.");
}

int main(int argc, char **argv) {
    Run R;
    if (!parse_args(argc, argv, R.o)) {
        std::fprintf(stderr, "usage: %s [--small | --paper] [--reps N] [--out DIR] [--name NAME]\n", argv[0]);
        return 2;
    }
    if (int rc = open_run(R)) return rc;
    write_header(R);
    for (const Shape &sh : shapes_of(R.o)) {
        ShapeBufs S;
        double maxrel[NMETH], maxrel_h[NMETH];
        alloc_shape(S, sh, R.E);
        check_methods(R, S, sh, maxrel, maxrel_h);
        time_methods(R, S, sh, maxrel, maxrel_h);
        if (int rc = profile_kernels(R, S, sh)) return rc;
        free_shape(S);
    }
    write_footer(R);
    close_run(R);
    return R.failed;
}
