/* bench/folded.h - a second implementation of Me-LoRA's per-batch step, for the bench
   only: with one C per batch, fold it into A (A' = C A, r x n), run the LoRA path with A',
   and unfold the gradient afterwards (dC = dA' A^T, dA += C^T dA', dM += dC,
   dH += dC * EC * 2H). bench/step.h runs it as MLB_MELORA_FOLDED, composed from the
   public melora_lora_forward/backward, and mlb_check_folded holds it to the library's
   melora_melora_forward/backward.

   What it is for: the library applies C to the (T, r) intermediate inside its row pass
   instead (docs/DESIGN.md, section 3). Timing both answers whether folding would be the
   faster per-batch path. How they compare: folding trades the library's O(T r^2) extra
   work for O(r^2 n) products and two (r, n) buffers (A', dA'; more than the T r floats of
   v it does not save when n > T/2), and it serves E = 1 only. In the committed run
   (bench/results/bench.md) the two are within 5% at r = 64; at r = 8 folding leads on
   the ratio of medians at all three shapes but not on every per-round ratio, so it is not
   clearly ahead, and it stays here, out of melora.h. */
#ifndef MELORA_BENCH_FOLDED_H
#define MELORA_BENCH_FOLDED_H

#include "mlb_base.h"

/* out[a][j] (+)= sum_b coef[a*sa + b*sb] in[b][j] for a, b < r, j < n: blocks of 64
   columns (threads) x 4 output rows, 16 vector accumulators; add != 0 accumulates. */
static void mlb__mix(float *out, const float *coef, int sa, int sb, const float *in, int r,
                     int n, int add) {
    long jb, nb = ((long)n + 63) / 64;
#pragma omp parallel for schedule(static)
    for (jb = 0; jb < nb; jb++) {
        long j0 = jb * 64, j;
        int a0, a, b, q;
        if (j0 + 64 <= (long)n) {
            for (a0 = 0; a0 < r; a0 += 4) {
                int na = r - a0 < 4 ? r - a0 : 4;
                mlb__v16 acc[4][4], v[4];
                for (a = 0; a < 4; a++)
                    for (q = 0; q < 4; q++) acc[a][q] = (mlb__v16){0};
                for (b = 0; b < r; b++) {
                    const float *ip = in + (size_t)b * (size_t)n + j0;
                    for (q = 0; q < 4; q++) memcpy(&v[q], ip + 16 * q, sizeof v[q]);
                    for (a = 0; a < na; a++) {
                        float c = coef[(size_t)(a0 + a) * (size_t)sa + (size_t)b * (size_t)sb];
                        for (q = 0; q < 4; q++) acc[a][q] += c * v[q];
                    }
                }
                for (a = 0; a < na; a++) {
                    float *op = out + (size_t)(a0 + a) * (size_t)n + j0;
                    for (q = 0; q < 4; q++) {
                        if (add) {
                            mlb__v16 o;
                            memcpy(&o, op + 16 * q, sizeof o);
                            acc[a][q] += o;
                        }
                        memcpy(op + 16 * q, &acc[a][q], sizeof acc[a][q]);
                    }
                }
            }
        } else {
            for (a = 0; a < r; a++)
                for (j = j0; j < (long)n; j++) {
                    float t = add ? out[(size_t)a * (size_t)n + (size_t)j] : 0.0f;
                    for (b = 0; b < r; b++)
                        t += coef[(size_t)a * (size_t)sa + (size_t)b * (size_t)sb] *
                             in[(size_t)b * (size_t)n + (size_t)j];
                    out[(size_t)a * (size_t)n + (size_t)j] = t;
                }
        }
    }
}
/* Af = C A: (r,r) x (r,n). */
static void mlb__fold(float *Af, const float *C, const float *A, int r, int n) {
    mlb__mix(Af, C, r, 1, A, r, n, 0);
}
/* From dAf = dL/dA': dC = dAf A^T (4 x 4 tiles of dot products in vectors), dA += C^T dAf,
   dM += dC, dH += dC * EC * 2H. */
static void mlb__unfold(float *dA, float *dM, float *dH, const float *dAf, const float *A,
                        const float *C, const float *H, const float *EC, int r, int n) {
    long tile, nt = (((long)r + 3) / 4) * (((long)r + 3) / 4);
#pragma omp parallel for schedule(static)
    for (tile = 0; tile < nt; tile++) {
        int k0 = (int)(tile / ((r + 3) / 4)) * 4, l0 = (int)(tile % ((r + 3) / 4)) * 4;
        int nk = r - k0 < 4 ? r - k0 : 4, nl = r - l0 < 4 ? r - l0 : 4, a, b, lane;
        mlb__v16 acc[4][4], g[4], w[4];
        float dc[4][4];
        long j = 0, jv = (long)n - (long)n % 16;
        const float *gr[4], *ar[4];
        for (a = 0; a < 4; a++) {
            gr[a] = dAf + (size_t)(k0 + (a < nk ? a : nk - 1)) * (size_t)n;
            ar[a] = A + (size_t)(l0 + (a < nl ? a : nl - 1)) * (size_t)n;
            for (b = 0; b < 4; b++) acc[a][b] = (mlb__v16){0};
        }
        for (; j < jv; j += 16) {
            for (a = 0; a < 4; a++) {
                memcpy(&g[a], gr[a] + j, sizeof g[a]);
                memcpy(&w[a], ar[a] + j, sizeof w[a]);
            }
            for (a = 0; a < 4; a++)
                for (b = 0; b < 4; b++) acc[a][b] += g[a] * w[b];
        }
        for (a = 0; a < nk; a++)
            for (b = 0; b < nl; b++) {
                float t = 0.0f;
                for (lane = 0; lane < 16; lane++) t += acc[a][b][lane];
                for (j = jv; j < (long)n; j++) t += gr[a][j] * ar[b][j];
                dc[a][b] = t;
            }
        for (a = 0; a < nk; a++)
            for (b = 0; b < nl; b++) {
                size_t q = (size_t)(k0 + a) * (size_t)r + (size_t)(l0 + b);
                dM[q] += dc[a][b];
                dH[q] += melora_dstd_elem(dc[a][b], H[q], EC[q]);
            }
    }
    mlb__mix(dA, C, 1, r, dAf, r, n, 1); /* dA[l] += sum_k C[k][l] dAf[k] */
}


#endif /* MELORA_BENCH_FOLDED_H */
