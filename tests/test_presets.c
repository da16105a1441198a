/* Model presets with grouped-query attention, and the frozen models' parameter totals.
   Every expected value is worked out here from the models' published shapes (hidden size,
   layers, heads, KV heads, head size, MLP size, vocabulary), by explicit arithmetic, and
   compared with melora_preset / melora_count_* and with figures quoted elsewhere (PEFT's
   trainable-parameter printout, the LoRA paper's GPT-3 counts, the models' own totals). */
#include "util.h"

static int64_t count(melora_model model, unsigned mask, melora_method method, int64_t r) {
    melora_module mods[7];
    int nm = 0;
    int64_t p = -1;
    cr_assert_eq(melora_preset(mods, 7, &nm, model, mask), MELORA_OK);
    cr_assert_eq(melora_count_model_params(&p, method, mods, nm, r), MELORA_OK);
    return p;
}
#define QKVO (MELORA_MOD_Q | MELORA_MOD_K | MELORA_MOD_V | MELORA_MOD_O)

/* Llama-3-8B (config.json): hidden 4096, 32 layers, 32 heads and 8 KV heads of 128, so q is
   4096 -> 4096 and k, v are 4096 -> 8 x 128 = 1024; intermediate 14336. */
Test(presets, llama3_8b_qv_rank8) {
    const int64_t L = 32, d = 4096, kv = 8 * 128, r = 8;
    int64_t lora = L * (r * (d + d) + r * (d + kv));               /* A r x n, B m x r */
    int64_t blob = L * ((2 * r * d + r * d) + (2 * r * d + r * kv)); /* + Omega_A, r x n */
    int64_t mel = lora + L * 2 * (2 * r * r);                       /* + M, H per weight */
    cr_assert_eq(lora, 3407872);
    cr_assert_eq(count(MELORA_LLAMA3_8B, MELORA_MOD_QV, MELORA_METHOD_LORA, r), lora);
    cr_assert_eq(count(MELORA_LLAMA3_8B, MELORA_MOD_QV, MELORA_METHOD_BLOB, r), blob);
    cr_assert_eq(count(MELORA_LLAMA3_8B, MELORA_MOD_QV, MELORA_METHOD_MELORA, r), mel);
    /* the ratios the paper's Llama2 figures (+50%, -33.2%) do not carry over to */
    cr_assert_float_eq((double)blob / (double)lora - 1.0, 172032.0 / 106496.0 - 1.0, 1e-15);
    cr_assert(fabs((double)blob / (double)lora - 1.0 - 0.6154) < 1e-4);
    cr_assert(fabs(1.0 - (double)mel / (double)blob - 0.3795) < 1e-4);
    /* k and v have the same shape: Table 1's caption (q, k) and section 4 (q, v) give the
       same count even with grouped-query attention */
    cr_assert_eq(count(MELORA_LLAMA3_8B, MELORA_MOD_Q | MELORA_MOD_K, MELORA_METHOD_BLOB, r), blob);
}

/* Every linear layer of Llama-3-8B at r = 8: PEFT prints 20,971,520 trainable parameters. */
Test(presets, llama3_8b_all_linear) {
    const int64_t L = 32, d = 4096, kv = 1024, ff = 14336, r = 8;
    int64_t per = r * (d + d) + 2 * r * (d + kv) + r * (d + d) + 3 * r * (d + ff);
    cr_assert_eq(L * per, 20971520);
    cr_assert_eq(count(MELORA_LLAMA3_8B, MELORA_MOD_ALL, MELORA_METHOD_LORA, r), L * per);
    /* BLoB adds r x n per weight: n = d for q, k, v, o, gate, up; n = ff for down */
    cr_assert_eq(count(MELORA_LLAMA3_8B, MELORA_MOD_ALL, MELORA_METHOD_BLOB, r),
                 L * (per + r * (6 * d + ff)));
    cr_assert_eq(count(MELORA_LLAMA3_8B, MELORA_MOD_ALL, MELORA_METHOD_MELORA, r),
                 L * (per + 7 * 2 * r * r));
}

/* Mistral-7B (hidden 4096, 32 layers, 32 heads, 8 KV heads, intermediate 14336) has
   Llama-3-8B's linear shapes; Llama-3-70B has Llama-2-70B's. */
Test(presets, same_shapes_same_counts) {
    static const unsigned masks[3] = {MELORA_MOD_QV, QKVO, MELORA_MOD_ALL};
    static const melora_method ms[3] = {MELORA_METHOD_LORA, MELORA_METHOD_BLOB, MELORA_METHOD_MELORA};
    for (int a = 0; a < 3; a++)
        for (int k = 0; k < 3; k++)
            for (int64_t r = 4; r <= 256; r *= 2) {
                cr_assert_eq(count(MELORA_MISTRAL_7B, masks[a], ms[k], r),
                             count(MELORA_LLAMA3_8B, masks[a], ms[k], r));
                cr_assert_eq(count(MELORA_LLAMA3_70B, masks[a], ms[k], r),
                             count(MELORA_LLAMA2_70B, masks[a], ms[k], r));
            }
}

/* Llama-2-70B: hidden 8192, 80 layers, 64 heads and 8 KV heads of 128 (k, v: 8192 -> 1024),
   intermediate 28672. q, k, v, o at r = 16 and r = 256. */
Test(presets, llama2_70b_qkvo) {
    const int64_t L = 80, d = 8192, kv = 1024;
    for (int64_t r = 16; r <= 256; r *= 16) {
        int64_t lora = L * (r * (d + d) + 2 * r * (d + kv) + r * (d + d));
        cr_assert_eq(count(MELORA_LLAMA2_70B, QKVO, MELORA_METHOD_LORA, r), lora);
        cr_assert_eq(count(MELORA_LLAMA2_70B, QKVO, MELORA_METHOD_BLOB, r), lora + L * 4 * r * d);
        cr_assert_eq(count(MELORA_LLAMA2_70B, QKVO, MELORA_METHOD_MELORA, r), lora + L * 4 * 2 * r * r);
    }
    melora_module mods[7];
    int nm = 0;
    cr_assert_eq(melora_preset(mods, 7, &nm, MELORA_LLAMA2_70B, MELORA_MOD_ALL), MELORA_OK);
    cr_assert_eq(nm, 7);
    cr_assert(mods[1].m == kv && mods[1].n == d && mods[2].m == kv && mods[2].n == d);
    cr_assert(mods[3].m == d && mods[3].n == d);
    cr_assert(mods[4].m == 28672 && mods[6].n == 28672 && mods[6].m == d && mods[0].count == L);
}

/* GPT-3 175B: d = 12288, 96 layers, 96 heads of 128, MLP 4d without a gate. The LoRA paper
   (Hu et al. 2021, Table 4) adapts Wq and Wv: 4.7M parameters at r = 1, 37.7M at r = 8. */
Test(presets, gpt3_175b) {
    const int64_t L = 96, d = 12288;
    cr_assert_eq(count(MELORA_GPT3_175B, MELORA_MOD_QV, MELORA_METHOD_LORA, 1), L * 2 * (d + d));
    cr_assert_eq((L * 2 * (d + d) + 50000) / 100000, 47);           /* 4.7M */
    cr_assert_eq(count(MELORA_GPT3_175B, MELORA_MOD_QV, MELORA_METHOD_LORA, 8), L * 2 * 8 * (d + d));
    cr_assert_eq((L * 2 * 8 * (d + d) + 50000) / 100000, 377);      /* 37.7M */
    /* section 3.4's closed forms hold here (every q, v is d x d): BLoB 3 L d r */
    cr_assert_eq(count(MELORA_GPT3_175B, MELORA_MOD_QV, MELORA_METHOD_BLOB, 8), 3 * (2 * L) * d * 8);
    melora_module mods[7];
    int nm = 0;
    cr_assert_eq(melora_preset(mods, 7, &nm, MELORA_GPT3_175B, MELORA_MOD_ALL), MELORA_OK);
    cr_assert_eq(nm, 6); /* no gate */
    cr_assert_str_eq(mods[4].name, "fc1");
    cr_assert(mods[4].m == 4 * d && mods[4].n == d && mods[5].m == d && mods[5].n == 4 * d);
    cr_assert_str_eq(mods[5].name, "fc2");
    cr_assert_eq(melora_preset(mods, 7, &nm, MELORA_GPT3_175B, MELORA_MOD_GATE), MELORA_ERR_ENUM);
    cr_assert_eq(melora_preset(mods, 5, &nm, MELORA_GPT3_175B, MELORA_MOD_ALL), MELORA_ERR_CAPACITY);
    cr_assert_eq(melora_preset(mods, 6, &nm, MELORA_GPT3_175B, MELORA_MOD_ALL), MELORA_OK);
}

/* The frozen models' totals, from their shapes: each matches the model's published count. */
Test(presets, base_params) {
    int64_t p = 0;
    /* Llama-2-7B: 32000 x 4096 embeddings and head; per layer 4 d^2 + 3 d ff + 2 d */
    int64_t d = 4096, ff = 11008;
    cr_assert_eq(melora_count_base_params(&p, MELORA_LLAMA2_7B), MELORA_OK);
    cr_assert_eq(p, 2 * 32000 * d + 32 * (4 * d * d + 3 * d * ff + 2 * d) + d);
    cr_assert_eq(p, 6738415616);
    d = 5120; ff = 13824;
    cr_assert_eq(melora_count_base_params(&p, MELORA_LLAMA2_13B), MELORA_OK);
    cr_assert_eq(p, 2 * 32000 * d + 40 * (4 * d * d + 3 * d * ff + 2 * d) + d);
    cr_assert_eq(p, 13015864320);
    /* GQA: q, o d x d; k, v d x 1024 */
    d = 4096; ff = 14336;
    cr_assert_eq(melora_count_base_params(&p, MELORA_LLAMA3_8B), MELORA_OK);
    cr_assert_eq(p, 2 * 128256 * d + 32 * (2 * d * d + 2 * d * 1024 + 3 * d * ff + 2 * d) + d);
    cr_assert_eq(p, 8030261248);
    cr_assert_eq(melora_count_base_params(&p, MELORA_MISTRAL_7B), MELORA_OK);
    cr_assert_eq(p, 7241732096);
    d = 8192; ff = 28672;
    cr_assert_eq(melora_count_base_params(&p, MELORA_LLAMA2_70B), MELORA_OK);
    cr_assert_eq(p, 2 * 32000 * d + 80 * (2 * d * d + 2 * d * 1024 + 3 * d * ff + 2 * d) + d);
    cr_assert_eq(p, 68976648192);
    cr_assert_eq(melora_count_base_params(&p, MELORA_LLAMA3_70B), MELORA_OK);
    cr_assert_eq(p, 70553706496);
    /* GPT-3: biases on every linear layer, LayerNorm weight and bias, tied head, 2048
       learned positions: 174.6B ("175B") */
    d = 12288;
    cr_assert_eq(melora_count_base_params(&p, MELORA_GPT3_175B), MELORA_OK);
    cr_assert_eq(p, 50257 * d + 2048 * d + 96 * (12 * d * d + 9 * d + 4 * d) + 2 * d);
    cr_assert_eq((p + 50000000) / 100000000, 1746);
    cr_assert_eq(melora_count_base_params(NULL, MELORA_LLAMA2_7B), MELORA_ERR_NULL);
    cr_assert_eq(melora_count_base_params(&p, MELORA_MODEL_COUNT_), MELORA_ERR_ENUM);
    melora_model_info s;
    cr_assert_eq(melora_model_shape(&s, MELORA_MISTRAL_7B), MELORA_OK);
    cr_assert(s.hidden == 4096 && s.kv_heads == 8 && s.intermediate == 14336 && s.vocab == 32000);
    cr_assert_eq(melora_model_shape(&s, (melora_model)-1), MELORA_ERR_ENUM);
    cr_assert_eq(melora_model_shape(NULL, MELORA_LLAMA2_7B), MELORA_ERR_NULL);
}

/* Mixed precision: state (params, grads, moments, EA, EC) in fp32, activations and
   Flipout's per-token signs in bf16. One Llama-3-8B v_proj (4096 -> 1024), T = 1200, r = 8. */
Test(presets, mixed_precision_memory) {
    melora_module v = {"v_proj", 1024, 4096, 1};
    melora_train_memory a, b;
    const int64_t r = 8, T = 1200, n = 4096, m = 1024;
    cr_assert_eq(melora_count_train_memory_mixed(&a, MELORA_METHOD_BLOB_FLIPOUT, &v, 1, &(melora_train_setup){r, T, 1, 1, 0}, MELORA_FP32, MELORA_BF16), MELORA_OK);
    cr_assert_eq(a.params, 4 * (2 * r * n + r * m));
    cr_assert_eq(a.adam, 2 * a.params);
    cr_assert_eq(a.activations, 2 * T * r);
    cr_assert_eq(a.noise, 4 * r * n + 2 * T * (n + r));
    cr_assert_eq(a.total, 4 * a.params + a.activations + a.noise);
    cr_assert_eq(melora_count_train_memory_mixed(&a, MELORA_METHOD_MELORA, &v, 1, &(melora_train_setup){r, T, 4, 1, 0}, MELORA_FP32, MELORA_BF16), MELORA_OK);
    cr_assert_eq(a.params, 4 * (r * (n + m) + 2 * r * r));
    cr_assert_eq(a.activations, 2 * 2 * T * r);
    cr_assert_eq(a.noise, 4 * 4 * r * r);
    /* equal dtypes: the single-dtype function */
    for (int k = 0; k < MELORA_METHOD_COUNT_; k++)
        for (int dt = 0; dt < MELORA_DTYPE_COUNT_; dt++) {
            cr_assert_eq(melora_count_train_memory_mixed(&a, (melora_method)k, &v, 1, &(melora_train_setup){r, T, 4, 3, 0}, (melora_dtype)dt, (melora_dtype)dt), 0);
            cr_assert_eq(melora_count_train_memory(&b, (melora_method)k, &v, 1, &(melora_train_setup){r, T, 4, 3, 0}, (melora_dtype)dt), 0);
            cr_assert(memcmp(&a, &b, sizeof a) == 0);
        }
    cr_assert_eq(melora_count_train_memory_mixed(&a, MELORA_METHOD_LORA, &v, 1, &(melora_train_setup){r, T, 1, 1, 0}, MELORA_FP32, (melora_dtype)9), MELORA_ERR_ENUM);
}
