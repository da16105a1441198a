/* One calling convention for every public function of melora.h that takes buffers: the
   bad-input table (test_errors.c), the allocation test (test_alloc.c) and the fuzzers
   (fuzz/fuzz_api.c, fuzz/fuzz_cuda.cpp) drive the whole API through these, and this is
   the one place that knows how a call's arguments travel in its structs.

   A call gets one api_args: p[] the pointers in the order the tensors appear in the
   call's equation (outputs, saved activations, workspace, inputs: the v0.1 argument
   order, so shape tables indexed by p[] stay valid), d[] its int sizes in order (the
   trailing four of a shaped call are T, n, m, r; E, G or K come first), f[] its float
   scalars in order, q[] its uint64 scalars (seed, then draw or offset), wbytes the size
   of the workspace p[w], and nulls: bit i passes the call's i-th struct pointer as NULL,
   bits API_DTYPE_SHIFT and up the dtype of a shaped call's activations (0: MELORA_FP32,
   so that an api_args written before the dtype existed keeps its meaning).
   Each entry of api_table() says where its pointers go: slots has one character per
   p[] ('.' an argument of its own, 'w' the base of the melora_work, a digit the struct
   pointer of that index it is a field of), structs one per struct pointer ('g' the
   gradients, which may be NULL; 'r' required). C99 and C++11; include after melora.h. */
#ifndef MELORA_TEST_API_CALLS_H
#define MELORA_TEST_API_CALLS_H

typedef struct {
    void **p;
    const int *d;
    const float *f;
    const uint64_t *q; /* NULL: all 0 */
    size_t wbytes;
    unsigned nulls;
} api_args;
typedef melora_status (*call_fn)(const api_args *a);

#define F(x) ((float *)(x))
#define CF(x) ((const float *)(x))
#define API_S(a, i, s) ((((a)->nulls >> (i)) & 1u) ? NULL : &(s))
#define API_Q(a, i) ((a)->q ? (a)->q[i] : 0u)

#define API_DTYPE_SHIFT 16
#define API_DTYPE(a) ((melora_dtype)((a)->nulls >> API_DTYPE_SHIFT))
static inline melora_dims api_dims_dt(const int *d, melora_dtype dt) {
    melora_dims x;
    x.T = d[0]; x.n = d[1]; x.m = d[2]; x.r = d[3];
    x.dtype = dt;
    return x;
}
static inline melora_dims api_dims(const int *d) { return api_dims_dt(d, MELORA_FP32); }
static inline melora_work api_work(const api_args *a, int i) {
    melora_work w;
    w.base = a->p[i];
    w.bytes = a->wbytes;
    return w;
}

/* LoRA: z u w x A B | T n m r | s */
static inline melora_status c_lora_f(const api_args *a) {
    void **p = a->p;
    melora_lora_saved sv = {CF(p[3]), F(p[1])};
    melora_lora_params pr = {CF(p[4]), CF(p[5]), a->f[0]};
    return melora_lora_forward(F(p[0]), API_S(a, 0, sv), api_work(a, 2), API_S(a, 1, pr), api_dims_dt(a->d, API_DTYPE(a)));
}
/* dx dA dB w dz u x A B */
static inline melora_status c_lora_b(const api_args *a) {
    void **p = a->p;
    melora_lora_grads g = {F(p[1]), F(p[2])};
    melora_lora_saved sv = {CF(p[6]), F(p[5])};
    melora_lora_params pr = {CF(p[7]), CF(p[8]), a->f[0]};
    return melora_lora_backward(F(p[0]), API_S(a, 0, g), API_S(a, 1, sv), api_work(a, 3), CF(p[4]),
                                API_S(a, 2, pr), api_dims_dt(a->d, API_DTYPE(a)));
}
/* BLoB: As MA GA EA | r n */
static inline melora_status c_blob_s(const api_args *a) {
    void **p = a->p;
    melora_blob_params pr = {CF(p[1]), CF(p[2]), NULL, 0.0f};
    return melora_blob_sample(F(p[0]), API_S(a, 0, pr), CF(p[3]), a->d[0], a->d[1]);
}
/* z u As w x MA GA EA B */
static inline melora_status c_blob_f(const api_args *a) {
    void **p = a->p;
    melora_lora_saved sv = {CF(p[4]), F(p[1])};
    melora_blob_params pr = {CF(p[5]), CF(p[6]), CF(p[8]), a->f[0]};
    return melora_blob_forward(F(p[0]), API_S(a, 0, sv), F(p[2]), api_work(a, 3), API_S(a, 1, pr),
                               CF(p[7]), api_dims_dt(a->d, API_DTYPE(a)));
}
/* dx dMA dGA dB w dz u x As GA EA B (MA is not read) */
static inline melora_status c_blob_b(const api_args *a) {
    void **p = a->p;
    melora_blob_grads g = {F(p[1]), F(p[2]), F(p[3])};
    melora_lora_saved sv = {CF(p[7]), F(p[6])};
    melora_blob_params pr = {NULL, CF(p[9]), CF(p[11]), a->f[0]};
    melora_blob_draw dr = {CF(p[8]), CF(p[10])};
    return melora_blob_backward(F(p[0]), API_S(a, 0, g), API_S(a, 1, sv), api_work(a, 4), CF(p[5]),
                                API_S(a, 2, pr), API_S(a, 3, dr), api_dims_dt(a->d, API_DTYPE(a)));
}
/* Flipout: z u w x MA GA EA sa sb B | G T n m r */
static inline melora_status c_flip_f(const api_args *a) {
    void **p = a->p;
    melora_lora_saved sv = {CF(p[3]), F(p[1])};
    melora_blob_params pr = {CF(p[4]), CF(p[5]), CF(p[9]), a->f[0]};
    melora_flipout_noise nz = {CF(p[6]), CF(p[7]), CF(p[8]), a->d[0]};
    return melora_blob_flipout_forward(F(p[0]), API_S(a, 0, sv), api_work(a, 2), API_S(a, 1, pr),
                                       API_S(a, 2, nz), api_dims_dt(a->d + 1, API_DTYPE(a)));
}
/* dx dMA dGA dB w dz u x MA GA EA sa sb B */
static inline melora_status c_flip_b(const api_args *a) {
    void **p = a->p;
    melora_blob_grads g = {F(p[1]), F(p[2]), F(p[3])};
    melora_lora_saved sv = {CF(p[7]), F(p[6])};
    melora_blob_params pr = {CF(p[8]), CF(p[9]), CF(p[13]), a->f[0]};
    melora_flipout_noise nz = {CF(p[10]), CF(p[11]), CF(p[12]), a->d[0]};
    return melora_blob_flipout_backward(F(p[0]), API_S(a, 0, g), API_S(a, 1, sv), api_work(a, 4),
                                        CF(p[5]), API_S(a, 2, pr), API_S(a, 3, nz), api_dims_dt(a->d + 1, API_DTYPE(a)));
}
/* kl dMA dGA MA GA | r n | sigma_p weight (dB stays NULL: the KL does not touch it) */
static inline melora_status c_blob_kl(const api_args *a) {
    void **p = a->p;
    melora_blob_grads g = {F(p[1]), F(p[2]), NULL};
    melora_blob_params pr = {CF(p[3]), CF(p[4]), NULL, 0.0f};
    return melora_blob_kl((double *)p[0], API_S(a, 0, g), API_S(a, 1, pr), a->f[0], a->f[1], a->d[0], a->d[1]);
}
/* Me-LoRA: C M H EC | E r */
static inline melora_status c_me_s(const api_args *a) {
    void **p = a->p;
    melora_melora_params pr = {NULL, NULL, CF(p[1]), CF(p[2]), 0.0f};
    return melora_melora_sample(F(p[0]), API_S(a, 0, pr), CF(p[3]), a->d[0], a->d[1]);
}
/* z u v w x A C B | E T n m r */
static inline melora_status c_me_f(const api_args *a) {
    void **p = a->p;
    melora_melora_saved sv = {CF(p[4]), F(p[1]), F(p[2])};
    melora_melora_params pr = {CF(p[5]), CF(p[7]), NULL, NULL, a->f[0]};
    melora_melora_draw dr = {CF(p[6]), NULL, a->d[0]};
    return melora_melora_forward(F(p[0]), API_S(a, 0, sv), api_work(a, 3), API_S(a, 1, pr),
                                 API_S(a, 2, dr), api_dims_dt(a->d + 1, API_DTYPE(a)));
}
/* dx dA dB dM dH w dz u v x A C B H EC */
static inline melora_status c_me_b(const api_args *a) {
    void **p = a->p;
    melora_melora_grads g = {F(p[1]), F(p[2]), F(p[3]), F(p[4])};
    melora_melora_saved sv = {CF(p[9]), F(p[7]), F(p[8])};
    melora_melora_params pr = {CF(p[10]), CF(p[12]), NULL, CF(p[13]), a->f[0]};
    melora_melora_draw dr = {CF(p[11]), CF(p[14]), a->d[0]};
    return melora_melora_backward(F(p[0]), API_S(a, 0, g), API_S(a, 1, sv), api_work(a, 5), CF(p[6]),
                                  API_S(a, 2, pr), API_S(a, 3, dr), api_dims_dt(a->d + 1, API_DTYPE(a)));
}
/* z u w x A C B | K T n m r */
static inline melora_status c_me_mc(const api_args *a) {
    void **p = a->p;
    melora_lora_saved sv = {CF(p[3]), F(p[1])};
    melora_melora_params pr = {CF(p[4]), CF(p[6]), NULL, NULL, a->f[0]};
    return melora_melora_mc_forward(F(p[0]), API_S(a, 0, sv), api_work(a, 2), API_S(a, 1, pr), CF(p[5]),
                                    a->d[0], api_dims_dt(a->d + 1, API_DTYPE(a)));
}
/* kl dA dM dH w A M H | r n | sigma weight */
static inline melora_status c_me_kl(const api_args *a) {
    void **p = a->p;
    melora_melora_grads g = {F(p[1]), NULL, F(p[2]), F(p[3])};
    melora_melora_params pr = {CF(p[5]), NULL, CF(p[6]), CF(p[7]), 0.0f};
    return melora_melora_kl((double *)p[0], API_S(a, 0, g), api_work(a, 4), API_S(a, 1, pr), a->f[0],
                            a->f[1], a->d[0], a->d[1]);
}
/* kl dA dM dH w A M H | r n | sigma_p eps weight */
static inline melora_status c_me_kl8(const api_args *a) {
    void **p = a->p;
    melora_melora_grads g = {F(p[1]), NULL, F(p[2]), F(p[3])};
    melora_melora_params pr = {CF(p[5]), NULL, CF(p[6]), CF(p[7]), 0.0f};
    return melora_melora_kl_prior_noise((double *)p[0], API_S(a, 0, g), api_work(a, 4), API_S(a, 1, pr),
                                        a->f[0], a->f[1], a->f[2], a->d[0], a->d[1]);
}
/* kl dM dH M H | r | sigma weight */
static inline melora_status c_me_klx(const api_args *a) {
    void **p = a->p;
    melora_melora_grads g = {NULL, NULL, F(p[1]), F(p[2])};
    melora_melora_params pr = {NULL, NULL, CF(p[3]), CF(p[4]), 0.0f};
    return melora_melora_kl_exact((double *)p[0], API_S(a, 0, g), API_S(a, 1, pr), a->f[0], a->f[1], a->d[0]);
}
/* The naive references: the pointers of the fast call without the workspace. */
static inline melora_status c_lora_fn(const api_args *a) {
    void **p = a->p;
    melora_lora_saved sv = {CF(p[2]), F(p[1])};
    melora_lora_params pr = {CF(p[3]), CF(p[4]), a->f[0]};
    return melora_lora_forward_naive(F(p[0]), API_S(a, 0, sv), API_S(a, 1, pr), api_dims_dt(a->d, API_DTYPE(a)));
}
static inline melora_status c_lora_bn(const api_args *a) {
    void **p = a->p;
    melora_lora_grads g = {F(p[1]), F(p[2])};
    melora_lora_saved sv = {CF(p[5]), F(p[4])};
    melora_lora_params pr = {CF(p[6]), CF(p[7]), a->f[0]};
    return melora_lora_backward_naive(F(p[0]), API_S(a, 0, g), API_S(a, 1, sv), CF(p[3]), API_S(a, 2, pr),
                                      api_dims_dt(a->d, API_DTYPE(a)));
}
static inline melora_status c_flip_fn(const api_args *a) {
    void **p = a->p;
    melora_lora_saved sv = {CF(p[2]), F(p[1])};
    melora_blob_params pr = {CF(p[3]), CF(p[4]), CF(p[8]), a->f[0]};
    melora_flipout_noise nz = {CF(p[5]), CF(p[6]), CF(p[7]), a->d[0]};
    return melora_blob_flipout_forward_naive(F(p[0]), API_S(a, 0, sv), API_S(a, 1, pr), API_S(a, 2, nz),
                                             api_dims_dt(a->d + 1, API_DTYPE(a)));
}
static inline melora_status c_flip_bn(const api_args *a) {
    void **p = a->p;
    melora_blob_grads g = {F(p[1]), F(p[2]), F(p[3])};
    melora_lora_saved sv = {CF(p[6]), F(p[5])};
    melora_blob_params pr = {CF(p[7]), CF(p[8]), CF(p[12]), a->f[0]};
    melora_flipout_noise nz = {CF(p[9]), CF(p[10]), CF(p[11]), a->d[0]};
    return melora_blob_flipout_backward_naive(F(p[0]), API_S(a, 0, g), API_S(a, 1, sv), CF(p[4]),
                                              API_S(a, 2, pr), API_S(a, 3, nz), api_dims_dt(a->d + 1, API_DTYPE(a)));
}
static inline melora_status c_me_fn(const api_args *a) {
    void **p = a->p;
    melora_melora_saved sv = {CF(p[3]), F(p[1]), F(p[2])};
    melora_melora_params pr = {CF(p[4]), CF(p[6]), NULL, NULL, a->f[0]};
    melora_melora_draw dr = {CF(p[5]), NULL, a->d[0]};
    return melora_melora_forward_naive(F(p[0]), API_S(a, 0, sv), API_S(a, 1, pr), API_S(a, 2, dr),
                                       api_dims_dt(a->d + 1, API_DTYPE(a)));
}
static inline melora_status c_me_bn(const api_args *a) {
    void **p = a->p;
    melora_melora_grads g = {F(p[1]), F(p[2]), F(p[3]), F(p[4])};
    melora_melora_saved sv = {CF(p[8]), F(p[6]), F(p[7])};
    melora_melora_params pr = {CF(p[9]), CF(p[11]), NULL, CF(p[12]), a->f[0]};
    melora_melora_draw dr = {CF(p[10]), CF(p[13]), a->d[0]};
    return melora_melora_backward_naive(F(p[0]), API_S(a, 0, g), API_S(a, 1, sv), CF(p[5]), API_S(a, 2, pr),
                                        API_S(a, 3, dr), api_dims_dt(a->d + 1, API_DTYPE(a)));
}
/* out in | count out_dtype in_dtype */
static inline melora_status c_convert(const api_args *a) {
    return melora_convert(a->p[0], (melora_dtype)a->d[1], a->p[1], (melora_dtype)a->d[2], a->d[0]);
}
/* Noise: out | count | q = seed, offset */
static inline melora_status c_noise_n(const api_args *a) { return melora_noise_normal(F(a->p[0]), API_Q(a, 0), API_Q(a, 1), a->d[0]); }
static inline melora_status c_noise_u(const api_args *a) { return melora_noise_uniform(F(a->p[0]), API_Q(a, 0), API_Q(a, 1), a->d[0]); }
static inline melora_status c_noise_s(const api_args *a) { return melora_noise_sign(F(a->p[0]), API_Q(a, 0), API_Q(a, 1), a->d[0]); }
/* offset | q = draw */
static inline melora_status c_draw_off(const api_args *a) { return melora_draw_offset((uint64_t *)a->p[0], API_Q(a, 0)); }
/* EA | r n | q = seed, draw */
static inline melora_status c_blob_nz(const api_args *a) { return melora_blob_noise(F(a->p[0]), API_Q(a, 0), API_Q(a, 1), a->d[0], a->d[1]); }
/* EA sa sb | G T n m r | q = seed, draw */
static inline melora_status c_flip_nz(const api_args *a) {
    return melora_blob_flipout_noise(F(a->p[0]), F(a->p[1]), F(a->p[2]), API_Q(a, 0), API_Q(a, 1), a->d[0],
                                     api_dims_dt(a->d + 1, API_DTYPE(a)));
}
/* EC | E r | q = seed, draw */
static inline melora_status c_me_nz(const api_args *a) { return melora_melora_noise(F(a->p[0]), API_Q(a, 0), API_Q(a, 1), a->d[0], a->d[1]); }
/* bytes | T n m r (the op Flipout's backward: the largest layout) */
static inline melora_status c_ws(const api_args *a) { return melora_workspace_size((size_t *)a->p[0], MELORA_OP_FLIPOUT_BACKWARD, api_dims_dt(a->d, API_DTYPE(a))); }

typedef struct {
    const char *name; /* the function, melora_ left out */
    call_fn call;
    const char *slots;   /* per p[]: '.', 'w' or the index of the struct holding it */
    const char *structs; /* per struct pointer: 'g' may be NULL, 'r' required */
    int op;              /* the workspace's op, -1 none */
} api_call;

/* Every entry; *count gets their number. */
static inline const api_call *api_table(int *count) {
    static const api_call T[] = {
        {"lora_forward", c_lora_f, ".0w011", "rr", MELORA_OP_LORA_FORWARD},
        {"lora_backward", c_lora_b, ".00w.1122", "grr", MELORA_OP_LORA_BACKWARD},
        {"blob_sample", c_blob_s, ".00.", "r", -1},
        {"blob_forward", c_blob_f, ".0.w011.1", "rr", MELORA_OP_LORA_FORWARD},
        {"blob_backward", c_blob_b, ".000w.113232", "grrr", MELORA_OP_LORA_BACKWARD},
        {"blob_flipout_forward", c_flip_f, ".0w0112221", "rrr", MELORA_OP_FLIPOUT_FORWARD},
        {"blob_flipout_backward", c_flip_b, ".000w.11223332", "grrr", MELORA_OP_FLIPOUT_BACKWARD},
        {"blob_kl", c_blob_kl, ".0011", "gr", -1},
        {"melora_sample", c_me_s, ".00.", "r", -1},
        {"melora_forward", c_me_f, ".00w0121", "rrr", MELORA_OP_MELORA_FORWARD},
        {"melora_backward", c_me_b, ".0000w.11123223", "grrr", MELORA_OP_MELORA_BACKWARD},
        {"melora_mc_forward", c_me_mc, ".0w01.1", "rr", MELORA_OP_MELORA_MC_FORWARD},
        {"melora_kl", c_me_kl, ".000w111", "gr", MELORA_OP_MELORA_KL},
        {"melora_kl_prior_noise", c_me_kl8, ".000w111", "gr", MELORA_OP_MELORA_KL},
        {"melora_kl_exact", c_me_klx, ".0011", "gr", -1},
        {"lora_forward_naive", c_lora_fn, ".0011", "rr", -1},
        {"lora_backward_naive", c_lora_bn, ".00.1122", "grr", -1},
        {"blob_flipout_forward_naive", c_flip_fn, ".00112221", "rrr", -1},
        {"blob_flipout_backward_naive", c_flip_bn, ".000.11223332", "grrr", -1},
        {"melora_forward_naive", c_me_fn, ".000121", "rrr", -1},
        {"melora_backward_naive", c_me_bn, ".0000.11123223", "grrr", -1},
        {"noise_normal", c_noise_n, ".", "", -1},
        {"noise_uniform", c_noise_u, ".", "", -1},
        {"noise_sign", c_noise_s, ".", "", -1},
        {"draw_offset", c_draw_off, ".", "", -1},
        {"blob_noise", c_blob_nz, ".", "", -1},
        {"blob_flipout_noise", c_flip_nz, "...", "", -1},
        {"melora_noise", c_me_nz, ".", "", -1},
        {"workspace_size", c_ws, ".", "", -1},
        {"convert", c_convert, "..", "", -1},
    };
    *count = (int)(sizeof T / sizeof T[0]);
    return T;
}
static inline const api_call *api_of(call_fn fn) {
    int n, i;
    const api_call *t = api_table(&n);
    for (i = 0; i < n; i++)
        if (t[i].call == fn) return &t[i];
    return NULL;
}
/* The sizes the call's workspace is sized for: the KLs' (r,n) as T = m = 1; Flipout's G,
   Me-LoRA's E and the Monte-Carlo K come before T, n, m, r in d. */
static inline melora_dims api_work_dims(const api_call *c, const int *d, melora_dtype dt) {
    if (c->op == MELORA_OP_MELORA_KL) {
        const int kd[4] = {1, d[1], 1, d[0]};
        return api_dims_dt(kd, dt);
    }
    return api_dims_dt(d + (c->op == MELORA_OP_LORA_FORWARD || c->op == MELORA_OP_LORA_BACKWARD ? 0 : 1), dt);
}
/* MELORA_OK and *bytes what melora_workspace_size says for the call at sizes d and
   activations of dtype dt, or its error; MELORA_ERR_ENUM for a call without a workspace. */
static inline melora_status api_work_bytes_dt(size_t *bytes, const api_call *c, const int *d,
                                              melora_dtype dt) {
    if (c->op < 0) return MELORA_ERR_ENUM;
    return melora_workspace_size(bytes, (melora_op)c->op, api_work_dims(c, d, dt));
}
static inline melora_status api_work_bytes(size_t *bytes, const api_call *c, const int *d) {
    return api_work_bytes_dt(bytes, c, d, MELORA_FP32);
}

#endif
