/* bench_adapters: time and memory of LoRA, BLoB (+Flipout) and Me-LoRA, with this
   machine's limits measured in the same process (`make bench`).

   1. machine: STREAM-style triad, read-only sum, FMA rate (same OpenMP threads)
   2. main table: forward, backward, forward+backward of each adapter at the paper's
      shapes (T = 1200; 4096x4096, 5120x5120, 4096->11008; r = 8, 64; alpha = 16), methods
      interleaved, warm-up then median/min/max of the repetitions, ratio to LoRA of the
      same run, bytes and flops of the step, lower bound max(bytes/bw, flops/peak) and the
      measured time as a multiple of it
   3. memory: bytes per category counted by the allocator (MELORA_MALLOC routed to a
      counting allocator) against melora_count_train_memory, and the process's peak RSS
   4. bf16: LoRA, BLoB, Me-LoRA with bf16 activations beside fp32 and the traffic kernel
      at both dtypes, interleaved; the bf16 targets at r = 8
   5. scaling: forward+backward time versus T, r and n (CSV; bench/plots.gp draws them)

   Usage: bench_adapters [--out DIR] [--quick] [--reps N] [--no-scaling] [--bf16]
   Writes DIR/bench.md (everything printed), main.csv, memory.csv, bf16.csv,
   scaling_{T,r,n}.csv; --bf16 runs only the machine limits and the bf16 rows, into
   DIR/bf16.md and DIR/bf16.csv. */
#include "harness.h"
#define MELORA_MALLOC(bytes) mlb_malloc(bytes)
#define MELORA_FREE(p) mlb_free(p)
#define MELORA_IMPLEMENTATION
#include "melora.h"

#include <stdarg.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#define ALPHA 16.0f
#if defined(MELORA_NO_VECTOR)
#define ISA "portable loops (MELORA_NO_VECTOR)"
#elif defined(__AVX512F__)
#define ISA "AVX-512 (16 lanes, 6x4 register tiles)"
#elif defined(__AVX2__) && defined(__FMA__)
#define ISA "AVX2 + FMA (8 lanes, 4x3 register tiles)"
#elif defined(__AVX__)
#define ISA "AVX without FMA (8 lanes, 4x3 register tiles)"
#elif defined(__aarch64__)
#define ISA "NEON (4 lanes, 4x3 register tiles)"
#else
#define ISA "SSE (4 lanes, 4x3 register tiles)"
#endif
#define EXAMPLES 4 /* batch 4 x 300 tokens: one C per example */

static FILE *md;   /* bench.md: a copy of stdout */
static FILE *extra; /* summary.md while the summary is written */
static mlb_machine mach;

static void out(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (md) {
        va_start(ap, fmt);
        vfprintf(md, fmt, ap);
        va_end(ap);
    }
    if (extra) {
        va_start(ap, fmt);
        vfprintf(extra, fmt, ap);
        va_end(ap);
    }
}
static FILE *open_out(const char *dir, const char *name) {
    char path[1024];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "w");
    if (!f) { fprintf(stderr, "cannot write %s\n", path); exit(1); }
    return f;
}
#define CHECK(x) do { int st_ = (x); if (st_ != 0) { \
    fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, melora_status_string((melora_status)st_)); \
    exit(1); } } while (0)

#ifdef MLB_HAVE_OPENBLAS
#include "peer.h"
#endif

static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}
static void cpu_model(char *buf, size_t len) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    snprintf(buf, len, "unknown CPU");
    if (!f) return;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            char *p = strchr(line, ':');
            if (p) {
                p += 2;
                p[strcspn(p, "\n")] = 0;
                snprintf(buf, len, "%s", p);
            }
            break;
        }
    fclose(f);
}
static void loadavg(char *buf, size_t len) {
    FILE *f = fopen("/proc/loadavg", "r");
    snprintf(buf, len, "?");
    if (f) {
        if (fgets(buf, (int)len, f)) {
            char *p = strchr(buf, ' ');
            if (p) p = strchr(p + 1, ' ');
            if (p) p = strchr(p + 1, ' ');
            if (p) *p = 0;
        }
        fclose(f);
    }
}
/* CPU seconds used by every process (from /proc/stat) and by this one (getrusage): their
   difference over an interval is what other processes took from the machine. */
static double cpu_all_seconds(void) {
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long v[8] = {0};
    double tck = (double)sysconf(_SC_CLK_TCK);
    if (!f) return 0;
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
               &v[4], &v[5], &v[6], &v[7]) != 8) v[0] = v[1] = v[2] = v[5] = v[6] = 0;
    fclose(f);
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6]) / (tck > 0 ? tck : 100.0);
}
static double cpu_self_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}
typedef struct { double wall, all, self; } cpu_mark;
static cpu_mark cpu_mark_now(void) {
    cpu_mark c;
    c.wall = mlb_now();
    c.all = cpu_all_seconds();
    c.self = cpu_self_seconds();
    return c;
}
/* Share of the machine's CPU time that other processes used since `a` (0 = idle). */
static double others_share(cpu_mark a) {
    cpu_mark b = cpu_mark_now();
    double ncpu = (double)sysconf(_SC_NPROCESSORS_ONLN), w = b.wall - a.wall;
    double others = (b.all - a.all) - (b.self - a.self);
    if (w <= 0 || ncpu <= 0) return 0;
    if (others < 0) others = 0;
    return others / (w * ncpu);
}

static mlb_shape shape(int T, int n, int m, int r) {
    mlb_shape s;
    s.T = T; s.n = n; s.m = m; s.r = r; s.E = EXAMPLES; s.G = 1; s.alpha = ALPHA;
    return s;
}
static const int ALL[MLB_NMETHODS] = {MLB_LORA, MLB_BLOB, MLB_FLIPOUT, MLB_MELORA_BATCH,
                                      MLB_MELORA_EXAMPLE, MLB_MELORA_FOLDED, MLB_TRAFFIC};

/* ------------------------------------------------------------------ machine ---- */
static void machine_section(void) {
    mlb_machine a;
    mlb_measure_machine(&a, 5);
    if (a.triad_gbs > mach.triad_gbs) mach.triad_gbs = a.triad_gbs;
    if (a.read_gbs > mach.read_gbs) mach.read_gbs = a.read_gbs;
    if (a.peak_gflops > mach.peak_gflops) mach.peak_gflops = a.peak_gflops;
    if (a.lora_stream_gbs > mach.lora_stream_gbs) mach.lora_stream_gbs = a.lora_stream_gbs;
    mach.bw_gbs = mach.triad_gbs > mach.read_gbs ? mach.triad_gbs : mach.read_gbs;
    if (mach.lora_stream_gbs > mach.bw_gbs) mach.bw_gbs = mach.lora_stream_gbs;
    mach.threads = a.threads;
}

/* --------------------------------------------------------------- main table ---- */
typedef struct { int T, n, m, r; const char *what; } shape_row;
static const shape_row MAIN[] = {
    {1200, 4096, 4096, 8, "7B q/v"},      {1200, 4096, 4096, 64, "7B q/v"},
    {1200, 5120, 5120, 8, "13B q/v"},     {1200, 5120, 5120, 64, "13B q/v"},
    {1200, 4096, 11008, 8, "7B MLP up"},  {1200, 4096, 11008, 64, "7B MLP up"},
};
#define NMAIN (int)(sizeof MAIN / sizeof MAIN[0])

static mlb_result main_res[NMAIN][MLB_NMETHODS];

static void main_time(int nshapes, int reps) {
    int i;
    for (i = 0; i < nshapes; i++) {
        const shape_row *s = &MAIN[i];
        mlb_shape sh = shape(s->T, s->n, s->m, s->r);
        CHECK(mlb_time(main_res[i], &sh, ALL, MLB_NMETHODS, 2, reps));
        fprintf(stderr, "  timed %d, %d->%d, r=%d\n", s->T, s->n, s->m, s->r);
    }
}

static void main_section(const char *dir, int nshapes, int reps) {
    FILE *csv = open_out(dir, "main.csv");
    int i, k;
    fprintf(csv, "shape,T,n,m,r,method,fwd_ms,bwd_ms,total_ms,total_min_ms,total_max_ms,"
                 "ratio_to_lora,ratio_paired,ratio_min,mbytes,gflop,lower_bound_ms,"
                 "x_lower_bound,x_traffic\n");
    out("\n## Time: forward + backward of the adapter alone\n\n");
    out("Median of %d interleaved repetitions after 2 warm-up rounds, in ms; min-max in "
        "brackets; ratio = median / LoRA median of the same run. MB and GFLOP: the bytes "
        "that must cross memory and the flops of one forward + backward (harness.h, "
        "mlb_work_model). LB = max(MB / %.1f GB/s, GFLOP / %.0f GFLOP/s), the machine's "
        "limits above; x LB = measured / LB. x traffic = measured / (the median time of "
        "\"LoRA's traffic, no math\" in the same rounds x the method's MB / LoRA's MB): the "
        "bandwidth limit of this shape under the same conditions. Each step draws its noise "
        "(BLoB: r*n normals; Flipout: T*(n+r) signs and r*n normals; Me-LoRA: E*r*r normals) "
        "inside its forward time.\n\n",
        reps, mach.bw_gbs, mach.peak_gflops);
    out("| shape (T, n->m, r) | method | fwd | bwd | fwd+bwd [min-max] | ratio | MB | GFLOP | "
        "LB | x LB | x traffic |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (i = 0; i < nshapes; i++) {
        const shape_row *s = &MAIN[i];
        mlb_shape sh = shape(s->T, s->n, s->m, s->r);
        for (k = 0; k < MLB_NMETHODS; k++) {
            const mlb_result *r = &main_res[i][k];
            mlb_work w = mlb_work_model(&sh, k), wt = mlb_work_model(&sh, MLB_TRAFFIC);
            double lb = mlb_lower_bound(&w, &mach);
            double xt = r->total.med / (main_res[i][MLB_TRAFFIC].total.med * w.bytes / wt.bytes);
            out("| %d, %d->%d, %d (%s) | %s | %.2f | %.2f | **%.2f** [%.2f-%.2f] | %.3f | %.0f | "
                "%.2f | %.2f | %.2f | %.2f |\n",
                s->T, s->n, s->m, s->r, s->what, mlb_method_name(k), 1e3 * r->fwd.med,
                1e3 * r->bwd.med, 1e3 * r->total.med, 1e3 * r->total.min, 1e3 * r->total.max,
                r->ratio, w.bytes * 1e-6, w.flops * 1e-9, 1e3 * lb, r->total.med / lb, xt);
            fprintf(csv, "%s,%d,%d,%d,%d,%s,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.2f,%.4f,"
                         "%.4f,%.3f,%.3f\n",
                    s->what, s->T, s->n, s->m, s->r, mlb_method_key(k), 1e3 * r->fwd.med,
                    1e3 * r->bwd.med, 1e3 * r->total.med, 1e3 * r->total.min,
                    1e3 * r->total.max, r->ratio, r->ratio_paired, r->ratio_min, w.bytes * 1e-6,
                    w.flops * 1e-9, 1e3 * lb, r->total.med / lb, xt);
        }
    }
    fclose(csv);
}

/* ------------------------------------------------------------------ bf16 rows ---- */
/* LoRA, BLoB and Me-LoRA (C/batch) with x, z, dz, dx in bf16 (parameters fp32) beside the
   same methods in fp32, and the traffic kernel at both dtypes, all interleaved in the
   same rounds: entry 0 (fp32 LoRA) is the base of the ratios. */
#define NBF 8
static const int BF_M[NBF] = {MLB_LORA, MLB_LORA, MLB_TRAFFIC, MLB_TRAFFIC,
                              MLB_BLOB, MLB_BLOB, MLB_MELORA_BATCH, MLB_MELORA_BATCH};
static const melora_dtype BF_D[NBF] = {MELORA_FP32, MELORA_BF16, MELORA_FP32, MELORA_BF16,
                                       MELORA_FP32, MELORA_BF16, MELORA_FP32, MELORA_BF16};
enum { BF_LORA32, BF_LORA16, BF_TR32, BF_TR16, BF_BLOB32, BF_BLOB16, BF_MEL32, BF_MEL16 };
static const char *dt_name(melora_dtype dt) {
    return dt == MELORA_FP32 ? "fp32" : dt == MELORA_BF16 ? "bf16" : "fp16";
}
static const int BF_CHECKED[3] = {MLB_LORA, MLB_BLOB, MLB_MELORA_BATCH};

/* One step of `method` with bf16 activations against the fp32 step on the same values
   (x, dz rounded to bf16 and widened exactly, zero z and dx, the same noise draw): z and
   dx must be the fp32 result rounded once, so each may differ from it by at most half a
   bf16 ulp plus float32 reordering; the fp32 gradients must agree to 1e-4 relative. A
   non-OK status is returned as is, so a fast path that rejects bf16 stops the bench. */
static int bf16_check(int method, const char **what, double *err) {
    mlb_shape sh = shape(12, 40, 36, 4);
    mlb_ctx c16, c32;
    size_t cnt[2], i, k;
    int st;
    double worst = 0;
    float *tmp;
    *err = 1e30;
    *what = "setup";
    st = mlb_ctx_init_dt(&c16, &sh, 1u << method, 0, MELORA_BF16);
    if (st) return st;
    st = mlb_ctx_init_dt(&c32, &sh, 1u << method, 0, MELORA_FP32);
    if (st) { mlb_ctx_free(&c16); return st; }
    cnt[0] = (size_t)sh.T * (size_t)sh.n;
    cnt[1] = (size_t)sh.T * (size_t)sh.m;
    tmp = (float *)malloc((cnt[0] > cnt[1] ? cnt[0] : cnt[1]) * sizeof(float));
    if (!tmp) st = (int)MELORA_ERR_ALLOC;
    /* random bf16 x, dz and fp32 parameters; the fp32 context gets the widened copies */
    if (!st) {
        melora_noise_normal(tmp, 11, 0, (int64_t)cnt[0]);
        CHECK(melora_convert(c16.x, MELORA_BF16, tmp, MELORA_FP32, (int64_t)cnt[0]));
        CHECK(melora_convert(c32.x, MELORA_FP32, c16.x, MELORA_BF16, (int64_t)cnt[0]));
        melora_noise_normal(tmp, 11, 100000, (int64_t)cnt[1]);
        CHECK(melora_convert(c16.dz, MELORA_BF16, tmp, MELORA_FP32, (int64_t)cnt[1]));
        CHECK(melora_convert(c32.dz, MELORA_FP32, c16.dz, MELORA_BF16, (int64_t)cnt[1]));
        melora_noise_normal(c16.A, 11, 200000, (int64_t)sh.r * sh.n);
        melora_noise_normal(c16.B, 11, 300000, (int64_t)sh.m * sh.r);
        memcpy(c32.A, c16.A, (size_t)sh.r * sh.n * sizeof(float));
        memcpy(c32.B, c16.B, (size_t)sh.m * sh.r * sizeof(float));
        *what = "bf16 step";
        st = mlb_ctx_step(&c16, method, NULL, NULL);
    }
    if (!st) { *what = "fp32 step"; st = mlb_ctx_step(&c32, method, NULL, NULL); }
    if (!st) {
        /* z (k = 0) and dx (k = 1) against the fp32 result rounded once */
        for (k = 0; k < 2; k++) {
            const uint16_t *h = (const uint16_t *)(k ? c16.dx : c16.z);
            const float *f = (const float *)(k ? c32.dx : c32.z);
            size_t nk = k ? cnt[0] : cnt[1];
            double fmax = 0;
            for (i = 0; i < nk; i++) if (fabs(f[i]) > fmax) fmax = fabs(f[i]);
            for (i = 0; i < nk; i++) {
                /* half a bf16 ulp of f (8 significant bits): f = q 2^e, q in [0.5, 1) */
                int e2 = 0;
                double half = f[i] != 0 ? ldexp(1.0, (frexp(f[i], &e2), e2 - 9)) : 0;
                double e = fabs((double)melora_bf16_to_f32(h[i]) - f[i]) /
                           (half + 1e-5 * fmax + 1e-30);
                if (e > worst) worst = e; /* <= 1: within half an ulp + reordering */
            }
        }
        /* the float32 gradients: dA, dB (and BLoB's dGA, Me-LoRA's dM, dH) */
        {
            const float *g16[5] = {c16.dA, c16.dB, c16.dGA, c16.dM, c16.dH};
            const float *g32[5] = {c32.dA, c32.dB, c32.dGA, c32.dM, c32.dH};
            size_t ng[5];
            ng[0] = (size_t)sh.r * sh.n; ng[1] = (size_t)sh.m * sh.r; ng[2] = ng[0];
            ng[3] = ng[4] = (size_t)sh.r * sh.r;
            for (k = 0; k < 5; k++) {
                double gmax = 0, dmax = 0;
                if (!g16[k] || !g32[k]) continue;
                for (i = 0; i < ng[k]; i++) {
                    if (fabs(g32[k][i]) > gmax) gmax = fabs(g32[k][i]);
                    if (fabs(g16[k][i] - g32[k][i]) > dmax) dmax = fabs(g16[k][i] - g32[k][i]);
                }
                if (dmax / (1e-4 * gmax + 1e-30) > worst) worst = dmax / (1e-4 * gmax + 1e-30);
            }
        }
        *err = worst;
        if (worst > 1.0) st = (int)MELORA_ERR_VALUE;
        *what = "comparison";
    }
    free(tmp);
    mlb_ctx_free(&c16);
    mlb_ctx_free(&c32);
    return st;
}

/* Bytes of x, z, dz, dx of one context, counted by the allocator (payload bytes). */
static int64_t io_bytes_counted(const mlb_shape *sh, melora_dtype dt) {
    int64_t before = mlb__al.cat_cur[MLB_CAT_IO], slack = mlb_alloc_slack(), got;
    mlb_ctx c;
    CHECK(mlb_ctx_init_dt(&c, sh, 1u << MLB_LORA, 0, dt));
    got = mlb__al.cat_cur[MLB_CAT_IO] - before - 4 * slack;
    mlb_ctx_free(&c);
    return got;
}

static mlb_result bf_res[NMAIN][NBF];
/* median per-round ratios, in the order of the ratio table's columns */
static double bf_pair[NMAIN][6];
static const int BF_PAIRS[6][2] = {{BF_LORA16, BF_LORA32}, {BF_LORA16, BF_TR16},
                                   {BF_LORA32, BF_TR32},   {BF_MEL16, BF_LORA16},
                                   {BF_MEL32, BF_LORA32},  {BF_BLOB16, BF_LORA16}};
/* the bf16 targets: columns of BF_PAIRS and their bounds */
static const int BF_TARGET_COL[3] = {0, 1, 3};
static const double BF_TARGET[3] = {0.6, 1.5, 1.05};

/* Checks each bf16 method before anything is timed; exits on a failure. */
static void bf16_checks(void) {
    static int done = 0;
    int k;
    if (done) return;
    done = 1;
    out("\n## bf16 activations: LoRA, BLoB, Me-LoRA with x, z, dz, dx in bf16\n\n");
    out("d.dtype = MELORA_BF16: x, z, dz, dx are uint16_t bf16 buffers; parameters, "
        "gradients, noise and u, v stay float32; z += delta and dx += ... accumulate in "
        "float32 and round once. Each method's bf16 step is first checked against its fp32 "
        "step on the same (bf16-representable) inputs at T = 12, n = 40, m = 36, r = 4: z and "
        "dx within half a bf16 ulp of the fp32 result (+1e-5 of its largest value for "
        "reordering), gradients within 1e-4 relative; 'err' is the worst of those as a "
        "fraction of its bound (<= 1 passes).\n\n");
    for (k = 0; k < 3; k++) {
        const char *what;
        double err;
        int st = bf16_check(BF_CHECKED[k], &what, &err);
        if (st) {
            char msg[320];
            if (err < 1e30) /* both steps ran: the comparison failed */
                snprintf(msg, sizeof msg, "the bf16 result disagrees with the fp32 step: worst "
                         "error %.3g x its bound", err);
            else
                snprintf(msg, sizeof msg, "the %s returned %s (%d)%s", what,
                         melora_status_string((melora_status)st), st,
                         st == (int)MELORA_ERR_ENUM ? ", so this path does not take bf16" : "");
            out("**%s with bf16 activations: %s. The bf16 rows are not timed.**\n",
                mlb_method_name(BF_CHECKED[k]), msg);
            fprintf(stderr, "bf16 rows: %s: %s\n", mlb_method_name(BF_CHECKED[k]), msg);
            if (md) fclose(md);
            exit(1);
        }
        out("* %s: bf16 step agrees with the fp32 step (err %.2f of the bound)\n",
            mlb_method_name(BF_CHECKED[k]), err);
    }
}

static void bf16_section(const char *dir, int nshapes, int reps) {
    FILE *csv;
    int i, k, any = 0;
    double worst[3] = {0, 0, 0}, worstp[3] = {0, 0, 0};
    bf16_checks();
    {
        mlb_shape sh = shape(1200, 4096, 4096, 8);
        int64_t c16 = io_bytes_counted(&sh, MELORA_BF16), c32 = io_bytes_counted(&sh, MELORA_FP32);
        double T = sh.T, n = sh.n, m = sh.m;
        out("\nExact bytes of the activations at T = 1200, n = m = 4096: x and dx %.0f bytes "
            "each in bf16 (T n x 2), z and dz %.0f; the four buffers, counted by the "
            "allocator: %lld bytes in bf16, %lld in fp32 (%.3f x). Per call, the activation "
            "bytes that must cross memory: forward reads x and reads + writes z, %.0f bytes "
            "in bf16 (2 T n + 4 T m); backward reads dz and x and reads + writes dx, %.0f bytes "
            "(2 T m + 6 T n); fp32 twice each.\n",
            2 * T * n, 2 * T * m, (long long)c16, (long long)c32, (double)c16 / (double)c32,
            2 * T * n + 4 * T * m, 2 * T * m + 6 * T * n);
    }
    for (i = 0; i < nshapes; i++) {
        const shape_row *s = &MAIN[i];
        mlb_shape sh = shape(s->T, s->n, s->m, s->r);
        CHECK(mlb_time_dt(bf_res[i], &sh, BF_M, BF_D, NBF, 2, reps));
        for (k = 0; k < 6; k++) bf_pair[i][k] = mlb_round_ratio(BF_PAIRS[k][0], BF_PAIRS[k][1]);
        fprintf(stderr, "  timed bf16 %d, %d->%d, r=%d\n", s->T, s->n, s->m, s->r);
    }
    csv = open_out(dir, "bf16.csv");
    fprintf(csv, "shape,T,n,m,r,method,dtype,fwd_ms,bwd_ms,total_ms,total_min_ms,total_max_ms,"
                 "ratio_to_fp32_lora,mbytes,gflop,lower_bound_ms,x_lower_bound\n");
    out("\nMedian of %d rounds after 2 warm-up rounds, in ms, min-max in brackets; each round "
        "runs the eight rows of a shape once, fp32 and bf16 interleaved. MB: bytes that must "
        "cross memory in one forward + backward with the activations at that dtype "
        "(mlb_work_model_dt); LB = max(MB / %.1f GB/s, GFLOP / %.0f GFLOP/s).\n\n",
        reps, mach.bw_gbs, mach.peak_gflops);
    out("| shape (T, n->m, r) | method | dtype | fwd | bwd | fwd+bwd [min-max] | / fp32 LoRA | "
        "MB | LB | x LB |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (i = 0; i < nshapes; i++) {
        const shape_row *s = &MAIN[i];
        mlb_shape sh = shape(s->T, s->n, s->m, s->r);
        for (k = 0; k < NBF; k++) {
            const mlb_result *r = &bf_res[i][k];
            mlb_work w = mlb_work_model_dt(&sh, BF_M[k], BF_D[k]);
            double lb = mlb_lower_bound(&w, &mach);
            out("| %d, %d->%d, %d (%s) | %s | %s | %.2f | %.2f | **%.2f** [%.2f-%.2f] | %.3f | "
                "%.0f | %.2f | %.2f |\n", s->T, s->n, s->m, s->r, s->what,
                mlb_method_name(BF_M[k]), dt_name(BF_D[k]), 1e3 * r->fwd.med, 1e3 * r->bwd.med,
                1e3 * r->total.med, 1e3 * r->total.min, 1e3 * r->total.max, r->ratio,
                w.bytes * 1e-6, 1e3 * lb, r->total.med / lb);
            fprintf(csv, "%s,%d,%d,%d,%d,%s,%s,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.2f,%.4f,%.4f,"
                         "%.3f\n", s->what, s->T, s->n, s->m, s->r, mlb_method_key(BF_M[k]),
                    dt_name(BF_D[k]), 1e3 * r->fwd.med, 1e3 * r->bwd.med, 1e3 * r->total.med,
                    1e3 * r->total.min, 1e3 * r->total.max, r->ratio, w.bytes * 1e-6,
                    w.flops * 1e-9, 1e3 * lb, r->total.med / lb);
        }
    }
    fclose(csv);
    out("\nRatios of the same rounds: ratio of medians [median of per-round ratios, ratio "
        "of minima].\n\n| shape (T, n->m, r) | bf16 LoRA / fp32 LoRA | bf16 LoRA / bf16 "
        "traffic | fp32 LoRA / fp32 traffic | Me-LoRA / LoRA, bf16 | Me-LoRA / LoRA, fp32 | "
        "BLoB / LoRA, bf16 |\n|---|---:|---:|---:|---:|---:|---:|\n");
    for (i = 0; i < nshapes; i++) {
        const shape_row *s = &MAIN[i];
        const mlb_result *b = bf_res[i];
        double q[6];
        out("| %d, %d->%d, %d |", s->T, s->n, s->m, s->r);
        for (k = 0; k < 6; k++) {
            const mlb_result *x = &b[BF_PAIRS[k][0]], *y = &b[BF_PAIRS[k][1]];
            q[k] = x->total.med / y->total.med;
            out(" %.3f [%.3f, %.3f] |", q[k], bf_pair[i][k], x->total.min / y->total.min);
        }
        out("\n");
        if (s->r != 8) continue;
        any = 1;
        for (k = 0; k < 3; k++) {
            int c = BF_TARGET_COL[k];
            if (q[c] > worst[k]) worst[k] = q[c];
            if (bf_pair[i][c] > worstp[k]) worstp[k] = bf_pair[i][c];
        }
    }
    if (any) {
        static const char *what[3] = {
            "bf16 LoRA fwd+bwd <= 0.6 x fp32 LoRA",
            "bf16 LoRA fwd+bwd <= 1.5 x the bf16 traffic kernel (the same bytes, no math)",
            "Me-LoRA (C/batch) <= 1.05 x LoRA, both bf16"};
        out("\nbf16 targets at r = 8 (benchmark figures of this run, not test assertions; worst "
            "shape, ratio of medians / median per-round ratio):\n\n");
        for (k = 0; k < 3; k++)
            out("* %s / %s %s: worst %.3f / %.3f\n", worst[k] <= BF_TARGET[k] ? "✓" : "✗",
                worstp[k] <= BF_TARGET[k] ? "✓" : "✗", what[k], worst[k], worstp[k]);
    }
}

/* ------------------------------------------------------------------ the peer ---- */
#ifdef MLB_HAVE_OPENBLAS
static const int PEER_R[] = {1, 2, 4, 8, 16, 32, 64, 128};
#define NPEER (int)(sizeof PEER_R / sizeof PEER_R[0])
static int peer_ran = 0, peer_nth = 0;
static int peer_th[2];
static peer_row peer_res[2][NPEER];
static double peer_peak[2]; /* FMA rate at each thread count, best of 5 */
static void peer_section(int reps, int quick) {
    const int T = 1200, n = 4096, m = 4096, maxth = mlb_threads();
    int i, j;
    double agree = peer_agree(37, 96, 80, 16), agree2 = peer_agree(37, 96, 80, 5);
    peer_th[0] = 1;
    peer_nth = 1;
    if (maxth > 1) peer_th[peer_nth++] = maxth;
    out("\n## The peer: the same LoRA step as six cblas_sgemm (OpenBLAS)\n\n");
    out("OpenBLAS %s, core %s (OPENBLAS_CORETYPE=%s), linked as its %s build; melora and "
        "the peer share one OpenMP thread count per table and OMP_PROC_BIND=%s. The peer "
        "runs LoRA's forward and backward as PEFT's layer does under autograd: u = x A^T, "
        "z += s u B^T, du = s dz B, dB += s dz^T u, dA += du^T x, dx += du A. One step of "
        "each from the same inputs agrees to %.1e (r = 16) and %.1e (r = 5) relative. "
        "T = 1200, n = m = 4096; median of %d interleaved rounds (order alternating) after "
        "2 warm-up rounds; ratio = median of per-round melora / OpenBLAS [ratio of minima]; "
        "floor = flops / the FMA rate measured at that thread count.\n",
        openblas_get_config(), openblas_get_corename(),
        getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "(unset)",
#ifdef MLB_OPENBLAS_OPENMP
        "OpenMP",
#else
        "pthreads",
#endif
        getenv("OMP_PROC_BIND") ? getenv("OMP_PROC_BIND") : "(unset)", agree, agree2, reps);
    if (peer_better_core())
        out("\n**Warning: OpenBLAS runs its %s kernels on a CPU that has %s: the peer is "
            "slower than it should be. Run with OPENBLAS_CORETYPE=%s (make bench does).**\n",
            openblas_get_corename(), peer_better_core(), peer_better_core());
    for (j = 0; j < peer_nth; j++) {
        double best = 0;
#ifdef _OPENMP
        omp_set_num_threads(peer_th[j]);
#endif
        for (i = 0; i < 5; i++) {
            double g = mlb_fma_gflops();
            if (g > best) best = g;
        }
        peer_peak[j] = best * 1e9;
    }
    for (j = 0; j < peer_nth; j++) {
        out("\n### %d thread(s)\n\n| r | melora ms | OpenBLAS ms | melora / OpenBLAS | "
            "melora GFLOP/s | %% of FMA peak | x floor | OpenBLAS GFLOP/s | FMA peak GFLOP/s "
            "|\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n", peer_th[j]);
        for (i = 0; i < NPEER; i++) {
            peer_row *p = &peer_res[j][i];
            if (quick && PEER_R[i] != 8 && PEER_R[i] != 64) continue;
            peer_time(p, T, n, m, PEER_R[i], peer_th[j], reps);
            p->peak = peer_peak[j];
            out("| %d | %.2f | %.2f | **%.3f** [%.3f] | %.0f | %.0f%% | %.2f | %.0f | %.0f |\n",
                p->r, 1e3 * p->mel, 1e3 * p->blas, p->ratio_paired, p->ratio_min,
                p->flops / p->mel * 1e-9, 100.0 * p->flops / p->mel / p->peak,
                p->mel / (p->flops / p->peak), p->flops / p->blas * 1e-9, p->peak * 1e-9);
            fflush(stdout);
        }
    }
#ifdef _OPENMP
    omp_set_num_threads(maxth);
#endif
    openblas_set_num_threads(maxth);
    peer_ran = 1;
}
#endif

/* Summary: one line per shape, ratios to LoRA, and the targets. */
typedef struct {
    int ok[MLB_NMETHODS], okp[MLB_NMETHODS]; /* ratio of medians / per-round ratio on target */
    double worst[MLB_NMETHODS], worstp[MLB_NMETHODS];
    int lb_ok, tr_ok;
    double lb_worst, lb_best, tr_worst, tr_best;
} summary_stats;

/* the table, one row per shape, and the worst ratios over the shapes into *st */
static void summary_table(int nshapes, summary_stats *st) {
    static const double target[MLB_NMETHODS] = {0, 1.05, 1.5, 1.05, 1.05, 1.05, 0};
    int i, k;
    memset(st, 0, sizeof *st);
    st->lb_ok = st->tr_ok = 1;
    st->lb_best = st->tr_best = 1e9;
    for (k = 0; k < MLB_NMETHODS; k++) st->ok[k] = st->okp[k] = 1;
    out("| shape (T, n->m, r) | LoRA ms | LoRA x LB | LoRA x traffic | BLoB | BLoB+Flipout | "
        "Me-LoRA C/batch | Me-LoRA C/example | Me-LoRA C/batch, folded |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (i = 0; i < nshapes; i++) {
        const shape_row *s = &MAIN[i];
        mlb_shape sh = shape(s->T, s->n, s->m, s->r);
        mlb_work w = mlb_work_model(&sh, MLB_LORA);
        double xlb = main_res[i][MLB_LORA].total.med / mlb_lower_bound(&w, &mach);
        double xtr = main_res[i][MLB_LORA].total.med / main_res[i][MLB_TRAFFIC].total.med;
        out("| %d, %d->%d, %d | %.2f | %.2f | %.2f |", s->T, s->n, s->m, s->r,
            1e3 * main_res[i][MLB_LORA].total.med, xlb, xtr);
        if (w.bytes / (mach.bw_gbs * 1e9) >= w.flops / (mach.peak_gflops * 1e9)) {
            /* memory-bound by the model: the traffic kernel is the relevant limit */
            if (xtr > st->tr_worst) st->tr_worst = xtr;
            if (xtr < st->tr_best) st->tr_best = xtr;
            if (xtr > 1.5) st->tr_ok = 0;
        }
        if (xlb > st->lb_worst) st->lb_worst = xlb;
        if (xlb < st->lb_best) st->lb_best = xlb;
        if (xlb > 1.5) st->lb_ok = 0;
        for (k = 1; k < MLB_TRAFFIC; k++) {
            const mlb_result *r = &main_res[i][k];
            out(" %.3f [%.3f, %.3f] |", r->ratio, r->ratio_paired, r->ratio_min);
            if (r->ratio > st->worst[k]) st->worst[k] = r->ratio;
            if (r->ratio_paired > st->worstp[k]) st->worstp[k] = r->ratio_paired;
            if (target[k] > 0 && r->ratio > target[k]) st->ok[k] = 0;
            if (target[k] > 0 && r->ratio_paired > target[k]) st->okp[k] = 0;
        }
        out("\n");
    }
}
static void method_target(const summary_stats *st, int k, const char *what) {
    out("* %s: %s / %s (worst %.3f / %.3f)\n", what, st->ok[k] ? "met" : "NOT met",
        st->okp[k] ? "met" : "NOT met", st->worst[k], st->worstp[k]);
}
#ifdef MLB_HAVE_OPENBLAS
/* per thread count of the peer sweep: against OpenBLAS at every r, and against the FMA
   peak where r is large enough (r >= 64) for the step to be compute-bound */
static void peer_targets(void) {
    int i, j;
    if (!peer_ran) return;
    for (j = 0; j < peer_nth; j++) {
        double wr = 0, wf = 0, wpk = 1e9;
        int ok_r = 1, ok_pk = 1, ok_f = 1, any = 0;
        for (i = 0; i < NPEER; i++) {
            const peer_row *p = &peer_res[j][i];
            double pk, fl;
            if (p->r == 0) continue;
            any = 1;
            if (p->ratio_paired > wr) wr = p->ratio_paired;
            if (p->ratio_paired > 1.0) ok_r = 0;
            if (p->r < 64) continue;
            pk = p->flops / p->mel / p->peak;
            fl = p->mel / (p->flops / p->peak);
            if (pk < wpk) wpk = pk;
            if (pk < 0.70) ok_pk = 0;
            if (fl > wf) wf = fl;
            if (fl > 1.5) ok_f = 0;
        }
        if (!any) continue;
        out("* %d thread(s): LoRA fwd+bwd <= 1.0 x the six-sgemm OpenBLAS step at every r "
            "of the sweep: %s (worst %.3f); >= 70%% of the FMA peak at r >= 64: %s "
            "(lowest %.0f%%); <= 1.5 x the compute floor at r >= 64: %s (worst %.2f x)\n",
            peer_th[j], ok_r ? "met" : "NOT met", wr, ok_pk ? "met" : "NOT met",
            wpk < 1e9 ? 100.0 * wpk : 0.0, ok_f ? "met" : "NOT met", wf);
    }
}
#endif
static void summary_section(int nshapes) {
    summary_stats st;
    out("\n## Summary: fwd+bwd as a multiple of LoRA (same run)\n\n");
    out("Each cell: ratio of medians [median of per-round ratios, ratio of minima]. On a "
        "quiet machine the three agree; when other processes share the cores they scatter, "
        "and the per-round and minimum ratios are the less disturbed ones.\n\n");
    summary_table(nshapes, &st);
    out("\nTargets (benchmark figures of this run, not test assertions; worst shape, ratio "
        "of medians / median per-round ratio):\n\n");
    method_target(&st, MLB_MELORA_BATCH, "Me-LoRA (C/batch) <= 1.05 x LoRA at every shape");
    method_target(&st, MLB_MELORA_EXAMPLE, "Me-LoRA (C/example) <= 1.05 x LoRA");
    method_target(&st, MLB_BLOB, "BLoB (one draw per batch) <= 1.05 x LoRA");
    method_target(&st, MLB_FLIPOUT, "BLoB+Flipout <= 1.5 x LoRA");
    method_target(&st, MLB_MELORA_FOLDED,
                  "Me-LoRA (C/batch) with C folded into A (composed from the LoRA calls; what "
                  "the library's per-batch path could do) <= 1.05 x LoRA");
    out("* LoRA fwd+bwd within 1.5 x the lower bound: %s (%.2f x to %.2f x)\n",
        st.lb_ok ? "met" : "NOT met", st.lb_best, st.lb_worst);
#ifdef MLB_HAVE_OPENBLAS
    peer_targets();
#endif
    if (st.tr_best <= st.tr_worst)
        out("* LoRA fwd+bwd within 1.5 x the time of its own traffic without arithmetic, same "
            "rounds, at the shapes the model calls memory-bound: %s (%.2f x to %.2f x)\n",
            st.tr_ok ? "met" : "NOT met", st.tr_best, st.tr_worst);
}

/* ------------------------------------------------------------------- memory ---- */
static void memory_section(const char *dir, int r) {
    mlb_shape sh = shape(1200, 4096, 4096, r);
    mlb_memory mem[MLB_NMETHODS];
    FILE *csv;
    int k, c;
    int64_t lora_act;
    static int header_done = 0;
    {
        char path[1024];
        snprintf(path, sizeof path, "%s/memory.csv", dir);
        csv = fopen(path, header_done ? "a" : "w");
        if (!csv) { fprintf(stderr, "cannot write %s\n", path); exit(1); }
    }
    if (!header_done) {
        fprintf(csv, "T,n,m,r,method");
        for (c = 0; c < MLB_NCAT; c++) fprintf(csv, ",%s", mlb_category_name(c));
        fprintf(csv, ",total,peak_raw,model_params,model_grads,model_adam,model_activations,"
                     "model_noise\n");
        header_done = 1;
    }
    for (k = 0; k < MLB_TRAFFIC; k++) CHECK(mlb_measure_memory(&mem[k], &sh, k));
    out("\n### T = %d, n = m = %d, r = %d, E = %d, fp32 (bytes)\n\n", sh.T, sh.n, sh.r, sh.E);
    out("| method | params | grads | AdamW | saved act. | sample | noise | workspace | "
        "x,z,dz,dx | counted total | allocator peak | = count fn? |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    lora_act = mem[MLB_LORA].bytes[MLB_CAT_ACT];
    for (k = 0; k < MLB_TRAFFIC; k++) {
        const mlb_memory *mm = &mem[k];
        int fold = k == MLB_MELORA_FOLDED;
        int same = mm->bytes[MLB_CAT_PARAMS] == mm->model.params &&
                   mm->bytes[MLB_CAT_GRADS] == mm->model.grads &&
                   mm->bytes[MLB_CAT_ADAM] == mm->model.adam &&
                   (fold || mm->bytes[MLB_CAT_ACT] == mm->model.activations) &&
                   mm->bytes[MLB_CAT_NOISE] == mm->model.noise;
        out("| %s |", mlb_method_name(k));
        for (c = 0; c < MLB_CAT_OTHER; c++) out(" %lld |", (long long)mm->bytes[c]);
        out(" %lld | %lld | %s |\n", (long long)mm->total, (long long)mm->peak_raw,
            !same ? "**no**" : fold ? "yes, but act. = LoRA's (v only)" : "yes");
        fprintf(csv, "%d,%d,%d,%d,%s", sh.T, sh.n, sh.m, sh.r, mlb_method_key(k));
        for (c = 0; c < MLB_NCAT; c++) fprintf(csv, ",%lld", (long long)mm->bytes[c]);
        fprintf(csv, ",%lld,%lld,%lld,%lld,%lld,%lld,%lld\n", (long long)mm->total,
                (long long)mm->peak_raw, (long long)mm->model.params,
                (long long)mm->model.grads, (long long)mm->model.adam,
                (long long)mm->model.activations, (long long)mm->model.noise);
        if (!same) {
            out("\n  %s: melora_count_train_memory gives params %lld, grads %lld, AdamW %lld, "
                "activations %lld, noise %lld\n\n", mlb_method_name(k),
                (long long)mm->model.params, (long long)mm->model.grads,
                (long long)mm->model.adam, (long long)mm->model.activations,
                (long long)mm->model.noise);
        }
    }
    out("\nFolded Me-LoRA: 'sample' is A' = C A (r,n) and its gradient dA' (r,n) is in "
        "'workspace'; it saves only v = x A'^T, so its saved activations are LoRA's.\n");
    out("Me-LoRA saved activations - LoRA's = %lld bytes = %.2f x T*r floats (target <= 1).\n",
        (long long)(mem[MLB_MELORA_BATCH].bytes[MLB_CAT_ACT] - lora_act),
        (double)(mem[MLB_MELORA_BATCH].bytes[MLB_CAT_ACT] - lora_act) /
            (4.0 * sh.T * sh.r));
    out("Workspace (melora_workspace_size, fwd / bwd): LoRA and BLoB %zu / %zu, Flipout %zu / "
        "%zu, Me-LoRA %zu / %zu; one buffer of the larger size is allocated.\n",
        mem[MLB_LORA].work_fwd, mem[MLB_LORA].work_bwd, mem[MLB_FLIPOUT].work_fwd,
        mem[MLB_FLIPOUT].work_bwd, mem[MLB_MELORA_BATCH].work_fwd,
        mem[MLB_MELORA_BATCH].work_bwd);
    fclose(csv);
}

/* ------------------------------------------------------------------ scaling ---- */
static void sweep(const char *dir, const char *name, const char *var, const int *vals, int nv,
                  int reps) {
    FILE *csv = open_out(dir, name);
    int i, k;
    fprintf(csv, "%s", var);
    for (k = 0; k < MLB_NMETHODS; k++) fprintf(csv, ",%s_ms", mlb_method_key(k));
    for (k = 0; k < MLB_NMETHODS; k++) fprintf(csv, ",%s_ratio", mlb_method_key(k));
    fprintf(csv, ",lora_lower_bound_ms,melora_batch_lower_bound_ms\n");
    out("\n### fwd+bwd (ms, median of %d) versus %s\n\n| %s |", reps, var, var);
    for (k = 0; k < MLB_NMETHODS; k++) out(" %s |", mlb_method_name(k));
    out(" LoRA LB |\n|---:|");
    for (k = 0; k <= MLB_NMETHODS; k++) out("---:|");
    out("\n");
    for (i = 0; i < nv; i++) {
        int T = 1200, n = 4096, r = 8;
        mlb_shape sh;
        mlb_result res[MLB_NMETHODS];
        mlb_work w0, w3;
        if (var[0] == 'T') T = vals[i];
        if (var[0] == 'r') r = vals[i];
        if (var[0] == 'n') n = vals[i];
        sh = shape(T, n, n, r);
        CHECK(mlb_time(res, &sh, ALL, MLB_NMETHODS, 1, reps));
        w0 = mlb_work_model(&sh, MLB_LORA);
        w3 = mlb_work_model(&sh, MLB_MELORA_BATCH);
        fprintf(csv, "%d", vals[i]);
        out("| %d |", vals[i]);
        for (k = 0; k < MLB_NMETHODS; k++) {
            fprintf(csv, ",%.4f", 1e3 * res[k].total.med);
            out(" %.2f (%.2f) |", 1e3 * res[k].total.med, res[k].ratio);
        }
        for (k = 0; k < MLB_NMETHODS; k++) fprintf(csv, ",%.4f", res[k].ratio);
        fprintf(csv, ",%.4f,%.4f\n", 1e3 * mlb_lower_bound(&w0, &mach),
                1e3 * mlb_lower_bound(&w3, &mach));
        out(" %.2f |\n", 1e3 * mlb_lower_bound(&w0, &mach));
        fflush(stdout);
    }
    fclose(csv);
}

/* What the run prints in its header and footers, gathered once at the start. */
typedef struct {
    char cpu[256], date[64], load0[64];
    const char *bind;
    cpu_mark run_mark;
    double t_start;
} run_info;

static void header_section(run_info *ri) {
    struct utsname un;
    time_t now = time(NULL);
    ri->run_mark = cpu_mark_now();
    ri->bind = getenv("OMP_PROC_BIND");
    ri->t_start = mlb_now();
    cpu_model(ri->cpu, sizeof ri->cpu);
    loadavg(ri->load0, sizeof ri->load0);
    uname(&un);
    strftime(ri->date, sizeof ri->date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    out("# melora adapter benchmark\n\n");
    out("Machine: %s, %ld logical CPUs, %s %s; %d OpenMP thread(s), OMP_PROC_BIND=%s; "
        "gcc %s; MELORA_CHUNKS=%d; melora's kernels built for %s; %s.\n",
        ri->cpu, sysconf(_SC_NPROCESSORS_ONLN), un.sysname, un.release, mlb_threads(),
        ri->bind ? ri->bind : "(unset)", __VERSION__, MELORA_CHUNKS, ISA, ri->date);
}

/* --bf16: the bf16 rows alone, machine limits first (bf16.md, bf16.csv) */
static void bf16_only_run(const run_info *ri, const char *dir, int nshapes, int reps) {
    cpu_mark mk;
    double oth;
    char load[64];
    bf16_checks(); /* before the machine probes: a path that rejects bf16 stops at once */
    machine_section();
    mk = cpu_mark_now();
    bf16_section(dir, nshapes, reps);
    oth = others_share(mk);
    loadavg(load, sizeof load);
    out("\nMachine limits measured in the same run (before the rows): triad %.1f GB/s, "
        "read-only sum %.1f GB/s, LoRA's traffic without arithmetic (fp32) %.1f GB/s, FMA "
        "%.0f GFLOP/s (%d thread(s)). Other processes used %.0f%% of the machine's CPU "
        "time while the rows were timed; load average at the start %s, at the end %s. Wall "
        "time %.0f s.\n", mach.triad_gbs, mach.read_gbs, mach.lora_stream_gbs,
        mach.peak_gflops, mach.threads, 100.0 * oth, ri->load0, load, mlb_now() - ri->t_start);
}

/* The folded Me-LoRA path is composed here, not in the library: check it before timing it. */
static int folded_check(void) {
    double err;
    int st = mlb_check_folded(&err);
    out("\nCheck: folded Me-LoRA (C/batch) against melora_melora_forward/backward on a "
        "two small random shapes: max relative difference %.2e (%s).\n", err,
        st ? "FAILED" : "ok");
    return st;
}

static void memory_sections(const char *dir) {
    out("\n## Memory, counted by the allocator\n\n");
    out("Every buffer of one training step (the library's workspace included) is allocated "
        "with melora_alloc, whose MELORA_MALLOC is routed to a counting allocator; bytes are "
        "payload bytes. 'sample' is the drawn weight kept for backward (BLoB As, Me-LoRA C, folded A' = C A), "
        "which melora_count_train_memory does not model; '= count fn?' compares params, "
        "grads, AdamW, saved activations and stored noise with it.\n");
    memory_section(dir, 8);
    memory_section(dir, 64);
    out("\nProcess peak RSS after the memory section: %.1f MiB (largest counted peak above + "
        "program and libraries).\n", peak_rss_mib());
}

/* the machine probes, run before and after the main timing: the best of both is the bound */
static void machine_limits_table(void) {
    out("\n## Machine limits (same process, %d thread(s), best of two runs: before and "
        "after the timing)\n\n", mach.threads);
    out("| triad a=b+q*c | read-only sum | LoRA's traffic, no math | FMA rate | bandwidth "
        "used for bounds (the largest) |\n|---:|---:|---:|---:|---:|\n");
    out("| %.1f GB/s | %.1f GB/s | %.1f GB/s | %.0f GFLOP/s | %.1f GB/s |\n", mach.triad_gbs,
        mach.read_gbs, mach.lora_stream_gbs, mach.peak_gflops, mach.bw_gbs);
    out("\nTriad: 3 x 64 MiB arrays, 3 arrays counted. Read-only sum: 2 x 64 MiB, 16-lane "
        "vectors, 4 accumulators per thread. LoRA's traffic: z += q x then dx += q dz + q' x "
        "at T = 1200, n = m = 4096 (x, z, dz, dx: 7 x 19.7 MB moved, the L3 of %s may keep "
        "part of it). FMA: 24 (AVX-512) or 12 independent chains of the widest fused multiply-add per thread "
        "(intrinsics, so no compiler flag can split them). Each figure is the best "
        "of 5 repetitions.\n", "this CPU");
}

/* the summary goes to bench.md and, alone, to summary.md */
static void summary_file(const run_info *ri, const char *dir, int nshapes, double main_others) {
    extra = open_out(dir, "summary.md");
    out("\n<!-- %s; %d OpenMP threads, OMP_PROC_BIND=%s; gcc %s; %s -->\n", ri->cpu,
        mlb_threads(), ri->bind ? ri->bind : "(unset)", __VERSION__, ri->date);
    summary_section(nshapes);
    out("\nMachine limits measured in the same run: triad %.1f GB/s, read-only sum %.1f GB/s, "
        "LoRA's traffic without arithmetic %.1f GB/s, FMA %.0f GFLOP/s (%d threads). Other "
        "processes used %.0f%% of the machine's CPU time while the table was timed%s.\n",
        mach.triad_gbs, mach.read_gbs, mach.lora_stream_gbs, mach.peak_gflops, mach.threads,
        100.0 * main_others,
        main_others > 0.05 ? " (so the figures scatter more than on an idle machine)" : "");
    fclose(extra);
    extra = NULL;
}

static void scaling_section(const char *dir) {
    static const int Ts[] = {128, 256, 512, 1024, 2048, 4096, 8192};
    static const int rs[] = {1, 2, 4, 8, 16, 32, 64, 128};
    static const int ns[] = {1024, 2048, 4096, 8192};
    out("\n## Scaling (n = m; defaults T = 1200, n = 4096, r = 8; ratio to LoRA in "
        "brackets)\n");
    sweep(dir, "scaling_T.csv", "T", Ts, 7, 7);
    sweep(dir, "scaling_r.csv", "r", rs, 8, 7);
    sweep(dir, "scaling_n.csv", "n", ns, 4, 7);
}

int main(int argc, char **argv) {
    const char *dir = "bench/results";
    int quick = 0, reps = 15, scaling = 1, bf16_only = 0, nshapes, i;
    char load[64];
    run_info ri;
    cpu_mark main_mark;
    double main_others;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--quick")) quick = 1, scaling = 0;
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-scaling")) scaling = 0;
        else if (!strcmp(argv[i], "--bf16")) bf16_only = 1;
        else {
            fprintf(stderr, "usage: %s [--out DIR] [--quick] [--reps N] [--no-scaling] "
                            "[--bf16]\n", argv[0]);
            return 2;
        }
    }
    if (reps < 7) reps = 7;
    if (reps > MLB_MAX_REPS) reps = MLB_MAX_REPS;
    nshapes = quick ? 1 : NMAIN;
    mkdir(dir, 0777);
    md = open_out(dir, bf16_only ? "bf16.md" : "bench.md");
    header_section(&ri);

    if (bf16_only) {
        bf16_only_run(&ri, dir, nshapes, reps);
        fclose(md);
        return 0;
    }
    if (folded_check()) return 1;

    /* memory first: the process's peak RSS then reflects only the largest method */
    memory_sections(dir);
    machine_section();
    main_mark = cpu_mark_now();
    main_time(nshapes, reps);
    main_others = others_share(main_mark);
    machine_section(); /* before and after the timing: the best of both is the bound */
    machine_limits_table();
    main_section(dir, nshapes, reps);
#ifdef MLB_HAVE_OPENBLAS
    peer_section(reps, quick);
#else
    out("\n## The peer\n\nOpenBLAS was not found at build time (apt-get install "
        "libopenblas-dev libopenblas0-openmp; make bench installs them as root): the "
        "six-sgemm peer is not timed.\n");
#endif
    summary_file(&ri, dir, nshapes, main_others);
    bf16_section(dir, nshapes, reps);
    if (scaling) scaling_section(dir);
    loadavg(load, sizeof load);
    out("\nProcess peak RSS at the end: %.1f MiB. Benchmark wall time: %.0f s. Other "
        "processes used %.0f%% of the machine's CPU time during the run (%.0f%% while the "
        "main table was timed); load average at the start: %s.\n",
        peak_rss_mib(), mlb_now() - ri.t_start, 100.0 * others_share(ri.run_mark),
        100.0 * main_others, ri.load0);
    fclose(md);
    return 0;
}
