/* bench/methods.h - the methods a bench step runs (mlb_method), the shape of a step
   (mlb_shape) and their printed names. bench/step.h runs them. */
#ifndef MELORA_BENCH_METHODS_H
#define MELORA_BENCH_METHODS_H

#include "mlb_base.h"

typedef enum {
    MLB_LORA = 0,
    MLB_BLOB,
    MLB_FLIPOUT,
    MLB_MELORA_BATCH,
    MLB_MELORA_EXAMPLE,
    MLB_MELORA_FOLDED, /* one C per batch folded into A, composed from melora_lora_* */
    MLB_TRAFFIC,       /* not an adapter: LoRA's memory traffic without its arithmetic */
    MLB_NMETHODS
} mlb_method;

typedef struct {
    int T, n, m, r; /* tokens, in-features, out-features, rank */
    int E;          /* examples for MLB_MELORA_EXAMPLE (T % E == 0) */
    int G;          /* tokens per Flipout sign group (1 = per token) */
    float alpha;    /* LoRA alpha; s = alpha / r */
} mlb_shape;

/* ------------------------------------------------------------------ names -------- */
MLB_API const char *mlb_method_name(int method) {
    static const char *names[MLB_NMETHODS] = {"LoRA", "BLoB", "BLoB+Flipout",
                                              "Me-LoRA (C/batch)", "Me-LoRA (C/example)",
                                              "Me-LoRA (C/batch, folded)",
                                              "LoRA's traffic, no math"};
    return method >= 0 && method < MLB_NMETHODS ? names[method] : "?";
}
/* Short identifiers for CSV columns. */
MLB_API const char *mlb_method_key(int method) {
    static const char *keys[MLB_NMETHODS] = {"lora", "blob", "flipout", "melora_batch",
                                             "melora_example", "melora_folded", "traffic"};
    return method >= 0 && method < MLB_NMETHODS ? keys[method] : "?";
}

#endif /* MELORA_BENCH_METHODS_H */
