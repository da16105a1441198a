/* fork() after a threaded call: libgomp's thread pool does not survive fork, so before the
   atfork handler in melora.h the child's first parallel loop waited forever for the
   parent's threads. The child here runs every kind of pass (twice), under a deadline, and
   its outputs must equal the parent's bit for bit. */
#include "util.h"
#include <signal.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define FORK_FLOATS (1 << 18)

/* Every pass on two shapes (r < 16: the dot kernels, r >= 16: the transposed ones),
   written one after another into out; returns the number of calls that failed. */
static int fork_calls(float *out, double *kl) {
    const int shapes[][4] = {{70, 48, 40, 8}, {45, 33, 50, 20}}; /* T n m r */
    size_t off = 0;
    int bad = 0;
    for (int s = 0; s < 2; s++) {
        int T = shapes[s][0], n = shapes[s][1], m = shapes[s][2], r = shapes[s][3], E = 5;
        float *x = tu_fill((size_t)T * n, 1 + s, 1), *A = tu_fill((size_t)r * n, 2 + s, 1);
        float *B = tu_fill((size_t)m * r, 3 + s, 1), *dz = tu_fill((size_t)T * m, 4 + s, 1);
        float *M = tu_fill((size_t)r * r, 5 + s, 1), *H = tu_fill((size_t)r * r, 6 + s, 1);
        float *EC = tu_fill((size_t)E * r * r, 7 + s, 1), *C = tu_const((size_t)E * r * r, 0);
        float *u = tu_const((size_t)T * r, 0), *v = tu_const((size_t)T * r, 0);
        const melora_dims d = {T, n, m, r, MELORA_FP32};
        melora_work w = tu_work(MELORA_OP_MELORA_BACKWARD, d);
        melora_work wk = tu_work(MELORA_OP_MELORA_KL, d);
        float *z = out + off, *dx, *dA, *dB, *dM, *dH;
        off += (size_t)T * m;
        dx = out + off; off += (size_t)T * n;
        dA = out + off; off += (size_t)r * n;
        dB = out + off; off += (size_t)m * r;
        dM = out + off; off += (size_t)r * r;
        dH = out + off; off += (size_t)r * r;
        const melora_lora_saved sv = {.x = x, .u = u};
        const melora_melora_saved ms = {.x = x, .u = u, .v = v};
        const melora_lora_params lp = {.A = A, .B = B, .s = 2};
        const melora_melora_params mp = {.A = A, .B = B, .M = M, .H = H, .s = 2};
        const melora_lora_grads lg = {.dA = dA, .dB = dB};
        const melora_melora_grads mg = {.dA = dA, .dB = dB, .dM = dM, .dH = dH};
        const melora_melora_draw dr = {.C = C, .EC = EC, .E = E};
        bad += melora_lora_forward(z, &sv, w, &lp, d) != MELORA_OK;
        bad += melora_lora_backward(dx, &lg, &sv, w, dz, &lp, d) != MELORA_OK;
        bad += melora_melora_sample(C, &mp, EC, E, r) != MELORA_OK;
        bad += melora_melora_forward(z, &ms, w, &mp, &dr, d) != MELORA_OK;
        bad += melora_melora_backward(dx, &mg, &ms, w, dz, &mp, &dr, d) != MELORA_OK;
        bad += melora_melora_kl(&kl[s], &mg, wk, &mp, 0.3f, 1, r, n) != MELORA_OK;
        float *ps[] = {x, A, B, dz, M, H, EC, C, u, v};
        for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) free(ps[i]);
        melora_free(w.base); melora_free(wk.base);
    }
    bad += melora_noise_normal(out + off, 9, 4, 5000) != MELORA_OK;
    off += 5000;
    cr_assert(off <= FORK_FLOATS);
    return bad;
}

Test(fork, child_after_threaded_call_runs_and_matches) {
    size_t bytes = FORK_FLOATS * sizeof(float);
    float *mine = tu_const(FORK_FLOATS, 0.0f);
    double kl_mine[2];
#ifdef _OPENMP
    omp_set_num_threads(2); /* the pool the child inherits, even on one core */
#endif
    cr_assert_eq(fork_calls(mine, kl_mine), 0); /* threaded calls in the parent first */
    struct { float out[FORK_FLOATS]; double kl[2]; int bad, done; } *sh =
        mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(sh != MAP_FAILED);
    memset(sh, 0, sizeof *sh);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        alarm(300); /* a backstop: the parent kills it at its own deadline */
        sh->bad = fork_calls(sh->out, sh->kl);
        memset(sh->out, 0, bytes); /* a second round in the same child */
        sh->bad += fork_calls(sh->out, sh->kl);
        sh->done = 1;
        _exit(0);
    }
    /* 60 s: the child's passes take milliseconds, or under valgrind seconds */
    int status = 0, waited = 0;
    struct timespec tick = {0, 10000000};
    for (; waited < 6000; waited++) {
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid) break;
        cr_assert(got == 0, "waitpid failed");
        nanosleep(&tick, NULL);
    }
    if (waited == 6000) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        cr_assert_fail("the forked child's first call did not return within 60 s (hung)");
    }
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0 && sh->done,
              "the child did not finish its calls (status 0x%x)", status);
    cr_assert_eq(sh->bad, 0, "calls in the child failed");
    cr_assert(memcmp(sh->out, mine, bytes) == 0, "the child's outputs differ from the parent's");
    cr_assert(memcmp(sh->kl, kl_mine, sizeof kl_mine) == 0, "the child's KL differs");
    munmap(sh, sizeof *sh);
    free(mine);
}
