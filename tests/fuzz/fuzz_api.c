/* libFuzzer harness over the whole public API of melora.h.

   Each input is decoded into one call: a function (byte 0), its sizes (small, 0, negative,
   or extremes such as INT_MAX, 2^29, 2^30 whose products overflow), its scalars (ordinary,
   0, huge, denormal, NaN, +-Inf), which pointers are NULL, whether the workspace is
   misaligned, the contents of every buffer (small, large, zero, raw bit patterns, or
   ordinary values with NaN/Inf/0/denormal entries planted in them), then the size the
   workspace is said to have (what melora_workspace_size says, more, or less: one byte
   less, none, half, any), which struct pointer is NULL, and, for a call with melora_dims,
   the activations' dtype (float32, bf16, fp16, now and then an unknown one) and whether
   one activation sits off its element's alignment. The calls go through
   tests/api_calls.h, which builds each call's structs from the decoded pointers.

   An independent oracle derives from the documented contract which statuses the call may
   return:
     - a required pointer or struct pointer NULL -> MELORA_ERR_NULL (a NULL gradients
       struct is a struct of NULL gradients: the call is the one without them)
     - a size <= 0                               -> MELORA_ERR_SIZE
     - a buffer of more than PTRDIFF_MAX/8 elements, or a workspace that
       melora_workspace_size() cannot size      -> MELORA_ERR_OVERFLOW
     - T % E != 0                                -> MELORA_ERR_DIVISIBILITY
     - a bad scalar (non-finite s or weight, sigma <= 0, eps outside [0,1)),
       or for a KL a zero/non-finite std or non-finite entry -> MELORA_ERR_VALUE
     - a misaligned workspace                    -> MELORA_ERR_ALIGNMENT
     - a workspace smaller than melora_workspace_size() says -> MELORA_ERR_WORKSPACE
     - an unknown dtype                          -> MELORA_ERR_ENUM
     - x, z, dz or dx not aligned to its element (2 bytes half, 4 float32)
                                                 -> MELORA_ERR_ALIGNMENT
   (buffers are sized by the element size: x, z, dz, dx in the call's dtype, everything
   else float32)
   and asserts:
     - an argument error returns one of the predicted codes and writes nothing (every
       buffer, the workspace and *kl compared bitwise with a snapshot); such calls get
       small buffers, so a function that touches memory before failing is caught by ASan;
     - a valid call returns MELORA_OK, never modifies a const input, and when every input
       is finite and moderate (|v| <= 1e3, std entries 0 or >= 1e-15, 1e-3 <= sigma) all
       outputs are finite; with arbitrary contents (NaN, Inf, FLT_MAX) only the status and
       the absence of sanitizer reports are asserted (products may overflow legitimately);
     - with finite moderate inputs, the outputs of a function that has a naive reference
       (LoRA, Flipout, Me-LoRA forward and backward) agree with the reference's, run on
       the same inputs, within 1e-4 of each output's largest magnitude plus 1e-5 of each
       element's sum of |terms| (the reference run on absolute values: a sum that cancels
       is held to float's error, not to its own small size); for bf16 and fp16
       activations plus one half-precision rounding of each of the two results,
       2^-8 (|fast| + |naive|) for bf16, 2^-11 (...) for fp16 (see compare_naive);
     - melora_convert, every pair of dtypes, equals the scalar conversions element by
       element, and its errors (NULL, unknown dtype, negative count, misaligned,
       overlapping buffers) write nothing;
     - the noise functions equal melora_rng_*(seed, offset + i) element by element, and
       those of a draw (melora_draw_offset, melora_blob_noise, melora_blob_flipout_noise,
       melora_melora_noise) the normals and signs at the offsets the header states,
       restated here: draw d at d 2^40, sb after sa; a draw past 2^24, a tensor past the
       draw's 2^40 indices and Flipout's outputs overlapping are errors, nothing written;
     - the counting functions equal the closed forms computed in 128-bit arithmetic, or
       report MELORA_ERR_OVERFLOW exactly when an intermediate leaves int64.
   Sizes of valid calls are mostly small (dimensions <= 48 unless an extreme value is
   chosen); one call in 16 is in the large mode (T up to 576, n, m up to 768, r up to 132: several
   row blocks per chunk, the column slices and the transposed kernels). Buffers stay
   <= 2^18 floats (larger valid calls are skipped) so executions are fast.
   Short buffers whose size says otherwise are undetectable by design and not fuzzed.

   The file is compiled twice into one fuzzer: FUZZ_ENTRY names the entry point, and with
   -DMELORA_NO_VECTOR the portable loops are fuzzed instead of the vector kernels
   (fuzz_main.c picks one by the low bit of the first byte). */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MELORA_STATIC
#define MELORA_IMPLEMENTATION
#include "melora.h"
#include "../api_calls.h"

#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_vec
#endif

#define FAIL(...) do { fprintf(stderr, "fuzz_api: " __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)
#define CHECK(c, ...) do { if (!(c)) FAIL(__VA_ARGS__); } while (0)

#include "fuzz_input.h"

/* ------------------------------------------------------------------- API table ----- */
/* Pointer kinds: o required output (read and written: adapters add into z, backward
   passes into gradients), O optional output (NULL skips it), w workspace, i required
   input, g required input that is a std parameter (GA, H), h input required only when
   the spec's dh output is given (H, EC of the Me-LoRA backward), k double *kl. */
typedef struct {
    const char *name;
    const char *dims;      /* letters of the int arguments, in order */
    const char *kinds;     /* one per pointer argument, in order */
    const char *shape[16]; /* element counts: products of dimension letters; g = ceil(T/G) */
    const char *scal;      /* s scale, p sigma > 0, e eps in [0,1), w weight */
    int op;                /* workspace op, -1 if none */
    int kl;                /* 1 blob_kl/kl_exact, 2 eq. 7 (A checked too), 0 not a KL */
    int dh;                /* index of dH (makes 'h' required), -1 */
    call_fn call;
} spec;


static const spec SPECS[] = {
    {"lora_forward", "Tnmr", "oowiii", {"Tm", "Tr", "", "Tn", "rn", "mr"}, "s", MELORA_OP_LORA_FORWARD, 0, -1, c_lora_f},
    {"lora_backward", "Tnmr", "OOOwiiiii", {"Tn", "rn", "mr", "", "Tm", "Tr", "Tn", "rn", "mr"}, "s", MELORA_OP_LORA_BACKWARD, 0, -1, c_lora_b},
    {"blob_sample", "rn", "oiii", {"rn", "rn", "rn", "rn"}, "", -1, 0, -1, c_blob_s},
    {"blob_forward", "Tnmr", "ooowiiiii", {"Tm", "Tr", "rn", "", "Tn", "rn", "rn", "rn", "mr"}, "s", MELORA_OP_LORA_FORWARD, 0, -1, c_blob_f},
    {"blob_backward", "Tnmr", "OOOOwiiiiiii", {"Tn", "rn", "rn", "mr", "", "Tm", "Tr", "Tn", "rn", "rn", "rn", "mr"}, "s", MELORA_OP_LORA_BACKWARD, 0, -1, c_blob_b},
    {"flipout_forward", "GTnmr", "oowiiiiiii", {"Tm", "Tr", "", "Tn", "rn", "rn", "rn", "gn", "gr", "mr"}, "s", MELORA_OP_FLIPOUT_FORWARD, 0, -1, c_flip_f},
    {"flipout_backward", "GTnmr", "OOOOwiiiiiiiii", {"Tn", "rn", "rn", "mr", "", "Tm", "Tr", "Tn", "rn", "rn", "rn", "gn", "gr", "mr"}, "s", MELORA_OP_FLIPOUT_BACKWARD, 0, -1, c_flip_b},
    {"blob_kl", "rn", "kOOig", {"1", "rn", "rn", "rn", "rn"}, "pw", -1, 1, -1, c_blob_kl},
    {"melora_sample", "Er", "oiii", {"Err", "rr", "rr", "Err"}, "", -1, 0, -1, c_me_s},
    {"melora_forward", "ETnmr", "ooowiiii", {"Tm", "Tr", "Tr", "", "Tn", "rn", "Err", "mr"}, "s", MELORA_OP_MELORA_FORWARD, 0, -1, c_me_f},
    {"melora_backward", "ETnmr", "OOOOOwiiiiiiihh", {"Tn", "rn", "mr", "rr", "rr", "", "Tm", "Tr", "Tr", "Tn", "rn", "Err", "mr", "rr", "Err"}, "s", MELORA_OP_MELORA_BACKWARD, 0, 4, c_me_b},
    {"melora_mc_forward", "KTnmr", "oowiiii", {"KTm", "Tr", "", "Tn", "rn", "Krr", "mr"}, "s", MELORA_OP_MELORA_MC_FORWARD, 0, -1, c_me_mc},
    {"melora_kl", "rn", "kOOOwiig", {"1", "rn", "rr", "rr", "", "rn", "rr", "rr"}, "pw", MELORA_OP_MELORA_KL, 2, -1, c_me_kl},
    {"melora_kl_prior_noise", "rn", "kOOOwiig", {"1", "rn", "rr", "rr", "", "rn", "rr", "rr"}, "pew", MELORA_OP_MELORA_KL, 2, -1, c_me_kl8},
    {"melora_kl_exact", "r", "kOOig", {"1", "rr", "rr", "rr", "rr"}, "pw", -1, 1, -1, c_me_klx},
    {"lora_forward_naive", "Tnmr", "ooiii", {"Tm", "Tr", "Tn", "rn", "mr"}, "s", -1, 0, -1, c_lora_fn},
    {"lora_backward_naive", "Tnmr", "OOOiiiii", {"Tn", "rn", "mr", "Tm", "Tr", "Tn", "rn", "mr"}, "s", -1, 0, -1, c_lora_bn},
    {"flipout_forward_naive", "GTnmr", "ooiiiiiii", {"Tm", "Tr", "Tn", "rn", "rn", "rn", "gn", "gr", "mr"}, "s", -1, 0, -1, c_flip_fn},
    {"flipout_backward_naive", "GTnmr", "OOOOiiiiiiiii", {"Tn", "rn", "rn", "mr", "Tm", "Tr", "Tn", "rn", "rn", "rn", "gn", "gr", "mr"}, "s", -1, 0, -1, c_flip_bn},
    {"melora_forward_naive", "ETnmr", "oooiiii", {"Tm", "Tr", "Tr", "Tn", "rn", "Err", "mr"}, "s", -1, 0, -1, c_me_fn},
    {"melora_backward_naive", "ETnmr", "OOOOOiiiiiiihh", {"Tn", "rn", "mr", "rr", "rr", "Tm", "Tr", "Tr", "Tn", "rn", "Err", "mr", "rr", "Err"}, "s", -1, 0, 4, c_me_bn},
};
#define NSPEC (int)(sizeof SPECS / sizeof SPECS[0])

#define CAP_ELEMS ((uint64_t)1 << 18)          /* largest buffer a valid call gets */
#define CAP_WORK ((size_t)1 << 24)
#define SMALL 64                                /* buffers of calls expected to fail */
#define CAP_MADDS 1.2e7                         /* see too_slow */

/* A copy of a buffer with the absolute values of its elements, floats or (half != 0)
   bf16/fp16 bit patterns, whose sign is their top bit (NULL stays NULL). */
static void *abs_copy(const void *src, size_t bytes, int half) {
    size_t j;
    void *c;
    if (!src) return NULL;
    c = malloc(bytes ? bytes : 1);
    if (half)
        for (j = 0; j < bytes / 2; j++) ((uint16_t *)c)[j] = ((const uint16_t *)src)[j] & 0x7FFFu;
    else
        for (j = 0; j < bytes / sizeof(float); j++) ((float *)c)[j] = fabsf(((const float *)src)[j]);
    return c;
}
/* The activations x, z, dz, dx of a shaped call: the buffers of shape (T,n), (T,m) or
   (K,T,m); they are in the call's dtype, everything else float32. */
static int is_act(const char *dims, const char *shape) {
    return strchr(dims, 'T') && (!strcmp(shape, "Tn") || !strcmp(shape, "Tm") || !strcmp(shape, "KTm"));
}
static int is_half(int dt) { return dt == MELORA_BF16 || dt == MELORA_FP16; }
/* element j of a buffer as a double */
static double elem(const void *p, size_t j, int dt) {
    if (dt == MELORA_BF16) return (double)melora_bf16_to_f32(((const uint16_t *)p)[j]);
    if (dt == MELORA_FP16) return (double)melora_f16_to_f32(((const uint16_t *)p)[j]);
    return (double)((const float *)p)[j];
}

/* The reference of a fast function: same name plus _naive, the same pointers but the
   workspace, the same struct pointers NULL. It runs on copies of the outputs as they were
   before the fast call. The tolerance of an element is 1e-4 of the output's largest
   value plus 1e-5 of the sum of the absolute values of its terms: every output compared
   here is multilinear in the inputs (and s), so the naive reference run once more on the
   absolute values of every input, s and the initial contents gives that sum exactly.
   A float sum of K terms errs by at most about K eps of it (eps = 6e-8, K < 2000 here),
   and a result that cancels to far below its terms is held to what float can do.
   Half-precision activations (z, dx in bf16 or fp16): both the fast path and the
   reference accumulate in float32 and round once, so each of the two results is within
   half an ulp of its float32 value, u_h |value| (u_h = 2^-8 bf16, 2^-11 fp16, plus half
   the smallest fp16 subnormal, 2^-25): the tolerance above plus u_h (|fast| + |naive|) +
   2^-24. fp16 overflows at 65504 even from moderate inputs: elements whose sum of |terms|
   passes 2^15 are not compared (they may legitimately be infinite). */
static void compare_naive(const spec *sp, void **p, float **snap, const size_t *bytes,
                          const int *d, const float *f, unsigned snull, int dt) {
    char want[64];
    const spec *nv = NULL;
    void *q[16], *qa[16];
    void *out[16], *aout[16], *ain[16];
    float fa[3];
    int np = (int)strlen(sp->kinds), i, nq = 0, na = 0;
    melora_status st;
    snprintf(want, sizeof want, "%s_naive", sp->name);
    for (i = 0; i < NSPEC; i++)
        if (strcmp(SPECS[i].name, want) == 0) nv = &SPECS[i];
    if (!nv) return;
    for (i = 0; i < np; i++) {
        char k = sp->kinds[i];
        out[i] = aout[i] = NULL;
        if (k == 'w') continue;
        int half = is_half(dt) && is_act(sp->dims, sp->shape[i]);
        if ((k == 'o' || k == 'O') && p[i]) {
            out[i] = malloc(bytes[i]);
            memcpy(out[i], snap[i], bytes[i]);
            aout[i] = abs_copy(snap[i], bytes[i], half);
            q[nq] = out[i];
            qa[nq++] = aout[i];
        } else {
            q[nq] = p[i];
            qa[nq++] = ain[na++] = abs_copy(p[i], bytes[i], half);
        }
    }
    CHECK(nq == (int)strlen(nv->kinds), "%s: %d pointers for %s", sp->name, nq, nv->name);
    {
        api_args a = {q, d, f, NULL, 0, snull | (unsigned)dt << API_DTYPE_SHIFT};
        st = nv->call(&a);
    }
    CHECK(st == MELORA_OK, "%s: status %d where the fast path gave MELORA_OK", nv->name, st);
    for (i = 0; i < 3; i++) fa[i] = fabsf(f[i]);
    {
        api_args a = {qa, d, fa, NULL, 0, snull | (unsigned)dt << API_DTYPE_SHIFT};
        st = nv->call(&a);
    }
    CHECK(st == MELORA_OK, "%s: status %d on the absolute values", nv->name, st);
    for (i = 0; i < np; i++) {
        const void *a = p[i], *b = out[i], *t = aout[i];
        int et = is_act(sp->dims, sp->shape[i]) ? dt : MELORA_FP32;
        double uh = et == MELORA_BF16 ? ldexp(1.0, -8) : et == MELORA_FP16 ? ldexp(1.0, -11) : 0.0;
        size_t j, n = bytes[i] / (is_half(et) ? 2 : sizeof(float));
        double scale = 0.0, worst = 0.0;
        if (!b) continue;
        for (j = 0; j < n; j++)
            if (et != MELORA_FP16 || elem(t, j, et) <= 32768.0) scale = fmax(scale, fabs(elem(b, j, et)));
        for (j = 0; j < n; j++) {
            double x = elem(a, j, et), y = elem(b, j, et), tj = elem(t, j, et);
            double tol = 1e-4 * scale + 1e-5 * tj + uh * (fabs(x) + fabs(y)) + (uh ? ldexp(1.0, -24) : 0.0) + 1e-30;
            if (et == MELORA_FP16 && !(tj <= 32768.0)) continue;
            worst = fmax(worst, fabs(x - y) / tol);
            CHECK(fabs(x - y) <= tol, "%s (dtype %d): output %d[%zu] = %.9g, the naive reference %.9g (scale %g, sum of |terms| %g)",
                  sp->name, dt, i, j, x, y, scale, tj);
        }
        if (getenv("FUZZ_DEBUG")) fprintf(stderr, "worst %s %d: %g of the tolerance\n", sp->name, i, worst);
        free(out[i]);
        free(aout[i]);
    }
    for (i = 0; i < na; i++) free(ain[i]);
}

/* One decoded call of fuzz_compute: its arguments, its buffers and the oracle's verdict. */
typedef struct {
    const spec *sp;
    const api_call *ac;  /* where api_calls.h puts each pointer */
    int np, nd, ns, d[8], work_i, misalign, bounded, content_err;
    float f[3];
    unsigned nullmask;   /* pointers passed as NULL */
    unsigned snull;      /* struct pointers passed as NULL */
    unsigned allowed;    /* statuses the arguments allow; 0: a valid call */
    uint64_t cnt[16];
    void *p[16], *base[16];
    float *snap[16];
    size_t bytes[16];
    size_t wbytes;       /* what melora_workspace_size says; 0 when it cannot say */
    size_t wclaim;       /* the size the call is told its workspace has */
    double kl, kl0;
    int dt;              /* the activations' dtype (shaped calls; MELORA_FP32 otherwise) */
    int odd;             /* index of the activation moved off its alignment, -1 none */
} fcall;
static int dt_known(int dt) { return dt >= 0 && dt < MELORA_DTYPE_COUNT_; }

/* Sizes (often T a multiple of E; 1 call in 16 large), scalars, NULL pointers and the
   workspace's alignment, in the order the seeds were written for. */
static void decode_head(rd *in, fcall *c) {
    const spec *sp = c->sp;
    int i, fix;
    for (i = 0; i < c->nd; i++) c->d[i] = dsize(in);
    fix = u8(in);
    if ((fix & 1) && strchr(sp->dims, 'E') && strchr(sp->dims, 'T')) {
        int e = (int)(strchr(sp->dims, 'E') - sp->dims), t = (int)(strchr(sp->dims, 'T') - sp->dims);
        if (c->d[e] > 0 && c->d[e] <= 48) c->d[t] = c->d[e] * (1 + (fix >> 1) % 4);
    }
    if (fix >= LARGE_FIX) large(in, sp->dims, c->d);
    for (i = 0; i < c->ns; i++) c->f[i] = dscal(in);
    c->nullmask = u8(in) < 40 ? (1u << (u8(in) % c->np)) : 0u;
    if (u8(in) < 20) c->nullmask |= 1u << (u8(in) % c->np);
    c->misalign = u8(in) < 12;
}

/* The pointers the call sees as NULL: those passed NULL, and the fields of a NULL
   gradients struct (a NULL 'g' struct is a struct of NULL gradients). */
static unsigned seen_null(const fcall *c) {
    unsigned m = c->nullmask;
    int i;
    for (i = 0; i < c->np; i++) {
        char s = c->ac->slots[i];
        if (s >= '0' && s <= '9' && c->ac->structs[s - '0'] == 'g' && ((c->snull >> (s - '0')) & 1u))
            m |= 1u << i;
    }
    return m;
}

/* The statuses the arguments allow: NULL pointers (a required one, 'h' when dH is given,
   a required struct pointer), sizes, the workspace (a size it cannot give, a misaligned
   one, a short one), scalars. */
static unsigned arg_statuses(fcall *c) {
    const spec *sp = c->sp;
    unsigned allowed = 0, seen = seen_null(c);
    int i;
    for (i = 0; i < c->np; i++) {
        char k = sp->kinds[i];
        if (!((seen >> i) & 1u)) continue;
        if (k == 'o' || k == 'w' || k == 'i' || k == 'g' || k == 'k') allowed |= BIT(MELORA_ERR_NULL);
        if (k == 'h' && !((seen >> sp->dh) & 1u)) allowed |= BIT(MELORA_ERR_NULL);
    }
    for (i = 0; c->ac->structs[i]; i++)
        if (c->ac->structs[i] == 'r' && ((c->snull >> i) & 1u)) allowed |= BIT(MELORA_ERR_NULL);
    allowed |= size_statuses(c->cnt, sp->shape, sp->kinds, c->np, sp->dims, c->d, c->nd);
    c->wbytes = 0;
    if (sp->op >= 0 && positive("nr", sp->dims, c->d) &&
        (sp->op == MELORA_OP_MELORA_KL || positive("Tm", sp->dims, c->d))) {
        melora_status ws = api_work_bytes_dt(&c->wbytes, c->ac, c->d,
                                             (melora_dtype)(dt_known(c->dt) ? c->dt : MELORA_FP32));
        if (ws != MELORA_OK) {
            CHECK(ws == MELORA_ERR_OVERFLOW, "%s: workspace_size gave %d", sp->name, ws);
            allowed |= BIT(ws);
            c->wbytes = 0;
        }
    }
    if (c->work_i >= 0 && !((seen >> c->work_i) & 1u)) {
        if (c->misalign) allowed |= BIT(MELORA_ERR_ALIGNMENT);
        else if (c->wbytes && c->wclaim < c->wbytes) allowed |= BIT(MELORA_ERR_WORKSPACE);
    }
    allowed |= scalar_statuses(&c->bounded, sp->scal, c->f, c->ns);
    if (!dt_known(c->dt)) allowed |= BIT(MELORA_ERR_ENUM);
    else if (c->odd >= 0 && !((seen >> c->odd) & 1u)) allowed |= BIT(MELORA_ERR_ALIGNMENT);
    return allowed;
}

/* Every buffer but the workspace: exact sizes for valid calls (ASan sees any overrun),
   SMALL otherwise, filled from the input; marks contents outside the bounded range and,
   for a KL, contents that make it undefined. */
static void fill_buffers(rd *in, fcall *c) {
    const spec *sp = c->sp;
    int i;
    for (i = 0; i < c->np; i++) {
        char k = sp->kinds[i];
        size_t n = c->allowed ? SMALL : (size_t)c->cnt[i], j;
        c->snap[i] = NULL;
        c->base[i] = c->p[i] = NULL;
        if (k == 'w') continue;
        if (k == 'k') {
            c->bytes[i] = sizeof(double);
            c->base[i] = c->p[i] = &c->kl;
            continue;
        }
        c->bytes[i] = n * sizeof(float);
        c->base[i] = c->p[i] = malloc(c->bytes[i]);
        fill(in, (float *)c->p[i], n);
        c->snap[i] = (float *)malloc(c->bytes[i]);
        memcpy(c->snap[i], c->p[i], c->bytes[i]);
        for (j = 0; j < n; j++) {
            float v = ((float *)c->p[i])[j];
            if (!is_fin(v) || fabsf(v) > 1e3f) c->bounded = 0;
            if (k == 'g' && v != 0.0f && fabsf(v) < 1e-15f) c->bounded = 0;
            if (sp->kl && (k == 'g' || (k == 'i' && (sp->kl == 2 || i == c->np - 2)))) {
                /* KL inputs: non-finite entries or a zero std make the KL undefined */
                if (!is_fin(v) || (k == 'g' && v == 0.0f)) c->content_err = 1;
            }
        }
    }
}

/* The workspace's claimed size and the NULL struct pointer (fuzz_input.h). */
/* Then (absent in inputs written before half precision, so 0: float32, aligned) the
   activations' dtype, now and then an unknown one, and an activation at an address off
   its element's alignment (1 byte for half, 2 for float32). The claim is taken relative
   to float32's workspace; for half it is moved by the difference, so that "what the query
   says", "more" and "less" keep their meaning. */
static void decode_tail(rd *in, fcall *c) {
    static const int BAD_DT[4] = {MELORA_DTYPE_COUNT_, 7, 255, 65535}; /* nulls' top 16 bits */
    uint8_t b;
    if (getenv("FUZZ_DEBUG")) fprintf(stderr, "tail at byte %zu\n", in->i);
    c->wclaim = work_claim(in, c->wbytes, SMALL * 4);
    c->snull = struct_nulls(in, (int)strlen(c->ac->structs));
    b = u8(in);
    c->dt = MELORA_FP32;
    c->odd = -1;
    if (!strchr(c->sp->dims, 'T')) return; /* no melora_dims */
    c->dt = b < 128 ? MELORA_FP32 : b < 192 ? MELORA_BF16 : b < 248 ? MELORA_FP16 : BAD_DT[b & 3];
    if (u8(in) >= 240) {
        int i, na = 0, acts[16], pick = u8(in);
        for (i = 0; i < c->np; i++)
            if (is_act(c->sp->dims, c->sp->shape[i])) acts[na++] = i;
        if (na) c->odd = acts[pick % na];
    }
    if (dt_known(c->dt) && c->dt != MELORA_FP32 && c->wbytes && c->wclaim >= c->wbytes) {
        size_t bh;
        if (api_work_bytes_dt(&bh, c->ac, c->d, (melora_dtype)c->dt) == MELORA_OK && bh >= c->wbytes)
            c->wclaim += bh - c->wbytes;
    }
}

/* The activations in the call's dtype (narrowed from the float contents filled), and the
   one moved off its alignment: each in a buffer of its own, the snapshot taken again. */
static void retype_activations(fcall *c) {
    int i;
    for (i = 0; i < c->np; i++) {
        size_t n, j, sh, esz;
        unsigned char *nb;
        if (!c->p[i] || !is_act(c->sp->dims, c->sp->shape[i])) continue;
        if (i != c->odd && !is_half(c->dt)) continue;
        n = c->bytes[i] / sizeof(float);
        esz = is_half(c->dt) ? 2 : sizeof(float);
        sh = i == c->odd ? (is_half(c->dt) ? 1 : 2) : 0;
        nb = (unsigned char *)malloc(n * esz + sh + 1);
        memset(nb, 0x6B, n * esz + sh + 1);
        for (j = 0; j < n; j++) {
            float v = ((float *)c->p[i])[j];
            if (c->dt == MELORA_BF16) { uint16_t h = melora_f32_to_bf16(v); memcpy(nb + sh + 2 * j, &h, 2); }
            else if (c->dt == MELORA_FP16) { uint16_t h = melora_f32_to_f16(v); memcpy(nb + sh + 2 * j, &h, 2); }
            else memcpy(nb + sh + 4 * j, &v, 4);
        }
        free(c->base[i]);
        free(c->snap[i]);
        c->base[i] = nb;
        c->p[i] = nb + sh;
        /* the snapshot covers the whole block (check_outcome compares from base) */
        c->bytes[i] = sh ? n * esz + sh + 1 : n * esz;
        c->snap[i] = (float *)malloc(c->bytes[i]);
        memcpy(c->snap[i], c->base[i], c->bytes[i]);
    }
}

/* The workspace region: a valid call's holds what it is told (at least what it needs),
   a failing call's SMALL floats; stale contents, sometimes misaligned by 4 bytes. */
static void alloc_workspace(fcall *c, unsigned allowed_head) {
    int i = c->work_i;
    size_t need = c->wbytes ? c->wbytes : 64;
    if (i < 0) return;
    c->bytes[i] = allowed_head ? SMALL * 4 : (c->wclaim > need ? c->wclaim : need);
    c->base[i] = malloc(c->bytes[i] + 8);
    memset(c->base[i], 0xA5, c->bytes[i] + 8);
    c->p[i] = (char *)c->base[i] + (c->misalign ? 4 : 0);
    c->snap[i] = (float *)malloc(c->bytes[i] + 8);
    memcpy(c->snap[i], c->base[i], c->bytes[i] + 8);
}

/* An argument error returns an allowed status and writes nothing; a valid call returns
   MELORA_OK (MELORA_ERR_VALUE for undefined KL contents), leaves its inputs and the
   gradients it was not given alone, and from bounded inputs gives finite outputs. */
static void check_outcome(const fcall *c, melora_status st) {
    const spec *sp = c->sp;
    unsigned seen = seen_null(c);
    int i;
    if (c->allowed) {
        CHECK(st != MELORA_OK && (c->allowed & BIT(st)), "%s: status %d, allowed mask 0x%x", sp->name, st, c->allowed);
    } else if (c->content_err) {
        CHECK(st == MELORA_ERR_VALUE, "%s: status %d for a non-finite or zero-std KL input", sp->name, st);
    } else {
        CHECK(st == MELORA_OK, "%s: status %d for a valid call", sp->name, st);
    }
    for (i = 0; i < c->np; i++) {
        char k = sp->kinds[i];
        if (!c->snap[i]) continue;
        if (k == 'w') {
            if (st != MELORA_OK)
                CHECK(memcmp(c->snap[i], c->base[i], c->bytes[i] + 8) == 0, "%s: workspace written on error", sp->name);
            continue;
        }
        if (st != MELORA_OK || k == 'i' || k == 'g' || k == 'h' || ((seen >> i) & 1u))
            CHECK(memcmp(c->snap[i], c->base[i], c->bytes[i]) == 0, "%s: %s argument %d written (status %d)",
                  sp->name, st != MELORA_OK ? "on error," : "const or absent", i, st);
        else if (c->bounded && c->p[i]) {
            /* fp16 overflows at 65504, from moderate inputs too: its activations are not
               promised finite */
            int et = is_act(sp->dims, sp->shape[i]) ? c->dt : MELORA_FP32;
            size_t j, n = c->bytes[i] / (is_half(et) ? 2 : sizeof(float));
            if (et == MELORA_FP16) continue;
            for (j = 0; j < n; j++)
                CHECK(is_fin((float)elem(c->p[i], j, et)), "%s: output %d[%zu] = %g from finite moderate inputs",
                      sp->name, i, j, elem(c->p[i], j, et));
        }
    }
    if (st != MELORA_OK) CHECK(memcmp(&c->kl, &c->kl0, sizeof c->kl) == 0, "%s: *kl written on error", sp->name);
    else if (sp->kl) CHECK(c->kl == c->kl && c->kl - c->kl == 0.0, "%s: KL value %g not finite", sp->name, c->kl);
}

static void free_call(fcall *c) {
    int i;
    for (i = 0; i < c->np; i++) {
        if (c->sp->kinds[i] != 'k') free(c->base[i]);
        free(c->snap[i]);
    }
}

static int fuzz_compute(rd *in, const spec *sp) {
    fcall c;
    unsigned allowed_head;
    melora_status st;
    int i;
    memset(&c, 0, sizeof c);
    c.sp = sp;
    c.ac = api_of(sp->call);
    c.np = (int)strlen(sp->kinds);
    c.nd = (int)strlen(sp->dims);
    c.ns = (int)strlen(sp->scal);
    c.work_i = strchr(sp->kinds, 'w') ? (int)(strchr(sp->kinds, 'w') - sp->kinds) : -1;
    c.bounded = 1;
    c.kl = 12345.0;
    c.odd = -1;
    CHECK(c.np < 16 && sp->shape[c.np - 1] && !sp->shape[c.np], "%s: table has %d kinds", sp->name, c.np);
    CHECK(c.ac && (int)strlen(c.ac->slots) == c.np, "%s: not in api_table() with %d slots", sp->name, c.np);

    decode_head(in, &c);
    /* the head's verdict sizes the buffers (no struct NULL, the workspace it needs) */
    c.wclaim = SIZE_MAX;
    c.allowed = allowed_head = arg_statuses(&c);
    if (!allowed_head && too_large(c.cnt, c.np, CAP_ELEMS, c.wbytes, CAP_WORK, sp->dims, c.d, CAP_MADDS))
        return 0;
    fill_buffers(in, &c);
    decode_tail(in, &c);
    c.allowed = arg_statuses(&c);
    if (dt_known(c.dt)) retype_activations(&c);
    if (allowed_head && !c.allowed) { /* a NULL gradients struct made a call on SMALL buffers valid */
        free_call(&c);
        return 0;
    }
    alloc_workspace(&c, allowed_head);
    for (i = 0; i < c.np; i++)
        if ((c.nullmask >> i) & 1u) c.p[i] = NULL;
    c.kl0 = c.kl;

    if (getenv("FUZZ_DEBUG")) {
        fprintf(stderr, "%s(", sp->name);
        for (i = 0; i < c.nd; i++) fprintf(stderr, "%c=%d ", sp->dims[i], c.d[i]);
        for (i = 0; i < c.ns; i++) fprintf(stderr, "%c=%g ", sp->scal[i], c.f[i]);
        fprintf(stderr, "null=0x%x structs=0x%x misalign=%d work=%zu of %zu dtype=%d odd=%d) allowed=0x%x bounded=%d\n",
                c.nullmask, c.snull, c.misalign, c.wclaim, c.wbytes, c.dt, c.odd, c.allowed, c.bounded);
    }
    {
        api_args a = {c.p, c.d, c.f, NULL, c.wclaim, c.snull | (unsigned)c.dt << API_DTYPE_SHIFT};
        st = sp->call(&a);
    }
    check_outcome(&c, st);
    if (st == MELORA_OK && c.bounded) compare_naive(sp, c.p, c.snap, c.bytes, c.d, c.f, c.snull, c.dt);
    free_call(&c);
    return 0;
}

/* -------------------------------------------------------- noise, rng, workspace ---- */
/* The owners of the noise-offset convention, against the oracle's own statement of it:
   draw d owns the indices [d 2^40, (d+1) 2^40) of each stream, d < 2^24; EA and EC are
   the draw's first normals; sa its first signs and sb the signs right after sa. Errors:
   NULL outputs, sizes <= 0, a buffer past MAX_ELEMS or a draw's tensors past its 2^40
   indices (OVERFLOW), a draw past 2^24 (VALUE), Flipout's outputs sharing bytes (ALIAS,
   checked last); nothing is written, the memory around the outputs included. */
#define WINDOW ((uint64_t)1 << 40)
static uint64_t ddraw(rd *in) {
    uint8_t b = u8(in);
    if (b < 128) return b % 8;
    if (b < 192) return ((uint64_t)1 << 24) - 1 - b % 2; /* the last draws */
    if (b < 232) return ((uint64_t)1 << 24) + b % 3;     /* just past them */
    return u64(in);
}

static int fuzz_draw_offset(rd *in) {
    int nul = u8(in) < 10;
    uint64_t draw = ddraw(in), off = 77;
    melora_status st = melora_draw_offset(nul ? NULL : &off, draw);
    if (nul) CHECK(st == MELORA_ERR_NULL, "draw_offset NULL: %d", st);
    else if (draw >= ((uint64_t)1 << 24)) CHECK(st == MELORA_ERR_VALUE, "draw_offset %llu: %d", (unsigned long long)draw, st);
    else CHECK(st == MELORA_OK && off == draw * WINDOW, "draw_offset %llu: %d, %llu", (unsigned long long)draw, st,
               (unsigned long long)off);
    if (st != MELORA_OK) CHECK(off == 77, "draw_offset: written on error");
    return 0;
}

/* The outputs of a valid call: the draw's first normals (EA, EC), its first signs (sa)
   and the signs right after them (sb). */
static void check_draws(int kind, float *const *out, const uint64_t *cnt, int nout, uint64_t seed,
                        uint64_t draw) {
    uint64_t first = draw * WINDOW, j;
    int i;
    for (j = 0; j < cnt[0]; j++) {
        float want = melora_rng_normal(seed, first + j);
        CHECK(memcmp(&out[0][j], &want, 4) == 0, "draw noise %d: normal %llu differs from melora_rng", kind,
              (unsigned long long)j);
    }
    for (i = 1; i < nout; i++)
        for (j = 0; j < cnt[i]; j++) {
            float want = melora_rng_sign(seed, first + (i == 2 ? cnt[1] : 0) + j);
            CHECK(memcmp(&out[i][j], &want, 4) == 0, "flipout noise: sign %d[%llu] differs from melora_rng", i,
                  (unsigned long long)j);
        }
}

/* kind 0 BLoB's EA (r,n), 1 Flipout's EA, sa, sb, 2 Me-LoRA's EC (E,r,r) */
static int fuzz_draw_noise(rd *in, int kind) {
    static const char *const dims[3] = {"rn", "GTnmr", "Er"};
    /* the outputs, then (Flipout) the shapes its size check reads */
    static const char *const shapes[3][8] = {{"rn"}, {"rn", "gn", "gr", "Tn", "Tm", "Tr", "mr"}, {"Err"}};
    static const char kinds[] = "ooooooo";
    const int nout = kind == 1 ? 3 : 1, nsh = kind == 1 ? 7 : 1, nd = (int)strlen(dims[kind]);
    int d[5], i, nul = u8(in) < 10 ? 1 + u8(in) % nout : 0, overlap = 0;
    uint64_t seed = u64(in), draw = ddraw(in), cnt[8], sum = 0;
    unsigned allowed = 0;
    size_t pos[3], arena_n, j;
    float *arena, *snap, *out[3];
    melora_status st;
    for (i = 0; i < nd; i++) d[i] = dsize(in);
    if (nul) allowed |= BIT(MELORA_ERR_NULL);
    allowed |= size_statuses(cnt, shapes[kind], kinds, nsh, dims[kind], d, nd);
    if (!(allowed & BIT(MELORA_ERR_SIZE)) && !(allowed & BIT(MELORA_ERR_OVERFLOW)) &&
        (cnt[0] > WINDOW || (kind == 1 && cnt[1] + cnt[2] > WINDOW)))
        allowed |= BIT(MELORA_ERR_OVERFLOW);
    if (draw >= ((uint64_t)1 << 24)) allowed |= BIT(MELORA_ERR_VALUE);
    for (i = 0; i < nout; i++) {
        if (allowed) cnt[i] = SMALL;
        if (cnt[i] > CAP_ELEMS) return 0;
        sum += cnt[i];
    }
    /* the outputs side by side (adjacent: no overlap) in an arena twice their size */
    arena_n = 2 * (size_t)sum + SMALL;
    arena = (float *)malloc(arena_n * sizeof(float));
    snap = (float *)malloc(arena_n * sizeof(float));
    for (j = 0; j < arena_n; j++) arena[j] = -7.0f;
    memcpy(snap, arena, arena_n * sizeof(float));
    for (i = 0, j = 0; i < nout; i++) { pos[i] = j; j += (size_t)cnt[i]; }
    if (kind == 1 && u8(in) < 24) { /* one output moved onto another */
        int o = u8(in) % 3, t = (o + 1 + u8(in) % 2) % 3;
        pos[o] = pos[t] + u16(in) % cnt[t];
        overlap = 1;
    }
    for (i = 0; i < nout; i++) out[i] = nul == i + 1 ? NULL : arena + pos[i];
    if (kind == 0) st = melora_blob_noise(out[0], seed, draw, d[0], d[1]);
    else if (kind == 2) st = melora_melora_noise(out[0], seed, draw, d[0], d[1]);
    else {
        melora_dims dm;
        dm.T = d[1]; dm.n = d[2]; dm.m = d[3]; dm.r = d[4];
        dm.dtype = MELORA_FP32;
        st = melora_blob_flipout_noise(out[0], out[1], out[2], seed, draw, d[0], dm);
    }
    if (allowed || overlap) {
        if (allowed) CHECK(st != MELORA_OK && (allowed & BIT(st)), "draw noise %d: status %d, allowed 0x%x", kind, st, allowed);
        else CHECK(st == MELORA_ERR_ALIAS, "draw noise: overlapping outputs gave %d", st);
        CHECK(memcmp(arena, snap, arena_n * sizeof(float)) == 0, "draw noise %d: written on error", kind);
    } else {
        CHECK(st == MELORA_OK, "draw noise %d: status %d", kind, st);
        check_draws(kind, out, cnt, nout, seed, draw);
        for (j = (size_t)sum; j < arena_n; j++) CHECK(arena[j] == -7.0f, "draw noise %d: wrote past its outputs", kind);
    }
    free(arena);
    free(snap);
    return 0;
}

/* melora_noise_normal, _uniform, _sign (which 0, 1, 2) */
static int fuzz_streams(rd *in, int which) {
    int nul = u8(in) < 10;
    uint64_t seed = u64(in), offset = u8(in) < 128 ? u64(in) : UINT64_MAX - u8(in);
    int64_t count = dsize64(in);
    unsigned allowed = 0;
    size_t n, i;
    float *out, *snap;
    melora_status st;
    if (nul) allowed |= BIT(MELORA_ERR_NULL);
    if (count <= 0) allowed |= BIT(MELORA_ERR_SIZE);
    else if ((uint64_t)count > MAX_ELEMS) allowed |= BIT(MELORA_ERR_OVERFLOW);
    if (!allowed && (uint64_t)count > CAP_ELEMS) return 0;
    n = allowed ? SMALL : (size_t)count;
    out = (float *)malloc(n * sizeof(float));
    for (i = 0; i < n; i++) out[i] = -7.0f;
    snap = (float *)malloc(n * sizeof(float));
    memcpy(snap, out, n * sizeof(float));
    st = which == 0 ? melora_noise_normal(nul ? NULL : out, seed, offset, count)
       : which == 1 ? melora_noise_uniform(nul ? NULL : out, seed, offset, count)
                    : melora_noise_sign(nul ? NULL : out, seed, offset, count);
    if (allowed) {
        CHECK(st != MELORA_OK && (allowed & BIT(st)), "noise: status %d, allowed 0x%x", st, allowed);
        CHECK(memcmp(out, snap, n * sizeof(float)) == 0, "noise: written on error");
    } else {
        CHECK(st == MELORA_OK, "noise: status %d", st);
        for (i = 0; i < n; i++) {
            uint64_t k = offset + i;
            float want = which == 0 ? melora_rng_normal(seed, k)
                       : which == 1 ? melora_rng_uniform(seed, k) : melora_rng_sign(seed, k);
            CHECK(memcmp(&out[i], &want, 4) == 0, "noise %d: element %zu differs from melora_rng", which, i);
            if (which == 0) CHECK(fabsf(out[i]) <= 5.8f, "normal %g out of range", out[i]);
            if (which == 1) CHECK(out[i] >= 0.0f && out[i] < 1.0f, "uniform %g out of range", out[i]);
            if (which == 2) CHECK(out[i] == 1.0f || out[i] == -1.0f, "sign %g", out[i]);
        }
    }
    free(out);
    free(snap);
    return 0;
}

static int fuzz_noise(rd *in) {
    uint8_t w = u8(in);
    if (w >= 192) return w % 4 == 3 ? fuzz_draw_offset(in) : fuzz_draw_noise(in, w % 4);
    return fuzz_streams(in, w % 3);
}

static int fuzz_inline(rd *in) {
    uint32_t ctr[4], key[2], o1[4], o2[4];
    uint64_t seed = u64(in), k = u64(in);
    float a = dscal(in), b = dscal(in), c = dscal(in), v;
    int i;
    for (i = 0; i < 4; i++) ctr[i] = u32(in);
    key[0] = u32(in);
    key[1] = u32(in);
    melora_philox4x32_10(o1, ctr, key);
    melora_philox4x32_10(o2, ctr, key);
    CHECK(memcmp(o1, o2, sizeof o1) == 0, "philox not a pure function");
    v = melora_rng_normal(seed, k);
    CHECK(is_fin(v) && fabsf(v) <= 5.8f, "rng_normal %g", v);
    v = melora_rng_uniform(seed, k);
    CHECK(v >= 0.0f && v < 1.0f, "rng_uniform %g", v);
    v = melora_rng_sign(seed, k);
    CHECK(v == 1.0f || v == -1.0f, "rng_sign %g", v);
    v = melora_sample_elem(a, b, c);
    if (fabsf(a) <= 1e3f && fabsf(b) <= 1e3f && fabsf(c) <= 1e3f) CHECK(is_fin(v), "sample_elem");
    v = melora_dstd_elem(a, b, c);
    if (fabsf(a) <= 1e3f && fabsf(b) <= 1e3f && fabsf(c) <= 1e3f) CHECK(is_fin(v), "dstd_elem");
    return 0;
}

static int fuzz_workspace(rd *in) {
    int op = (int)(int8_t)u8(in) % 12, d[4], i, sizes_ok = 1, nul = u8(in) < 10, dt;
    size_t bytes = 77;
    unsigned allowed = 0;
    uint64_t big = 0;
    melora_status st;
    melora_dims dm;
    for (i = 0; i < 4; i++) d[i] = dsize(in);
    dm.T = d[0]; dm.n = d[1]; dm.m = d[2]; dm.r = d[3];
    { /* the activations' dtype (0 past the input's end: float32), now and then unknown */
        uint8_t b = u8(in);
        dt = b < 128 ? MELORA_FP32 : b < 192 ? MELORA_BF16 : b < 248 ? MELORA_FP16 : (b & 1 ? 7 : MELORA_DTYPE_COUNT_);
        dm.dtype = (melora_dtype)dt;
    }
    if (op == MELORA_OP_MELORA_KL) d[0] = d[2] = 1; /* eq. 7's workspace reads n and r only */
    for (i = 0; i < 4; i++) sizes_ok &= d[i] > 0;
    if (nul) allowed |= BIT(MELORA_ERR_NULL);
    if (!sizes_ok) allowed |= BIT(MELORA_ERR_SIZE);
    else {
        /* (T,n) (T,m) (T,r) (r,n) (m,r): beyond MAX_ELEMS certainly an overflow; within
           1/64 of it the padded partials may overflow as well */
        const int pr[5][2] = {{0, 1}, {0, 2}, {0, 3}, {3, 1}, {2, 3}};
        for (i = 0; i < 5; i++) {
            uint64_t e = (uint64_t)d[pr[i][0]] * (uint64_t)d[pr[i][1]];
            if (e > big) big = e;
        }
        if (big > MAX_ELEMS) allowed |= BIT(MELORA_ERR_OVERFLOW);
        /* the backward's per-chunk partials: one chunk per 8192 rows (at least 8), each
           r x (n + m) floats, padded */
        {
            double nc = d[0] > 8 * 8192 ? ((double)d[0] + 8191.0) / 8192.0 : 8.0;
            double part = nc * (double)d[3] * ((double)d[1] + (double)d[2] + 64.0);
            if (part > (double)(MAX_ELEMS / 64)) big = MAX_ELEMS; /* may overflow */
        }
        /* Me-LoRA's backward keeps dC_e and its sums, 3 (r,r) doubles */
        if (op == MELORA_OP_MELORA_BACKWARD && 3.0 * (double)d[3] * (double)d[3] > (double)(MAX_ELEMS / 64))
            big = MAX_ELEMS;
    }
    if (op < 0 || op >= MELORA_OP_COUNT_) allowed |= BIT(MELORA_ERR_ENUM);
    st = melora_workspace_size(nul ? NULL : &bytes, (melora_op)op, dm);
    if (!dt_known(dt)) {
        /* eq. 7's workspace reads d.n and d.r alone: it may or may not look at the dtype */
        if (op == MELORA_OP_MELORA_KL && st == MELORA_OK) return 0;
        allowed |= BIT(MELORA_ERR_ENUM);
    } else if (st == MELORA_OK && dt != MELORA_FP32) { /* half needs at least float32's */
        size_t b32 = 0;
        dm.dtype = MELORA_FP32;
        CHECK(melora_workspace_size(&b32, (melora_op)op, dm) == MELORA_OK && bytes >= b32,
              "workspace_size: dtype %d gives %zu bytes, float32 %zu", dt, bytes, b32);
    }
    if (allowed || big > MAX_ELEMS / 64) {
        if (st == MELORA_OK) CHECK(!allowed, "workspace_size: ok, allowed 0x%x", allowed);
        else CHECK((allowed | BIT(MELORA_ERR_OVERFLOW)) & BIT(st), "workspace_size: status %d", st);
    } else {
        CHECK(st == MELORA_OK, "workspace_size: status %d for sizes %d %d %d %d", st, d[0], d[1], d[2], d[3]);
    }
    if (st != MELORA_OK) CHECK(bytes == 77, "workspace_size: written on error");
    else CHECK(bytes > 0 && bytes % 64 == 0, "workspace_size: %zu bytes", bytes);
    return 0;
}

static int fuzz_alloc(rd *in) {
    void *p = (void *)&p;
    int nul = u8(in) < 10;
    uint8_t b = u8(in);
    size_t bytes = b < 200 ? (size_t)u16(in) : b < 220 ? 0 : (size_t)PTRDIFF_MAX - (b - 220);
    melora_status st = melora_alloc(nul ? NULL : &p, bytes);
    if (nul) { CHECK(st == MELORA_ERR_NULL, "alloc NULL: %d", st); return 0; }
    if (bytes == 0) { CHECK(st == MELORA_ERR_SIZE && p == NULL, "alloc 0: %d", st); return 0; }
    if (bytes > (size_t)PTRDIFF_MAX - 64 - sizeof(void *)) {
        CHECK(st == MELORA_ERR_OVERFLOW && p == NULL, "alloc huge: %d", st);
        return 0;
    }
    CHECK(st == MELORA_OK && p && ((uintptr_t)p & 63u) == 0, "alloc %zu: %d", bytes, st);
    memset(p, 0x5A, bytes);
    melora_free(p);
    melora_free(NULL);
    return 0;
}

/* ------------------------------------------------------------------- counting ------ */
typedef __int128 i128;
#define I64MAX ((i128)INT64_MAX)
static int fit(i128 v) { return v >= 0 && v <= I64MAX; }

static int64_t dlong(rd *in) {
    uint8_t b = u8(in);
    if (b < 160) return 1 + b % 9000;
    if (b < 224) {
        static const int64_t t[16] = {0, -1, INT64_MIN, INT64_MAX, INT64_MAX - 1, (int64_t)1 << 31,
                                      (int64_t)1 << 32, (int64_t)1 << 62, 3037000499LL,
                                      3037000500LL, 4096, 11008, 64, 1, 2, (int64_t)1 << 40};
        return t[b & 15];
    }
    return (int64_t)u64(in);
}

/* the closed form of melora_count_params, with the library's intermediate limits */
static int params_of(i128 *out, int method, i128 m, i128 n, i128 r) {
    i128 rn = r * n, rm = r * m, rr = r * r, t;
    if (!fit(rn) || !fit(rm) || !fit(rr)) return 0;
    t = rn + rm;
    if (!fit(t)) return 0;
    if (method == MELORA_METHOD_BLOB || method == MELORA_METHOD_BLOB_FLIPOUT) { t += rn; if (!fit(t)) return 0; }
    if (method == MELORA_METHOD_MELORA) { t += rr; if (!fit(t)) return 0; t += rr; if (!fit(t)) return 0; }
    *out = t;
    return 1;
}

static int fuzz_counting(rd *in) {
    int which = u8(in) % 5, method = (int)(int8_t)u8(in) % 6, nmods = (int)(int8_t)u8(in) % 5;
    int nul = u8(in) < 10, i;
    melora_module mods[4];
    int mods_ok = nmods > 0, method_ok = method >= 0 && method < MELORA_METHOD_COUNT_;
    for (i = 0; i < 4; i++) {
        mods[i].name = "fuzz";
        mods[i].m = dlong(in);
        mods[i].n = dlong(in);
        mods[i].count = dlong(in);
        if (i < nmods && (mods[i].m <= 0 || mods[i].n <= 0 || mods[i].count <= 0)) mods_ok = 0;
    }
    if (which == 0) { /* melora_count_params */
        int64_t m = dlong(in), n = dlong(in), r = dlong(in), got = -5;
        i128 want;
        melora_status st = melora_count_params(nul ? NULL : &got, (melora_method)method, m, n, r);
        if (nul) CHECK(st == MELORA_ERR_NULL, "count_params NULL");
        else if (!method_ok) CHECK(st == MELORA_ERR_ENUM, "count_params method %d: %d", method, st);
        else if (m <= 0 || n <= 0 || r <= 0) CHECK(st == MELORA_ERR_SIZE, "count_params size: %d", st);
        else if (!params_of(&want, method, m, n, r)) CHECK(st == MELORA_ERR_OVERFLOW, "count_params overflow: %d", st);
        else CHECK(st == MELORA_OK && got == (int64_t)want, "count_params: %d %lld", st, (long long)got);
        if (st != MELORA_OK) CHECK(got == -5, "count_params written on error");
    } else if (which == 1) { /* melora_count_model_params */
        int64_t r = dlong(in), got = -5;
        i128 total = 0, one;
        int ovf = 0;
        melora_status st = melora_count_model_params(nul ? NULL : &got, (melora_method)method, mods, nmods, r);
        if (nul) { CHECK(st == MELORA_ERR_NULL, "model_params NULL"); return 0; }
        if (!mods_ok) { CHECK(st == MELORA_ERR_SIZE, "model_params mods: %d", st); return 0; }
        if (!method_ok) { CHECK(st == MELORA_ERR_ENUM, "model_params method: %d", st); return 0; }
        if (r <= 0) { CHECK(st == MELORA_ERR_SIZE, "model_params r: %d", st); return 0; }
        for (i = 0; i < nmods && !ovf; i++) {
            if (!params_of(&one, method, mods[i].m, mods[i].n, r) || !fit(one * mods[i].count)) ovf = 1;
            else if (!fit(total += one * mods[i].count)) ovf = 1;
        }
        if (ovf) CHECK(st == MELORA_ERR_OVERFLOW && got == -5, "model_params overflow: %d", st);
        else CHECK(st == MELORA_OK && got == (int64_t)total, "model_params: %d", st);
    } else if (which == 2) { /* melora_count_train_memory */
        melora_train_memory mem, keep;
        int64_t r = dlong(in), T = dlong(in), E = dlong(in), G = dlong(in);
        int dtype = (int)(int8_t)u8(in) % 4, regen = u8(in) & 1;
        melora_status st;
        memset(&mem, 0x33, sizeof mem);
        keep = mem;
        st = melora_count_train_memory(nul ? NULL : &mem, (melora_method)method, mods, nmods, &(melora_train_setup){r, T, E, G, regen}, (melora_dtype)dtype);
        if (st != MELORA_OK) {
            CHECK(memcmp(&mem, &keep, sizeof mem) == 0, "train_memory written on error");
            if (!nul && mods_ok && method_ok && dtype >= 0 && dtype < 3 && r > 0 && T > 0 && E > 0 &&
                G > 0 && (method != MELORA_METHOD_MELORA || T % E == 0))
                CHECK(st == MELORA_ERR_OVERFLOW, "train_memory: status %d for valid arguments", st);
        } else {
            int64_t esz = dtype == 0 ? 4 : 2, pm;
            i128 act = 0, noise = 0;
            CHECK(!nul && mods_ok && method_ok && dtype >= 0 && dtype < 3 && r > 0 && T > 0 && E > 0 && G > 0 &&
                      (method != MELORA_METHOD_MELORA || T % E == 0), "train_memory ok for bad args");
            CHECK(melora_count_model_params(&pm, (melora_method)method, mods, nmods, r) == MELORA_OK, "params");
            for (i = 0; i < nmods; i++) {
                i128 per = (i128)T * r * (method == MELORA_METHOD_MELORA ? 2 : 1), nz = 0;
                if (method == MELORA_METHOD_BLOB || method == MELORA_METHOD_BLOB_FLIPOUT) nz = (i128)r * mods[i].n;
                if (method == MELORA_METHOD_BLOB_FLIPOUT) nz += ((i128)T + G - 1) / G * ((i128)mods[i].n + r);
                if (method == MELORA_METHOD_MELORA) nz = (i128)E * r * r;
                act += per * mods[i].count;
                noise += nz * mods[i].count;
            }
            if (regen) noise = 0;
            CHECK(mem.params == pm * esz && mem.grads == mem.params && mem.adam == 2 * mem.params,
                  "train_memory params");
            CHECK(mem.activations == (int64_t)(act * esz) && mem.noise == (int64_t)(noise * esz),
                  "train_memory activations/noise");
            CHECK(mem.total == mem.params + mem.grads + mem.adam + mem.activations + mem.noise, "total");
        }
    } else if (which == 3) { /* melora_preset, melora_dtype_size */
        melora_module out[16];
        int cap = (int)(int8_t)u8(in), got = -5, model = (int)(int8_t)u8(in) % 9, need = 0;
        unsigned mask = u8(in) < 200 ? (unsigned)u8(in) : u32(in);
        int64_t esz = -5;
        int dt = (int)(int8_t)u8(in) % 5;
        melora_status st;
        memset(out, 0x44, sizeof out);
        if (cap > 16) cap = 16;
        st = melora_preset(nul ? NULL : out, cap, &got, (melora_model)model, mask);
        /* GPT-3 has no gate: a mask of the gate alone selects nothing there */
        for (i = 0; i < 7; i++) need += ((mask >> i) & 1u) && !(i == 4 && model == MELORA_GPT3_175B);
        if (nul) CHECK(st == MELORA_ERR_NULL, "preset NULL");
        else if (mask == 0 || (mask & ~127u) || model < 0 || model >= MELORA_MODEL_COUNT_ || need == 0) CHECK(st == MELORA_ERR_ENUM, "preset enum %d", st);
        else if (cap < need) CHECK(st == MELORA_ERR_CAPACITY, "preset capacity %d", st);
        else {
            CHECK(st == MELORA_OK && got == need, "preset: %d %d", st, got);
            for (i = 0; i < got; i++) CHECK(out[i].m > 0 && out[i].n > 0 && out[i].count > 0 && out[i].name, "preset entry");
        }
        if (st != MELORA_OK) CHECK(got == -5, "preset written on error");
        {
            int64_t bp = -5;
            melora_status sb = melora_count_base_params(nul ? NULL : &bp, (melora_model)model);
            if (nul) CHECK(sb == MELORA_ERR_NULL && bp == -5, "base_params NULL");
            else if (model < 0 || model >= MELORA_MODEL_COUNT_) CHECK(sb == MELORA_ERR_ENUM && bp == -5, "base_params enum");
            else CHECK(sb == MELORA_OK && bp > 0, "base_params");
        }
        st = melora_dtype_size(nul ? NULL : &esz, (melora_dtype)dt);
        if (nul) CHECK(st == MELORA_ERR_NULL, "dtype NULL");
        else if (dt < 0 || dt > 2) CHECK(st == MELORA_ERR_ENUM && esz == -5, "dtype enum");
        else CHECK(st == MELORA_OK && esz == (dt == 0 ? 4 : 2), "dtype size");
    } else { /* melora_status_string */
        int s = (int)u32(in), c;
        const char *str = melora_status_string((melora_status)s);
        CHECK(str && strncmp(str, "melora: ", 8) == 0, "status string");
        for (c = 1; c >= MELORA_ERR_WORKSPACE - 1; c--) {
            str = melora_status_string((melora_status)c);
            CHECK(str && strncmp(str, "melora: ", 8) == 0, "status string %d", c);
            CHECK((strstr(str, "unknown status") == NULL) == (c <= 0 && c >= MELORA_ERR_WORKSPACE), "status %d message", c);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- overlaps ------ */
/* One compute function of SPECS whose written buffer (output, workspace or *kl; the
   written one) is moved onto another buffer of the call (input, output or workspace) by a
   fuzzed offset, so that they share at least one byte: at the same start, one element in
   from either end, or anywhere between. The buffers lie in one arena, each with a gap
   larger than any buffer on both sides, so the moved one meets no third buffer. The call
   with the buffers apart (on a copy of the arena) gives the baseline: when it is
   MELORA_OK the overlapping call must give MELORA_ERR_ALIAS; otherwise an error of its own
   (bad sizes, scalars or KL contents) may come first. Either way the arena, gaps
   included, must be unchanged. Sizes are small (1..12, sometimes dsize's extremes, with
   buffers of 64 floats when the sizes are invalid). */
#define ALIAS_CAP ((uint64_t)1 << 14) /* floats per buffer of a valid call */
static int fuzz_alias(rd *in) {
    const spec *sp = &SPECS[u8(in) % NSPEC];
    int np = (int)strlen(sp->kinds), nd = (int)strlen(sp->dims), ns = (int)strlen(sp->scal);
    int d[8], i, o, j, nw = 0, no = 0, bad = 0, writers[16], others[16];
    float f[3] = {0, 0, 0};
    size_t bytes[16], off[16], gap = 64, total, unit, wb = SMALL * 4;
    unsigned char *raw, *copy, *snap, *arena;
    void *p[16];
    melora_status st0, st;
    int64_t lo, hi, delta;
    uint64_t span, pick;
    uint8_t how;

    for (i = 0; i < nd; i++) d[i] = u8(in) < 24 ? dsize(in) : 1 + u8(in) % 12;
    if (strchr(sp->dims, 'E') && strchr(sp->dims, 'T') && (u8(in) & 3)) { /* T a multiple of E */
        int e = (int)(strchr(sp->dims, 'E') - sp->dims), t = (int)(strchr(sp->dims, 'T') - sp->dims);
        if (d[e] > 0 && d[e] <= 12) d[t] = d[e] * (1 + u8(in) % 4);
    }
    for (i = 0; i < ns; i++) {
        char c = sp->scal[i];
        f[i] = u8(in) < 16 ? dscal(in) : c == 'e' ? 0.25f : c == 'w' ? 1.0f : 0.5f;
    }
    for (i = 0; i < nd; i++)
        if (d[i] <= 0) bad = 1;
    for (i = 0; i < np && !bad; i++) { /* the documented shapes, or bad */
        char k = sp->kinds[i];
        uint64_t e;
        if (k == 'k') { bytes[i] = sizeof(double); continue; }
        if (k == 'w') {
            if (api_work_bytes(&bytes[i], api_of(sp->call), d) != MELORA_OK) bad = 1;
            else if (bytes[i] > ALIAS_CAP * 16) return 0;
            else wb = bytes[i];
            continue;
        }
        e = elems(sp->shape[i], sp->dims, d);
        if (e == UINT64_MAX) bad = 1;
        else if (e > ALIAS_CAP) return 0; /* valid but large: not this harness's job */
        else bytes[i] = (size_t)e * sizeof(float);
    }
    if (bad) /* the call must fail before it reads any buffer */
        for (i = 0; i < np; i++)
            bytes[i] = sp->kinds[i] == 'k' ? sizeof(double) : SMALL * sizeof(float);
    for (i = 0; i < np; i++) {
        char k = sp->kinds[i];
        CHECK(bytes[i] % (k == 'w' || k == 'k' ? 8 : 4) == 0, "%s: buffer %d of %zu bytes", sp->name, i, bytes[i]);
        if (bytes[i] + 64 > gap) gap = (bytes[i] + 127) & ~(size_t)63;
    }
    total = gap;
    for (i = 0; i < np; i++) {
        off[i] = total;
        total += ((bytes[i] + 63) & ~(size_t)63) + gap;
    }
    raw = (unsigned char *)malloc(total + 64);
    copy = (unsigned char *)malloc(total);
    snap = (unsigned char *)malloc(total);
    CHECK(raw && copy && snap, "alias: out of memory");
    arena = raw + (64 - ((uintptr_t)raw & 63)) % 64;
    fill(in, (float *)(void *)arena, total / sizeof(float));
    /* optional gradients absent now and then; the written and the other buffer chosen
       among those present */
    for (i = 0; i < np; i++) {
        char k = sp->kinds[i];
        p[i] = (k == 'O' && u8(in) < 48) ? NULL : arena + off[i];
        if (p[i] && (k == 'o' || k == 'O' || k == 'w' || k == 'k')) writers[nw++] = i;
    }
    if (nw == 0) { free(raw); free(copy); free(snap); return 0; }
    o = writers[u8(in) % nw];
    for (i = 0; i < np; i++)
        if (i != o && p[i]) others[no++] = i;
    j = others[u8(in) % no];

    /* the baseline: the same call, buffers apart, on a copy */
    memcpy(copy, arena, total);
    {
        void *q[16];
        for (i = 0; i < np; i++) q[i] = p[i] ? copy + ((unsigned char *)p[i] - arena) : NULL;
        api_args a = {q, d, f, NULL, wb, 0};
        st0 = sp->call(&a);
    }
    /* o's first byte at off[j] + delta, delta a multiple of o's alignment in
       (-bytes[o], bytes[j]): at least one shared byte */
    unit = sp->kinds[o] == 'w' || sp->kinds[o] == 'k' ? 8 : sizeof(float);
    lo = -(int64_t)(bytes[o] - unit);
    hi = (int64_t)((bytes[j] - 1) & ~(unit - 1));
    span = (uint64_t)((hi - lo) / (int64_t)unit) + 1;
    how = u8(in);
    pick = how < 64 ? 0 : how < 128 ? span - 1 : how < 160 ? (uint64_t)(-lo / (int64_t)unit) : u32(in) % span;
    delta = lo + (int64_t)(pick * unit);
    p[o] = arena + off[j] + delta;
    memcpy(snap, arena, total);
    {
        api_args a = {p, d, f, NULL, wb, 0};
        st = sp->call(&a);
    }
    if (getenv("FUZZ_DEBUG"))
        fprintf(stderr, "alias %s: buffer %d (%c) at %+lld bytes of buffer %d (%c): baseline %d, got %d\n",
                sp->name, o, sp->kinds[o], (long long)delta, j, sp->kinds[j], st0, st);
    if (st0 == MELORA_OK)
        CHECK(st == MELORA_ERR_ALIAS, "%s: buffer %d at %+lld bytes of buffer %d: status %d, want MELORA_ERR_ALIAS",
              sp->name, o, (long long)delta, j, st);
    else
        CHECK(st != MELORA_OK, "%s: overlap accepted (baseline status %d)", sp->name, st0);
    CHECK(memcmp(snap, arena, total) == 0, "%s: overlapping call (status %d) wrote memory", sp->name, st);
    free(raw);
    free(copy);
    free(snap);
    return 0;
}

/* -------------------------------------------------------------- melora_convert -- */
/* One conversion between any two dtypes (now and then an unknown one), of a fuzzed count
   (0, small, negative, past MAX_ELEMS), with NULL, misaligned or overlapping buffers. The
   oracle: NULL -> NULL, an unknown dtype -> ENUM, count < 0 -> SIZE, past MAX_ELEMS ->
   OVERFLOW, an element misaligned -> ALIGNMENT, out sharing a byte with in -> ALIAS (the
   checks' order is not the contract); on error the arena is unchanged. A valid call gives
   each element the scalar conversion of its input (half to half through float32), and
   writes nothing past count. */
static int fuzz_convert(rd *in) {
    static const int DTS[8] = {MELORA_FP32, MELORA_BF16, MELORA_FP16, MELORA_FP32, MELORA_BF16, MELORA_FP16, 3, -1};
    int od = DTS[u8(in) & 7], id = DTS[u8(in) & 7], nul = u8(in), how = u8(in);
    int64_t count = u8(in) < 200 ? (int64_t)(u8(in) % 97) : dsize64(in);
    size_t eo = od == MELORA_FP32 ? 4 : 2, ei = id == MELORA_FP32 ? 4 : 2, n, arena_n, j;
    size_t oo = 8, io, shift_o = 0, shift_i = 0;
    unsigned allowed = 0, overlap = 0;
    unsigned char *arena, *snap;
    void *outp, *inp;
    melora_status st;
    if (nul < 12) allowed |= BIT(MELORA_ERR_NULL);
    if (!dt_known(od) || !dt_known(id)) allowed |= BIT(MELORA_ERR_ENUM);
    if (count < 0) allowed |= BIT(MELORA_ERR_SIZE);
    else if ((uint64_t)count > MAX_ELEMS) allowed |= BIT(MELORA_ERR_OVERFLOW);
    if (how >= 224) { /* one of them off its element's alignment */
        if (how & 1) shift_o = eo == 4 ? 2 : 1; else shift_i = ei == 4 ? 2 : 1;
        if (!(dt_known(od) && dt_known(id))) shift_o = shift_i = 0;
        else allowed |= BIT(MELORA_ERR_ALIGNMENT);
    }
    n = allowed ? 16 : (size_t)count;
    if (n > 4096) return 0;
    /* out at 8, in after it (or, 1 input in 8, moved onto out) */
    io = oo + n * 4 + 16;
    arena_n = io + n * 4 + 32;
    arena = (unsigned char *)malloc(arena_n);
    snap = (unsigned char *)malloc(arena_n);
    for (j = 0; j < arena_n; j++) arena[j] = (unsigned char)(u8(in) ^ (j * 37u));
    if (how >= 192 && how < 224 && n > 0 && !allowed) { /* in shares a byte with out */
        io = oo + (u16(in) % (n * eo)) / ei * ei;
        overlap = 1;
    }
    memcpy(snap, arena, arena_n);
    outp = nul < 6 ? NULL : arena + oo + shift_o;
    inp = nul >= 6 && nul < 12 ? NULL : arena + io + shift_i;
    st = melora_convert(outp, (melora_dtype)od, inp, (melora_dtype)id, count);
    if (allowed || overlap) {
        if (allowed) CHECK(st != MELORA_OK && (allowed & BIT(st)), "convert %d<-%d count %lld: status %d, allowed 0x%x", od, id,
                           (long long)count, st, allowed);
        else CHECK(st == MELORA_ERR_ALIAS, "convert: overlapping buffers gave %d", st);
        CHECK(memcmp(arena, snap, arena_n) == 0, "convert: written on error");
    } else {
        CHECK(st == MELORA_OK, "convert %d<-%d count %zu: status %d", od, id, n, st);
        for (j = 0; j < n; j++) {
            float v;
            uint32_t want, got = 0;
            uint16_t h;
            if (id == MELORA_FP32) memcpy(&v, snap + io + 4 * j, 4);
            else { memcpy(&h, snap + io + 2 * j, 2); v = id == MELORA_BF16 ? melora_bf16_to_f32(h) : melora_f16_to_f32(h); }
            if (od == MELORA_FP32) memcpy(&want, &v, 4);
            else want = od == MELORA_BF16 ? melora_f32_to_bf16(v) : melora_f32_to_f16(v);
            if (od == MELORA_FP32) memcpy(&got, arena + oo + 4 * j, 4);
            else { memcpy(&h, arena + oo + 2 * j, 2); got = h; }
            CHECK(got == want, "convert %d<-%d [%zu]: %x, want %x", od, id, j, got, want);
        }
        CHECK(memcmp(arena, snap, oo) == 0 && memcmp(arena + oo + n * eo, snap + oo + n * eo, arena_n - oo - n * eo) == 0,
              "convert: wrote outside out");
    }
    free(arena);
    free(snap);
    return 0;
}

int FUZZ_ENTRY(const uint8_t *data, size_t size);
int FUZZ_ENTRY(const uint8_t *data, size_t size) {
    rd in;
    unsigned sel;
    in.p = data;
    in.n = size;
    in.i = 1; /* byte 0 chose the build (fuzz_main.c) */
    sel = u8(&in);
    if (sel < 200) return fuzz_compute(&in, &SPECS[sel % NSPEC]);
    if (sel >= 240) return fuzz_alias(&in); /* 1 input in 16 */
    if (sel == 236 || sel == 237) return fuzz_convert(&in);
    switch (sel % 5) {
    case 0: return fuzz_noise(&in);
    case 1: return fuzz_inline(&in);
    case 2: return fuzz_workspace(&in);
    case 3: return fuzz_alloc(&in);
    default: return fuzz_counting(&in);
    }
}
