/* The owners of the noise-offset convention: melora_draw_offset and the per-method noise
   functions. Each is compared with a direct loop over melora_rng_normal / melora_rng_sign
   at the indices the header states (draw d owns [d 2^40, (d+1) 2^40); EA and EC from its
   first normal index; sa from its first sign index, sb right after at + ceil(T/G) n), the
   2^40 written out here rather than taken from MELORA_DRAW_BITS. Bad draws, tensors past
   the window and overlapping outputs are errors with nothing written. */
#include "util.h"

#define WINDOW 1099511627776ull /* 2^40 */

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }
static void expect_normals(const char *what, const float *got, size_t cnt, uint64_t seed, uint64_t first) {
    for (size_t i = 0; i < cnt; i++) {
        float want = melora_rng_normal(seed, first + i);
        cr_assert(same_bits(got[i], want), "%s[%zu] = %.9g, melora_rng_normal %.9g", what, i, got[i], want);
    }
}
static void expect_signs(const char *what, const float *got, size_t cnt, uint64_t seed, uint64_t first) {
    for (size_t i = 0; i < cnt; i++) {
        float want = melora_rng_sign(seed, first + i);
        cr_assert(same_bits(got[i], want), "%s[%zu] = %g, melora_rng_sign %g", what, i, got[i], want);
    }
}

static const uint64_t DRAWS[] = {0, 1, 2, 77, (1u << 24) - 1};
#define NDRAW (sizeof DRAWS / sizeof DRAWS[0])

Test(draw_noise, draw_offset_is_draw_times_2_40) {
    for (size_t k = 0; k < NDRAW; k++) {
        uint64_t off = 3;
        cr_assert_eq(melora_draw_offset(&off, DRAWS[k]), MELORA_OK);
        cr_assert_eq(off, DRAWS[k] * WINDOW, "draw %llu: offset %llu", (unsigned long long)DRAWS[k],
                     (unsigned long long)off);
    }
    const uint64_t bad[] = {1u << 24, (1u << 24) + 1, (uint64_t)1 << 40, UINT64_MAX};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        uint64_t off = 3;
        cr_assert_eq(melora_draw_offset(&off, bad[k]), MELORA_ERR_VALUE, "draw %llu", (unsigned long long)bad[k]);
        cr_assert_eq(off, 3, "written on error");
    }
    cr_assert_eq(melora_draw_offset(NULL, 0), MELORA_ERR_NULL);
}

Test(draw_noise, blob_and_melora_noise_are_the_draws_normals) {
    const int r = 3, n = 37, E = 2;
    const uint64_t seeds[] = {0, 12345, UINT64_MAX};
    float *EA = tu_const((size_t)r * n, 0), *EC = tu_const((size_t)E * r * r, 0);
    for (size_t s = 0; s < 3; s++)
        for (size_t k = 0; k < NDRAW; k++) {
            cr_assert_eq(melora_blob_noise(EA, seeds[s], DRAWS[k], r, n), MELORA_OK);
            expect_normals("EA", EA, (size_t)r * n, seeds[s], DRAWS[k] * WINDOW);
            cr_assert_eq(melora_melora_noise(EC, seeds[s], DRAWS[k], E, r), MELORA_OK);
            expect_normals("EC", EC, (size_t)E * r * r, seeds[s], DRAWS[k] * WINDOW);
        }
    /* two draws are different numbers */
    float *EB = tu_const((size_t)r * n, 0);
    cr_assert_eq(melora_blob_noise(EA, 9, 4, r, n), MELORA_OK);
    cr_assert_eq(melora_blob_noise(EB, 9, 5, r, n), MELORA_OK);
    cr_assert(memcmp(EA, EB, (size_t)r * n * sizeof(float)) != 0);
    free(EA); free(EB); free(EC);
}

/* sa from the draw's first sign index, sb right after sa's ceil(T/G) n: groups of one
   token, a partial last group, and one group for the whole batch (G > T). */
Test(draw_noise, flipout_noise_is_the_draws_normals_and_signs) {
    const int n = 5, r = 2, m = 4;
    const int TG[][2] = {{7, 1}, {7, 3}, {9, 3}, {4, 100}, {300, 2}};
    for (size_t c = 0; c < sizeof TG / sizeof TG[0]; c++) {
        const int T = TG[c][0], G = TG[c][1];
        const size_t groups = (size_t)(T + G - 1) / (size_t)G;
        float *EA = tu_const((size_t)r * n, 0), *sa = tu_const(groups * n, 0), *sb = tu_const(groups * r, 0);
        for (size_t k = 0; k < NDRAW; k++) {
            const uint64_t seed = 31 + k, first = DRAWS[k] * WINDOW;
            cr_assert_eq(melora_blob_flipout_noise(EA, sa, sb, seed, DRAWS[k], G, (melora_dims){T, n, m, r, MELORA_FP32}), MELORA_OK);
            expect_normals("EA", EA, (size_t)r * n, seed, first);
            expect_signs("sa", sa, groups * n, seed, first);
            expect_signs("sb", sb, groups * r, seed, first + groups * n);
        }
        free(EA); free(sa); free(sb);
    }
}

/* Errors, nothing written: a draw past 2^24, a tensor of more than 2^40 elements (it would
   use the next draw's numbers), outputs sharing bytes, NULL outputs, sizes <= 0. */
Test(draw_noise, bad_draws_windows_and_overlaps) {
    static float buf[4][64];
    unsigned char keep[sizeof buf];
    const melora_dims d = {4, 3, 5, 2, MELORA_FP32};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 64; j++) buf[i][j] = (float)(i * 64 + j);
    memcpy(keep, buf, sizeof buf);
    cr_assert_eq(melora_blob_noise(buf[0], 1, 1u << 24, 2, 3), MELORA_ERR_VALUE);
    cr_assert_eq(melora_melora_noise(buf[0], 1, UINT64_MAX, 2, 2), MELORA_ERR_VALUE);
    cr_assert_eq(melora_blob_flipout_noise(buf[0], buf[1], buf[2], 1, 1u << 24, 3, d), MELORA_ERR_VALUE);
    /* just past the window: r n = 2^40 + 2^20; E r r = 2^40 + 2^20; sa + sb = 2^40 + 2^30
       (with a 32-bit size_t these buffers are past the address space: an overflow too) */
    const melora_status past = MELORA_ERR_OVERFLOW;
    cr_assert_eq(melora_blob_noise(buf[0], 1, 0, 1 << 20, (1 << 20) + 1), past);
    cr_assert_eq(melora_melora_noise(buf[0], 1, 0, (1 << 20) + 1, 1 << 10), past);
    cr_assert_eq(melora_blob_flipout_noise(buf[0], buf[1], buf[2], 1, 0, 1, (melora_dims){1 << 30, 1 << 10, 1, 1, MELORA_FP32}), past);
    /* EA (r,n) past the window alone */
    cr_assert_eq(melora_blob_flipout_noise(buf[0], buf[1], buf[2], 1, 0, 1, (melora_dims){1, (1 << 20) + 1, 1, 1 << 20, MELORA_FP32}), past);
    /* overlaps: sb on sa's last element, sa on EA, all three at one place */
    cr_assert_eq(melora_blob_flipout_noise(buf[0], buf[1], buf[1] + 5, 1, 0, 3, d), MELORA_ERR_ALIAS);
    cr_assert_eq(melora_blob_flipout_noise(buf[0], buf[0] + 3, buf[2], 1, 0, 3, d), MELORA_ERR_ALIAS);
    cr_assert_eq(melora_blob_flipout_noise(buf[0], buf[0], buf[0], 1, 0, 3, d), MELORA_ERR_ALIAS);
    cr_assert_eq(melora_blob_flipout_noise(buf[0], NULL, buf[2], 1, 0, 3, d), MELORA_ERR_NULL);
    cr_assert_eq(melora_blob_flipout_noise(buf[0], buf[1], buf[2], 1, 0, 0, d), MELORA_ERR_SIZE);
    cr_assert_eq(melora_blob_noise(NULL, 1, 0, 2, 3), MELORA_ERR_NULL);
    cr_assert_eq(melora_melora_noise(buf[0], 1, 0, 0, 2), MELORA_ERR_SIZE);
    cr_assert(memcmp(keep, buf, sizeof buf) == 0, "a rejected call wrote to its buffers");
    /* adjacent outputs are fine: sa (2 groups x 3) ends where sb starts */
    cr_assert_eq(melora_blob_flipout_noise(buf[0], buf[1], buf[1] + 6, 1, 0, 3, d), MELORA_OK);
}
