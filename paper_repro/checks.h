/* checks.h - how paper_repro/ compares the paper's numbers with melora's counts.

   Shared by paper_repro/repro.c (which prints the tables) and tests/test_paper_*.c (which
   pin the verdicts in `make test`). All counts come from melora.h's counting functions;
   the only constants here are units (MiB = 2^20 bytes, the paper's "M" = 10^6) and the
   verdict thresholds, which are this project's choice and are printed with the results. */
#ifndef MELORA_PAPER_CHECKS_H
#define MELORA_PAPER_CHECKS_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "melora.h"
#include "paper_values.h"

#define PR_MIB ((int64_t)1 << 20)     /* the paper's "MB" (34.08M params -> 130.00MB) */
#define PR_MILLION ((int64_t)1000000) /* the paper's "M" */
#define PR_HOLDS_REL 0.10             /* an "about X" claim holds within 10% of X */
#define PR_LOOSE_REL 0.25             /* ... is loose up to 25%, off beyond */

static inline const char *pr_method_name(melora_method m) {
    switch (m) {
    case MELORA_METHOD_LORA: return "LoRA";
    case MELORA_METHOD_BLOB: return "BLoB";
    case MELORA_METHOD_BLOB_FLIPOUT: return "BLoB+Flipout";
    case MELORA_METHOD_MELORA: return "Me-LoRA";
    default: return "?";
    }
}
static inline const char *pr_model_name(melora_model m) {
    melora_model_info s;
    if (m == MELORA_LLAMA2_7B) return "Llama2-7B"; /* as the paper writes them */
    if (m == MELORA_LLAMA2_13B) return "Llama2-13B";
    return melora_model_shape(&s, m) == MELORA_OK ? s.name : "?";
}

/* a/b rounded half up, for a >= 0, b > 0 */
static inline int64_t pr_round_div(int64_t a, int64_t b) { return (2 * a + b) / (2 * b); }

/* "4.19M" / "130.00MB" / "8.80" -> value in hundredths (419, 13000, 880). Exactly two
   decimals are required; returns 0 on a malformed string. */
static inline int pr_parse_centi(const char *s, int64_t *out) {
    int64_t v = 0;
    int dec = -1;
    if (!s || !*s) return 0;
    for (; *s; s++) {
        if (*s >= '0' && *s <= '9') {
            v = 10 * v + (*s - '0');
            if (dec >= 0) dec++;
        } else if (*s == '.' && dec < 0) {
            dec = 0;
        } else {
            break; /* unit suffix */
        }
    }
    if (dec != 2) return 0;
    *out = v;
    return 1;
}

/* "1/2" -> 0.5, "30%" -> 0.3, "0.2%" -> 0.002, "3" -> 3 */
static inline double pr_parse_stated(const char *s) {
    char *end;
    double v = strtod(s, &end);
    if (*end == '/') return v / strtod(end + 1, NULL);
    if (*end == '%') return v / 100.0;
    return v;
}

/* The adapted weights of the paper's Table 1 and section 4: q and v of every layer. */
static inline int pr_mods(melora_module mods[7], melora_model model) {
    int n = 0;
    memset(mods, 0, 7 * sizeof *mods);
    if (melora_preset(mods, 7, &n, model, MELORA_MOD_QV) != MELORA_OK) return 0;
    return n;
}
/* L: number of adapted weight matrices */
static inline int64_t pr_matrices(melora_model model) {
    melora_module mods[7];
    int i, n = pr_mods(mods, model);
    int64_t L = 0;
    for (i = 0; i < n; i++) L += mods[i].count;
    return L;
}
/* d: the (square) size of the adapted weights */
static inline int64_t pr_dmodel(melora_model model) {
    melora_module mods[7];
    return pr_mods(mods, model) ? mods[0].n : 0;
}
static inline int64_t pr_params(melora_model model, melora_method method, int64_t r) {
    melora_module mods[7];
    int n = pr_mods(mods, model);
    int64_t p = -1;
    if (!n || melora_count_model_params(&p, method, mods, n, r) != MELORA_OK) return -1;
    return p;
}
static inline int64_t pr_fp32_bytes(int64_t params) {
    int64_t esz = 0;
    if (melora_dtype_size(&esz, MELORA_FP32) != MELORA_OK) return -1;
    return params * esz;
}
/* Training state (bytes, fp32) of the adapters for T tokens, one C / one draw per batch. */
static inline melora_train_memory pr_state(melora_model model, melora_method method, int64_t r,
                                           int64_t T, int noise_regenerated) {
    melora_module mods[7];
    melora_train_memory mem;
    int n = pr_mods(mods, model);
    memset(&mem, 0, sizeof mem);
    if (!n || melora_count_train_memory(&mem, method, mods, n, &(melora_train_setup){r, T, 1, 1, noise_regenerated}, MELORA_FP32) != MELORA_OK)
        mem.total = -1;
    return mem;
}
/* T = batch x max sequence length (paper Table 7) */
static inline int64_t pr_tokens(void) {
    pr_train_shape s = pr_table7();
    return (int64_t)s.batch * s.max_seq_len;
}

/* ---------------------------------------------------------------- Table 1 verdicts */
typedef enum { PR_EXACT = 0, PR_ROUNDED, PR_MISMATCH } pr_verdict;
static inline const char *pr_verdict_name(pr_verdict v) {
    return v == PR_EXACT ? "exact" : v == PR_ROUNDED ? "equal up to rounding" : "MISMATCH";
}

/* Rules that reproduce a printed value (bit set = reproduces it). */
enum {
    PR_R_EXACT = 1,       /* the exact value equals the printed one */
    PR_R_ROUND = 2,       /* the exact value rounded to the printed precision */
    PR_R_FROM10K = 4,     /* bytes from params first rounded to 0.01M (10k) */
    PR_R_FROM100K = 8,    /* bytes from params first rounded to 0.1M (100k) */
    PR_R_FROMPRINTED = 16, /* bytes from the paper's own printed params */
    PR_R_TRUNC100K = 32    /* bytes from params truncated to 0.1M */
};

typedef struct {
    int64_t L, d, r;
    int64_t params;           /* exact, melora_count_model_params */
    int64_t bytes;            /* exact, params x melora_dtype_size(FP32) */
    int64_t printed_params;   /* hundredths of M */
    int64_t printed_bytes;    /* hundredths of MiB */
    int params_rules, bytes_rules;
    pr_verdict params_verdict, bytes_verdict;
    int extra_rr;             /* k != 0: the printed values are reproduced by a count with k
                                 more r x r matrices per adapted weight */
    int alt_params_rules, alt_bytes_rules;
} pr_t1_check;

static inline int pr_params_rules(int64_t params, int64_t printed) {
    int f = 0;
    if (params == printed * (PR_MILLION / 100)) f |= PR_R_EXACT;
    if (pr_round_div(params, PR_MILLION / 100) == printed) f |= PR_R_ROUND;
    return f;
}
static inline int pr_bytes_rules(int64_t params, int64_t printed_params, int64_t printed) {
    int f = 0;
    int64_t bytes = pr_fp32_bytes(params);
    if (bytes * 100 == printed * PR_MIB) f |= PR_R_EXACT;
    if (pr_round_div(bytes * 100, PR_MIB) == printed) f |= PR_R_ROUND;
    if (pr_round_div(pr_fp32_bytes(pr_round_div(params, 10000) * 10000) * 100, PR_MIB) == printed)
        f |= PR_R_FROM10K;
    if (pr_round_div(pr_fp32_bytes(pr_round_div(params, 100000) * 100000) * 100, PR_MIB) == printed)
        f |= PR_R_FROM100K;
    if (pr_round_div(pr_fp32_bytes(printed_params * 10000) * 100, PR_MIB) == printed)
        f |= PR_R_FROMPRINTED;
    if (pr_round_div(pr_fp32_bytes(params / 100000 * 100000) * 100, PR_MIB) == printed)
        f |= PR_R_TRUNC100K;
    return f;
}

static inline int pr_check_table1(const pr_table1_cell *c, pr_t1_check *o) {
    static const int ks[4] = {1, -1, 2, -2};
    int i;
    memset(o, 0, sizeof *o);
    o->L = pr_matrices(c->model);
    o->d = pr_dmodel(c->model);
    o->r = c->rank;
    o->params = pr_params(c->model, c->method, c->rank);
    o->bytes = pr_fp32_bytes(o->params);
    if (o->params < 0 || o->bytes < 0 || !pr_parse_centi(c->params, &o->printed_params) ||
        !pr_parse_centi(c->bytes, &o->printed_bytes))
        return 0;
    o->params_rules = pr_params_rules(o->params, o->printed_params);
    o->bytes_rules = pr_bytes_rules(o->params, o->printed_params, o->printed_bytes);
    o->params_verdict = (o->params_rules & PR_R_EXACT) ? PR_EXACT
                        : (o->params_rules & PR_R_ROUND) ? PR_ROUNDED : PR_MISMATCH;
    o->bytes_verdict = (o->bytes_rules & PR_R_EXACT) ? PR_EXACT
                       : (o->bytes_rules & (PR_R_ROUND | PR_R_FROM10K)) ? PR_ROUNDED : PR_MISMATCH;
    if (o->params_verdict == PR_MISMATCH || o->bytes_verdict == PR_MISMATCH) {
        /* look for a count with k more (or fewer) r x r matrices per weight */
        for (i = 0; i < 4; i++) {
            int64_t alt = o->params + ks[i] * o->L * o->r * o->r;
            int pf = pr_params_rules(alt, o->printed_params);
            int bf = pr_bytes_rules(alt, o->printed_params, o->printed_bytes);
            int pok = (o->params_verdict != PR_MISMATCH) || (pf & (PR_R_EXACT | PR_R_ROUND));
            int bok = (o->bytes_verdict != PR_MISMATCH) ||
                      (bf & (PR_R_EXACT | PR_R_ROUND | PR_R_FROM10K));
            if (alt > 0 && pok && bok && (pf & (PR_R_EXACT | PR_R_ROUND))) {
                o->extra_rr = ks[i];
                o->alt_params_rules = pf;
                o->alt_bytes_rules = bf;
                break;
            }
        }
    }
    return 1;
}

/* ---------------------------------------------------------------- claim verdicts */
typedef enum { PR_HOLDS = 0, PR_LOOSE, PR_OFF } pr_claim_verdict;
static inline const char *pr_claim_verdict_name(pr_claim_verdict v) {
    return v == PR_HOLDS ? "holds" : v == PR_LOOSE ? "loose" : "OFF";
}
/* "about X": holds within PR_HOLDS_REL of X, loose within PR_LOOSE_REL, else off.
   "less than X": holds iff actual < X. */
static inline pr_claim_verdict pr_judge(pr_relation rel, double stated, double actual) {
    double e;
    if (rel == PR_LESS_THAN) return actual < stated ? PR_HOLDS : PR_OFF;
    e = fabs(actual / stated - 1.0);
    return e <= PR_HOLDS_REL ? PR_HOLDS : e <= PR_LOOSE_REL ? PR_LOOSE : PR_OFF;
}

/* The quantity a parameter/memory claim is about, for one model and rank.
   what: 0 trainable parameters, 1 training state (noise regenerated), 2 (noise stored). */
static inline double pr_claim_actual(pr_quantity q, melora_model model, int64_t r, int what) {
    int64_t T = pr_tokens();
    double lora, blob, mel;
    if (what == 0) {
        lora = (double)pr_params(model, MELORA_METHOD_LORA, r);
        blob = (double)pr_params(model, MELORA_METHOD_BLOB, r);
        mel = (double)pr_params(model, MELORA_METHOD_MELORA, r);
    } else {
        lora = (double)pr_state(model, MELORA_METHOD_LORA, r, T, what == 1).total;
        blob = (double)pr_state(model, MELORA_METHOD_BLOB, r, T, what == 1).total;
        mel = (double)pr_state(model, MELORA_METHOD_MELORA, r, T, what == 1).total;
    }
    switch (q) {
    case PR_Q_MELORA_VS_BLOB_REDUCTION: return 1.0 - mel / blob;
    case PR_Q_BLOB_VS_LORA_INCREASE: return blob / lora - 1.0;
    case PR_Q_MELORA_VS_LORA_INCREASE: return mel / lora - 1.0;
    default: return NAN;
    }
}
/* count(r+1) - count(r), in units of L*d */
static inline double pr_rank_increment(melora_model model, melora_method method, int64_t r) {
    double diff = (double)(pr_params(model, method, r + 1) - pr_params(model, method, r));
    return diff / (double)(pr_matrices(model) * pr_dmodel(model));
}

/* Table 6: sum over the datasets of method / sum of LoRA - 1 (time or memory), and the
   per-dataset ratios. Returns 0 if the rows are missing. */
static inline const pr_table6_row *pr_t6_row(melora_model model, melora_method method) {
    const pr_table6_row *t = pr_table6();
    int i;
    for (i = 0; i < PR_TABLE6_N; i++)
        if (t[i].model == model && t[i].method == method) return &t[i];
    return NULL;
}
static inline double pr_t6_value(const pr_table6_row *row, int memory, int k) {
    int64_t c = 0;
    if (!memory) return (double)row->time_s[k];
    if (!pr_parse_centi(row->mem_gb[k], &c)) return NAN;
    return (double)c / 100.0;
}
static inline int pr_t6_increase(melora_model model, melora_method method, int memory,
                                 double *total, double per[PR_T6_NDATA]) {
    const pr_table6_row *a = pr_t6_row(model, MELORA_METHOD_LORA), *b = pr_t6_row(model, method);
    double sa = 0, sb = 0;
    int k;
    if (!a || !b) return 0;
    for (k = 0; k < PR_T6_NDATA; k++) {
        double va = pr_t6_value(a, memory, k), vb = pr_t6_value(b, memory, k);
        sa += va;
        sb += vb;
        if (per) per[k] = vb / va - 1.0;
    }
    *total = sb / sa - 1.0;
    return 1;
}

/* ---------------------------------------------------------------- any preset, any modules */
static inline int pr_mods_mask(melora_module mods[7], melora_model model, unsigned mask) {
    int n = 0;
    memset(mods, 0, 7 * sizeof *mods);
    if (melora_preset(mods, 7, &n, model, mask) != MELORA_OK) return 0;
    return n;
}
/* L: adapted weight matrices */
static inline int64_t pr_matrices_mask(melora_model model, unsigned mask) {
    melora_module mods[7];
    int i, n = pr_mods_mask(mods, model, mask);
    int64_t L = 0;
    for (i = 0; i < n; i++) L += mods[i].count;
    return L;
}
static inline int64_t pr_params_mask(melora_model model, unsigned mask, melora_method method,
                                     int64_t r) {
    melora_module mods[7];
    int n = pr_mods_mask(mods, model, mask);
    int64_t p = -1;
    if (!n || melora_count_model_params(&p, method, mods, n, r) != MELORA_OK) return -1;
    return p;
}
/* count(r+1) - count(r) in units of L*d, d = the model's hidden size */
static inline double pr_rank_increment_mask(melora_model model, unsigned mask,
                                            melora_method method, int64_t r) {
    melora_model_info s;
    double diff = (double)(pr_params_mask(model, mask, method, r + 1) -
                           pr_params_mask(model, mask, method, r));
    if (melora_model_shape(&s, model) != MELORA_OK) return NAN;
    return diff / (double)(pr_matrices_mask(model, mask) * s.hidden);
}
/* Training state of the adapters (one C / one draw per batch; Flipout: signs per token). */
static inline melora_train_memory pr_state_mixed(melora_model model, unsigned mask,
                                                 melora_method method, int64_t r, int64_t T,
                                                 melora_dtype state, melora_dtype act,
                                                 int noise_regenerated) {
    melora_module mods[7];
    melora_train_memory mem;
    int n = pr_mods_mask(mods, model, mask);
    memset(&mem, 0, sizeof mem);
    if (!n || melora_count_train_memory_mixed(&mem, method, mods, n, &(melora_train_setup){r, T, 1, 1, noise_regenerated}, state, act) != MELORA_OK)
        mem.total = -1;
    return mem;
}

/* ---------------------------------------------------------------- Table 6, per dataset */
/* Datasets where method a is below / equal to / above method b (time, or memory as printed). */
static inline int pr_t6_compare(melora_model model, melora_method a, melora_method b, int memory,
                                int *below, int *equal, int *above) {
    const pr_table6_row *ra = pr_t6_row(model, a), *rb = pr_t6_row(model, b);
    int k;
    *below = *equal = *above = 0;
    if (!ra || !rb) return 0;
    for (k = 0; k < PR_T6_NDATA; k++) {
        double va = pr_t6_value(ra, memory, k), vb = pr_t6_value(rb, memory, k);
        if (fabs(va - vb) < 1e-9) (*equal)++;
        else if (va < vb) (*below)++;
        else (*above)++;
    }
    return 1;
}
/* Sum-of-six increase over LoRA when every printed memory cell may be off by half its last
   digit (0.005 GB): the interval [lo, hi] of increases the table cannot tell apart. */
static inline int pr_t6_mem_bounds(melora_model model, melora_method method, double *lo,
                                   double *hi) {
    const pr_table6_row *a = pr_t6_row(model, MELORA_METHOD_LORA), *b = pr_t6_row(model, method);
    double sa = 0, sb = 0, h = 0.005 * PR_T6_NDATA;
    int k;
    if (!a || !b) return 0;
    for (k = 0; k < PR_T6_NDATA; k++) {
        sa += pr_t6_value(a, 1, k);
        sb += pr_t6_value(b, 1, k);
    }
    *lo = (sb - h) / (sa + h) - 1.0;
    *hi = (sb + h) / (sa - h) - 1.0;
    return 1;
}
static inline double pr_t6_mean_increase(melora_model model, melora_method method, int memory) {
    double tot, per[PR_T6_NDATA], m = 0;
    int k;
    if (!pr_t6_increase(model, method, memory, &tot, per)) return NAN;
    for (k = 0; k < PR_T6_NDATA; k++) m += per[k] / PR_T6_NDATA;
    return m;
}

/* ---------------------------------------------------------------- Tables 2-5 */
static inline const pr_result_row *pr_res(int table, pr_metric metric, pr_tmethod method) {
    const pr_result_row *t = pr_results();
    int i;
    for (i = 0; i < PR_RESULTS_N; i++)
        if (t[i].table == table && t[i].metric == metric && t[i].method == method) return &t[i];
    return NULL;
}
/* 1 and the value if the cell is legible, 0 if cut off */
static inline int pr_res_value(const pr_result_row *row, int col, double *mean, double *std) {
    if (!row || col < 0 || col >= PR_RES_NCOL || !row->mean[col]) return 0;
    *mean = strtod(row->mean[col], NULL);
    *std = row->std[col] ? strtod(row->std[col], NULL) : NAN;
    return 1;
}
/* A margin in units of the two runs' spread: d / sqrt(s1^2 + s2^2), and Welch's t for n runs
   each, d / sqrt((s1^2 + s2^2) / n). */
static inline double pr_margin_sd(double d, double s1, double s2) { return d / sqrt(s1 * s1 + s2 * s2); }
static inline double pr_welch_t(double d, double s1, double s2, int n) {
    return d / sqrt((s1 * s1 + s2 * s2) / n);
}

/* ---------------------------------------------------------------- a whole training step */
/* Memory of one training step of the frozen model with adapters, Table 6's setting: a model
   of it, not a measurement. Parts:
     weights      the frozen model: the linear layers of every block at `weight_bits` (16:
                  bf16/fp16; 8 or 4: quantized, without the quantizer's scales), embeddings,
                  output head and norms at 16 bits;
     activations  what the backward pass needs to reach the adapters, bf16, per block: the
                  inputs of the two norms (2 T d); for each adapted weight the input after
                  dropout (T n, bf16) and its mask (T n, one byte); attention with a fused
                  kernel: q, k, v and the output (T (2 q + 2 kv)) and the row log-sum-exp
                  (fp32, heads x T); the MLP's gate and up outputs and the activation (3 T ff).
                  Inputs of the frozen matmuls are not kept (their weights need no gradient);
                  a framework that keeps them stores more;
     attention    eager attention also keeps the probabilities: heads x s^2 per example, fp32
                  (softmax output) and bf16 (the matmul's input);
     logits       T x vocab in fp32 (transient, at the loss);
     adapters     melora_count_train_memory_mixed: fp32 parameters, gradients and AdamW
                  moments, bf16 saved activations, BLoB's EA stored. */
typedef struct {
    int64_t weights, activations, attention, logits, adapters, total;
} pr_step_memory;
static inline pr_step_memory pr_step(melora_model model, unsigned mask, melora_method method,
                                     int64_t r, int64_t batch, int64_t seq, int weight_bits,
                                     int eager) {
    pr_step_memory o;
    melora_model_info s;
    melora_module mods[7];
    int64_t base = 0, T = batch * seq, blk = 0, q, kv, per;
    int i, n;
    memset(&o, 0, sizeof o);
    o.total = -1;
    if (melora_model_shape(&s, model) != MELORA_OK || melora_count_base_params(&base, model) != MELORA_OK)
        return o;
    q = s.heads * s.head_dim;
    kv = s.kv_heads * s.head_dim;
    /* linear weights of one block (no biases in the Llama family) */
    blk = s.hidden * q * 2 + s.hidden * kv * 2 + (s.gated_mlp ? 3 : 2) * s.hidden * s.intermediate;
    o.weights = s.layers * blk * weight_bits / 8 + (base - s.layers * blk) * 2;
    per = 2 * T * s.hidden * 2                          /* norm inputs */
          + T * (2 * q + 2 * kv) * 2 + s.heads * T * 4  /* q, k, v, out; log-sum-exp */
          + 3 * T * s.intermediate * 2;                 /* gate, up, activation */
    n = pr_mods_mask(mods, model, mask);
    for (i = 0; i < n; i++) per += T * mods[i].n * (2 + 1); /* dropout output and mask */
    o.activations = s.layers * per;
    o.attention = eager ? s.layers * batch * s.heads * seq * seq * (4 + 2) : 0;
    o.logits = T * s.vocab * 4;
    o.adapters = pr_state_mixed(model, mask, method, r, T, MELORA_FP32, MELORA_BF16, 0).total;
    o.total = o.weights + o.activations + o.attention + o.logits + o.adapters;
    return o;
}

#endif
