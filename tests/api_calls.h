/* One calling convention for every compute function of melora.h: pointers in p[], int
   sizes in d[], float scalars in f[], in the order of the function's arguments. The
   bad-input table (test_errors.c) and the fuzzer (fuzz/fuzz_api.c) drive the whole API
   through these. Include after melora.h. */
#ifndef MELORA_TEST_API_CALLS_H
#define MELORA_TEST_API_CALLS_H

typedef melora_status (*call_fn)(void **p, const int *d, const float *f);
#define F(x) ((float *)(x))
#define CF(x) ((const float *)(x))

static inline melora_status c_lora_f(void **p, const int *d, const float *f) { return melora_lora_forward(F(p[0]), F(p[1]), p[2], CF(p[3]), CF(p[4]), CF(p[5]), f[0], d[0], d[1], d[2], d[3]); }
static inline melora_status c_lora_b(void **p, const int *d, const float *f) { return melora_lora_backward(F(p[0]), F(p[1]), F(p[2]), p[3], CF(p[4]), CF(p[5]), CF(p[6]), CF(p[7]), CF(p[8]), f[0], d[0], d[1], d[2], d[3]); }
static inline melora_status c_blob_s(void **p, const int *d, const float *f) { (void)f; return melora_blob_sample(F(p[0]), CF(p[1]), CF(p[2]), CF(p[3]), d[0], d[1]); }
static inline melora_status c_blob_f(void **p, const int *d, const float *f) { return melora_blob_forward(F(p[0]), F(p[1]), F(p[2]), p[3], CF(p[4]), CF(p[5]), CF(p[6]), CF(p[7]), CF(p[8]), f[0], d[0], d[1], d[2], d[3]); }
static inline melora_status c_blob_b(void **p, const int *d, const float *f) { return melora_blob_backward(F(p[0]), F(p[1]), F(p[2]), F(p[3]), p[4], CF(p[5]), CF(p[6]), CF(p[7]), CF(p[8]), CF(p[9]), CF(p[10]), CF(p[11]), f[0], d[0], d[1], d[2], d[3]); }
static inline melora_status c_flip_f(void **p, const int *d, const float *f) { return melora_blob_flipout_forward(F(p[0]), F(p[1]), p[2], CF(p[3]), CF(p[4]), CF(p[5]), CF(p[6]), CF(p[7]), CF(p[8]), CF(p[9]), f[0], d[0], d[1], d[2], d[3], d[4]); }
static inline melora_status c_flip_b(void **p, const int *d, const float *f) { return melora_blob_flipout_backward(F(p[0]), F(p[1]), F(p[2]), F(p[3]), p[4], CF(p[5]), CF(p[6]), CF(p[7]), CF(p[8]), CF(p[9]), CF(p[10]), CF(p[11]), CF(p[12]), CF(p[13]), f[0], d[0], d[1], d[2], d[3], d[4]); }
static inline melora_status c_blob_kl(void **p, const int *d, const float *f) { return melora_blob_kl((double *)p[0], F(p[1]), F(p[2]), CF(p[3]), CF(p[4]), f[0], f[1], d[0], d[1]); }
static inline melora_status c_me_s(void **p, const int *d, const float *f) { (void)f; return melora_melora_sample(F(p[0]), CF(p[1]), CF(p[2]), CF(p[3]), d[0], d[1]); }
static inline melora_status c_me_f(void **p, const int *d, const float *f) { return melora_melora_forward(F(p[0]), F(p[1]), F(p[2]), p[3], CF(p[4]), CF(p[5]), CF(p[6]), CF(p[7]), f[0], d[0], d[1], d[2], d[3], d[4]); }
static inline melora_status c_me_b(void **p, const int *d, const float *f) { return melora_melora_backward(F(p[0]), F(p[1]), F(p[2]), F(p[3]), F(p[4]), p[5], CF(p[6]), CF(p[7]), CF(p[8]), CF(p[9]), CF(p[10]), CF(p[11]), CF(p[12]), CF(p[13]), CF(p[14]), f[0], d[0], d[1], d[2], d[3], d[4]); }
static inline melora_status c_me_mc(void **p, const int *d, const float *f) { return melora_melora_mc_forward(F(p[0]), F(p[1]), p[2], CF(p[3]), CF(p[4]), CF(p[5]), CF(p[6]), f[0], d[0], d[1], d[2], d[3], d[4]); }
static inline melora_status c_me_kl(void **p, const int *d, const float *f) { return melora_melora_kl((double *)p[0], F(p[1]), F(p[2]), F(p[3]), p[4], CF(p[5]), CF(p[6]), CF(p[7]), f[0], f[1], d[0], d[1]); }
static inline melora_status c_me_kl8(void **p, const int *d, const float *f) { return melora_melora_kl_prior_noise((double *)p[0], F(p[1]), F(p[2]), F(p[3]), p[4], CF(p[5]), CF(p[6]), CF(p[7]), f[0], f[1], f[2], d[0], d[1]); }
static inline melora_status c_me_klx(void **p, const int *d, const float *f) { return melora_melora_kl_exact((double *)p[0], F(p[1]), F(p[2]), CF(p[3]), CF(p[4]), f[0], f[1], d[0]); }
static inline melora_status c_lora_fn(void **p, const int *d, const float *f) { return melora_lora_forward_naive(F(p[0]), F(p[1]), CF(p[2]), CF(p[3]), CF(p[4]), f[0], d[0], d[1], d[2], d[3]); }
static inline melora_status c_lora_bn(void **p, const int *d, const float *f) { return melora_lora_backward_naive(F(p[0]), F(p[1]), F(p[2]), CF(p[3]), CF(p[4]), CF(p[5]), CF(p[6]), CF(p[7]), f[0], d[0], d[1], d[2], d[3]); }
static inline melora_status c_flip_fn(void **p, const int *d, const float *f) { return melora_blob_flipout_forward_naive(F(p[0]), F(p[1]), CF(p[2]), CF(p[3]), CF(p[4]), CF(p[5]), CF(p[6]), CF(p[7]), CF(p[8]), f[0], d[0], d[1], d[2], d[3], d[4]); }
static inline melora_status c_flip_bn(void **p, const int *d, const float *f) { return melora_blob_flipout_backward_naive(F(p[0]), F(p[1]), F(p[2]), F(p[3]), CF(p[4]), CF(p[5]), CF(p[6]), CF(p[7]), CF(p[8]), CF(p[9]), CF(p[10]), CF(p[11]), CF(p[12]), f[0], d[0], d[1], d[2], d[3], d[4]); }
static inline melora_status c_me_fn(void **p, const int *d, const float *f) { return melora_melora_forward_naive(F(p[0]), F(p[1]), F(p[2]), CF(p[3]), CF(p[4]), CF(p[5]), CF(p[6]), f[0], d[0], d[1], d[2], d[3], d[4]); }
static inline melora_status c_me_bn(void **p, const int *d, const float *f) { return melora_melora_backward_naive(F(p[0]), F(p[1]), F(p[2]), F(p[3]), F(p[4]), CF(p[5]), CF(p[6]), CF(p[7]), CF(p[8]), CF(p[9]), CF(p[10]), CF(p[11]), CF(p[12]), CF(p[13]), f[0], d[0], d[1], d[2], d[3], d[4]); }

#endif
