/* An independent double-precision model of each adapter's scalar loss
       L = sum(z * dz) + lambda * KL
   written from the formulas of docs/DESIGN.md section 2 (not from melora.h's code), and its
   central finite differences: the expected gradients of every backward test. */
#ifndef MELORA_TEST_MODEL_H
#define MELORA_TEST_MODEL_H
#include "util.h"

enum { TM_LORA, TM_BLOB, TM_FLIPOUT, TM_MELORA };
enum { TM_KL_NONE, TM_KL_BLOB, TM_KL_EQ7, TM_KL_EXACT };

typedef struct {
    int method, T, n, m, r, E, G;
    double s;
    double *x, *A, *GA, *EA, *B, *M, *H, *EC, *sa, *sb, *dz; /* A is MA for BLoB */
    int kl;
    double lambda, sigma;
} tm_problem;

static inline double *tm_dup(const float *f, size_t cnt) {
    double *d = (double *)malloc((cnt ? cnt : 1) * sizeof(double));
    cr_assert(d);
    for (size_t i = 0; i < cnt; i++) d[i] = f ? (double)f[i] : 0.0;
    return d;
}

/* z (T,m) = s * v B^T of the adapter alone (no base), in double. */
static inline void tm_forward(const tm_problem *p, double *z) {
    int T = p->T, n = p->n, m = p->m, r = p->r;
    double *u = (double *)calloc((size_t)r, sizeof(double));
    double *v = (double *)calloc((size_t)r, sizeof(double));
    for (int t = 0; t < T; t++) {
        int g = p->G > 0 ? t / p->G : 0;
        for (int k = 0; k < r; k++) {
            double acc = 0.0;
            for (int j = 0; j < n; j++) {
                double a = p->A[k * n + j];
                double noise = 0.0;
                if (p->method == TM_BLOB || p->method == TM_FLIPOUT)
                    noise = p->GA[k * n + j] * p->GA[k * n + j] * p->EA[k * n + j];
                if (p->method == TM_BLOB) a += noise;
                acc += p->x[t * n + j] * a;
                if (p->method == TM_FLIPOUT)
                    acc += p->x[t * n + j] * p->sa[g * n + j] * noise * p->sb[g * r + k];
            }
            u[k] = acc;
        }
        if (p->method == TM_MELORA) {
            int e = t / (T / p->E);
            for (int i = 0; i < r; i++) {
                double acc = 0.0;
                for (int k = 0; k < r; k++) {
                    double h = p->H[i * r + k];
                    double c = p->M[i * r + k] + h * h * p->EC[(e * r + i) * r + k];
                    acc += c * u[k];
                }
                v[i] = acc;
            }
        } else {
            memcpy(v, u, (size_t)r * sizeof(double));
        }
        for (int i = 0; i < m; i++) {
            double zi = 0.0;
            for (int k = 0; k < r; k++) zi += p->B[i * r + k] * v[k];
            z[t * m + i] = p->s * zi;
        }
    }
    free(u);
    free(v);
}

static inline double tm_loss(const tm_problem *p) {
    int T = p->T, n = p->n, m = p->m, r = p->r;
    double L = 0.0;
    double *z = (double *)malloc((size_t)T * (size_t)m * sizeof(double));
    tm_forward(p, z);
    for (int i = 0; i < T * m; i++) L += p->dz[i] * z[i];
    free(z);
    if (p->kl != TM_KL_NONE) {
        double kl = 0.0, s2 = p->sigma * p->sigma;
        if (p->kl == TM_KL_BLOB || p->kl == TM_KL_EXACT) {
            const double *mu = p->kl == TM_KL_BLOB ? p->A : p->M;
            const double *g = p->kl == TM_KL_BLOB ? p->GA : p->H;
            int cnt = p->kl == TM_KL_BLOB ? r * n : r * r;
            for (int i = 0; i < cnt; i++) {
                double om = g[i] * g[i];
                kl += log(p->sigma) - log(om) + (om * om + mu[i] * mu[i]) / (2 * s2) - 0.5;
            }
        } else { /* eq. 7 */
            double fp = 0.0, fs = 0.0, lg = 0.0;
            for (int i = 0; i < r; i++)
                for (int j = 0; j < n; j++) {
                    double P = 0.0, S = 0.0;
                    for (int k = 0; k < r; k++) {
                        double h = p->H[i * r + k];
                        P += p->M[i * r + k] * p->A[k * n + j];
                        S += h * h * fabs(p->A[k * n + j]);
                    }
                    fp += P * P;
                    fs += S * S;
                }
            for (int i = 0; i < r * r; i++) lg += log(p->H[i] * p->H[i]);
            kl = (fp + fs) / (2 * s2) - lg;
        }
        L += p->lambda * kl;
    }
    return L;
}

/* Central differences of tm_loss with respect to every entry of arr (cnt entries). */
static inline double *tm_fd(tm_problem *p, double *arr, size_t cnt) {
    double *g = (double *)malloc(cnt * sizeof(double));
    const double h = 1e-5;
    cr_assert(g);
    for (size_t i = 0; i < cnt; i++) {
        double keep = arr[i];
        arr[i] = keep + h;
        double lp = tm_loss(p);
        arr[i] = keep - h;
        double lm = tm_loss(p);
        arr[i] = keep;
        g[i] = (lp - lm) / (2 * h);
    }
    return g;
}

/* Compare a library gradient with the finite differences of the model. */
static inline void tm_check_grad(const char *what, tm_problem *p, double *arr,
                                 const float *grad, size_t cnt) {
    double *fd = tm_fd(p, arr, cnt);
    tu_close_d(what, grad, fd, cnt, 2e-4, 2e-3);
    free(fd);
}
#endif
