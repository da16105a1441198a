/* paper_values.h - every number this folder takes from the Me-LoRA paper, typed once.

   Source: "Me-LoRA: Memory-efficient Bayesian low-rank adaptation for large language
   models" (shared/seeds/000_67dc82d4933a10b0.txt). Values are copied as printed (strings
   where the paper prints decimals, so nothing is rounded on the way in); each entry says
   where it comes from. Everything else in paper_repro/ (model shapes, counts, bytes) is
   computed at run time by melora.h's counting functions and benchmarks.

   The arrays live inside inline functions so that a file using only some of them
   compiles without unused-variable warnings. */
#ifndef MELORA_PAPER_VALUES_H
#define MELORA_PAPER_VALUES_H
#include "melora.h"

/* ---- Table 1 ("Theoretical memory required to store trained LoRA, BLoB and ours weights
   for LlaMA2-7B and LlaMA2-13B models"): Params in millions ("M"), Required Bytes in
   "MB" (these are MiB of fp32 values: 34.08M params -> 130.00MB). The text extraction
   scrambles the table; the cells were matched by column (7B Params, 7B Bytes, 13B Params,
   13B Bytes) and row (Rank 8: LoRA, BLoB, Ours; Rank 64: LoRA, BLoB, Ours). */
typedef struct {
    melora_model model;
    melora_method method;
    int rank;             /* the table's Rank column */
    const char *params;   /* as printed, e.g. "4.19M" */
    const char *bytes;    /* as printed, e.g. "15.98MB" */
    const char *where;
} pr_table1_cell;

#define PR_TABLE1_N 12
static inline const pr_table1_cell *pr_table1(void) {
    static const pr_table1_cell t[PR_TABLE1_N] = {
        {MELORA_LLAMA2_7B, MELORA_METHOD_LORA, 8, "4.19M", "15.98MB", "Table 1, Rank 8, LoRA, Llama2-7B"},
        {MELORA_LLAMA2_7B, MELORA_METHOD_BLOB, 8, "6.29M", "23.99MB", "Table 1, Rank 8, BLoB, Llama2-7B"},
        {MELORA_LLAMA2_7B, MELORA_METHOD_MELORA, 8, "4.20M", "16.02MB", "Table 1, Rank 8, Ours, Llama2-7B"},
        {MELORA_LLAMA2_7B, MELORA_METHOD_LORA, 64, "33.55M", "127.79MB", "Table 1, Rank 64, LoRA, Llama2-7B"},
        {MELORA_LLAMA2_7B, MELORA_METHOD_BLOB, 64, "50.33M", "191.99MB", "Table 1, Rank 64, BLoB, Llama2-7B"},
        {MELORA_LLAMA2_7B, MELORA_METHOD_MELORA, 64, "34.08M", "130.00MB", "Table 1, Rank 64, Ours, Llama2-7B"},
        {MELORA_LLAMA2_13B, MELORA_METHOD_LORA, 8, "6.55M", "24.99MB", "Table 1, Rank 8, LoRA, Llama2-13B"},
        {MELORA_LLAMA2_13B, MELORA_METHOD_BLOB, 8, "9.84M", "37.54MB", "Table 1, Rank 8, BLoB, Llama2-13B"},
        {MELORA_LLAMA2_13B, MELORA_METHOD_MELORA, 8, "6.56M", "25.02MB", "Table 1, Rank 8, Ours, Llama2-13B"},
        {MELORA_LLAMA2_13B, MELORA_METHOD_LORA, 64, "52.43M", "200.00MB", "Table 1, Rank 64, LoRA, Llama2-13B"},
        {MELORA_LLAMA2_13B, MELORA_METHOD_BLOB, 64, "78.97M", "301.25MB", "Table 1, Rank 64, BLoB, Llama2-13B"},
        {MELORA_LLAMA2_13B, MELORA_METHOD_MELORA, 64, "53.08M", "202.48MB", "Table 1, Rank 64, Ours, Llama2-13B"},
    };
    return t;
}

/* ---- Table 7 (Appendix B.2, hyperparameters, same for 7B and 13B): the training shape.
   T = batch size x max sequence length tokens per step. */
typedef struct {
    int batch, max_seq_len, rank;
    const char *where;
} pr_train_shape;
static inline pr_train_shape pr_table7(void) {
    pr_train_shape s = {4, 300, 8, "Table 7: Batch Size 4, Max Seq. Len. 300, LoRA r 8"};
    return s;
}

/* ---- Table 6 (Appendix B.1): running time (seconds, 5,000 steps) and GPU memory (GB) of
   LoRA, BLoB and Me-LoRA fine-tuning; columns WG-S, WG-M, ARC-C, ARC-E, OBQA, BoolQ. */
#define PR_T6_NDATA 6
static inline const char *const *pr_table6_datasets(void) {
    static const char *const d[PR_T6_NDATA] = {"WG-S", "WG-M", "ARC-C", "ARC-E", "OBQA", "BoolQ"};
    return d;
}
typedef struct {
    melora_model model;
    melora_method method;
    int time_s[PR_T6_NDATA];
    const char *mem_gb[PR_T6_NDATA]; /* as printed, e.g. "4.80" */
    const char *where;
} pr_table6_row;

#define PR_TABLE6_N 6
static inline const pr_table6_row *pr_table6(void) {
    static const pr_table6_row t[PR_TABLE6_N] = {
        {MELORA_LLAMA2_7B, MELORA_METHOD_LORA, {1731, 2824, 2590, 1718, 2151, 11070},
         {"4.80", "8.16", "8.38", "4.93", "6.73", "7.30"}, "Table 6, Llama2-7B, LoRA"},
        {MELORA_LLAMA2_7B, MELORA_METHOD_BLOB, {2475, 4395, 3601, 2479, 3095, 15267},
         {"4.82", "8.17", "8.40", "4.94", "6.75", "7.27"}, "Table 6, Llama2-7B, BLoB"},
        {MELORA_LLAMA2_7B, MELORA_METHOD_MELORA, {2699, 4214, 3972, 2697, 3297, 16840},
         {"4.80", "8.19", "8.39", "4.94", "6.74", "7.28"}, "Table 6, Llama2-7B, Me-LoRA"},
        {MELORA_LLAMA2_13B, MELORA_METHOD_LORA, {2230, 3626, 3312, 2231, 2667, 14038},
         {"8.80", "13.99", "14.28", "8.94", "11.78", "12.66"}, "Table 6, Llama2-13B, LoRA"},
        {MELORA_LLAMA2_13B, MELORA_METHOD_BLOB, {3401, 5396, 4908, 3423, 4044, 15244},
         {"8.86", "14.04", "14.37", "9.01", "11.84", "12.71"}, "Table 6, Llama2-13B, BLoB"},
        {MELORA_LLAMA2_13B, MELORA_METHOD_MELORA, {3256, 5470, 4314, 3258, 4098, 21255},
         {"8.82", "13.96", "14.29", "8.96", "11.80", "12.67"}, "Table 6, Llama2-13B, Me-LoRA"},
    };
    return t;
}

/* ---- Claims in the text. `stated` is the number as worded ("1/2", "30%", "0.2%").
   The quantity each claim is about decides how it is checked (see checks.h). */
typedef enum {
    PR_Q_MELORA_VS_BLOB_REDUCTION, /* 1 - Me-LoRA / BLoB */
    PR_Q_BLOB_VS_LORA_INCREASE,    /* BLoB / LoRA - 1 */
    PR_Q_MELORA_VS_LORA_INCREASE,  /* Me-LoRA / LoRA - 1 */
    PR_Q_RANK_INCREMENT,           /* count(r+1) - count(r), in units of L*d */
    PR_Q_TABLE6_TIME,              /* Table 6 time, method / LoRA - 1 */
    PR_Q_TABLE6_MEMORY             /* Table 6 memory, method / LoRA - 1 */
} pr_quantity;

typedef enum {
    PR_ABOUT,     /* "nearly", "approximately", "about", "around" */
    PR_LESS_THAN  /* "less than" */
} pr_relation;

typedef enum {
    PR_OF_PARAMS,  /* trainable parameters */
    PR_OF_MEMORY   /* "memory requirement": parameters and the full training state */
} pr_subject;

typedef struct {
    const char *id;
    const char *where;
    const char *quote;
    const char *stated;
    pr_quantity quantity;
    pr_relation relation;
    pr_subject subject;
    int rank;               /* rank the claim is made at; 0 = no rank given */
    melora_model model;     /* Table 6 claims only */
    melora_method method;   /* Table 6 and rank-increment claims */
} pr_claim;

#define PR_CLAIMS_N 19
static inline const pr_claim *pr_claims(void) {
    static const pr_claim c[PR_CLAIMS_N] = {
        {"abstract", "Abstract",
         "reduces the memory requirement by nearly 1/2 as the rank r is generally very small",
         "1/2", PR_Q_MELORA_VS_BLOB_REDUCTION, PR_ABOUT, PR_OF_MEMORY, 0, MELORA_LLAMA2_7B, MELORA_METHOD_MELORA},
        {"intro-blob", "Introduction (para. 5)",
         "[BLoB] increasing the number of trainable parameters by nearly half",
         "1/2", PR_Q_BLOB_VS_LORA_INCREASE, PR_ABOUT, PR_OF_PARAMS, 0, MELORA_LLAMA2_7B, MELORA_METHOD_BLOB},
        {"intro", "Introduction (para. 6, contributions)",
         "Me-LoRA reduces training parameters by approximately one-third compared to BLoB",
         "1/3", PR_Q_MELORA_VS_BLOB_REDUCTION, PR_ABOUT, PR_OF_PARAMS, 0, MELORA_LLAMA2_7B, MELORA_METHOD_MELORA},
        {"fig1", "Figure 1 caption",
         "Me-LoRA reduces the memory requirement by nearly 1/3 as the rank r is significantly smaller than m and n",
         "1/3", PR_Q_MELORA_VS_BLOB_REDUCTION, PR_ABOUT, PR_OF_MEMORY, 0, MELORA_LLAMA2_7B, MELORA_METHOD_MELORA},
        {"s3.1-blob", "Section 3.1",
         "[BLoB] increases the training parameters by 50%",
         "50%", PR_Q_BLOB_VS_LORA_INCREASE, PR_ABOUT, PR_OF_PARAMS, 0, MELORA_LLAMA2_7B, MELORA_METHOD_BLOB},
        {"s3.1", "Section 3.1",
         "This modification results in nearly a 30% reduction in training parameters compared to BLoB",
         "30%", PR_Q_MELORA_VS_BLOB_REDUCTION, PR_ABOUT, PR_OF_PARAMS, 0, MELORA_LLAMA2_7B, MELORA_METHOD_MELORA},
        {"s3.4", "Section 3.4",
         "for the lowest rank (i.e., r = 8), Me-LoRA requires nearly 30% fewer trainable parameters than BLoB",
         "30%", PR_Q_MELORA_VS_BLOB_REDUCTION, PR_ABOUT, PR_OF_PARAMS, 8, MELORA_LLAMA2_7B, MELORA_METHOD_MELORA},
        {"s3.4-incr", "Section 3.4",
         "as the rank and model size increase, the parameter count in Me-LoRA increments by 3 L_tuned d_model",
         "3", PR_Q_RANK_INCREMENT, PR_ABOUT, PR_OF_PARAMS, 0, MELORA_LLAMA2_7B, MELORA_METHOD_MELORA},
        {"s3.4-incr-lora", "Section 3.4",
         "leading to significant savings compared to LoRA's 3 L_tuned d_model parameter scaling",
         "3", PR_Q_RANK_INCREMENT, PR_ABOUT, PR_OF_PARAMS, 0, MELORA_LLAMA2_7B, MELORA_METHOD_LORA},
        {"b1-blob", "Appendix B.1",
         "the number of trainable parameters in BLoB increases by approximately 50% compared to LoRA",
         "50%", PR_Q_BLOB_VS_LORA_INCREASE, PR_ABOUT, PR_OF_PARAMS, 0, MELORA_LLAMA2_7B, MELORA_METHOD_BLOB},
        {"b1", "Appendix B.1",
         "the number of trainable parameters in Me-LoRA only increases by less than 0.2%",
         "0.2%", PR_Q_MELORA_VS_LORA_INCREASE, PR_LESS_THAN, PR_OF_PARAMS, 0, MELORA_LLAMA2_7B, MELORA_METHOD_MELORA},
        {"b1-7b-blob-mem", "Appendix B.1 (on Table 6)",
         "on Llama2-7B, BLoB increased memory consumption by approximately 0.12%",
         "0.12%", PR_Q_TABLE6_MEMORY, PR_ABOUT, PR_OF_MEMORY, 0, MELORA_LLAMA2_7B, MELORA_METHOD_BLOB},
        {"b1-7b-blob-time", "Appendix B.1 (on Table 6)",
         "[on Llama2-7B, BLoB increased] training time by about 40%",
         "40%", PR_Q_TABLE6_TIME, PR_ABOUT, PR_OF_MEMORY, 0, MELORA_LLAMA2_7B, MELORA_METHOD_BLOB},
        {"b1-7b-melora-mem", "Appendix B.1 (on Table 6)",
         "while Me-LoRA increased memory consumption by approximately 0.09%",
         "0.09%", PR_Q_TABLE6_MEMORY, PR_ABOUT, PR_OF_MEMORY, 0, MELORA_LLAMA2_7B, MELORA_METHOD_MELORA},
        {"b1-7b-melora-time", "Appendix B.1 (on Table 6)",
         "[Me-LoRA increased] training time by about 50%",
         "50%", PR_Q_TABLE6_TIME, PR_ABOUT, PR_OF_MEMORY, 0, MELORA_LLAMA2_7B, MELORA_METHOD_MELORA},
        {"b1-13b-blob-mem", "Appendix B.1 (on Table 6)",
         "For Llama2-13B, BLoB increased memory usage by approximately 0.54%",
         "0.54%", PR_Q_TABLE6_MEMORY, PR_ABOUT, PR_OF_MEMORY, 0, MELORA_LLAMA2_13B, MELORA_METHOD_BLOB},
        {"b1-13b-blob-time", "Appendix B.1 (on Table 6)",
         "[For Llama2-13B, BLoB increased] training time by around 30%",
         "30%", PR_Q_TABLE6_TIME, PR_ABOUT, PR_OF_MEMORY, 0, MELORA_LLAMA2_13B, MELORA_METHOD_BLOB},
        {"b1-13b-melora-mem", "Appendix B.1 (on Table 6)",
         "whereas Me-LoRA increased memory consumption by about 0.07%",
         "0.07%", PR_Q_TABLE6_MEMORY, PR_ABOUT, PR_OF_MEMORY, 0, MELORA_LLAMA2_13B, MELORA_METHOD_MELORA},
        {"b1-13b-melora-time", "Appendix B.1 (on Table 6)",
         "[whereas Me-LoRA increased] training time by around 48%",
         "48%", PR_Q_TABLE6_TIME, PR_ABOUT, PR_OF_MEMORY, 0, MELORA_LLAMA2_13B, MELORA_METHOD_MELORA},
    };
    return c;
}

#endif
