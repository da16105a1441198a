/* metrics.h - calibration metrics of the calibration experiment (header only, static inline).

   All functions take class probabilities (already averaged over Monte-Carlo samples, never
   logits) laid out row-major as probs[N][K], and integer labels y[N] in [0, K).

   calib_accuracy   fraction of argmax(probs) == y (first maximum wins ties)
   calib_nll        mean of -log max(p_y, CALIB_PMIN)
   calib_brier      mean over examples of sum_c (p_c - [c == y])^2   (range 0..2)
   calib_ece        expected calibration error with `bins` equal-width bins of the
                    confidence max_c p_c, as in BLoB's code: bin b holds confidences in
                    (b/bins, (b+1)/bins]; a confidence of exactly 0 goes to bin 0.
                    ECE = sum_b (n_b / N) |acc_b - conf_b|.
   calib_reliability  per-bin counts, mean confidence and accuracy (for the diagrams)
   calib_entropy    predictive entropy -sum_c p_c log p_c of one row (0 log 0 = 0)
   calib_auroc      area under the ROC curve of a score that should be larger for the
                    positives (Mann-Whitney U / (n_pos n_neg), ties count one half).
                    Returns -1 when either set is empty or memory runs out.
   calib_paired     mean of the paired differences a_i - b_i and the half-width of its 95%
                    confidence interval, t_{0.975, n-1} s / sqrt(n) (Student's t; 0 for n < 2)
   calib_t975       the two-sided 95% quantile of Student's t for 1..7 degrees of freedom
                    (1.96 beyond)
   Fractions are returned as fractions (multiply by 100 for percent). */
#ifndef CALIB_METRICS_H
#define CALIB_METRICS_H

#include <math.h>
#include <stdlib.h>

#define CALIB_PMIN 1e-12

static inline int calib_argmax(const float *p, int K) {
    int c, best = 0;
    for (c = 1; c < K; c++)
        if (p[c] > p[best]) best = c;
    return best;
}

static inline double calib_accuracy(const float *probs, const int *y, int N, int K) {
    int i, ok = 0;
    if (N <= 0) return 0.0;
    for (i = 0; i < N; i++) ok += calib_argmax(probs + (size_t)i * K, K) == y[i];
    return (double)ok / N;
}

static inline double calib_nll(const float *probs, const int *y, int N, int K) {
    int i;
    double s = 0.0;
    if (N <= 0) return 0.0;
    for (i = 0; i < N; i++) {
        double p = probs[(size_t)i * K + y[i]];
        s -= log(p > CALIB_PMIN ? p : CALIB_PMIN);
    }
    return s / N;
}

static inline double calib_brier(const float *probs, const int *y, int N, int K) {
    int i, c;
    double s = 0.0;
    if (N <= 0) return 0.0;
    for (i = 0; i < N; i++)
        for (c = 0; c < K; c++) {
            double d = (double)probs[(size_t)i * K + c] - (c == y[i] ? 1.0 : 0.0);
            s += d * d;
        }
    return s / N;
}

/* Bin of a confidence: (b/bins, (b+1)/bins], the edges rounded to float as in a float32
   linspace (BLoB's code), so that a float confidence equal to an edge, e.g. 0.6f with 10
   bins, falls in the bin below it. */
static inline float calib__edge(int b, int bins) { return (float)((double)b / bins); }
static inline int calib_bin(double conf, int bins) {
    int b = (int)ceil(conf * bins) - 1;
    if (b < 0) b = 0;
    if (b >= bins) b = bins - 1;
    while (b > 0 && conf <= (double)calib__edge(b, bins)) b--;
    while (b < bins - 1 && conf > (double)calib__edge(b + 1, bins)) b++;
    return b;
}

/* count[b], conf[b] (mean confidence), acc[b] (accuracy) for b < bins; empty bins get 0. */
static inline void calib_reliability(int *count, double *conf, double *acc, const float *probs,
                                     const int *y, int N, int K, int bins) {
    int i, b;
    for (b = 0; b < bins; b++) { count[b] = 0; conf[b] = 0.0; acc[b] = 0.0; }
    for (i = 0; i < N; i++) {
        const float *p = probs + (size_t)i * K;
        int a = calib_argmax(p, K);
        b = calib_bin(p[a], bins);
        count[b]++;
        conf[b] += p[a];
        acc[b] += a == y[i];
    }
    for (b = 0; b < bins; b++)
        if (count[b] > 0) { conf[b] /= count[b]; acc[b] /= count[b]; }
}

static inline double calib_ece(const float *probs, const int *y, int N, int K, int bins) {
    int i, b;
    double e = 0.0, *conf, *acc;
    int *count;
    if (N <= 0 || bins <= 0) return 0.0;
    conf = (double *)calloc((size_t)bins, sizeof *conf);
    acc = (double *)calloc((size_t)bins, sizeof *acc);
    count = (int *)calloc((size_t)bins, sizeof *count);
    if (!conf || !acc || !count) { free(conf); free(acc); free(count); return -1.0; }
    for (i = 0; i < N; i++) {
        const float *p = probs + (size_t)i * K;
        int a = calib_argmax(p, K);
        b = calib_bin(p[a], bins);
        count[b]++;
        conf[b] += p[a];
        acc[b] += a == y[i];
    }
    for (b = 0; b < bins; b++) /* n_b/N |acc_b - conf_b| = |sum acc - sum conf| / N */
        e += fabs(acc[b] - conf[b]);
    free(conf); free(acc); free(count);
    return e / N;
}

static inline double calib_entropy(const float *p, int K) {
    int c;
    double h = 0.0;
    for (c = 0; c < K; c++)
        if (p[c] > 0.0f) h -= (double)p[c] * log((double)p[c]);
    return h;
}

typedef struct { double s; int pos; } calib__scored;

static inline int calib__cmp_scored(const void *a, const void *b) {
    double x = ((const calib__scored *)a)->s, y = ((const calib__scored *)b)->s;
    return (x > y) - (x < y);
}

static inline double calib_auroc(const double *pos, int npos, const double *neg, int nneg) {
    calib__scored *v;
    int i, j, n = npos + nneg;
    double rank_sum = 0.0;
    if (npos <= 0 || nneg <= 0) return -1.0;
    v = (calib__scored *)malloc((size_t)n * sizeof *v);
    if (!v) return -1.0;
    for (i = 0; i < npos; i++) { v[i].s = pos[i]; v[i].pos = 1; }
    for (i = 0; i < nneg; i++) { v[npos + i].s = neg[i]; v[npos + i].pos = 0; }
    qsort(v, (size_t)n, sizeof *v, calib__cmp_scored);
    for (i = 0; i < n; i = j) { /* ranks 1..n, ties get their mean rank */
        double mean_rank;
        int np = 0;
        for (j = i; j < n && v[j].s == v[i].s; j++) np += v[j].pos;
        mean_rank = 0.5 * ((double)(i + 1) + (double)j);
        rank_sum += mean_rank * np;
    }
    free(v);
    return (rank_sum - 0.5 * (double)npos * (npos + 1)) / ((double)npos * nneg);
}

static inline double calib_t975(int df) {
    static const double q[8] = {0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365};
    return df >= 1 && df <= 7 ? q[df] : 1.96;
}
static inline void calib_paired(double *mean, double *half, const double *a, const double *b, int n) {
    int i;
    double s = 0.0, q = 0.0;
    *mean = *half = 0.0;
    if (n <= 0) return;
    for (i = 0; i < n; i++) s += a[i] - b[i];
    s /= n;
    for (i = 0; i < n; i++) q += (a[i] - b[i] - s) * (a[i] - b[i] - s);
    *mean = s;
    if (n > 1) *half = calib_t975(n - 1) * sqrt(q / (n - 1)) / sqrt((double)n);
}

#endif /* CALIB_METRICS_H */
