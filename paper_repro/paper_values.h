/* paper_values.h - every number this folder takes from the Me-LoRA paper, typed once.

   Source: "Me-LoRA: Memory-efficient Bayesian low-rank adaptation for large language
   models". Values are copied as printed (strings
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

#define PR_CLAIMS_N 21
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
        /* As printed, "increments by 3 L d" gives Me-LoRA the increment it then calls LoRA's.
           The likely intended claim: Me-LoRA grows by about 2 L d per unit of rank, BLoB by
           3 L d (its count 3 L d r). Checked as that reading. */
        {"s3.4-incr-intended", "Section 3.4 (intended reading)",
         "[Me-LoRA's parameter count grows by about 2 L_tuned d_model per unit of rank]",
         "2", PR_Q_RANK_INCREMENT, PR_ABOUT, PR_OF_PARAMS, 0, MELORA_LLAMA2_7B, MELORA_METHOD_MELORA},
        {"s3.4-incr-blob", "Section 3.4 (intended reading)",
         "[against BLoB's 3 L_tuned d_model per unit of rank]",
         "3", PR_Q_RANK_INCREMENT, PR_ABOUT, PR_OF_PARAMS, 0, MELORA_LLAMA2_7B, MELORA_METHOD_BLOB},
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

/* ---- Tables 2-5 (Llama2-13B): the entries the text's claims about them rest on, as
   printed: mean and the subscript standard deviation (the paper does not say over how many
   runs). NULL where the text extraction cuts the cell off (the last column of Tables 3 and
   5 and a few cells of Table 5 are lost). Columns: Tables 2 and 4 WG-S, ARC-C, ARC-E,
   WG-M, OBQA, BoolQ; Tables 3 and 5 OBQA, ARC-C, ARC-E, Chem., Phy., Math. */
#define PR_RES_NCOL 6
typedef enum { PR_ACC = 0, PR_ECE, PR_NLL } pr_metric;
typedef enum { PR_T_MAP = 0, PR_T_MCD, PR_T_ENS, PR_T_LAP, PR_T_BLOB, PR_T_OURS, PR_T_NONOISE } pr_tmethod;
typedef struct {
    int table;         /* 2, 3, 4 or 5 */
    pr_metric metric;
    pr_tmethod method;
    const char *mean[PR_RES_NCOL];
    const char *std[PR_RES_NCOL];
    const char *where;
} pr_result_row;
static inline const char *const *pr_res_columns(int table) {
    static const char *const id[PR_RES_NCOL] = {"WG-S", "ARC-C", "ARC-E", "WG-M", "OBQA", "BoolQ"};
    static const char *const ood[PR_RES_NCOL] = {"OBQA", "ARC-C", "ARC-E", "Chem.", "Phy.", "Math."};
    return table == 3 || table == 5 ? ood : id;
}
static inline const char *pr_tmethod_name(pr_tmethod m) {
    static const char *const n[7] = {"MAP", "MCD", "ENS", "LAP", "BLoB", "Ours", "w/o noise"};
    return (int)m >= 0 && m <= PR_T_NONOISE ? n[m] : "?";
}
#define PR_RESULTS_N 26
static inline const pr_result_row *pr_results(void) {
    static const pr_result_row t[PR_RESULTS_N] = {
        {2, PR_ACC, PR_T_MAP, {"72.35", "72.78", "88.06", "79.31", "83.93", "83.85"},
         {"0.75", "0.46", "0.67", "0.26", "1.16", "0.63"}, "Table 2, ACC, MAP"},
        {2, PR_ACC, PR_T_MCD, {"69.51", "71.72", "87.91", "77.64", "83.76", "84.18"},
         {"0.04", "0.07", "0.02", "0.03", "0.14", NULL}, "Table 2, ACC, MCD (BoolQ std cut off)"},
        {2, PR_ACC, PR_T_ENS, {"70.01", "72.21", "88.06", "78.99", "84.13", "83.87"},
         {"0.91", "1.01", "0.44", "0.56", "0.41", "0.84"}, "Table 2, ACC, ENS"},
        {2, PR_ACC, PR_T_LAP, {"72.64", "71.53", "88.10", "76.45", "83.26", "83.73"},
         {"0.16", "0.10", "0.07", "0.09", "0.18", "0.07"}, "Table 2, ACC, LAP"},
        {2, PR_ACC, PR_T_BLOB, {"67.81", "71.61", "87.81", "75.02", "82.81", "82.79"},
         {"0.05", "0.02", "0.07", "0.09", "0.22", "0.14"}, "Table 2, ACC, BLoB"},
        {2, PR_ACC, PR_T_OURS, {"68.67", "72.82", "88.56", "79.38", "85.17", "83.74"},
         {"0.07", "0.08", "0.03", "0.03", "0.03", "0.05"}, "Table 2, ACC, Ours"},
        {2, PR_ECE, PR_T_OURS, {"9.25", "7.60", "2.60", "4.94", "5.38", "3.36"},
         {"0.06", "0.16", "0.05", "0.03", "0.06", "0.06"}, "Table 2, ECE, Ours"},
        {2, PR_NLL, PR_T_OURS, {"0.64", "0.72", "0.35", "0.46", "0.44", "0.37"},
         {"0.00", "0.00", "0.00", "0.00", "0.00", "0.00"}, "Table 2, NLL, Ours"},
        {4, PR_ACC, PR_T_NONOISE, {"69.83", "70.89", "87.01", "74.08", "83.83", "82.66"},
         {"0.08", "0.05", "0.05", "0.15", "0.11", "0.19"}, "Table 4, ACC, w/o noise"},
        {4, PR_ACC, PR_T_OURS, {"68.67", "71.59", "87.11", "75.66", "82.06", "82.55"},
         {"0.07", "0.11", "0.06", "0.09", "0.27", "0.03"}, "Table 4, ACC, Ours"},
        {4, PR_ECE, PR_T_OURS, {"9.25", "5.06", "4.29", "4.23", "2.78", "2.28"},
         {"0.06", "0.08", "0.06", "0.18", "0.23", "0.10"}, "Table 4, ECE, Ours"},
        {4, PR_NLL, PR_T_OURS, {"0.64", "0.71", "0.42", "0.51", "0.47", "0.40"},
         {"0.06", "0.08", "0.00", "0.00", "0.00", "0.00"}, "Table 4, NLL, Ours"},
        {3, PR_ACC, PR_T_MAP, {"83.80", "75.79", "82.39", "38.33", "45.14", NULL},
         {"1.14", "0.84", "0.50", "3.09", "2.60", NULL}, "Table 3, ACC, MAP"},
        {3, PR_ACC, PR_T_MCD, {"83.81", "72.45", "81.02", "39.01", "37.49", NULL},
         {"0.31", "0.05", "0.04", "0.25", "0.27", NULL}, "Table 3, ACC, MCD"},
        {3, PR_ACC, PR_T_ENS, {"83.33", "74.46", "83.39", "42.71", "33.67", NULL},
         {"0.34", "0.90", "0.49", "3.07", "0.47", NULL}, "Table 3, ACC, ENS"},
        {3, PR_ACC, PR_T_LAP, {"82.56", "72.08", "82.13", "41.49", "32.24", NULL},
         {"0.27", "0.08", "0.07", "0.69", "1.15", NULL}, "Table 3, ACC, LAP"},
        {3, PR_ACC, PR_T_BLOB, {"82.40", "72.27", "83.24", "42.66", "37.14", NULL},
         {"0.13", "0.06", "0.14", "0.10", "0.30", NULL}, "Table 3, ACC, BLoB"},
        {3, PR_ACC, PR_T_OURS, {"84.89", "73.80", "82.58", "42.75", "34.77", NULL},
         {"0.08", "0.13", "0.05", "0.08", "0.42", NULL}, "Table 3, ACC, Ours (Math. cut off at \"33.\")"},
        {3, PR_ECE, PR_T_OURS, {"5.53", "6.92", "3.10", "15.48", "18.64", NULL},
         {"0.27", "0.09", "0.09", "0.56", "0.70", NULL}, "Table 3, ECE, Ours"},
        {5, PR_ACC, PR_T_NONOISE, {NULL, NULL, "83.57", NULL, "32.92", "37.13"},
         {NULL, NULL, "0.15", NULL, "0.61", "1.29"}, "Table 5, ACC, w/o noise"},
        {5, PR_ACC, PR_T_OURS, {NULL, NULL, "82.95", NULL, "33.45", "39.30"},
         {NULL, NULL, "0.06", NULL, "0.51", "0.47"}, "Table 5, ACC, Ours"},
        {3, PR_NLL, PR_T_OURS, {"0.44", "0.68", "0.49", "1.26", "1.41", NULL},
         {"0.00", "0.00", "0.00", "0.00", "0.00", NULL}, "Table 3, NLL, Ours"},
        {5, PR_ECE, PR_T_NONOISE, {"5.21", "8.24", "2.98", "17.34", "20.70", "15.29"},
         {"0.21", "0.20", "0.11", "0.18", "1.07", "0.94"}, "Table 5, ECE, w/o noise"},
        {5, PR_ECE, PR_T_OURS, {"6.17", "9.37", "3.78", "15.78", "18.25", "14.40"},
         {"0.29", "0.13", "0.22", "0.89", "0.65", "0.57"}, "Table 5, ECE, Ours"},
        {5, PR_NLL, PR_T_NONOISE, {NULL, "0.74", "0.46", "1.32", "1.49", "1.51"},
         {NULL, "0.00", "0.00", "0.01", "0.02", "0.01"}, "Table 5, NLL, w/o noise"},
        {5, PR_NLL, PR_T_OURS, {NULL, "0.75", "0.48", "1.29", "1.43", "1.46"},
         {NULL, "0.00", "0.00", "0.01", "0.01", "0.01"}, "Table 5, NLL, Ours"},
    };
    return t;
}
/* ---- Text claims about Tables 2-6, checked in paper_repro/results/claims.md. */
typedef struct {
    const char *id, *where, *quote;
} pr_text_claim;
#define PR_TEXT_CLAIMS_N 11
static inline const pr_text_claim *pr_text_claims(void) {
    static const pr_text_claim c[PR_TEXT_CLAIMS_N] = {
        {"s3.4-L", "Section 3.4",
         "We denote the number of fine-tuned layers as L_tuned and the dimension of these layers as d_model"},
        {"t1-modules", "Table 1 caption / Section 4",
         "We applie LoRA on query and key layers of each transformer block. / We applied the LoRA to the queries and values of all attention layers."},
        {"b1-mem-vs-blob", "Appendix B.1",
         "Although our method outperforms BLoB in terms of memory efficiency"},
        {"b1-time-vs-blob", "Appendix B.1", "it lags behind in terms of training time"},
        {"t6-below-lora", "Table 6", "(rows where a Bayesian method uses less memory than LoRA)"},
        {"t2-vs-t4", "Section 6",
         "We maintain the same hyperparameters as in previous experiments, the only modification being whether noise is added to the prior variance."},
        {"s6-consistent", "Section 6",
         "the noise-augmented method consistently achieves higher accuracy"},
        {"s6-nonoise-better", "Section 6",
         "the method without added noise performs better than ours on WG-S, OBQA, and BoolQ"},
        {"s6-ood", "Section 6",
         "our approach significantly outperforms the noise-free method on out-of-distribution tasks, particularly in college mathematics, physics, and chemistry"},
        {"s4.1-significant", "Section 4.1",
         "Me-LoRA achieves significantly higher ACC than other baselines on most datasets (ARC-C, ARC-E, WG-M, OBQA)"},
        {"s4.2-chem", "Section 4.2",
         "Me-LoRA exhibits comparable ACC on out-of-distribution datasets, especially achieving the highest accuracy on the chemistry subset"},
    };
    return c;
}

#endif
