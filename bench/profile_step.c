/* profile_step: runs `reps` training steps of one method at one shape, for a profiler
   (make bench-profile runs it under valgrind --tool=callgrind).
   Usage: profile_step METHOD T n m r [reps]   METHOD: a key of mlb_method_key (lora blob
   flipout melora_batch melora_example melora_folded traffic) */
#include "harness.h"
#define MELORA_IMPLEMENTATION
#include "melora.h"

int main(int argc, char **argv) {
    mlb_shape sh;
    mlb_ctx c;
    int meth = -1, k, reps, st;
    if (argc < 6) {
        fprintf(stderr, "usage: %s METHOD T n m r [reps]\n", argv[0]);
        return 2;
    }
    for (k = 0; k < MLB_NMETHODS; k++)
        if (!strcmp(argv[1], mlb_method_key(k))) meth = k;
    if (meth < 0) { fprintf(stderr, "unknown method %s\n", argv[1]); return 2; }
    sh.T = atoi(argv[2]); sh.n = atoi(argv[3]); sh.m = atoi(argv[4]); sh.r = atoi(argv[5]);
    sh.E = 4; sh.G = 1; sh.alpha = 16.0f;
    reps = argc > 6 ? atoi(argv[6]) : 3;
    st = mlb_ctx_init(&c, &sh, 1u << meth, 0);
    for (k = 0; k < reps && !st; k++) {
        double f, b;
        st = mlb_ctx_step(&c, meth, &f, &b);
        printf("%s step %d: fwd %.3f ms, bwd %.3f ms\n", mlb_method_name(meth), k, 1e3 * f, 1e3 * b);
    }
    mlb_ctx_free(&c);
    if (st) fprintf(stderr, "%s\n", melora_status_string((melora_status)st));
    return st != 0;
}
