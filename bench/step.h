/* bench/step.h - one training step of each bench method on buffers it allocates
   (mlb_ctx_init / mlb_ctx_step / mlb_ctx_free), and the two measurements built on it:
   mlb_time (interleaved timing, bench/timing.h) and mlb_measure_memory (exact bytes per
   category, bench/alloc.h). Every noise draw goes through melora.h's per-method noise
   functions: step k of a context is draw k of seed 2024. */
#ifndef MELORA_BENCH_STEP_H
#define MELORA_BENCH_STEP_H

#include "mlb_base.h"
#include "alloc.h"
#include "folded.h"
#include "machine.h"
#include "methods.h"
#include "timing.h"

typedef struct {
    int64_t bytes[MLB_NCAT]; /* payload bytes per category */
    int64_t total;           /* sum of bytes[] */
    int64_t peak_raw;        /* allocator peak during setup + one step (raw malloc bytes) */
    int64_t nblocks;         /* blocks allocated */
    size_t work_fwd, work_bwd; /* melora_workspace_size of the forward and backward op */
    melora_train_memory model; /* melora_count_train_memory, same shape, fp32, stored noise */
} mlb_memory;

/* ------------------------------------------------------------ step context ------- */
typedef struct {
    mlb_shape sh;
    melora_dtype dt; /* of x, z, dz, dx (uint16_t bits when half); the rest is float32 */
    float s;
    void *x, *z, *dz, *dx; /* the caller's activations, melora_esize(dt) bytes each */
    float *u, *v;
    float *A, *B, *GA, *EA, *As, *M, *H, *EC, *C, *sa, *sb; /* A doubles as BLoB's MA */
    float *dA, *dGA, *dB, *dM, *dH;
    float *adam;
    float *Af, *dAf; /* folded Me-LoRA: A' = C A and its gradient (r,n) */
    void *work;
    size_t work_bytes;
    int nbuf;
    void *bufs[40];
    int bufcat[40];
    uint64_t step;
} mlb_ctx;

/* count elements of dtype dt, each val rounded to dt once */
static int mlb__buf_dt(mlb_ctx *c, void **out, int cat, size_t count, melora_dtype dt,
                       float val) {
    void *p = NULL;
    size_t i;
    int old = mlb_set_category(cat);
    melora_status st = melora_alloc(&p, count * (dt == MELORA_FP32 ? sizeof(float) : 2));
    mlb_set_category(old);
    if (st != MELORA_OK) return (int)st;
    if (dt == MELORA_FP32)
        for (i = 0; i < count; i++) ((float *)p)[i] = val;
    else {
        uint16_t h = dt == MELORA_BF16 ? melora_f32_to_bf16(val) : melora_f32_to_f16(val);
        for (i = 0; i < count; i++) ((uint16_t *)p)[i] = h;
    }
    c->bufcat[c->nbuf] = cat;
    c->bufs[c->nbuf++] = p;
    *out = p;
    return 0;
}
static int mlb__buf(mlb_ctx *c, float **out, int cat, size_t count, float val) {
    void *p = NULL;
    int st = mlb__buf_dt(c, &p, cat, count, MELORA_FP32, val);
    *out = (float *)p;
    return st;
}

MLB_API void mlb_ctx_free(mlb_ctx *c) {
    int i;
    for (i = 0; i < c->nbuf; i++) melora_free(c->bufs[i]);
    c->nbuf = 0;
}

/* Allocates what the methods in `mask` (bit 1<<method) need, with the activations x, z,
   dz, dx of dtype dt (parameters, gradients and saved u, v stay float32). adam != 0 also
   allocates AdamW moments (2 x the trainable parameters of the one method in mask). */
MLB_API int mlb_ctx_init_dt(mlb_ctx *c, const mlb_shape *sh, unsigned mask, int adam,
                            melora_dtype dt) {
    size_t T = (size_t)sh->T, n = (size_t)sh->n, m = (size_t)sh->m, r = (size_t)sh->r;
    size_t E = (size_t)sh->E, G = (size_t)(sh->G > 0 ? sh->G : 1), ng, ws = 0, w1, ec = 0;
    size_t nparam = 0;
    int op, st = 0, lora = (mask & 1u << MLB_LORA) != 0;
    int blob = (mask & 1u << MLB_BLOB) != 0, flip = (mask & 1u << MLB_FLIPOUT) != 0;
    int melv = (mask & (1u << MLB_MELORA_BATCH | 1u << MLB_MELORA_EXAMPLE)) != 0;
    int fold = (mask & 1u << MLB_MELORA_FOLDED) != 0, mel = melv || fold;
    const melora_dims d = {sh->T, sh->n, sh->m, sh->r, dt};
    memset(c, 0, sizeof *c);
    c->sh = *sh;
    c->dt = dt;
    if ((unsigned)dt >= (unsigned)MELORA_DTYPE_COUNT_) return (int)MELORA_ERR_ENUM;
    if (c->sh.G <= 0) c->sh.G = 1;
    if (sh->T <= 0 || sh->n <= 0 || sh->m <= 0 || sh->r <= 0) return (int)MELORA_ERR_SIZE;
    if ((mask & 1u << MLB_MELORA_EXAMPLE) && (sh->E <= 0 || sh->T % sh->E != 0))
        return (int)MELORA_ERR_DIVISIBILITY;
    c->s = sh->alpha / (float)sh->r;
    ng = (T + G - 1) / G;
    if (mask & (1u << MLB_MELORA_BATCH | 1u << MLB_MELORA_FOLDED)) ec = r * r;
    if (mask & 1u << MLB_MELORA_EXAMPLE) ec = E * r * r;
    for (op = 0; op < (int)MELORA_OP_MELORA_MC_FORWARD; op++) {
        int need = ((op == MELORA_OP_LORA_FORWARD || op == MELORA_OP_LORA_BACKWARD) &&
                    (lora || blob || fold)) ||
                   ((op == MELORA_OP_FLIPOUT_FORWARD || op == MELORA_OP_FLIPOUT_BACKWARD) &&
                    flip) ||
                   ((op == MELORA_OP_MELORA_FORWARD || op == MELORA_OP_MELORA_BACKWARD) && melv);
        if (!need) continue;
        st = (int)melora_workspace_size(&w1, (melora_op)op, d);
        if (st) return st;
        if (w1 > ws) ws = w1;
    }
#define MLB__B(field, cat, cnt, val) \
    do { if (!st) st = mlb__buf(c, &c->field, cat, cnt, val); } while (0)
#define MLB__A(field, cnt, val) \
    do { if (!st) st = mlb__buf_dt(c, &c->field, MLB_CAT_IO, cnt, dt, val); } while (0)
    MLB__A(x, T * n, 0.01f);
    MLB__A(z, T * m, 0.0f);
    MLB__A(dz, T * m, 0.01f);
    MLB__A(dx, T * n, 0.0f);
#undef MLB__A
    MLB__B(u, MLB_CAT_ACT, T * r, 0.0f);
    MLB__B(A, MLB_CAT_PARAMS, r * n, 0.01f);
    MLB__B(B, MLB_CAT_PARAMS, m * r, 0.01f);
    MLB__B(dA, MLB_CAT_GRADS, r * n, 0.0f);
    MLB__B(dB, MLB_CAT_GRADS, m * r, 0.0f);
    nparam = r * n + m * r;
    if (blob || flip) {
        MLB__B(GA, MLB_CAT_PARAMS, r * n, 0.04f);
        MLB__B(dGA, MLB_CAT_GRADS, r * n, 0.0f);
        MLB__B(EA, MLB_CAT_NOISE, r * n, 0.0f);
        nparam += r * n;
    }
    if (blob) MLB__B(As, MLB_CAT_SAMPLE, r * n, 0.0f);
    if (flip) {
        MLB__B(sa, MLB_CAT_NOISE, ng * n, 0.0f);
        MLB__B(sb, MLB_CAT_NOISE, ng * r, 0.0f);
    }
    if (melv) MLB__B(v, MLB_CAT_ACT, T * r, 0.0f);
    if (fold) {
        MLB__B(Af, MLB_CAT_SAMPLE, r * n, 0.0f);
        MLB__B(dAf, MLB_CAT_WORK, r * n, 0.0f);
    }
    if (mel) {
        MLB__B(M, MLB_CAT_PARAMS, r * r, 0.1f);
        MLB__B(H, MLB_CAT_PARAMS, r * r, 0.1f);
        MLB__B(dM, MLB_CAT_GRADS, r * r, 0.0f);
        MLB__B(dH, MLB_CAT_GRADS, r * r, 0.0f);
        MLB__B(EC, MLB_CAT_NOISE, ec, 0.0f);
        MLB__B(C, MLB_CAT_SAMPLE, ec, 0.0f);
        nparam += 2 * r * r;
    }
    if (adam) MLB__B(adam, MLB_CAT_ADAM, 2 * nparam, 0.0f);
#undef MLB__B
    if (!st) {
        int old = mlb_set_category(MLB_CAT_WORK);
        st = (int)melora_alloc(&c->work, ws > 0 ? ws : 64);
        mlb_set_category(old);
        if (!st) { c->bufcat[c->nbuf] = MLB_CAT_WORK; c->bufs[c->nbuf++] = c->work; }
    }
    c->work_bytes = ws;
    if (st) mlb_ctx_free(c);
    return st;
}
MLB_API int mlb_ctx_init(mlb_ctx *c, const mlb_shape *sh, unsigned mask, int adam) {
    return mlb_ctx_init_dt(c, sh, mask, adam, MELORA_FP32);
}


/* One training step of `method`: noise draw + forward, then backward. Times in seconds. */
MLB_API int mlb_ctx_step(mlb_ctx *c, int method, double *tf, double *tb) {
    const int T = c->sh.T, n = c->sh.n, m = c->sh.m, r = c->sh.r, G = c->sh.G;
    const float s = c->s;
    const uint64_t seed = 2024, draw = c->step++;
    const melora_dims d = {T, n, m, r, c->dt};
    const melora_work w = {c->work, c->work_bytes};
    const int e = method == MLB_MELORA_EXAMPLE ? c->sh.E : 1;
    const melora_lora_params lp = {c->A, c->B, s}, fp = {c->Af, c->B, s}; /* fp: A' = C A */
    const melora_lora_grads lg = {c->dA, c->dB}, fg = {c->dAf, c->dB};
    const melora_blob_params bp = {c->A, c->GA, c->B, s};
    const melora_blob_grads bg = {c->dA, c->dGA, c->dB};
    const melora_blob_draw bd = {c->As, c->EA};
    const melora_flipout_noise nz = {c->EA, c->sa, c->sb, G};
    const melora_melora_params mp = {c->A, c->B, c->M, c->H, s};
    const melora_melora_grads mg = {c->dA, c->dB, c->dM, c->dH};
    const melora_melora_draw md = {c->C, c->EC, e};
    const melora_lora_saved sv = {c->x, c->u};
    const melora_melora_saved ms = {c->x, c->u, c->v};
    melora_status st = MELORA_OK;
    double t0 = mlb_now(), t1 = t0;
#define MLB__T(x) do { if (st == MELORA_OK) st = (x); } while (0)
    switch (method) {
    case MLB_LORA:
        MLB__T(melora_lora_forward(c->z, &sv, w, &lp, d));
        t1 = mlb_now();
        MLB__T(melora_lora_backward(c->dx, &lg, &sv, w, c->dz, &lp, d));
        break;
    case MLB_BLOB:
        MLB__T(melora_blob_noise(c->EA, seed, draw, r, n));
        MLB__T(melora_blob_forward(c->z, &sv, c->As, w, &bp, c->EA, d));
        t1 = mlb_now();
        MLB__T(melora_blob_backward(c->dx, &bg, &sv, w, c->dz, &bp, &bd, d));
        break;
    case MLB_FLIPOUT:
        MLB__T(melora_blob_flipout_noise(c->EA, c->sa, c->sb, seed, draw, G, d));
        MLB__T(melora_blob_flipout_forward(c->z, &sv, w, &bp, &nz, d));
        t1 = mlb_now();
        MLB__T(melora_blob_flipout_backward(c->dx, &bg, &sv, w, c->dz, &bp, &nz, d));
        break;
    case MLB_MELORA_BATCH:
    case MLB_MELORA_EXAMPLE:
        MLB__T(melora_melora_noise(c->EC, seed, draw, e, r));
        MLB__T(melora_melora_sample(c->C, &mp, c->EC, e, r));
        MLB__T(melora_melora_forward(c->z, &ms, w, &mp, &md, d));
        t1 = mlb_now();
        MLB__T(melora_melora_backward(c->dx, &mg, &ms, w, c->dz, &mp, &md, d));
        break;
    case MLB_TRAFFIC:
        if (c->dt == MELORA_FP32) {
            mlb__traffic_fwd((float *)c->z, (const float *)c->x, T, n, m);
            t1 = mlb_now();
            mlb__traffic_bwd((float *)c->dx, (const float *)c->dz, (const float *)c->x, T, n, m);
        } else if (c->dt == MELORA_BF16) {
            mlb__traffic_fwd_bf16((uint16_t *)c->z, (const uint16_t *)c->x, T, n, m);
            t1 = mlb_now();
            mlb__traffic_bwd_bf16((uint16_t *)c->dx, (const uint16_t *)c->dz,
                                  (const uint16_t *)c->x, T, n, m);
        } else {
            st = MELORA_ERR_ENUM; /* no fp16 traffic kernel */
        }
        break;
    case MLB_MELORA_FOLDED:
        MLB__T(melora_melora_noise(c->EC, seed, draw, 1, r));
        MLB__T(melora_melora_sample(c->C, &mp, c->EC, 1, r));
        if (st == MELORA_OK) mlb__fold(c->Af, c->C, c->A, r, n);
        MLB__T(melora_lora_forward(c->z, &sv, w, &fp, d));
        t1 = mlb_now();
        if (st == MELORA_OK) memset(c->dAf, 0, (size_t)r * (size_t)n * sizeof(float));
        MLB__T(melora_lora_backward(c->dx, &fg, &sv, w, c->dz, &fp, d));
        if (st == MELORA_OK)
            mlb__unfold(c->dA, c->dM, c->dH, c->dAf, c->A, c->C, c->H, c->EC, r, n);
        break;
    default:
        st = MELORA_ERR_ENUM;
    }
#undef MLB__T
    if (tf) *tf = t1 - t0;
    if (tb) *tb = mlb_now() - t1;
    return (int)st;
}

/* Checks MLB_MELORA_FOLDED against melora_melora_forward/backward (E = 1) on two small
   random shapes (one with whole 64-column blocks); *max_rel gets the largest
   |difference| / (max |library value| + 1e-30) over z, dx, dA, dB, dM, dH. Returns 0 when
   every one is below 1e-4. */
static int mlb__check_folded_at(double *max_rel, int T, int n, int m, int r);
MLB_API int mlb_check_folded(double *max_rel) {
    double e1 = 1e30, e2 = 1e30;
    int st = mlb__check_folded_at(&e1, 12, 40, 36, 4);
    if (!st) st = mlb__check_folded_at(&e2, 16, 136, 24, 6);
    *max_rel = e1 > e2 ? e1 : e2;
    return st;
}
static int mlb__check_folded_at(double *max_rel, int T, int n, int m, int r) {
    mlb_shape sh = {12, 40, 36, 4, 1, 1, 16.0f};
    mlb_ctx c;
    float *ref[6], *got[6];
    size_t cnt[6];
    int st, i, pass;
    double worst = 0;
    *max_rel = 1e30;
    sh.T = T; sh.n = n; sh.m = m; sh.r = r;
    st = mlb_ctx_init(&c, &sh, 1u << MLB_MELORA_BATCH | 1u << MLB_MELORA_FOLDED, 0);
    if (st) return st;
    cnt[0] = (size_t)T * m; cnt[1] = (size_t)T * n; cnt[2] = (size_t)r * n;
    cnt[3] = (size_t)m * r; cnt[4] = cnt[5] = (size_t)r * r;
    melora_noise_normal((float *)c.x, 7, 0, (int64_t)cnt[1]);
    melora_noise_normal((float *)c.dz, 7, 100000, (int64_t)cnt[0]);
    melora_noise_normal(c.A, 7, 200000, (int64_t)cnt[2]);
    melora_noise_normal(c.B, 7, 300000, (int64_t)cnt[3]);
    melora_noise_normal(c.M, 7, 400000, (int64_t)cnt[4]);
    melora_noise_normal(c.H, 7, 500000, (int64_t)cnt[4]);
    ref[0] = (float *)c.z; ref[1] = (float *)c.dx; ref[2] = c.dA; ref[3] = c.dB; ref[4] = c.dM; ref[5] = c.dH;
    for (pass = 0; pass < 2 && !st; pass++) {
        for (i = 0; i < 6; i++) memset(ref[i], 0, cnt[i] * sizeof(float));
        c.step = 0;
        st = mlb_ctx_step(&c, pass ? MLB_MELORA_FOLDED : MLB_MELORA_BATCH, NULL, NULL);
        for (i = 0; i < 6 && !st && pass == 0; i++) {
            got[i] = (float *)malloc(cnt[i] * sizeof(float));
            if (!got[i]) { st = (int)MELORA_ERR_ALLOC; break; }
            memcpy(got[i], ref[i], cnt[i] * sizeof(float));
        }
    }
    if (!st)
        for (i = 0; i < 6; i++) {
            double amax = 0, dmax = 0;
            size_t j;
            for (j = 0; j < cnt[i]; j++) {
                double a = fabs((double)got[i][j]), d = fabs((double)got[i][j] - ref[i][j]);
                if (a > amax) amax = a;
                if (d > dmax) dmax = d;
            }
            if (dmax / (amax + 1e-30) > worst) worst = dmax / (amax + 1e-30);
            free(got[i]);
        }
    mlb_ctx_free(&c);
    if (st) return st;
    *max_rel = worst;
    return worst < 1e-4 ? 0 : (int)MELORA_ERR_VALUE;
}

/* ----------------------------------------------------------------- timing ------- */
static int mlb__ctx_step_fn(void *c, int method, double *tf, double *tb) {
    return mlb_ctx_step((mlb_ctx *)c, method, tf, tb);
}
/* The listed methods (and LoRA, the base of the ratios, when not listed) on one context,
   interleaved (mlb_time_rounds). */
MLB_API int mlb_time(mlb_result *out, const mlb_shape *sh, const int *methods, int nmethods,
                     int warmup, int reps) {
    int list[MLB_NMETHODS + 1], nl = 0, i, st, have_lora = -1;
    unsigned mask = 0;
    mlb_ctx c;
    if (!out || !sh || !methods) return (int)MELORA_ERR_NULL;
    if (nmethods <= 0 || nmethods > MLB_NMETHODS || reps <= 0 || reps > MLB_MAX_REPS ||
        warmup < 0)
        return (int)MELORA_ERR_SIZE;
    for (i = 0; i < nmethods; i++) {
        if (methods[i] < 0 || methods[i] >= MLB_NMETHODS) return (int)MELORA_ERR_ENUM;
        if (methods[i] == MLB_LORA) have_lora = i;
        list[nl++] = methods[i];
        mask |= 1u << methods[i];
    }
    if (have_lora < 0) { have_lora = nl; list[nl++] = MLB_LORA; mask |= 1u; }
    st = mlb_ctx_init(&c, sh, mask, 0);
    if (st) return st;
    st = mlb_time_rounds(out, nmethods, list, nl, have_lora, warmup, reps, mlb__ctx_step_fn, &c);
    mlb_ctx_free(&c);
    return st;
}

/* Methods at several activation dtypes in one interleaved run: entry i is method
   methods[i] with x, z, dz, dx of dtype dts[i] (one context per dtype, so the fp32 and
   bf16 rows of a shape share the rounds). Ratios are to entry 0; mlb_round_ratio(i, j)
   pairs any two entries round by round afterwards. 0 or the first failing status (no
   entry is timed past a failing call). */
typedef struct { mlb_ctx c[MELORA_DTYPE_COUNT_]; } mlb__dt_ctx;
static int mlb__dt_step_fn(void *p, int code, double *tf, double *tb) {
    mlb__dt_ctx *x = (mlb__dt_ctx *)p;
    return mlb_ctx_step(&x->c[code / MLB_NMETHODS], code % MLB_NMETHODS, tf, tb);
}
MLB_API int mlb_time_dt(mlb_result *out, const mlb_shape *sh, const int *methods,
                        const melora_dtype *dts, int nmethods, int warmup, int reps) {
    static mlb__dt_ctx x; /* static: large, and the bench is single-threaded here */
    unsigned mask[MELORA_DTYPE_COUNT_] = {0};
    int list[MLB_MAX_LIST], i, st = 0, made[MELORA_DTYPE_COUNT_] = {0};
    if (!out || !sh || !methods || !dts) return (int)MELORA_ERR_NULL;
    if (nmethods <= 0 || nmethods > MLB_MAX_LIST) return (int)MELORA_ERR_SIZE;
    for (i = 0; i < nmethods; i++) {
        if (methods[i] < 0 || methods[i] >= MLB_NMETHODS ||
            (unsigned)dts[i] >= (unsigned)MELORA_DTYPE_COUNT_)
            return (int)MELORA_ERR_ENUM;
        mask[dts[i]] |= 1u << methods[i];
        list[i] = methods[i] + MLB_NMETHODS * (int)dts[i];
    }
    for (i = 0; i < MELORA_DTYPE_COUNT_ && !st; i++)
        if (mask[i]) {
            st = mlb_ctx_init_dt(&x.c[i], sh, mask[i], 0, (melora_dtype)i);
            made[i] = !st;
        }
    if (!st)
        st = mlb_time_rounds(out, nmethods, list, nmethods, 0, warmup, reps, mlb__dt_step_fn, &x);
    for (i = 0; i < MELORA_DTYPE_COUNT_; i++)
        if (made[i]) mlb_ctx_free(&x.c[i]);
    for (i = 0; i < nmethods && !st; i++) out[i].method = methods[i];
    return st;
}

/* ----------------------------------------------------------------- memory ------- */
MLB_API int mlb_measure_memory(mlb_memory *mem, const mlb_shape *sh, int method) {
    int64_t slack = mlb_alloc_slack(), blocks0, cat0[MLB_NCAT], base;
    mlb_ctx c;
    melora_module mod;
    melora_method mm;
    melora_op of = MELORA_OP_LORA_FORWARD, ob = MELORA_OP_LORA_BACKWARD;
    melora_dims d;
    int st, i;
    if (!mem || !sh) return (int)MELORA_ERR_NULL;
    d.T = sh->T; d.n = sh->n; d.m = sh->m; d.r = sh->r; d.dtype = MELORA_FP32;
    memset(mem, 0, sizeof *mem);
    if (method < 0 || method >= MLB_NMETHODS || method == MLB_TRAFFIC) return (int)MELORA_ERR_ENUM;
    if (slack < 0) return (int)MELORA_ERR_VALUE; /* MELORA_MALLOC is not mlb_malloc */
    for (i = 0; i < MLB_NCAT; i++) cat0[i] = mlb__al.cat_cur[i];
    blocks0 = mlb__al.nblocks;
    base = mlb__al.cur;
    mlb_alloc_reset_peak();
    st = mlb_ctx_init(&c, sh, 1u << method, 1);
    if (st) return st;
    st = mlb_ctx_step(&c, method, NULL, NULL);
    for (i = 0; i < MLB_NCAT; i++) mem->bytes[i] = mlb__al.cat_cur[i] - cat0[i];
    /* the context's blocks came through melora_alloc: take its alignment slack off */
    for (i = 0; i < c.nbuf; i++) mem->bytes[c.bufcat[i]] -= slack;
    mem->nblocks = mlb__al.nblocks - blocks0;
    mem->peak_raw = mlb__al.peak - base;
    mlb_ctx_free(&c);
    if (st) return st;
    for (i = 0; i < MLB_NCAT; i++) mem->total += mem->bytes[i];
    if (method == MLB_FLIPOUT) of = MELORA_OP_FLIPOUT_FORWARD, ob = MELORA_OP_FLIPOUT_BACKWARD;
    if (method == MLB_MELORA_BATCH || method == MLB_MELORA_EXAMPLE)
        of = MELORA_OP_MELORA_FORWARD, ob = MELORA_OP_MELORA_BACKWARD;
    melora_workspace_size(&mem->work_fwd, of, d);
    melora_workspace_size(&mem->work_bwd, ob, d);
    mod.name = "bench";
    mod.m = sh->m;
    mod.n = sh->n;
    mod.count = 1;
    mm = method == MLB_LORA ? MELORA_METHOD_LORA
         : method == MLB_BLOB ? MELORA_METHOD_BLOB
         : method == MLB_FLIPOUT ? MELORA_METHOD_BLOB_FLIPOUT
                                 : MELORA_METHOD_MELORA;
    melora_train_setup setup = {sh->r, sh->T, 1, 1, 0};
    if (method == MLB_MELORA_EXAMPLE) setup.E = sh->E;
    if (sh->G > 0) setup.G = sh->G;
    return (int)melora_count_train_memory(&mem->model, mm, &mod, 1, &setup, MELORA_FP32);
}


#endif /* MELORA_BENCH_STEP_H */
