/* bench/alloc.h - the counting allocator: route MELORA_MALLOC / MELORA_FREE to
   mlb_malloc / mlb_free and every block is charged to the current category, so a step's
   memory is counted exactly, per category, with its peak. Not thread-safe: allocate from
   one thread. */
#ifndef MELORA_BENCH_ALLOC_H
#define MELORA_BENCH_ALLOC_H

#include "mlb_base.h"

/* Memory categories. */
typedef enum {
    MLB_CAT_PARAMS = 0, /* trainable parameters */
    MLB_CAT_GRADS,      /* their gradients */
    MLB_CAT_ADAM,       /* AdamW first and second moments */
    MLB_CAT_ACT,        /* saved for backward: u (T,r); Me-LoRA also v (T,r) */
    MLB_CAT_SAMPLE,     /* the drawn weight kept for backward: BLoB As (r,n), Me-LoRA C (E,r,r) */
    MLB_CAT_NOISE,      /* stored noise: EA, Flipout signs, EC */
    MLB_CAT_WORK,       /* library workspace (melora_workspace_size) */
    MLB_CAT_IO,         /* the caller's x, z, dz, dx (the base layer's tensors) */
    MLB_CAT_OTHER,      /* anything else (library-internal MELORA_MALLOC calls) */
    MLB_NCAT
} mlb_category;

MLB_API const char *mlb_category_name(int cat) {
    static const char *names[MLB_NCAT] = {"params", "grads", "adamw", "activations",
                                          "sample", "noise", "workspace", "io", "other"};
    return cat >= 0 && cat < MLB_NCAT ? names[cat] : "?";
}

/* ------------------------------------------------------- counting allocator ------ */
/* Each block carries a 64-byte header: its size and category. */
typedef struct {
    int64_t cur, peak, cat_cur[MLB_NCAT], nblocks;
    int cat;
} mlb__alloc_state;
static mlb__alloc_state mlb__al = {0, 0, {0}, 0, MLB_CAT_OTHER};
#define MLB__HDR 64

MLB_API void *mlb_malloc(size_t bytes) {
    char *raw = (char *)malloc(bytes + MLB__HDR);
    if (!raw) return NULL;
    ((int64_t *)raw)[0] = (int64_t)bytes;
    ((int64_t *)raw)[1] = mlb__al.cat;
    mlb__al.cur += (int64_t)bytes;
    mlb__al.cat_cur[mlb__al.cat] += (int64_t)bytes;
    mlb__al.nblocks++;
    if (mlb__al.cur > mlb__al.peak) mlb__al.peak = mlb__al.cur;
    return raw + MLB__HDR;
}
MLB_API void mlb_free(void *p) {
    char *raw;
    if (!p) return;
    raw = (char *)p - MLB__HDR;
    mlb__al.cur -= ((int64_t *)raw)[0];
    mlb__al.cat_cur[((int64_t *)raw)[1]] -= ((int64_t *)raw)[0];
    free(raw);
}
/* Category that the next allocations are charged to; returns the previous one. */
MLB_API int mlb_set_category(int cat) {
    int old = mlb__al.cat;
    mlb__al.cat = cat >= 0 && cat < MLB_NCAT ? cat : MLB_CAT_OTHER;
    return old;
}
MLB_API int64_t mlb_alloc_current(void) { return mlb__al.cur; }
MLB_API int64_t mlb_alloc_peak(void) { return mlb__al.peak; }
MLB_API void mlb_alloc_reset_peak(void) { mlb__al.peak = mlb__al.cur; }

/* Raw bytes melora_alloc asks of MELORA_MALLOC beyond the payload, found by a probe;
   -1 when MELORA_MALLOC is not routed to mlb_malloc. */
MLB_API int64_t mlb_alloc_slack(void) {
    static int64_t slack = -2;
    if (slack == -2) {
        void *p = NULL;
        int64_t before = mlb__al.cur, after;
        slack = -1;
        if (melora_alloc(&p, 4096) == MELORA_OK) {
            after = mlb__al.cur;
            if (after > before) slack = after - before - 4096;
            melora_free(p);
        }
    }
    return slack;
}

#endif /* MELORA_BENCH_ALLOC_H */
