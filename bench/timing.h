/* bench/timing.h - the clock, medians, and the interleaved rounds that every timed figure
   of the bench goes through (mlb_time in bench/step.h, the peer in bench/peer.h).

   Rounds are interleaved: a round runs every listed method once, in the listed order, so
   that slow drifts of a shared machine hit all methods alike. */
#ifndef MELORA_BENCH_TIMING_H
#define MELORA_BENCH_TIMING_H

#include "mlb_base.h"

#define MLB_MAX_REPS 64
#define MLB_MAX_LIST 16 /* methods in one interleaved run */

typedef struct { double med, min, max; } mlb_stat;   /* seconds */
typedef struct {
    int method;
    int reps;
    mlb_stat fwd, bwd, total;
    double ratio; /* total.med / LoRA total.med, same run */
    double ratio_paired; /* median over rounds of total / LoRA total of the same round */
    double ratio_min;    /* total.min / LoRA total.min (interference only adds time) */
} mlb_result;

MLB_API int mlb_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
MLB_API double mlb_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int mlb__cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
MLB_API mlb_stat mlb_stats(const double *v, int k) {
    double t[MLB_MAX_REPS];
    mlb_stat st;
    int i;
    for (i = 0; i < k; i++) t[i] = v[i];
    qsort(t, (size_t)k, sizeof(double), mlb__cmp);
    st.min = t[0];
    st.max = t[k - 1];
    st.med = k % 2 ? t[k / 2] : 0.5 * (t[k / 2 - 1] + t[k / 2]);
    return st;
}


/* One step of `method` on `ctx`: 0 or a melora_status, forward and backward seconds. */
typedef int (*mlb_step_fn)(void *ctx, int method, double *tf, double *tb);

/* The per-round times of the last mlb_time_rounds call (list order), kept so that
   ratios between any two of its entries can be paired round by round. */
static double mlb__tf[MLB_MAX_LIST][MLB_MAX_REPS], mlb__tb[MLB_MAX_LIST][MLB_MAX_REPS],
    mlb__tt[MLB_MAX_LIST][MLB_MAX_REPS];
static int mlb__last_nl = 0, mlb__last_reps = 0;

/* `warmup` untimed rounds then `reps` timed rounds of the nl methods in `list`; out[i]
   for i < nout (the first nout of the list) gets its medians and its ratios to
   list[base] of the same run. 0 or the first failing step's status. */
MLB_API int mlb_time_rounds(mlb_result *out, int nout, const int *list, int nl, int base,
                            int warmup, int reps, mlb_step_fn step, void *ctx) {
    double (*tf)[MLB_MAX_REPS] = mlb__tf, (*tb)[MLB_MAX_REPS] = mlb__tb,
           (*tt)[MLB_MAX_REPS] = mlb__tt;
    int i, k, rep, st = 0;
    double med;
    if (nl > MLB_MAX_LIST || nout > nl || base < 0 || base >= nl || reps <= 0 ||
        reps > MLB_MAX_REPS || warmup < 0)
        return (int)MELORA_ERR_SIZE;
    for (rep = -warmup; rep < reps && !st; rep++)
        for (k = 0; k < nl && !st; k++) {
            double f, b;
            st = step(ctx, list[k], &f, &b);
            if (rep >= 0) { tf[k][rep] = f; tb[k][rep] = b; tt[k][rep] = f + b; }
        }
    mlb__last_nl = 0;
    if (st) return st;
    mlb__last_nl = nl;
    mlb__last_reps = reps;
    med = mlb_stats(tt[base], reps).med;
    for (i = 0; i < nout; i++) {
        double q[MLB_MAX_REPS];
        for (rep = 0; rep < reps; rep++) q[rep] = tt[i][rep] / tt[base][rep];
        out[i].ratio_paired = mlb_stats(q, reps).med;
        out[i].ratio_min = mlb_stats(tt[i], reps).min / mlb_stats(tt[base], reps).min;
        out[i].method = list[i];
        out[i].reps = reps;
        out[i].fwd = mlb_stats(tf[i], reps);
        out[i].bwd = mlb_stats(tb[i], reps);
        out[i].total = mlb_stats(tt[i], reps);
        out[i].ratio = out[i].total.med / med;
    }
    return 0;
}

/* Median over the rounds of the last successful mlb_time_rounds call of entry a's
   forward+backward time over entry b's in the same round (indices into its list);
   -1 when there is no such call or entry. */
MLB_API double mlb_round_ratio(int a, int b) {
    double q[MLB_MAX_REPS];
    int rep;
    if (a < 0 || b < 0 || a >= mlb__last_nl || b >= mlb__last_nl) return -1.0;
    for (rep = 0; rep < mlb__last_reps; rep++) q[rep] = mlb__tt[a][rep] / mlb__tt[b][rep];
    return mlb_stats(q, mlb__last_reps).med;
}

#endif /* MELORA_BENCH_TIMING_H */
