/* Determinism beyond thread counts (tests/test_threads.c): the same seed and offsets give
   bitwise identical noise, samples, outputs and gradients across repeated calls, stale
   workspace contents, input alignments, and two separate processes running 1 and 2
   threads. (The CUDA path's noise against the host's: tests/cuda/test_cuda.cpp.) */
#include "util.h"
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static uint64_t fnv(uint64_t h, const void *p, size_t bytes) {
    const unsigned char *c = (const unsigned char *)p;
    for (size_t i = 0; i < bytes; i++) h = (h ^ c[i]) * 1099511628211ull;
    return h;
}
#define H0 14695981039346656037ull
/* FNV-1a of melora_noise_uniform / _sign(seed 7, offset 12345, 1000 floats) */
#define UNIFORM_PIN 0x5126e057605a5698ull
#define SIGN_PIN 0xeecfa74645517865ull

/* Shapes that exercise partial row blocks, partial vectors, r not a multiple of the tile
   and E > 1. */
enum { T = 37, N = 33, M = 19, R = 5, E = 37, G = 4, K = 2, NOUT = 22 };
typedef struct { uint64_t h[NOUT]; } digest;

/* Every compute function once, inputs drawn from the library's generator (seed 11,
   disjoint offsets), outputs hashed. `fillbyte` is the stale workspace content; `shift`
   (in floats) moves every input off its 64-byte alignment. */
static void run_all(digest *dg, int fillbyte, int shift) {
    const int ng = (T + G - 1) / G;
    size_t sizes[] = {(size_t)T * N, (size_t)R * N, (size_t)M * R, (size_t)R * N, (size_t)R * N,
                      (size_t)T * M, (size_t)R * R, (size_t)R * R, (size_t)E * R * R,
                      (size_t)ng * N, (size_t)ng * R};
    enum { X, A, B, GA, EA, DZ, MM, HH, EC, SA, SB, NIN };
    float *in[NIN], *base[NIN];
    uint64_t off = 0;
    for (int i = 0; i < NIN; i++) {
        base[i] = (float *)malloc((sizes[i] + 16) * sizeof(float));
        in[i] = base[i] + shift;
        if (i == SA || i == SB) cr_assert_eq(melora_noise_sign(in[i], 11, off, (int64_t)sizes[i]), 0);
        else cr_assert_eq(melora_noise_normal(in[i], 11, off, (int64_t)sizes[i]), 0);
        off += sizes[i];
    }
    const melora_dims d = {T, N, M, R, MELORA_FP32};
    size_t bytes = 0, b;
    for (int op = 0; op < MELORA_OP_COUNT_; op++) {
        cr_assert_eq(melora_workspace_size(&b, (melora_op)op, d), 0);
        if (b > bytes) bytes = b;
    }
    melora_work w = {NULL, bytes};
    cr_assert_eq(melora_alloc(&w.base, bytes), 0);
    memset(w.base, fillbyte, bytes);
    float *z = tu_const((size_t)K * T * M, 0.25f), *u = tu_const((size_t)T * R, 0), *v = tu_const((size_t)T * R, 0);
    float *dx = tu_const((size_t)T * N, 0), *dA = tu_const((size_t)R * N, 0), *dB = tu_const((size_t)M * R, 0);
    float *dGA = tu_const((size_t)R * N, 0), *dM = tu_const((size_t)R * R, 0), *dH = tu_const((size_t)R * R, 0);
    float *As = tu_const((size_t)R * N, 0), *C = tu_const((size_t)E * R * R, 0);
    const melora_lora_saved sv = {.x = in[X], .u = u};
    const melora_melora_saved ms = {.x = in[X], .u = u, .v = v};
    const melora_lora_params lp = {.A = in[A], .B = in[B], .s = 2};
    const melora_blob_params bp = {.MA = in[A], .GA = in[GA], .B = in[B], .s = 2};
    const melora_melora_params mp = {.A = in[A], .B = in[B], .M = in[MM], .H = in[HH], .s = 2};
    const melora_lora_grads lg = {.dA = dA, .dB = dB};
    const melora_blob_grads bg = {.dMA = dA, .dGA = dGA, .dB = dB};
    const melora_melora_grads mg = {.dA = dA, .dB = dB, .dM = dM, .dH = dH};
    const melora_blob_draw bd = {.As = As, .EA = in[EA]};
    const melora_flipout_noise nz = {.EA = in[EA], .sa = in[SA], .sb = in[SB], .G = G};
    const melora_melora_draw md = {.C = C, .EC = in[EC], .E = E};
    double kl = 0;
    int o = 0;
#define HASH(p, cnt) (dg->h[o++] = fnv(H0, (p), (cnt) * sizeof(float)))
#define ZERO(p, cnt) memset((p), 0, (cnt) * sizeof(float))
    cr_assert_eq(melora_lora_forward(z, &sv, w, &lp, d), 0);
    HASH(z, T * M); HASH(u, T * R);
    cr_assert_eq(melora_lora_backward(dx, &lg, &sv, w, in[DZ], &lp, d), 0);
    HASH(dx, T * N); HASH(dA, R * N); HASH(dB, M * R);
    cr_assert_eq(melora_blob_forward(z, &sv, As, w, &bp, in[EA], d), 0);
    HASH(z, T * M); HASH(As, R * N);
    ZERO(dA, R * N);
    cr_assert_eq(melora_blob_backward(dx, &bg, &sv, w, in[DZ], &bp, &bd, d), 0);
    HASH(dx, T * N); HASH(dGA, R * N);
    cr_assert_eq(melora_blob_flipout_forward(z, &sv, w, &bp, &nz, d), 0);
    HASH(z, T * M);
    cr_assert_eq(melora_blob_flipout_backward(dx, &bg, &sv, w, in[DZ], &bp, &nz, d), 0);
    HASH(dx, T * N); HASH(dA, R * N); HASH(dGA, R * N);
    cr_assert_eq(melora_blob_kl(&kl, &bg, &bp, 0.2f, 0.5f, R, N), 0);
    dg->h[o++] = fnv(H0, &kl, sizeof kl);
    cr_assert_eq(melora_melora_sample(C, &mp, in[EC], E, R), 0);
    HASH(C, E * R * R);
    cr_assert_eq(melora_melora_forward(z, &ms, w, &mp, &md, d), 0);
    HASH(z, T * M); HASH(v, T * R);
    cr_assert_eq(melora_melora_backward(dx, &mg, &ms, w, in[DZ], &mp, &md, d), 0);
    HASH(dx, T * N); HASH(dM, R * R); HASH(dH, R * R);
    cr_assert_eq(melora_melora_mc_forward(z, &sv, w, &mp, C, K, d), 0);
    HASH(z, K * T * M);
    cr_assert_eq(melora_melora_kl_prior_noise(&kl, &mg, w, &mp, 0.2f, melora_rng_uniform(11, 3), 0.5f, R, N), 0);
    dg->h[o++] = fnv(fnv(H0, &kl, sizeof kl), dA, R * N * sizeof(float));
    cr_assert_eq(o, NOUT);
    for (int i = 0; i < NIN; i++) free(base[i]);
    float *outs[] = {z, u, v, dx, dA, dB, dGA, dM, dH, As, C};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) free(outs[i]);
    melora_free(w.base);
}

static void same(const digest *a, const digest *b, const char *what) {
    for (int i = 0; i < NOUT; i++)
        cr_assert_eq(a->h[i], b->h[i], "%s: output %d differs", what, i);
}

Test(determinism, repeated_calls_stale_workspace_and_alignment) {
    digest ref, d;
    run_all(&ref, 0x00, 0);
    run_all(&d, 0x00, 0);
    same(&ref, &d, "second identical run");
    run_all(&d, 0xFF, 0); /* every stale workspace float is a NaN */
    same(&ref, &d, "workspace filled with NaN bytes");
    run_all(&d, 0xA5, 0);
    same(&ref, &d, "workspace filled with 0xA5");
    for (int shift = 1; shift < 4; shift++) {
        run_all(&d, 0x00, shift);
        same(&ref, &d, "inputs off their 64-byte alignment");
    }
}

/* Two processes: the child runs with 2 threads (when built with OpenMP), the parent with 1;
   the fork happens before either touches OpenMP. */
Test(determinism, two_processes_one_and_two_threads) {
    int fds[2];
    digest mine, theirs;
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        digest d;
#ifdef _OPENMP
        omp_set_num_threads(2);
#endif
        run_all(&d, 0x5C, 0);
        ssize_t wr = write(fds[1], &d, sizeof d);
        _exit(wr == (ssize_t)sizeof d ? 0 : 1);
    }
    close(fds[1]);
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    run_all(&mine, 0x00, 0);
    size_t got = 0;
    while (got < sizeof theirs) {
        ssize_t k = read(fds[0], (char *)&theirs + got, sizeof theirs - got);
        cr_assert(k > 0, "child process sent no digest");
        got += (size_t)k;
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(fds[0]);
    same(&mine, &theirs, "1 thread in this process vs 2 threads in another");
}

/* A stream drawn in pieces, at any offset (also across the 2^64 wrap of the index), equals
   the stream drawn at once; uniform and sign streams are exact integer arithmetic, so their
   bits are pinned to constants that hold on every machine. */
Test(determinism, noise_pieces_wrap_and_pinned_bits) {
    enum { CNT = 1000 };
    const uint64_t offs[] = {0, 3, 127, 129, (uint64_t)1 << 40, UINT64_MAX - 500};
    float whole[CNT], parts[CNT];
    typedef melora_status (*noise_fn)(float *, uint64_t, uint64_t, int64_t);
    noise_fn fns[3] = {melora_noise_normal, melora_noise_uniform, melora_noise_sign};
    for (int f = 0; f < 3; f++)
        for (size_t o = 0; o < sizeof offs / sizeof offs[0]; o++) {
            cr_assert_eq(fns[f](whole, 42, offs[o], CNT), 0);
            int at = 0;
            for (int piece = 1; at < CNT; piece = piece * 3 + 1) {
                int len = piece < CNT - at ? piece : CNT - at;
                cr_assert_eq(fns[f](parts + at, 42, offs[o] + (uint64_t)at, len), 0);
                at += len;
            }
            cr_assert(memcmp(whole, parts, sizeof whole) == 0, "stream %d offset %llu", f,
                      (unsigned long long)offs[o]);
            for (int i = 0; i < CNT; i += 97) {
                float one = f == 0 ? melora_rng_normal(42, offs[o] + (uint64_t)i)
                          : f == 1 ? melora_rng_uniform(42, offs[o] + (uint64_t)i)
                                   : melora_rng_sign(42, offs[o] + (uint64_t)i);
                cr_assert(memcmp(&one, &whole[i], sizeof one) == 0);
            }
        }
    cr_assert_eq(melora_noise_uniform(whole, 7, 12345, CNT), 0);
    uint64_t hu = fnv(H0, whole, sizeof whole);
    cr_assert_eq(melora_noise_sign(whole, 7, 12345, CNT), 0);
    uint64_t hs = fnv(H0, whole, sizeof whole);
    cr_assert_eq(hu, UNIFORM_PIN, "uniform stream bits changed: %016llx", (unsigned long long)hu);
    cr_assert_eq(hs, SIGN_PIN, "sign stream bits changed: %016llx", (unsigned long long)hs);
}
