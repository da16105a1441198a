/* calib.c - the calibration experiment of the Me-LoRA paper (Tables 2-5), at CPU scale.

   calib pretrain DATA_DIR BASE_FILE [hidden] [epochs]
       trains the frozen "pre-trained" MLP 784 -> H -> H -> 5 on the even Fashion-MNIST
       classes (T-shirt, pullover, coat, shirt, bag) and saves it.
   calib run DATA_DIR BASE_FILE RESULTS_MD PLOT_DIR [key=value ...]
       fine-tunes adapters on the odd classes (trouser, dress, sandal, sneaker, ankle boot)
       with every method and seed, evaluates in distribution, under corruptions and on the
       pre-training classes, prints the tables and writes RESULTS_MD and the data and
       gnuplot script of the reliability diagrams into PLOT_DIR.

   Everything adapter-related goes through melora.h (forward, backward, sampling, noise,
   KL terms, parameter counts). The frozen base products, ReLU, softmax cross-entropy,
   AdamW, SGD and dropout are here. See README.md, "Calibration experiment". */
#define MELORA_IMPLEMENTATION
#include "melora.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdarg.h>
#include <zlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define NPIX 784
#define NCLS 5
#define RANK 8
#define ALPHA 16.0f
#define TMAX 500 /* rows per evaluation chunk */
#define KMAX 16
#define NSEEDMAX 8
#define NKLC 4 /* KL learning-rate candidates */

static void die(const char *msg) { fprintf(stderr, "calib: %s\n", msg); exit(1); }
static void *xmalloc(size_t n) {
    void *p = calloc(1, n ? n : 1);
    if (!p) die("out of memory");
    return p;
}
#define CHECK(call) do { melora_status st_ = (call); if (st_ != MELORA_OK) { \
    fprintf(stderr, "calib: %s failed: %s (line %d)\n", #call, melora_status_string(st_), __LINE__); \
    exit(1); } } while (0)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* ------------------------------------------------------------------ data (IDX, gzip) */
static unsigned char *read_idx(const char *dir, const char *name, int *count, int want_dim) {
    char path[1024];
    unsigned char hdr[16];
    unsigned char *buf;
    gzFile f;
    int dims, i, n, per = 1, hlen;
    snprintf(path, sizeof path, "%s/%s.gz", dir, name);
    f = gzopen(path, "rb");
    if (!f) {
        snprintf(path, sizeof path, "%s/%s", dir, name);
        f = gzopen(path, "rb");
    }
    if (!f) { fprintf(stderr, "calib: cannot open %s/%s[.gz]\n", dir, name); exit(1); }
    if (gzread(f, hdr, 4) != 4 || hdr[0] || hdr[1] || hdr[2] != 8) die("not an IDX file of bytes");
    dims = hdr[3];
    if (dims != want_dim) die("unexpected IDX rank");
    hlen = 4 * dims;
    if (gzread(f, hdr, hlen) != hlen) die("short IDX header");
    n = (hdr[0] << 24) | (hdr[1] << 16) | (hdr[2] << 8) | hdr[3];
    for (i = 1; i < dims; i++)
        per *= (hdr[4 * i] << 24) | (hdr[4 * i + 1] << 16) | (hdr[4 * i + 2] << 8) | hdr[4 * i + 3];
    if (want_dim == 3 && per != NPIX) die("images are not 28x28");
    buf = (unsigned char *)xmalloc((size_t)n * per);
    if (gzread(f, buf, (unsigned)((size_t)n * per)) != (int)((size_t)n * per)) die("short IDX data");
    gzclose(f);
    *count = n;
    return buf;
}

typedef struct {
    float *x; /* (n, 784), normalised */
    int *y;   /* 0..4 */
    int n;
} dataset;

#define PIX_MEAN 0.2860f
#define PIX_STD 0.3530f

static void ds_alloc(dataset *d, int n) {
    d->n = n;
    d->x = (float *)xmalloc((size_t)n * NPIX * sizeof(float));
    d->y = (int *)xmalloc((size_t)n * sizeof(int));
}
static void ds_free(dataset *d) { free(d->x); free(d->y); d->x = NULL; d->y = NULL; d->n = 0; }

/* The examples of parity `odd` (label c -> c/2), at most `limit_per_class` each, skipping
   the first `skip_per_class` of each class. Pixels in [0,1] are kept in raw (if not NULL). */
static void ds_select(dataset *d, float *raw, const unsigned char *img, const unsigned char *lab,
                      int n, int odd, int skip_per_class, int limit_per_class) {
    int seen[10] = {0}, taken[10] = {0}, i, k = 0, cnt = 0;
    for (i = 0; i < n; i++) {
        int c = lab[i];
        if ((c & 1) != odd) continue;
        if (seen[c]++ < skip_per_class) continue;
        if (taken[c] >= limit_per_class) continue;
        taken[c]++;
        cnt++;
    }
    ds_alloc(d, cnt);
    memset(seen, 0, sizeof seen);
    memset(taken, 0, sizeof taken);
    for (i = 0; i < n; i++) {
        int c = lab[i], p;
        if ((c & 1) != odd) continue;
        if (seen[c]++ < skip_per_class) continue;
        if (taken[c] >= limit_per_class) continue;
        taken[c]++;
        for (p = 0; p < NPIX; p++) {
            float v = img[(size_t)i * NPIX + p] / 255.0f;
            if (raw) raw[(size_t)k * NPIX + p] = v;
            d->x[(size_t)k * NPIX + p] = (v - PIX_MEAN) / PIX_STD;
        }
        d->y[k++] = c >> 1;
    }
}

/* Corruptions of [0,1] images (the smaller shift). */
static void corrupt_noise(float *out, const float *in, int n, float sigma, uint64_t seed) {
    size_t i, tot = (size_t)n * NPIX;
    CHECK(melora_noise_normal(out, seed, 0, (int64_t)tot));
    for (i = 0; i < tot; i++) {
        float v = in[i] + sigma * out[i];
        out[i] = v < 0.f ? 0.f : v > 1.f ? 1.f : v;
    }
}
static void corrupt_blur(float *out, const float *in, int n, float sigma) {
    float w[9], tmp[NPIX], sum = 0.f;
    int e, i, j, k;
    for (k = -4; k <= 4; k++) sum += w[k + 4] = expf(-0.5f * k * k / (sigma * sigma));
    for (k = 0; k < 9; k++) w[k] /= sum;
    for (e = 0; e < n; e++) {
        const float *a = in + (size_t)e * NPIX;
        float *b = out + (size_t)e * NPIX;
        for (i = 0; i < 28; i++)
            for (j = 0; j < 28; j++) {
                float s = 0.f;
                for (k = -4; k <= 4; k++)
                    if (j + k >= 0 && j + k < 28) s += w[k + 4] * a[i * 28 + j + k];
                tmp[i * 28 + j] = s;
            }
        for (i = 0; i < 28; i++)
            for (j = 0; j < 28; j++) {
                float s = 0.f;
                for (k = -4; k <= 4; k++)
                    if (i + k >= 0 && i + k < 28) s += w[k + 4] * tmp[(i + k) * 28 + j];
                b[i * 28 + j] = s;
            }
    }
}
/* Rotation about the centre, bilinear, zero outside; +deg for even, -deg for odd examples. */
static void corrupt_rotate(float *out, const float *in, int n, float deg) {
    int e, i, j;
    for (e = 0; e < n; e++) {
        const float *a = in + (size_t)e * NPIX;
        float *b = out + (size_t)e * NPIX;
        float th = (e & 1 ? -deg : deg) * 3.14159265f / 180.f, c = cosf(th), s = sinf(th);
        for (i = 0; i < 28; i++)
            for (j = 0; j < 28; j++) {
                float yy = i - 13.5f, xx = j - 13.5f;
                float sy = c * yy - s * xx + 13.5f, sx = s * yy + c * xx + 13.5f;
                int y0 = (int)floorf(sy), x0 = (int)floorf(sx), dy, dx;
                float fy = sy - y0, fx = sx - x0, v = 0.f;
                for (dy = 0; dy < 2; dy++)
                    for (dx = 0; dx < 2; dx++) {
                        int yi = y0 + dy, xi = x0 + dx;
                        if (yi >= 0 && yi < 28 && xi >= 0 && xi < 28)
                            v += (dy ? fy : 1 - fy) * (dx ? fx : 1 - fx) * a[yi * 28 + xi];
                    }
                b[i * 28 + j] = v;
            }
    }
}
static void ds_from_raw(dataset *d, const float *raw, const int *y, int n) {
    size_t i;
    ds_alloc(d, n);
    for (i = 0; i < (size_t)n * NPIX; i++) d->x[i] = (raw[i] - PIX_MEAN) / PIX_STD;
    memcpy(d->y, y, (size_t)n * sizeof(int));
}

/* ------------------------------------------------------------------ dense layers (base) */
/* z (T,m) = x (T,n) W^T + b, W (m,n). Rows are independent: deterministic for any thread count. */
static void dense_fwd(float *z, const float *x, const float *W, const float *b, int T, int n, int m) {
    int t;
#pragma omp parallel for schedule(static)
    for (t = 0; t < T; t += 4) {
        int nt = T - t < 4 ? T - t : 4, j, k, q;
        for (j = 0; j < m; j++) {
            const float *w = W + (size_t)j * n;
            float a0 = 0.f, a1 = 0.f, a2 = 0.f, a3 = 0.f;
            const float *x0 = x + (size_t)t * n;
            const float *x1 = x0 + (nt > 1 ? n : 0), *x2 = x0 + (nt > 2 ? 2 * n : 0),
                        *x3 = x0 + (nt > 3 ? 3 * n : 0);
#pragma omp simd reduction(+ : a0, a1, a2, a3)
            for (k = 0; k < n; k++) {
                a0 += x0[k] * w[k];
                a1 += x1[k] * w[k];
                a2 += x2[k] * w[k];
                a3 += x3[k] * w[k];
            }
            {
                float acc[4];
                acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
                for (q = 0; q < nt; q++) z[(size_t)(t + q) * m + j] = acc[q] + (b ? b[j] : 0.f);
            }
        }
    }
}
/* dx (T,n) += dz (T,m) W */
static void dense_bwd_x(float *dx, const float *dz, const float *W, int T, int n, int m) {
    int t;
#pragma omp parallel for schedule(static)
    for (t = 0; t < T; t++) {
        int j, k;
        float *d = dx + (size_t)t * n;
        for (j = 0; j < m; j++) {
            float g = dz[(size_t)t * m + j];
            const float *w = W + (size_t)j * n;
            if (g == 0.f) continue;
#pragma omp simd
            for (k = 0; k < n; k++) d[k] += g * w[k];
        }
    }
}
/* dW (m,n) += dz^T x;  db += sum_t dz */
static void dense_bwd_w(float *dW, float *db, const float *dz, const float *x, int T, int n, int m) {
    int j;
#pragma omp parallel for schedule(static)
    for (j = 0; j < m; j++) {
        int t, k;
        float *d = dW + (size_t)j * n;
        for (t = 0; t < T; t++) {
            float g = dz[(size_t)t * m + j];
            const float *xr = x + (size_t)t * n;
            if (g == 0.f) continue;
#pragma omp simd
            for (k = 0; k < n; k++) d[k] += g * xr[k];
            db[j] += g;
        }
    }
}
static void relu(float *h, const float *z, size_t cnt) {
    size_t i;
    for (i = 0; i < cnt; i++) h[i] = z[i] > 0.f ? z[i] : 0.f;
}
static void relu_bwd(float *dz, const float *z, size_t cnt) { /* dz *= [z > 0] in place */
    size_t i;
    for (i = 0; i < cnt; i++)
        if (!(z[i] > 0.f)) dz[i] = 0.f;
}
/* probabilities in place from logits; returns the summed cross-entropy; dz = (p - y)/scale */
static double softmax_rows(float *p, const float *z, int T) {
    int t, c;
    for (t = 0; t < T; t++) {
        float mx = z[t * NCLS], s = 0.f;
        for (c = 1; c < NCLS; c++) mx = z[t * NCLS + c] > mx ? z[t * NCLS + c] : mx;
        for (c = 0; c < NCLS; c++) s += p[t * NCLS + c] = expf(z[t * NCLS + c] - mx);
        for (c = 0; c < NCLS; c++) p[t * NCLS + c] /= s;
    }
    return 0.0;
}

/* ------------------------------------------------------------------ base network */
typedef struct {
    int H;
    float *W1, *b1, *W2, *b2, *W3, *b3; /* (H,784) (H) (H,H) (H) (5,H) (5) */
} base_net;

static size_t base_count(int H) { return (size_t)H * NPIX + H + (size_t)H * H + H + (size_t)NCLS * H + NCLS; }
static void base_bind(base_net *b, float *mem, int H) {
    b->H = H;
    b->W1 = mem; mem += (size_t)H * NPIX;
    b->b1 = mem; mem += H;
    b->W2 = mem; mem += (size_t)H * H;
    b->b2 = mem; mem += H;
    b->W3 = mem; mem += (size_t)NCLS * H;
    b->b3 = mem;
}

static void adam_update(float *w, float *g, float *m1, float *m2, size_t cnt, float lr, float wd,
                        int step) {
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    float c1 = 1.f - powf(b1, (float)step), c2 = 1.f - powf(b2, (float)step);
    size_t i;
    for (i = 0; i < cnt; i++) {
        m1[i] = b1 * m1[i] + (1 - b1) * g[i];
        m2[i] = b2 * m2[i] + (1 - b2) * g[i] * g[i];
        w[i] -= lr * (wd * w[i] + (m1[i] / c1) / (sqrtf(m2[i] / c2) + eps));
        g[i] = 0.f;
    }
}

static void shuffle(int *idx, int n, uint64_t seed, uint64_t offset) {
    int i;
    for (i = n - 1; i > 0; i--) {
        int j = (int)(melora_rng_uniform(seed, offset + (uint64_t)i) * (i + 1)), t;
        if (j > i) j = i;
        t = idx[i]; idx[i] = idx[j]; idx[j] = t;
    }
}

static int cmd_pretrain(const char *dir, const char *out, int H, int epochs) {
    int ntr, nte, nl, i, ep, step = 0;
    unsigned char *img = read_idx(dir, "train-images-idx3-ubyte", &ntr, 3);
    unsigned char *lab = read_idx(dir, "train-labels-idx1-ubyte", &nl, 1);
    unsigned char *timg = read_idx(dir, "t10k-images-idx3-ubyte", &nte, 3);
    unsigned char *tlab = read_idx(dir, "t10k-labels-idx1-ubyte", &nl, 1);
    dataset tr, te;
    size_t P = base_count(H);
    float *w = (float *)xmalloc(P * sizeof(float)), *g = (float *)xmalloc(P * sizeof(float));
    float *m1 = (float *)xmalloc(P * sizeof(float)), *m2 = (float *)xmalloc(P * sizeof(float));
    base_net b, gb;
    const int BS = 128;
    float *z1 = (float *)xmalloc((size_t)TMAX * H * 4), *h1 = (float *)xmalloc((size_t)TMAX * H * 4);
    float *z2 = (float *)xmalloc((size_t)TMAX * H * 4), *h2 = (float *)xmalloc((size_t)TMAX * H * 4);
    float *z3 = (float *)xmalloc((size_t)TMAX * NCLS * 4), *p = (float *)xmalloc((size_t)TMAX * NCLS * 4);
    float *xb = (float *)xmalloc((size_t)BS * NPIX * 4);
    int *idx, ok = 0, t;
    double t0 = now_s(), loss = 0.0;
    FILE *f;
    ds_select(&tr, NULL, img, lab, ntr, 0, 0, 1 << 30);
    ds_select(&te, NULL, timg, tlab, nte, 0, 0, 1 << 30);
    base_bind(&b, w, H);
    base_bind(&gb, g, H);
    /* PyTorch's default Linear init: U(+-1/sqrt(in)) for weights and biases */
    CHECK(melora_noise_uniform(w, 7, 0, (int64_t)P));
    for (i = 0; i < (int)P; i++) {
        float *q = w + i;
        float lim = q < b.W2 ? 1.f / sqrtf((float)NPIX) : q < b.W3 ? 1.f / sqrtf((float)H) : 1.f / sqrtf((float)H);
        *q = (2.f * *q - 1.f) * lim;
    }
    idx = (int *)xmalloc((size_t)tr.n * sizeof(int));
    for (i = 0; i < tr.n; i++) idx[i] = i;
    for (ep = 0; ep < epochs; ep++) {
        shuffle(idx, tr.n, 11, (uint64_t)ep * 100000);
        for (i = 0; i + BS <= tr.n; i += BS) {
            int c;
            for (t = 0; t < BS; t++) memcpy(xb + (size_t)t * NPIX, tr.x + (size_t)idx[i + t] * NPIX, NPIX * 4);
            dense_fwd(z1, xb, b.W1, b.b1, BS, NPIX, H);
            relu(h1, z1, (size_t)BS * H);
            dense_fwd(z2, h1, b.W2, b.b2, BS, H, H);
            relu(h2, z2, (size_t)BS * H);
            dense_fwd(z3, h2, b.W3, b.b3, BS, H, NCLS);
            softmax_rows(p, z3, BS);
            for (t = 0; t < BS; t++) {
                int y = tr.y[idx[i + t]];
                loss += -log(p[t * NCLS + y] + 1e-12);
                for (c = 0; c < NCLS; c++) p[t * NCLS + c] = (p[t * NCLS + c] - (c == y)) / BS;
            }
            /* backward: p now holds dz3; reuse z/h buffers for gradients */
            dense_bwd_w(gb.W3, gb.b3, p, h2, BS, H, NCLS);
            memset(h2, 0, (size_t)BS * H * 4);
            dense_bwd_x(h2, p, b.W3, BS, H, NCLS);
            relu_bwd(h2, z2, (size_t)BS * H);
            dense_bwd_w(gb.W2, gb.b2, h2, h1, BS, H, H);
            memset(h1, 0, (size_t)BS * H * 4);
            dense_bwd_x(h1, h2, b.W2, BS, H, H);
            relu_bwd(h1, z1, (size_t)BS * H);
            dense_bwd_w(gb.W1, gb.b1, h1, xb, BS, NPIX, H);
            adam_update(w, g, m1, m2, P, 1e-3f, 0.f, ++step);
        }
        printf("pretrain epoch %d: train loss %.4f (%.1f s)\n", ep + 1, loss / (tr.n / BS * BS), now_s() - t0);
        loss = 0.0;
    }
    for (i = 0; i < te.n; i += TMAX) {
        int nt = te.n - i < TMAX ? te.n - i : TMAX;
        dense_fwd(z1, te.x + (size_t)i * NPIX, b.W1, b.b1, nt, NPIX, H);
        relu(h1, z1, (size_t)nt * H);
        dense_fwd(z2, h1, b.W2, b.b2, nt, H, H);
        relu(h2, z2, (size_t)nt * H);
        dense_fwd(z3, h2, b.W3, b.b3, nt, H, NCLS);
        for (t = 0; t < nt; t++) ok += calib_argmax(z3 + t * NCLS, NCLS) == te.y[i + t];
    }
    printf("pretrain: %d-%d-%d-%d MLP on the even classes, test accuracy %.2f%% (%d examples), %.1f s\n",
           NPIX, H, H, NCLS, 100.0 * ok / te.n, te.n, now_s() - t0);
    f = fopen(out, "wb");
    if (!f) die("cannot write the base file");
    {
        int32_t hdr[2];
        hdr[0] = 0x4d4c4231; /* "MLB1" */
        hdr[1] = H;
        if (fwrite(hdr, sizeof hdr, 1, f) != 1 || fwrite(w, sizeof(float), P, f) != P) die("write failed");
    }
    fclose(f);
    free(w); free(g); free(m1); free(m2); free(z1); free(h1); free(z2); free(h2); free(z3);
    free(p); free(xb); free(idx); free(img); free(lab); free(timg); free(tlab);
    ds_free(&tr); ds_free(&te);
    return 0;
}

/* ------------------------------------------------------------------ methods and adapters */
/* M_BLOBP: BLoB as the Me-LoRA paper replicated it (section 4): one draw of A per batch (no
   Flipout) and Me-LoRA's KL (eq. 8's prior sigma_p + eps). M_ENS: Deep Ensemble of 3 LoRA
   fine-tunes (member 0 is the MAP run of the same seed). Appended, so the other methods keep
   their noise streams. */
enum { M_MAP = 0, M_MCD, M_BLOB, M_ME8, M_ME7, M_MEX, M_BLOBP, M_ENS, M_COUNT };
static const char *method_name[M_COUNT] = {"MAP (LoRA)", "MCD", "BLoB", "Me-LoRA (eq. 8)",
                                           "Me-LoRA w/o noise (eq. 7)", "Me-LoRA exact KL_C",
                                           "BLoB, paper's replication", "Deep Ensemble (3 LoRA)"};
static const char *method_tag[M_COUNT] = {"map", "mcd", "blob", "melora", "melora_nonoise",
                                          "melora_klc", "blob_paper", "ens"};
#define ENS_MEMBERS 3
static int is_melora(int m) { return m == M_ME8 || m == M_ME7 || m == M_MEX; }
static int is_blob(int m) { return m == M_BLOB || m == M_BLOBP; }
static int is_bayes(int m) { return is_blob(m) || is_melora(m); }
static int is_lora(int m) { return m == M_MAP || m == M_ENS; }

typedef struct {
    float *w, *g, *gk, *m1, *m2, *best;
    size_t cnt;
    int decay;
} tensor;

#define NLAYER 3
typedef struct {
    int n, m;
    tensor t[4]; /* LoRA: A B | BLoB: MA GA B | Me-LoRA: A B M H */
    int nt;
    float *A, *B, *GA, *M, *H; /* aliases into t[].w (A is MA for BLoB) */
    float *dA, *dB, *dGA, *dM, *dH, *kA, *kGA, *kM, *kH;
    float *u, *v, *xd, *mask, *EA, *sa, *sb, *EC, *C, *As, *dxa;
} adapter;

static void tensor_init(tensor *t, size_t cnt, int decay) {
    t->cnt = cnt;
    t->decay = decay;
    t->w = (float *)xmalloc(cnt * 4); t->g = (float *)xmalloc(cnt * 4); t->gk = (float *)xmalloc(cnt * 4);
    t->m1 = (float *)xmalloc(cnt * 4); t->m2 = (float *)xmalloc(cnt * 4); t->best = (float *)xmalloc(cnt * 4);
}
static void tensor_free(tensor *t) { free(t->w); free(t->g); free(t->gk); free(t->m1); free(t->m2); free(t->best); }

typedef struct {
    int K;              /* Monte-Carlo samples at test */
    int steps, batch, eval_every, nseeds, ntrain, nval, ncorr;
    int kl_M;           /* BLoB's KL reweighting period M (0: BLoB's formula) */
    float lr, wd, kl_lr, sigma_p, eps0, dropout, warmup, gamma;
} config;

static void adapter_init(adapter *a, int method, int n, int m, uint64_t seed, int layer, const config *cf) {
    size_t rn = (size_t)RANK * n, rm = (size_t)m * RANK, rr = RANK * RANK, i;
    uint64_t off = (uint64_t)layer << 24;
    memset(a, 0, sizeof *a);
    a->n = n; a->m = m;
    tensor_init(&a->t[0], rn, 1);
    tensor_init(&a->t[1], rm, 1);
    a->A = a->t[0].w; a->dA = a->t[0].g; a->kA = a->t[0].gk;
    a->B = a->t[1].w; a->dB = a->t[1].g;
    /* A: kaiming-uniform(a = sqrt 5) = U(+-1/sqrt(n)); B = 0 (PEFT), same draw for every method */
    CHECK(melora_noise_uniform(a->A, seed, off, (int64_t)rn));
    for (i = 0; i < rn; i++) a->A[i] = (2.f * a->A[i] - 1.f) / sqrtf((float)n);
    a->nt = 2;
    if (is_blob(method)) {
        tensor_init(&a->t[2], rn, 0);
        a->GA = a->t[2].w; a->dGA = a->t[2].g; a->kGA = a->t[2].gk;
        a->nt = 3;
        CHECK(melora_noise_uniform(a->GA, seed, off + (1u << 20), (int64_t)rn));
        for (i = 0; i < rn; i++) /* U(eps0/sqrt2, eps0) as in BLoB's code */
            a->GA[i] = cf->eps0 / sqrtf(2.f) + a->GA[i] * (cf->eps0 - cf->eps0 / sqrtf(2.f));
        a->EA = (float *)xmalloc(rn * 4);
        a->As = (float *)xmalloc(rn * 4);
        a->sa = (float *)xmalloc((size_t)TMAX * n * 4);
        a->sb = (float *)xmalloc((size_t)TMAX * RANK * 4);
    }
    if (is_melora(method)) {
        float lo = sqrtf(cf->eps0 / sqrtf(2.f)), hi = sqrtf(cf->eps0);
        tensor_init(&a->t[2], rr, 1);
        tensor_init(&a->t[3], rr, 0);
        a->M = a->t[2].w; a->dM = a->t[2].g; a->kM = a->t[2].gk;
        a->H = a->t[3].w; a->dH = a->t[3].g; a->kH = a->t[3].gk;
        a->nt = 4;
        for (i = 0; i < rr; i++) a->M[i] = (i % (RANK + 1) == 0) ? 1.f : 0.f; /* M = I */
        CHECK(melora_noise_uniform(a->H, seed, off + (1u << 20), (int64_t)rr));
        for (i = 0; i < rr; i++) a->H[i] = lo + a->H[i] * (hi - lo); /* Om = H*H in [eps0/sqrt2, eps0] */
        a->EC = (float *)xmalloc((size_t)(TMAX > KMAX ? TMAX : KMAX) * rr * 4);
        a->C = (float *)xmalloc((size_t)(TMAX > KMAX ? TMAX : KMAX) * rr * 4);
        a->v = (float *)xmalloc((size_t)TMAX * RANK * 4);
    }
    if (method == M_MCD) {
        a->xd = (float *)xmalloc((size_t)TMAX * n * 4);
        a->mask = (float *)xmalloc((size_t)TMAX * n * 4);
    }
    a->u = (float *)xmalloc((size_t)TMAX * RANK * 4);
    a->dxa = (float *)xmalloc((size_t)TMAX * n * 4);
}
static void adapter_free(adapter *a) {
    int i;
    for (i = 0; i < a->nt; i++) tensor_free(&a->t[i]);
    free(a->u); free(a->v); free(a->xd); free(a->mask); free(a->EA); free(a->sa); free(a->sb);
    free(a->EC); free(a->C); free(a->As); free(a->dxa);
}

/* Noise plan: melora.h's draw convention (melora_draw_offset and the per-method noise
   functions), one draw per call and layer. A call is a training step or one test-time
   sample of an evaluation chunk; call << 2 | layer stays below MC_DRAW0 for call < 2^21
   (run_config keeps steps there, test-time calls stay below (1 + KMAX) 4096 + the set's
   size). Me-LoRA's Monte-Carlo test draws its K samples of C once per layer, sample k of
   layer l being draw MC_DRAW0 + l KMAX + k. */
#define MC_DRAW0 ((uint64_t)1 << 23)
static uint64_t noise_draw(uint64_t call, int layer) { return call << 2 | (uint64_t)layer; }

enum { MODE_TRAIN = 0, MODE_MEAN, MODE_SAMPLE };

static melora_work g_work;
static float g_s = ALPHA / RANK;

/* z (T,m) += adapter(x). mode: TRAIN (sampled, per-example noise where the method has it),
   MEAN (no noise), SAMPLE (one network sample drawn with (seed, call)). */
static void adapter_fwd(adapter *a, int method, float *z, const float *x, int T, int mode,
                        uint64_t seed, uint64_t call, int layer, const config *cf) {
    const melora_dims d = {T, a->n, a->m, RANK, MELORA_FP32};
    const melora_lora_params lp = {a->A, a->B, g_s};
    const melora_lora_saved sv = {x, a->u};
    if (is_lora(method) || (method == M_MCD && mode == MODE_MEAN)) {
        CHECK(melora_lora_forward(z, &sv, g_work, &lp, d));
    } else if (method == M_MCD) {
        size_t i, tot = (size_t)T * a->n;
        float keep = 1.f - cf->dropout;
        const melora_lora_saved svd = {a->xd, a->u};
        uint64_t off;
        CHECK(melora_draw_offset(&off, noise_draw(call, layer)));
        CHECK(melora_noise_uniform(a->mask, seed, off, (int64_t)tot));
        for (i = 0; i < tot; i++) {
            a->mask[i] = a->mask[i] < keep ? 1.f / keep : 0.f;
            a->xd[i] = x[i] * a->mask[i];
        }
        CHECK(melora_lora_forward(z, &svd, g_work, &lp, d));
    } else if (is_blob(method)) {
        const melora_blob_params bp = {a->A, a->GA, a->B, g_s};
        if (mode == MODE_MEAN) {
            CHECK(melora_lora_forward(z, &sv, g_work, &lp, d));
        } else {
            if (mode == MODE_TRAIN && method == M_BLOB) { /* Flipout, signs per example (G = 1), as BLoB's code */
                const melora_flipout_noise nz = {a->EA, a->sa, a->sb, 1};
                CHECK(melora_blob_flipout_noise(a->EA, a->sa, a->sb, seed, noise_draw(call, layer), 1, d));
                CHECK(melora_blob_flipout_forward(z, &sv, g_work, &bp, &nz, d));
            } else {
                CHECK(melora_blob_noise(a->EA, seed, noise_draw(call, layer), RANK, a->n));
                CHECK(melora_blob_forward(z, &sv, a->As, g_work, &bp, a->EA, d));
            }
        }
    } else { /* Me-LoRA */
        const melora_melora_params mp = {a->A, a->B, a->M, a->H, g_s};
        const melora_melora_saved ms = {x, a->u, a->v};
        if (mode == MODE_MEAN) {
            const melora_melora_draw mean = {a->M, NULL, 1};
            CHECK(melora_melora_forward(z, &ms, g_work, &mp, &mean, d));
        } else {
            int E = mode == MODE_TRAIN ? T : 1; /* per-example C in training */
            const melora_melora_draw dr = {a->C, a->EC, E};
            CHECK(melora_melora_noise(a->EC, seed, noise_draw(call, layer), E, RANK));
            CHECK(melora_melora_sample(a->C, &mp, a->EC, E, RANK));
            CHECK(melora_melora_forward(z, &ms, g_work, &mp, &dr, d));
        }
    }
}

/* Backward of the last TRAIN forward; dx (T,n) += input gradient when dx != NULL. */
static void adapter_bwd(adapter *a, int method, float *dx, const float *dz, const float *x, int T) {
    const melora_dims d = {T, a->n, a->m, RANK, MELORA_FP32};
    const melora_lora_params lp = {a->A, a->B, g_s};
    const melora_lora_grads lg = {a->dA, a->dB};
    const melora_blob_params bp = {a->A, a->GA, a->B, g_s};
    const melora_blob_grads bg = {a->dA, a->dGA, a->dB};
    const melora_lora_saved sv = {x, a->u};
    if (is_lora(method)) {
        CHECK(melora_lora_backward(dx, &lg, &sv, g_work, dz, &lp, d));
    } else if (method == M_BLOBP) {
        const melora_blob_draw dr = {a->As, a->EA};
        CHECK(melora_blob_backward(dx, &bg, &sv, g_work, dz, &bp, &dr, d));
    } else if (method == M_MCD) {
        size_t i, tot = (size_t)T * a->n;
        const melora_lora_saved svd = {a->xd, a->u};
        if (dx) memset(a->dxa, 0, tot * 4);
        CHECK(melora_lora_backward(dx ? a->dxa : NULL, &lg, &svd, g_work, dz, &lp, d));
        if (dx)
            for (i = 0; i < tot; i++) dx[i] += a->dxa[i] * a->mask[i];
    } else if (method == M_BLOB) {
        const melora_flipout_noise nz = {a->EA, a->sa, a->sb, 1};
        CHECK(melora_blob_flipout_backward(dx, &bg, &sv, g_work, dz, &bp, &nz, d));
    } else {
        const melora_melora_params mp = {a->A, a->B, a->M, a->H, g_s};
        const melora_melora_grads mg = {a->dA, a->dB, a->dM, a->dH};
        const melora_melora_saved ms = {x, a->u, a->v};
        const melora_melora_draw dr = {a->C, a->EC, T};
        CHECK(melora_melora_backward(dx, &mg, &ms, g_work, dz, &mp, &dr, d));
    }
}

/* KL term of one layer: gradients (weight pi) into the .gk buffers; returns the value. */
static double adapter_kl(adapter *a, int method, float pi, float eps, const config *cf) {
    double kl = 0.0;
    const melora_blob_params bp = {a->A, a->GA, a->B, g_s};
    const melora_blob_grads bg = {a->kA, a->kGA, NULL};
    const melora_melora_params mp = {a->A, a->B, a->M, a->H, g_s};
    const melora_melora_grads mg = {a->kA, NULL, a->kM, a->kH};
    if (method == M_BLOB)
        CHECK(melora_blob_kl(&kl, &bg, &bp, cf->sigma_p, pi, RANK, a->n));
    else if (method == M_BLOBP) /* eq. 8's prior on BLoB's A: sigma_p + eps */
        CHECK(melora_blob_kl(&kl, &bg, &bp, cf->sigma_p + eps, pi, RANK, a->n));
    else if (method == M_ME8)
        CHECK(melora_melora_kl_prior_noise(&kl, &mg, g_work, &mp, cf->sigma_p, eps, pi, RANK, a->n));
    else if (method == M_ME7)
        CHECK(melora_melora_kl(&kl, &mg, g_work, &mp, cf->sigma_p, pi, RANK, a->n));
    else if (method == M_MEX)
        CHECK(melora_melora_kl_exact(&kl, &mg, &mp, cf->sigma_p, pi, RANK));
    return kl;
}

/* ------------------------------------------------------------------ the fine-tuned network */
typedef struct {
    const base_net *base;
    float *W3h; /* fresh frozen head (5,H) */
    adapter ad[NLAYER];
    int method, H;
    float *z1, *h1, *z2, *h2, *z3, *p, *d1, *d2, *d3, *zk; /* buffers of TMAX rows */
    float *Ck[NLAYER];                                   /* K samples of C (Me-LoRA, test) */
} net;

static void net_init(net *nt, const base_net *b, int method, uint64_t seed, const config *cf) {
    int H = b->H, i;
    uint64_t off;
    size_t th = (size_t)TMAX * H * 4;
    memset(nt, 0, sizeof *nt);
    nt->base = b; nt->method = method; nt->H = H;
    nt->W3h = (float *)xmalloc((size_t)NCLS * H * 4);
    CHECK(melora_draw_offset(&off, 7)); /* the adapters' initial values lie in draw 0 */
    CHECK(melora_noise_uniform(nt->W3h, seed, off, (int64_t)NCLS * H));
    for (i = 0; i < NCLS * H; i++) nt->W3h[i] = (2.f * nt->W3h[i] - 1.f) / sqrtf((float)H);
    adapter_init(&nt->ad[0], method, NPIX, H, seed, 0, cf);
    adapter_init(&nt->ad[1], method, H, H, seed, 1, cf);
    adapter_init(&nt->ad[2], method, H, NCLS, seed, 2, cf);
    nt->z1 = (float *)xmalloc(th); nt->h1 = (float *)xmalloc(th);
    nt->z2 = (float *)xmalloc(th); nt->h2 = (float *)xmalloc(th);
    nt->d1 = (float *)xmalloc(th); nt->d2 = (float *)xmalloc(th);
    nt->z3 = (float *)xmalloc((size_t)TMAX * NCLS * 4); nt->p = (float *)xmalloc((size_t)TMAX * NCLS * 4);
    nt->d3 = (float *)xmalloc((size_t)TMAX * NCLS * 4);
    nt->zk = (float *)xmalloc((size_t)KMAX * th);
    for (i = 0; i < NLAYER; i++) nt->Ck[i] = (float *)xmalloc((size_t)KMAX * RANK * RANK * 4);
}
static void net_free(net *nt) {
    int i;
    for (i = 0; i < NLAYER; i++) { adapter_free(&nt->ad[i]); free(nt->Ck[i]); }
    free(nt->W3h); free(nt->z1); free(nt->h1); free(nt->z2); free(nt->h2); free(nt->d1);
    free(nt->d2); free(nt->z3); free(nt->p); free(nt->d3); free(nt->zk);
}

/* Layers 2 and 3 from z1 (pre-activation of layer 1, adapter included): probabilities in p. */
static void net_tail(net *nt, const float *z1, int T, int mode, uint64_t seed, uint64_t call,
                     const config *cf) {
    int H = nt->H;
    relu(nt->h1, z1, (size_t)T * H);
    dense_fwd(nt->z2, nt->h1, nt->base->W2, nt->base->b2, T, H, H);
    adapter_fwd(&nt->ad[1], nt->method, nt->z2, nt->h1, T, mode, seed, call, 1, cf);
    relu(nt->h2, nt->z2, (size_t)T * H);
    dense_fwd(nt->z3, nt->h2, nt->W3h, NULL, T, H, NCLS);
    adapter_fwd(&nt->ad[2], nt->method, nt->z3, nt->h2, T, mode, seed, call, 2, cf);
    softmax_rows(nt->p, nt->z3, T);
}

/* One training step on T examples: x (T,784), z1base (T,H) = x W1^T + b1 (precomputed).
   Returns the summed cross-entropy. Gradients (mean over the batch) into the .g buffers. */
static double net_train_step(net *nt, const float *x, const float *z1base, const int *y, int T,
                             uint64_t seed, uint64_t call, const config *cf) {
    int H = nt->H, t, c;
    double loss = 0.0;
    memcpy(nt->z1, z1base, (size_t)T * H * 4);
    adapter_fwd(&nt->ad[0], nt->method, nt->z1, x, T, MODE_TRAIN, seed, call, 0, cf);
    net_tail(nt, nt->z1, T, MODE_TRAIN, seed, call, cf);
    for (t = 0; t < T; t++) {
        loss -= log(nt->p[t * NCLS + y[t]] + 1e-12);
        for (c = 0; c < NCLS; c++) nt->d3[t * NCLS + c] = (nt->p[t * NCLS + c] - (c == y[t])) / T;
    }
    memset(nt->d2, 0, (size_t)T * H * 4);
    dense_bwd_x(nt->d2, nt->d3, nt->W3h, T, H, NCLS);
    adapter_bwd(&nt->ad[2], nt->method, nt->d2, nt->d3, nt->h2, T);
    relu_bwd(nt->d2, nt->z2, (size_t)T * H);
    memset(nt->d1, 0, (size_t)T * H * 4);
    dense_bwd_x(nt->d1, nt->d2, nt->base->W2, T, H, H);
    adapter_bwd(&nt->ad[1], nt->method, nt->d1, nt->d2, nt->h1, T);
    relu_bwd(nt->d1, nt->z1, (size_t)T * H);
    adapter_bwd(&nt->ad[0], nt->method, NULL, nt->d1, x, T);
    return loss;
}

/* z (T, m of layer l) += layer l's Me-LoRA adapter of x with the given C (one sample, E = 1). */
static void melora_forward_with(net *nt, int l, float *z, const float *x, const float *C, int T) {
    adapter *a = &nt->ad[l];
    const melora_melora_params mp = {a->A, a->B, a->M, a->H, g_s};
    const melora_melora_saved ms = {x, a->u, a->v};
    const melora_melora_draw dr = {C, NULL, 1};
    const melora_dims d = {T, a->n, a->m, RANK, MELORA_FP32};
    CHECK(melora_melora_forward(z, &ms, g_work, &mp, &dr, d));
}

/* Predictive probabilities (N,5) of a data set: MEAN mode or the average over K samples.
   Sample k is one network sample shared by all examples, drawn from (seed, k). */
static void net_predict(net *nt, float *probs, const dataset *d, const float *z1base, int mode,
                        int K, uint64_t seed, const config *cf) {
    int H = nt->H, i, k, t, l;
    int melora_mc = is_melora(nt->method) && mode == MODE_SAMPLE;
    if (mode == MODE_MEAN || is_lora(nt->method)) { K = 1; mode = MODE_MEAN; }
    if (melora_mc) /* the K samples of C of every layer, drawn once */
        for (l = 0; l < NLAYER; l++) {
            adapter *a = &nt->ad[l];
            const melora_melora_params mp = {a->A, a->B, a->M, a->H, g_s};
            for (k = 0; k < K; k++)
                CHECK(melora_melora_noise(a->EC + (size_t)k * RANK * RANK, seed,
                                          MC_DRAW0 + (uint64_t)l * KMAX + (uint64_t)k, 1, RANK));
            CHECK(melora_melora_sample(nt->Ck[l], &mp, a->EC, K, RANK));
        }
    for (i = 0; i < d->n; i += TMAX) {
        int T = d->n - i < TMAX ? d->n - i : TMAX;
        const float *x = d->x + (size_t)i * NPIX;
        float *pr = probs + (size_t)i * NCLS;
        memset(pr, 0, (size_t)T * NCLS * 4);
        if (melora_mc) { /* layer 1: u = x A^T once for all K samples */
            for (k = 0; k < K; k++) memcpy(nt->zk + (size_t)k * T * H, z1base + (size_t)i * H, (size_t)T * H * 4);
            const adapter *a = &nt->ad[0];
            const melora_melora_params mp = {a->A, a->B, a->M, a->H, g_s};
            const melora_lora_saved sv = {x, a->u};
            const melora_dims d = {T, NPIX, H, RANK, MELORA_FP32};
            CHECK(melora_melora_mc_forward(nt->zk, &sv, g_work, &mp, nt->Ck[0], K, d));
        }
        for (k = 0; k < K; k++) {
            if (melora_mc) {
                /* layers 2, 3 with the k-th C of each layer */
                int H2 = H;
                relu(nt->h1, nt->zk + (size_t)k * T * H, (size_t)T * H2);
                dense_fwd(nt->z2, nt->h1, nt->base->W2, nt->base->b2, T, H, H);
                melora_forward_with(nt, 1, nt->z2, nt->h1, nt->Ck[1] + (size_t)k * RANK * RANK, T);
                relu(nt->h2, nt->z2, (size_t)T * H);
                dense_fwd(nt->z3, nt->h2, nt->W3h, NULL, T, H, NCLS);
                melora_forward_with(nt, 2, nt->z3, nt->h2, nt->Ck[2] + (size_t)k * RANK * RANK, T);
                softmax_rows(nt->p, nt->z3, T);
            } else {
                memcpy(nt->z1, z1base + (size_t)i * H, (size_t)T * H * 4);
                /* sample k of the chunk starting at row i: noise from (seed, (1+k)*4096 + i), so
                   every example averages K independent samples */
                adapter_fwd(&nt->ad[0], nt->method, nt->z1, x, T, mode, seed, (uint64_t)(1 + k) * 4096 + (uint64_t)i, 0, cf);
                net_tail(nt, nt->z1, T, mode, seed, (uint64_t)(1 + k) * 4096 + (uint64_t)i, cf);
            }
            for (t = 0; t < T * NCLS; t++) pr[t] += nt->p[t] / K;
        }
    }
}

/* ------------------------------------------------------------------ one run */
typedef struct {
    double acc, ece15, ece10, nll, brier;
} scores;

/* smaller shift: noise, blur, rotation by 30 degrees; larger shift with the same labels:
   rotation by 60 degrees, and inverted images (a style the base and the adapters never saw) */
enum { SET_ID = 0, SET_NOISE, SET_BLUR, SET_ROT, SET_ROT60, SET_INV, SET_NSHIFT };

typedef struct {
    scores s[SET_NSHIFT];
    scores mean_id;          /* mean mode (no sampling) */
    scores one_id;           /* one sample at test (N = 1, the paper's protocol) */
    double ent_id, ent_ood, auroc, conf_ood;
    double train_s;
    int best_step;
    double val_acc, val_nll;
} run_result;

static void score(scores *s, const float *p, const int *y, int n) {
    s->acc = calib_accuracy(p, y, n, NCLS);
    s->ece15 = calib_ece(p, y, n, NCLS, 15);
    s->ece10 = calib_ece(p, y, n, NCLS, 10);
    s->nll = calib_nll(p, y, n, NCLS);
    s->brier = calib_brier(p, y, n, NCLS);
}

typedef struct {
    dataset train, val, shift[SET_NSHIFT], ood;
    float *z1_train, *z1_val, *z1_shift[SET_NSHIFT], *z1_ood;
} data_all;

static float *precompute_z1(const base_net *b, const dataset *d) {
    float *z = (float *)xmalloc((size_t)d->n * b->H * 4);
    dense_fwd(z, d->x, b->W1, b->b1, d->n, NPIX, b->H);
    return z;
}

static void snapshot(net *nt, int to_best) {
    int l, i;
    for (l = 0; l < NLAYER; l++)
        for (i = 0; i < nt->ad[l].nt; i++) {
            tensor *t = &nt->ad[l].t[i];
            if (to_best) memcpy(t->best, t->w, t->cnt * 4);
            else memcpy(t->w, t->best, t->cnt * 4);
        }
}

static float sched(int step, int steps, float warmup) { /* linear warm-up then linear decay */
    int w = (int)(warmup * steps + 0.5f);
    if (w > 0 && step < w) return (float)(step + 1) / w;
    return (float)(steps - step) / (float)(steps - w > 0 ? steps - w : 1);
}

/* BLoB's KL reweighting period: its code's int(100 N^(pi/gamma) / batch) unless kl_M > 0 */
static int kl_period(const config *cf, int ntrain) {
    if (cf->kl_M > 0) return cf->kl_M;
    return (int)(100.0 * pow((double)ntrain, 3.14159265358979323846 / cf->gamma) / cf->batch);
}

/* Initialise and fine-tune one network; the best validation checkpoint is left in place.
   Fills train_s, best_step, val_acc, val_nll. */
static void train_one(net *nt, run_result *res, const base_net *b, const data_all *D, int method,
                      int seedi, const config *cf) {
    uint64_t seed = 1000003u * (uint64_t)(seedi + 1);            /* init: same for all methods */
    uint64_t nseed = seed ^ ((uint64_t)(method + 1) << 32);      /* noise stream of this run */
    int H = b->H, step, l, i, T = cf->batch;
    int nb = D->train.n / T, Mb = kl_period(cf, D->train.n);
    int *idx = (int *)xmalloc((size_t)D->train.n * sizeof(int));
    float *xb = (float *)xmalloc((size_t)T * NPIX * 4), *zb = (float *)xmalloc((size_t)T * H * 4);
    int *yb = (int *)xmalloc((size_t)T * sizeof(int));
    float *pv = (float *)xmalloc((size_t)D->val.n * NCLS * 4);
    double train_time = 0.0, best_acc = -1.0, best_nll = 1e30;
    int kl_i = 1;
    net_init(nt, b, method, seed, cf);
    for (i = 0; i < D->train.n; i++) idx[i] = i;
    res->best_step = 0;
    for (step = 0; step < cf->steps; step++) {
        int bi = step % nb, t;
        double t0 = now_s();
        float f = sched(step, cf->steps, cf->warmup);
        if (bi == 0) shuffle(idx, D->train.n, seed + 17, (uint64_t)step * 4096);
        for (t = 0; t < T; t++) {
            int e = idx[bi * T + t];
            memcpy(xb + (size_t)t * NPIX, D->train.x + (size_t)e * NPIX, NPIX * 4);
            memcpy(zb + (size_t)t * H, D->z1_train + (size_t)e * H, (size_t)H * 4);
            yb[t] = D->train.y[e];
        }
        net_train_step(nt, xb, zb, yb, T, nseed, (uint64_t)step, cf);
        for (l = 0; l < NLAYER; l++)
            for (i = 0; i < nt->ad[l].nt; i++) {
                tensor *tt = &nt->ad[l].t[i];
                adam_update(tt->w, tt->g, tt->m1, tt->m2, tt->cnt, cf->lr * f, tt->decay ? cf->wd : 0.f, step + 1);
            }
        if (is_bayes(method)) { /* the KL by a separate SGD, weight pi_i = 2^i / (2^(M+1) - 1) */
            int ii = kl_i % Mb == 0 ? Mb : kl_i % Mb;
            float pi = (float)(ldexp(1.0, ii) / (ldexp(1.0, Mb + 1) - 1.0));
            float eps = melora_rng_uniform(nseed ^ 0x5eed, (uint64_t)step);
            kl_i++;
            for (l = 0; l < NLAYER; l++) {
                adapter *a = &nt->ad[l];
                adapter_kl(a, method, pi, eps, cf);
                for (i = 0; i < a->nt; i++) {
                    tensor *tt = &a->t[i];
                    size_t q;
                    for (q = 0; q < tt->cnt; q++) { tt->w[q] -= cf->kl_lr * f * tt->gk[q]; tt->gk[q] = 0.f; }
                }
            }
        }
        train_time += now_s() - t0;
        if ((step + 1) % cf->eval_every == 0 || step + 1 == cf->steps) {
            double acc, nll;
            net_predict(nt, pv, &D->val, D->z1_val, MODE_SAMPLE, cf->K, nseed ^ 0xa11, cf);
            acc = calib_accuracy(pv, D->val.y, D->val.n, NCLS);
            nll = calib_nll(pv, D->val.y, D->val.n, NCLS);
            if (acc > best_acc || (acc == best_acc && nll < best_nll)) {
                best_acc = acc; best_nll = nll; res->best_step = step + 1;
                snapshot(nt, 1);
            }
        }
    }
    snapshot(nt, 0);
    res->train_s = train_time;
    res->val_acc = best_acc;
    res->val_nll = best_nll;
    free(idx); free(xb); free(zb); free(yb); free(pv);
}

/* Predictive probabilities of one network, or the average of an ensemble's members. */
static void predict_all(net *nets, int nn, float *probs, const dataset *d, const float *z1base,
                        int mode, int K, uint64_t seed, const config *cf) {
    float *tmp;
    size_t cnt = (size_t)d->n * NCLS, q;
    int j;
    if (nn == 1) { net_predict(&nets[0], probs, d, z1base, mode, K, seed, cf); return; }
    tmp = (float *)xmalloc(cnt * 4);
    memset(probs, 0, cnt * 4);
    for (j = 0; j < nn; j++) {
        net_predict(&nets[j], tmp, d, z1base, mode, K, seed, cf);
        for (q = 0; q < cnt; q++) probs[q] += tmp[q] / nn;
    }
    free(tmp);
}

static void run_one(run_result *res, float *id_probs, const base_net *b, const data_all *D,
                    int method, int seedi, const config *cf, int eval_test) {
    net nets[ENS_MEMBERS];
    run_result tr;
    uint64_t seed = 1000003u * (uint64_t)(seedi + 1);
    uint64_t nseed = seed ^ ((uint64_t)(method + 1) << 32);
    int nn = method == M_ENS ? ENS_MEMBERS : 1, j, i;
    float *pbuf = (float *)xmalloc((size_t)D->ood.n * NCLS * 4);
    memset(res, 0, sizeof *res);
    for (j = 0; j < nn; j++) { /* member j > 0 of an ensemble: its own init and data order */
        train_one(&nets[j], &tr, b, D, method, seedi + 100 * j, cf);
        res->train_s += tr.train_s;
        if (j == 0) { res->best_step = tr.best_step; res->val_acc = tr.val_acc; res->val_nll = tr.val_nll; }
    }
    if (eval_test) {
        int s;
        uint64_t tseed = nseed ^ 0x7e57;
        double *hid, *hood;
        for (s = 0; s < SET_NSHIFT; s++) {
            float *p = s == SET_ID ? id_probs : pbuf;
            predict_all(nets, nn, p, &D->shift[s], D->z1_shift[s], MODE_SAMPLE, cf->K, tseed, cf);
            score(&res->s[s], p, D->shift[s].y, D->shift[s].n);
        }
        predict_all(nets, nn, pbuf, &D->shift[SET_ID], D->z1_shift[SET_ID], MODE_MEAN, 1, tseed, cf);
        score(&res->mean_id, pbuf, D->shift[SET_ID].y, D->shift[SET_ID].n);
        predict_all(nets, nn, pbuf, &D->shift[SET_ID], D->z1_shift[SET_ID], MODE_SAMPLE, 1, tseed ^ 0x0e, cf);
        score(&res->one_id, pbuf, D->shift[SET_ID].y, D->shift[SET_ID].n);
        /* larger shift: the pre-training classes; entropy and AUROC (OOD = positive) */
        predict_all(nets, nn, pbuf, &D->ood, D->z1_ood, MODE_SAMPLE, cf->K, tseed, cf);
        hid = (double *)xmalloc((size_t)D->shift[SET_ID].n * sizeof(double));
        hood = (double *)xmalloc((size_t)D->ood.n * sizeof(double));
        res->ent_id = res->ent_ood = res->conf_ood = 0.0;
        for (i = 0; i < D->shift[SET_ID].n; i++) res->ent_id += hid[i] = calib_entropy(id_probs + (size_t)i * NCLS, NCLS);
        for (i = 0; i < D->ood.n; i++) {
            const float *q = pbuf + (size_t)i * NCLS;
            res->ent_ood += hood[i] = calib_entropy(q, NCLS);
            res->conf_ood += q[calib_argmax(q, NCLS)];
        }
        res->ent_id /= D->shift[SET_ID].n;
        res->ent_ood /= D->ood.n;
        res->conf_ood /= D->ood.n;
        res->auroc = calib_auroc(hood, D->ood.n, hid, D->shift[SET_ID].n);
        free(hid); free(hood);
    }
    for (j = 0; j < nn; j++) net_free(&nets[j]);
    free(pbuf);
}

/* ------------------------------------------------------------------ reporting */
static void mean_std(double *mu, double *sd, const double *v, int n) {
    int i;
    double s = 0.0, q = 0.0;
    for (i = 0; i < n; i++) s += v[i];
    s /= n;
    for (i = 0; i < n; i++) q += (v[i] - s) * (v[i] - s);
    *mu = s;
    *sd = n > 1 ? sqrt(q / (n - 1)) : 0.0;
}

typedef double (*getter)(const run_result *);
#define GET(name, expr) static double name(const run_result *r) { return (expr); }
GET(g_acc, 100 * r->s[SET_ID].acc)
GET(g_ece15, 100 * r->s[SET_ID].ece15)
GET(g_ece10, 100 * r->s[SET_ID].ece10)
GET(g_nll, r->s[SET_ID].nll)
GET(g_brier, r->s[SET_ID].brier)
GET(g_macc, 100 * r->mean_id.acc)
GET(g_mece, 100 * r->mean_id.ece15)
GET(g_mnll, r->mean_id.nll)
GET(g_entid, r->ent_id)
GET(g_entood, r->ent_ood)
GET(g_confood, 100 * r->conf_ood)
GET(g_auroc, 100 * r->auroc)
GET(g_a1, 100 * r->s[1].acc) GET(g_a2, 100 * r->s[2].acc) GET(g_a3, 100 * r->s[3].acc)
GET(g_e1, 100 * r->s[1].ece15) GET(g_e2, 100 * r->s[2].ece15) GET(g_e3, 100 * r->s[3].ece15)
GET(g_n1, r->s[1].nll) GET(g_n2, r->s[2].nll) GET(g_n3, r->s[3].nll)
GET(g_a4, 100 * r->s[SET_ROT60].acc) GET(g_a5, 100 * r->s[SET_INV].acc)
GET(g_e4, 100 * r->s[SET_ROT60].ece15) GET(g_e5, 100 * r->s[SET_INV].ece15)
GET(g_n4, r->s[SET_ROT60].nll) GET(g_n5, r->s[SET_INV].nll)
GET(g_acc1, 100 * r->one_id.acc) GET(g_ece1, 100 * r->one_id.ece15) GET(g_nll1, r->one_id.nll)
GET(g_brier1, r->one_id.brier)

typedef struct { FILE *out[2]; } sink;
static void emit(sink *k, const char *fmt, ...) {
    int i;
    for (i = 0; i < 2; i++) {
        va_list ap;
        if (!k->out[i]) continue;
        va_start(ap, fmt);
        vfprintf(k->out[i], fmt, ap);
        va_end(ap);
    }
}

static run_result g_res[M_COUNT][NSEEDMAX];
static int g_nseeds;

static void cell(sink *k, int m, getter g, int prec) {
    double v[NSEEDMAX], mu, sd;
    int s;
    for (s = 0; s < g_nseeds; s++) v[s] = g(&g_res[m][s]);
    mean_std(&mu, &sd, v, g_nseeds);
    emit(k, " %.*f ± %.*f |", prec, mu, prec, sd);
}

static void table(sink *k, const char *title, const int *methods, int nm, const char **cols,
                  getter *gs, const int *prec, int nc) {
    int i, j;
    emit(k, "\n%s\n\n| method |", title);
    for (j = 0; j < nc; j++) emit(k, " %s |", cols[j]);
    emit(k, "\n|---|");
    for (j = 0; j < nc; j++) emit(k, "---:|");
    emit(k, "\n");
    for (i = 0; i < nm; i++) {
        emit(k, "| %s |", method_name[methods[i]]);
        for (j = 0; j < nc; j++) cell(k, methods[i], gs[j], prec[j]);
        emit(k, "\n");
    }
}

/* Paired differences a - b over the seeds (the two methods share each seed's initialisation
   and data order): mean [95% CI of the mean, Student's t] per metric. */
static void paired_table(sink *k, const char *title, const int (*pairs)[2], int np,
                         const char **cols, getter *gs, const int *prec, int nc) {
    int i, j, s;
    emit(k, "\n%s\n\n| a − b |", title);
    for (j = 0; j < nc; j++) emit(k, " %s |", cols[j]);
    emit(k, "\n|---|");
    for (j = 0; j < nc; j++) emit(k, "---:|");
    emit(k, "\n");
    for (i = 0; i < np; i++) {
        emit(k, "| %s − %s |", method_name[pairs[i][0]], method_name[pairs[i][1]]);
        for (j = 0; j < nc; j++) {
            double va[NSEEDMAX], vb[NSEEDMAX], mu, h;
            int sig;
            for (s = 0; s < g_nseeds; s++) {
                va[s] = gs[j](&g_res[pairs[i][0]][s]);
                vb[s] = gs[j](&g_res[pairs[i][1]][s]);
            }
            calib_paired(&mu, &h, va, vb, g_nseeds);
            sig = g_nseeds > 1 && (mu - h > 0 || mu + h < 0);
            emit(k, " %s%+.*f [%+.*f, %+.*f]%s |", sig ? "**" : "", prec[j], mu, prec[j], mu - h,
                 prec[j], mu + h, sig ? "**" : "");
        }
        emit(k, "\n");
    }
}
/* every seed's value of one metric */
static void per_seed_table(sink *k, const char *title, const int *methods, int nm, getter g, int prec) {
    int i, s;
    emit(k, "\n%s\n\n| method |", title);
    for (s = 0; s < g_nseeds; s++) emit(k, " seed %d |", s);
    emit(k, "\n|---|");
    for (s = 0; s < g_nseeds; s++) emit(k, "---:|");
    emit(k, "\n");
    for (i = 0; i < nm; i++) {
        emit(k, "| %s |", method_name[methods[i]]);
        for (s = 0; s < g_nseeds; s++) emit(k, " %.*f |", prec, g(&g_res[methods[i]][s]));
        emit(k, "\n");
    }
}

static double getd(const char *key, int argc, char **argv, double dflt) {
    int i;
    size_t kl = strlen(key);
    for (i = 0; i < argc; i++)
        if (!strncmp(argv[i], key, kl) && argv[i][kl] == '=') return atof(argv[i] + kl + 1);
    return dflt;
}

/* ------------------------------------------------------------------ calib run */
/* What `calib run` chose and measured, shared by its parts. */
typedef struct {
    config cf;
    int methods[M_COUNT], nm; /* the methods run, in table order */
    int do_sweep, H;
    float kl_lr[M_COUNT];     /* the KL learning rate each method runs with */
    run_result sweep[M_COUNT][NKLC];
    float *id_probs[M_COUNT]; /* in-distribution test probabilities, the seeds stacked */
    double t_all;             /* the run's start */
} run_plan;
/* Table 7; between; BLoB's released scripts; BLoB's code default */
static const float kl_cand[NKLC] = {1e-4f, 2e-3f, 1e-2f, 2e-2f};

static void run_config(run_plan *P, int argc, char **argv) {
    config cf;
    int methods_all[M_COUNT] = {M_MAP, M_MCD, M_ENS, M_BLOB, M_BLOBP, M_ME8, M_ME7, M_MEX};
    int only = (int)getd("method", argc, argv, -1), nm = M_COUNT;
    cf.K = (int)getd("K", argc, argv, 10);
    cf.steps = (int)getd("steps", argc, argv, 1000);
    cf.batch = (int)getd("batch", argc, argv, 20);
    cf.eval_every = (int)getd("eval_every", argc, argv, 50);
    cf.nseeds = (int)getd("seeds", argc, argv, 5);
    cf.ntrain = (int)getd("ntrain", argc, argv, 100);
    cf.nval = (int)getd("nval", argc, argv, 100);
    cf.ncorr = (int)getd("ncorr", argc, argv, 2500); /* per corrupted set: keeps the run short */
    cf.lr = (float)getd("lr", argc, argv, 1e-3);
    cf.wd = (float)getd("wd", argc, argv, 1e-2);
    cf.kl_lr = (float)getd("kl_lr", argc, argv, 0.02);
    cf.sigma_p = (float)getd("sigma_p", argc, argv, 0.2);
    cf.eps0 = (float)getd("eps0", argc, argv, 0.05);
    cf.dropout = (float)getd("dropout", argc, argv, 0.1);
    cf.warmup = (float)getd("warmup", argc, argv, 0.02);
    cf.gamma = (float)getd("gamma", argc, argv, 8);
    cf.kl_M = (int)getd("kl_M", argc, argv, 0);
    P->do_sweep = (int)getd("sweep", argc, argv, 1);
    if (cf.K > KMAX || cf.K < 1 || cf.nseeds > NSEEDMAX || cf.nseeds < 1 || cf.batch > TMAX ||
        cf.steps >= 1 << 21)
        die("bad config");
    g_nseeds = cf.nseeds;
    if (only >= 0 && only < M_COUNT) { methods_all[0] = only; nm = 1; }
    memcpy(P->methods, methods_all, sizeof methods_all);
    P->nm = nm;
    P->cf = cf;
}

/* The frozen base from `calib pretrain`: binds b to the returned weights (free them). */
static float *load_base(base_net *b, const char *basefile) {
    float *bw;
    int H;
    FILE *f = fopen(basefile, "rb");
    if (!f) die("cannot read the base file (run 'calib pretrain' first)");
    {
        int32_t hdr[2];
        if (fread(hdr, sizeof hdr, 1, f) != 1 || hdr[0] != 0x4d4c4231) die("bad base file");
        H = hdr[1];
        bw = (float *)xmalloc(base_count(H) * 4);
        if (fread(bw, 4, base_count(H), f) != base_count(H)) die("short base file");
        fclose(f);
    }
    base_bind(b, bw, H);
    return bw;
}

/* Fine-tuning, validation, test (clean and corrupted) and OOD sets, with the base's first
   layer precomputed for each. */
static void load_data(data_all *D, const base_net *b, const char *dir, const config *cf) {
    float *raw_id, *raw_c;
    int ntr, nte, nl, s, i;
    unsigned char *img, *lab, *timg, *tlab;
    img = read_idx(dir, "train-images-idx3-ubyte", &ntr, 3);
    lab = read_idx(dir, "train-labels-idx1-ubyte", &nl, 1);
    timg = read_idx(dir, "t10k-images-idx3-ubyte", &nte, 3);
    tlab = read_idx(dir, "t10k-labels-idx1-ubyte", &nl, 1);
    ds_select(&D->train, NULL, img, lab, ntr, 1, 0, cf->ntrain);
    ds_select(&D->val, NULL, img, lab, ntr, 1, cf->ntrain, cf->nval);
    raw_id = (float *)xmalloc((size_t)nte * NPIX * 4);
    ds_select(&D->shift[SET_ID], raw_id, timg, tlab, nte, 1, 0, 1 << 30);
    ds_select(&D->ood, NULL, timg, tlab, nte, 0, 0, 1 << 30);
    {
        int nc = cf->ncorr < D->shift[SET_ID].n ? cf->ncorr : D->shift[SET_ID].n;
        raw_c = (float *)xmalloc((size_t)nc * NPIX * 4);
        corrupt_noise(raw_c, raw_id, nc, 0.3f, 99);
        ds_from_raw(&D->shift[SET_NOISE], raw_c, D->shift[SET_ID].y, nc);
        corrupt_blur(raw_c, raw_id, nc, 1.5f);
        ds_from_raw(&D->shift[SET_BLUR], raw_c, D->shift[SET_ID].y, nc);
        corrupt_rotate(raw_c, raw_id, nc, 30.f);
        ds_from_raw(&D->shift[SET_ROT], raw_c, D->shift[SET_ID].y, nc);
        corrupt_rotate(raw_c, raw_id, nc, 60.f);
        ds_from_raw(&D->shift[SET_ROT60], raw_c, D->shift[SET_ID].y, nc);
        for (i = 0; i < nc * NPIX; i++) raw_c[i] = 1.f - raw_id[i]; /* inverted: a new style */
        ds_from_raw(&D->shift[SET_INV], raw_c, D->shift[SET_ID].y, nc);
        free(raw_c);
    }
    free(raw_id); free(img); free(lab); free(timg); free(tlab);
    D->z1_train = precompute_z1(b, &D->train);
    D->z1_val = precompute_z1(b, &D->val);
    for (s = 0; s < SET_NSHIFT; s++) D->z1_shift[s] = precompute_z1(b, &D->shift[s]);
    D->z1_ood = precompute_z1(b, &D->ood);
}

/* One workspace for every melora call of the run. */
static void alloc_workspace(int H) {
    size_t ws = 0;
    int dims[3][2], l, op;
    dims[0][0] = NPIX; dims[0][1] = H; dims[1][0] = H; dims[1][1] = H; dims[2][0] = H; dims[2][1] = NCLS;
    for (l = 0; l < 3; l++)
        for (op = 0; op < MELORA_OP_COUNT_; op++) {
            size_t by = 0;
            const melora_dims d = {TMAX, dims[l][0], dims[l][1], RANK, MELORA_FP32};
            CHECK(melora_workspace_size(&by, (melora_op)op, d));
            if (by > ws) ws = by;
        }
    CHECK(melora_alloc(&g_work.base, ws));
    g_work.bytes = ws;
}

/* The KL's SGD learning rate of each Bayesian method: chosen on the validation accuracy
   (ties: NLL) of seed 0 from the candidates, the runs' test sets untouched. */
static void choose_kl_lr(run_plan *P, const base_net *b, const data_all *D) {
    int i, m;
    for (i = 0; i < P->nm; i++) {
        int c, best = 0;
        m = P->methods[i];
        P->kl_lr[m] = P->cf.kl_lr;
        if (!is_bayes(m) || !P->do_sweep) continue;
        for (c = 0; c < NKLC; c++) {
            config cc = P->cf;
            cc.kl_lr = kl_cand[c];
            run_one(&P->sweep[m][c], NULL, b, D, m, 0, &cc, 0);
            printf("KL lr sweep: %-26s kl_lr %g: val acc %.2f NLL %.3f (best step %d)\n", method_name[m],
                   (double)kl_cand[c], 100 * P->sweep[m][c].val_acc, P->sweep[m][c].val_nll, P->sweep[m][c].best_step);
            fflush(stdout);
            if (P->sweep[m][c].val_acc > P->sweep[m][best].val_acc ||
                (P->sweep[m][c].val_acc == P->sweep[m][best].val_acc && P->sweep[m][c].val_nll < P->sweep[m][best].val_nll))
                best = c;
        }
        P->kl_lr[m] = kl_cand[best];
    }
}

/* Every method and seed; the in-distribution probabilities are kept for the diagrams. */
static void run_methods(run_plan *P, const base_net *b, const data_all *D) {
    int i, m, s;
    for (i = 0; i < P->nm; i++) {
        m = P->methods[i];
        P->id_probs[m] = (float *)xmalloc((size_t)P->cf.nseeds * D->shift[SET_ID].n * NCLS * 4);
        for (s = 0; s < P->cf.nseeds; s++) {
            double t0 = now_s();
            run_result *r = &g_res[m][s];
            config cc = P->cf;
            cc.kl_lr = P->kl_lr[m];
            run_one(r, P->id_probs[m] + (size_t)s * D->shift[SET_ID].n * NCLS, b, D, m, s, &cc, 1);
            printf("%-26s seed %d: best step %4d (val acc %.2f) | test acc %.2f ECE %.2f NLL %.3f | "
                   "mean-mode acc %.2f ECE %.2f NLL %.3f | OOD AUROC %.2f | train %.1f s, total %.1f s\n",
                   method_name[m], s, r->best_step, 100 * r->val_acc, 100 * r->s[0].acc,
                   100 * r->s[0].ece15, r->s[0].nll, 100 * r->mean_id.acc, 100 * r->mean_id.ece15,
                   r->mean_id.nll, 100 * r->auroc, r->train_s, now_s() - t0);
            fflush(stdout);
        }
    }
}

/* The header of the results: the set-up in one paragraph. */
static void table_intro(sink *k, const run_plan *P, const data_all *D) {
    const config *cf = &P->cf;
    const int H = P->H;
    emit(k, "# Calibration experiment: LoRA vs BLoB vs Me-LoRA on Fashion-MNIST\n\n"
             "Written by `make calibration` (paper_repro/calibration/calib.c); README.md, "
             "\"Calibration experiment\", describes the set-up and what the numbers support.\n\n"
             "Base: frozen MLP %d-%d-%d trained on the even classes; fine-tuning: the odd classes "
             "(trouser, dress, sandal, sneaker, ankle boot), %d training and %d validation examples "
             "per class, test %d examples (%d per corruption), larger shift %d examples of the "
             "pre-training classes. r = %d, alpha = %g, %d steps of batch %d, AdamW lr %g "
             "(wd %g, none on the std parameters GA, H), linear warm-up (2%%) and decay; the KL by a "
             "separate SGD (learning rate chosen per method on validation, see the last tables) "
             "with weight 2^i/(2^(M+1)-1), M = %d (%s), sigma_p = %g, "
             "N = %d test samples (probabilities averaged; the paper's protocol, N = 1, has its "
             "own table), checkpoint every %d steps chosen on validation accuracy. BLoB: Flipout "
             "in training and BLoB's KL, as BLoB's code; BLoB, paper's replication: one draw of "
             "A per batch and eq. 8's prior (sigma_p + eps), as the Me-LoRA paper describes its "
             "BLoB baseline. Deep Ensemble: %d LoRA fine-tunes (different initialisation and "
             "data order), probabilities averaged. %d seeds, mean ± sample std; the paired "
             "differences at the end compare methods seed by seed.\n",
         NPIX, H, H, cf->ntrain, cf->nval, D->shift[SET_ID].n, D->shift[SET_NOISE].n, D->ood.n, RANK,
         (double)ALPHA, cf->steps, cf->batch, (double)cf->lr, (double)cf->wd,
         kl_period(cf, D->train.n), cf->kl_M > 0 ? "set by kl_M" : "BLoB's code: int(100 N^(pi/gamma) / batch), N = training examples, gamma = 8",
         (double)cf->sigma_p, cf->K, cf->eval_every, ENS_MEMBERS, cf->nseeds);
}

/* Tables 2 to 5 analogues: scores in and out of distribution, mean mode, N = 1, ablation. */
static void tables_scores(sink *k, const run_plan *P) {
    int all[M_COUNT] = {M_MAP, M_MCD, M_ENS, M_BLOB, M_BLOBP, M_ME8, M_ME7, M_MEX};
    int abl[3] = {M_ME8, M_ME7, M_MEX};
    int bay[6] = {M_MCD, M_BLOB, M_BLOBP, M_ME8, M_ME7, M_MEX};
    const int *sel = all, nm = P->nm;
    int nsel = M_COUNT;
    const char *c2[] = {"ACC ↑", "ECE (15 bins) ↓", "ECE (10 bins) ↓", "NLL ↓", "Brier ↓"};
    getter g2[] = {g_acc, g_ece15, g_ece10, g_nll, g_brier};
    int p2[] = {2, 2, 2, 3, 3};
    const char *cm[] = {"ACC ↑", "ECE ↓", "NLL ↓"};
    getter gm[] = {g_macc, g_mece, g_mnll};
    int pm[] = {2, 2, 3};
    const char *c3[] = {"in-dist.", "Gaussian noise", "blur", "rotation"};
    getter ga[] = {g_acc, g_a1, g_a2, g_a3}, ge[] = {g_ece15, g_e1, g_e2, g_e3}, gn[] = {g_nll, g_n1, g_n2, g_n3};
    int p3[] = {2, 2, 2, 2}, p3n[] = {3, 3, 3, 3};
    const char *co[] = {"entropy, in-dist.", "entropy, OOD ↑", "confidence on OOD (%) ↓", "AUROC (%) ↑"};
    getter go[] = {g_entid, g_entood, g_confood, g_auroc};
    int po[] = {3, 3, 2, 2};
    if (nm == 1) { sel = P->methods; nsel = 1; }
    table(k, "## Table 2 analogue: in-distribution (ACC and ECE in %)", sel, nsel, c2, g2, p2, 5);
    if (nm > 1) { sel = bay; nsel = 6; }
    table(k, "### Mean mode (no sampling: A = MA, C = M, no dropout)", sel, nsel, cm, gm, pm, 3);
    if (nm > 1) { sel = all; nsel = M_COUNT; }
    table(k, "## Table 3 analogue, smaller shift (corrupted fine-tuning classes): ACC (%)", sel, nsel, c3, ga, p3, 4);
    table(k, "### ECE (15 bins, %)", sel, nsel, c3, ge, p3, 4);
    table(k, "### NLL", sel, nsel, c3, gn, p3n, 4);
    {
        const char *cl[] = {"ACC, rotation 60°", "ECE, rotation 60°", "NLL, rotation 60°",
                            "ACC, inverted", "ECE, inverted", "NLL, inverted"};
        getter gl[] = {g_a4, g_e4, g_n4, g_a5, g_e5, g_n5};
        int pl[] = {2, 2, 3, 2, 2, 3};
        table(k, "## Larger shift, same labels: rotation by ±60° and inverted images (ACC, ECE in %)",
              sel, nsel, cl, gl, pl, 6);
    }
    table(k, "## Table 3 analogue, larger shift (the 5 pre-training classes shown to the fine-tuned model)",
          sel, nsel, co, go, po, 4);
    if (nm > 1) {
        const char *c1[] = {"ACC ↑", "ECE ↓", "NLL ↓", "Brier ↓"};
        getter g1[] = {g_acc1, g_ece1, g_nll1, g_brier1};
        int p1[] = {2, 2, 3, 3};
        table(k, "## The paper's protocol: one sample at test (N = 1), in distribution", bay, 6,
              c1, g1, p1, 4);
    }
    if (nm > 1) {
        const char *ca[] = {"ACC ↑", "ECE ↓", "NLL ↓", "ACC noise", "ECE noise", "NLL noise",
                            "ECE rotation", "AUROC (%) ↑"};
        getter gab[] = {g_acc, g_ece15, g_nll, g_a1, g_e1, g_n1, g_e3, g_auroc};
        int pab[] = {2, 2, 3, 2, 2, 3, 2, 2};
        table(k, "## Tables 4/5 analogue: ablation of the prior noise (eq. 8 vs eq. 7) and the exact KL_C",
              abl, 3, ca, gab, pab, 8);
    }
}

/* Trainable parameters and training time of each method, against MAP (LoRA). */
static void table_cost(sink *k, const run_plan *P) {
    const int H = P->H, nseeds = P->cf.nseeds;
    int64_t params[M_COUNT];
    melora_module mods[3];
    double base_time = 0.0, v[NSEEDMAX], sd;
    int i, m, s;
    mods[0].name = "layer1"; mods[0].m = H; mods[0].n = NPIX; mods[0].count = 1;
    mods[1].name = "layer2"; mods[1].m = H; mods[1].n = H; mods[1].count = 1;
    mods[2].name = "head"; mods[2].m = NCLS; mods[2].n = H; mods[2].count = 1;
    for (m = 0; m < M_COUNT; m++) {
        melora_method mm = m == M_BLOB ? MELORA_METHOD_BLOB_FLIPOUT : m == M_BLOBP ? MELORA_METHOD_BLOB
                           : is_melora(m) ? MELORA_METHOD_MELORA : MELORA_METHOD_LORA;
        CHECK(melora_count_model_params(&params[m], mm, mods, 3, RANK));
        if (m == M_ENS) params[m] *= ENS_MEMBERS;
    }
    for (s = 0; s < nseeds; s++) v[s] = g_res[M_MAP][s].train_s;
    mean_std(&base_time, &sd, v, nseeds);
    emit(k, "\n## Cost\n\nTrainable parameters from `melora_count_model_params` (adapters on "
             "784→%d, %d→%d and the %d→5 head); training time of the %d steps (forward, backward, "
             "optimisers; no evaluation) on this shared 2-core CPU, relative to MAP (LoRA).\n\n"
             "| method | trainable params | vs LoRA | train time (s) | time vs LoRA | best step | KL lr |\n"
             "|---|---:|---:|---:|---:|---:|---:|\n", H, H, H, H, P->cf.steps);
    for (i = 0; i < P->nm; i++) {
        double mu, sdv, st, sst;
        m = P->methods[i];
        for (s = 0; s < nseeds; s++) v[s] = g_res[m][s].train_s;
        mean_std(&mu, &sdv, v, nseeds);
        for (s = 0; s < nseeds; s++) v[s] = g_res[m][s].best_step;
        mean_std(&st, &sst, v, nseeds);
        emit(k, "| %s | %lld | %+.2f%% | %.2f ± %.2f | %.2fx | %.0f ± %.0f |", method_name[m],
             (long long)params[m], 100.0 * (params[m] - params[M_MAP]) / params[M_MAP], mu, sdv,
             base_time > 0 ? mu / base_time : 0.0, st, sst);
        if (is_bayes(m)) emit(k, " %g |\n", (double)P->kl_lr[m]);
        else emit(k, " – |\n");
    }
}

/* Paired differences between methods, seed by seed, and every seed's values. */
static void tables_paired(sink *k, const run_plan *P) {
    int all[M_COUNT] = {M_MAP, M_MCD, M_ENS, M_BLOB, M_BLOBP, M_ME8, M_ME7, M_MEX};
    static const int pairs[][2] = {
        {M_MCD, M_MAP}, {M_ENS, M_MAP}, {M_BLOB, M_MAP}, {M_BLOBP, M_MAP}, {M_ME8, M_MAP},
        {M_ME7, M_MAP}, {M_MEX, M_MAP}, {M_ME8, M_BLOB}, {M_ME8, M_BLOBP}, {M_BLOBP, M_BLOB},
        {M_ME8, M_ME7}, {M_ME8, M_MEX}};
    static const int pairs1[][2] = {{M_ME8, M_BLOBP}, {M_ME8, M_BLOB}, {M_BLOBP, M_BLOB},
                                    {M_ME8, M_ME7}};
    const char *cp[] = {"ACC", "ECE", "NLL", "Brier", "ACC blur", "ACC rotation",
                        "ECE rotation", "ACC rot. 60°", "ECE rot. 60°", "AUROC"};
    getter gp[] = {g_acc, g_ece15, g_nll, g_brier, g_a2, g_a3, g_e3, g_a4, g_e4, g_auroc};
    int pp[] = {2, 2, 3, 3, 2, 2, 2, 2, 2, 2};
    const char *cp1[] = {"ACC", "ECE", "NLL", "Brier"};
    getter gp1[] = {g_acc1, g_ece1, g_nll1, g_brier1};
    int pp1[] = {2, 2, 3, 3};
    emit(k, "\n## Paired differences over the %d seeds\n\nFor each seed, method a minus "
             "method b (same initialisation and data order), then the mean and its 95%% "
             "confidence interval (Student's t, %d degrees of freedom). **Bold**: the "
             "interval excludes 0. ACC, ECE in points, N = %d test samples unless stated.\n",
         P->cf.nseeds, P->cf.nseeds - 1, P->cf.K);
    paired_table(k, "### N = 10 (BLoB's protocol)", pairs, (int)(sizeof pairs / sizeof pairs[0]),
                 cp, gp, pp, 10);
    paired_table(k, "### N = 1 (the paper's protocol), in distribution", pairs1,
                 (int)(sizeof pairs1 / sizeof pairs1[0]), cp1, gp1, pp1, 4);
    per_seed_table(k, "### Per seed: ACC (%), in distribution", all, M_COUNT, g_acc, 2);
    per_seed_table(k, "### Per seed: ECE (15 bins, %), in distribution", all, M_COUNT, g_ece15, 2);
    per_seed_table(k, "### Per seed: NLL, in distribution", all, M_COUNT, g_nll, 3);
}

/* The KL learning-rate candidates' validation scores, the chosen one in bold. */
static void table_sweep(sink *k, const run_plan *P) {
    int i, m;
    emit(k, "\n## KL learning rate (SGD) chosen on validation, seed 0\n\n"
             "Validation accuracy %% (NLL) of the selected checkpoint for each candidate; the "
             "highest accuracy (then the lowest NLL) is used for all seeds.\n\n"
             "| method | 1e-4 (paper, Table 7) | 2e-3 | 1e-2 (BLoB scripts) | 2e-2 (BLoB code default) |\n"
             "|---|---:|---:|---:|---:|\n");
    for (i = 0; i < P->nm; i++) {
        int c;
        m = P->methods[i];
        if (!is_bayes(m)) continue;
        emit(k, "| %s |", method_name[m]);
        for (c = 0; c < NKLC; c++)
            emit(k, " %s%.2f (%.3f)%s |", P->kl_lr[m] == kl_cand[c] ? "**" : "", 100 * P->sweep[m][c].val_acc,
                 P->sweep[m][c].val_nll, P->kl_lr[m] == kl_cand[c] ? "**" : "");
        emit(k, "\n");
    }
}

/* Every table, to stdout and to the Markdown file md (when not NULL). */
static void write_tables(const run_plan *P, const data_all *D, const char *md) {
    FILE *f = md ? fopen(md, "w") : NULL;
    sink k;
    int i, m;
    k.out[0] = stdout;
    k.out[1] = f;
    table_intro(&k, P, D);
    tables_scores(&k, P);
    table_cost(&k, P);
    if (P->nm > 1) tables_paired(&k, P);
    if (P->do_sweep) table_sweep(&k, P);
    emit(&k, "\n## Reliability diagrams (in-distribution test, 15 bins, the %d seeds pooled)\n\n", P->cf.nseeds);
    for (i = 0; i < P->nm; i++) {
        m = P->methods[i];
        emit(&k, "![%s](calibration_%s.png)\n", method_name[m], method_tag[m]);
    }
    emit(&k, "\nWall time of this run (after the base was trained): %.0f s.\n", now_s() - P->t_all);
    if (f) fclose(f);
}

/* The reliability diagrams' data (one file per method) and the gnuplot script. */
static void write_reliability(const run_plan *P, const data_all *D, const char *plotdir) {
    char path[1024];
    FILE *gp;
    int i, m, s;
    snprintf(path, sizeof path, "%s/reliability.gp", plotdir);
    gp = fopen(path, "w");
    if (!gp) die("cannot write the gnuplot script");
    fprintf(gp, "set terminal pngcairo size 480,440 font ',10'\nset xrange [0:1]\nset yrange [0:1]\n"
                "set xlabel 'confidence'\nset ylabel 'accuracy'\nset key top left\nset grid\n"
                "set style fill solid 0.6 border -1\nset boxwidth 0.0667 absolute\n");
    for (i = 0; i < P->nm; i++) {
        int count[15], b2, N = P->cf.nseeds * D->shift[SET_ID].n;
        double conf[15], acc[15];
        int *yy = (int *)xmalloc((size_t)N * sizeof(int));
        FILE *dat;
        m = P->methods[i];
        for (s = 0; s < P->cf.nseeds; s++) memcpy(yy + (size_t)s * D->shift[SET_ID].n, D->shift[SET_ID].y, D->shift[SET_ID].n * sizeof(int));
        calib_reliability(count, conf, acc, P->id_probs[m], yy, N, NCLS, 15);
        snprintf(path, sizeof path, "%s/reliability_%s.dat", plotdir, method_tag[m]);
        dat = fopen(path, "w");
        if (!dat) die("cannot write reliability data");
        fprintf(dat, "# bin_centre accuracy confidence count\n");
        for (b2 = 0; b2 < 15; b2++)
            fprintf(dat, "%.5f %.5f %.5f %d\n", (b2 + 0.5) / 15.0, count[b2] ? acc[b2] : 0.0,
                    count[b2] ? conf[b2] : (b2 + 0.5) / 15.0, count[b2]);
        fclose(dat);
        fprintf(gp, "set output 'paper_repro/results/calibration_%s.png'\n"
                    "set title \"%s: ECE %.2f%%, acc %.2f%%\"\n"
                    "plot '%s/reliability_%s.dat' using 1:2 with boxes lc rgb '#4477aa' title 'accuracy', "
                    "'' using 1:($4 > 0 ? $3 : 1/0) with linespoints pt 7 ps 0.6 lc rgb '#cc3311' title 'mean confidence (non-empty bins)', "
                    "x with lines dt 2 lc rgb 'black' title 'perfect calibration'\n",
                method_tag[m], method_name[m], 100 * calib_ece(P->id_probs[m], yy, N, NCLS, 15),
                100 * calib_accuracy(P->id_probs[m], yy, N, NCLS), plotdir, method_tag[m]);
        free(yy);
    }
    fclose(gp);
}

static int cmd_run(const char *dir, const char *basefile, const char *md, const char *plotdir,
                   int argc, char **argv) {
    run_plan P;
    base_net b;
    data_all D;
    float *bw;
    int s, i;
    memset(&P, 0, sizeof P);
    P.t_all = now_s();
    run_config(&P, argc, argv);
    bw = load_base(&b, basefile);
    P.H = b.H;
    load_data(&D, &b, dir, &P.cf);
    printf("data: train %d, val %d, test %d (corrupted: %d each), OOD %d; base hidden %d; %.1f s\n",
           D.train.n, D.val.n, D.shift[SET_ID].n, D.shift[SET_NOISE].n, D.ood.n, P.H, now_s() - P.t_all);
    alloc_workspace(P.H);
    choose_kl_lr(&P, &b, &D);
    run_methods(&P, &b, &D);
    write_tables(&P, &D, md);
    write_reliability(&P, &D, plotdir);
    for (i = 0; i < P.nm; i++) free(P.id_probs[P.methods[i]]);
    printf("total %.1f s\n", now_s() - P.t_all);
    melora_free(g_work.base);
    free(bw);
    ds_free(&D.train); ds_free(&D.val); ds_free(&D.ood);
    for (s = 0; s < SET_NSHIFT; s++) { ds_free(&D.shift[s]); free(D.z1_shift[s]); }
    free(D.z1_train); free(D.z1_val); free(D.z1_ood);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 4 && !strcmp(argv[1], "pretrain"))
        return cmd_pretrain(argv[2], argv[3], argc > 4 ? atoi(argv[4]) : 256, argc > 5 ? atoi(argv[5]) : 2);
    if (argc >= 6 && !strcmp(argv[1], "run"))
        return cmd_run(argv[2], argv[3], argv[4], argv[5], argc - 6, argv + 6);
    fprintf(stderr, "usage: calib pretrain DATA_DIR BASE_FILE [hidden] [epochs]\n"
                    "       calib run DATA_DIR BASE_FILE RESULTS_MD PLOT_DIR [key=value ...]\n");
    return 2;
}
