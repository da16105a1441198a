/* Philox4x32-10 known answers, the index -> number mapping, regeneration of single
   elements, and the statistics of the three streams. */
#include "util.h"

/* Random123's published known-answer vectors for philox4x32_10 (kat_vectors). */
Test(rng, philox_known_answers) {
    static const uint32_t ctr[3][4] = {{0, 0, 0, 0},
                                       {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
                                       {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}};
    static const uint32_t key[3][2] = {{0, 0}, {0xffffffffu, 0xffffffffu},
                                       {0xa4093822u, 0x299f31d0u}};
    static const uint32_t want[3][4] = {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u},
                                        {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu},
                                        {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}};
    for (int v = 0; v < 3; v++) {
        uint32_t out[4];
        melora_philox4x32_10(out, ctr[v], key[v]);
        for (int i = 0; i < 4; i++)
            cr_assert_eq(out[i], want[v][i], "vector %d word %d: %08x != %08x", v, i, out[i],
                         want[v][i]);
    }
}

/* The documented mapping, recomputed here from Philox words. */
Test(rng, mapping_matches_documentation) {
    uint64_t seed = 0x0123456789abcdefull;
    for (uint64_t k = 0; k < 300; k += 7) {
        uint32_t w[4], c[4] = {(uint32_t)(k >> 2), 0, MELORA_STREAM_UNIFORM, 0};
        uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
        melora_philox4x32_10(w, c, key);
        cr_assert_eq(melora_rng_uniform(seed, k), (float)(w[k & 3] >> 8) / 16777216.0f);
        c[0] = (uint32_t)(k >> 2); c[2] = MELORA_STREAM_NORMAL;
        melora_philox4x32_10(w, c, key);
        unsigned p = (unsigned)((k >> 1) & 1);
        double u1 = ((w[2 * p] >> 8) + 1.0) / 16777216.0, u2 = (w[2 * p + 1] >> 8) / 16777216.0;
        double nrm = sqrt(-2 * log(u1)) * ((k & 1) ? sin(2 * M_PI * u2) : cos(2 * M_PI * u2));
        cr_assert(fabs(melora_rng_normal(seed, k) - nrm) < 2e-6 * (1 + fabs(nrm)), "k=%llu",
                  (unsigned long long)k);
        c[0] = (uint32_t)(k >> 7); c[2] = MELORA_STREAM_SIGN;
        melora_philox4x32_10(w, c, key);
        float sg = ((w[(k >> 5) & 3] >> (k & 31)) & 1) ? -1.0f : 1.0f;
        cr_assert_eq(melora_rng_sign(seed, k), sg);
    }
}

/* Element i alone equals element i of a bulk draw, for offsets not on block edges. */
Test(rng, regenerate_single_elements) {
    const int64_t cnt = 1001;
    const uint64_t seeds[] = {0, 42, 0xffffffffffffffffull};
    const uint64_t offs[] = {0, 3, 129, 0xfffffffffffffff0ull}; /* last one wraps */
    float *a = tu_const(cnt, 0), *b = tu_const(cnt, 0), *c = tu_const(cnt, 0);
    for (int si = 0; si < 3; si++)
        for (int oi = 0; oi < 4; oi++) {
            cr_assert_eq(melora_noise_normal(a, seeds[si], offs[oi], cnt), MELORA_OK);
            cr_assert_eq(melora_noise_uniform(b, seeds[si], offs[oi], cnt), MELORA_OK);
            cr_assert_eq(melora_noise_sign(c, seeds[si], offs[oi], cnt), MELORA_OK);
            for (int64_t i = 0; i < cnt; i++) {
                uint64_t k = offs[oi] + (uint64_t)i;
                cr_assert_eq(a[i], melora_rng_normal(seeds[si], k));
                cr_assert_eq(b[i], melora_rng_uniform(seeds[si], k));
                cr_assert_eq(c[i], melora_rng_sign(seeds[si], k));
            }
        }
    /* a draw at offset 5 is the tail of a draw at offset 0 */
    cr_assert_eq(melora_noise_normal(a, 9, 0, cnt), 0);
    cr_assert_eq(melora_noise_normal(b, 9, 5, cnt - 5), 0);
    cr_assert(memcmp(a + 5, b, (cnt - 5) * sizeof(float)) == 0);
    free(a); free(b); free(c);
}

/* Moments within 5 sigma of their sampling distribution; N = 2^20. */
Test(rng, stream_statistics) {
    const int64_t N = 1 << 20;
    float *a = tu_const(N, 0);
    double s1 = 0, s2 = 0, s3 = 0, s4 = 0;
    cr_assert_eq(melora_noise_normal(a, 7, 11, N), 0);
    for (int64_t i = 0; i < N; i++) {
        double v = a[i];
        s1 += v; s2 += v * v; s3 += v * v * v; s4 += v * v * v * v;
    }
    double sd = 1.0 / sqrt((double)N);
    cr_assert(fabs(s1 / N) < 5 * sd, "normal mean %g", s1 / N);
    cr_assert(fabs(s2 / N - 1) < 5 * sqrt(2.0) * sd, "normal var %g", s2 / N);
    cr_assert(fabs(s3 / N) < 5 * sqrt(15.0) * sd, "normal skew %g", s3 / N);
    cr_assert(fabs(s4 / N - 3) < 5 * sqrt(96.0) * sd, "normal kurtosis %g", s4 / N);
    cr_assert_eq(melora_noise_uniform(a, 7, 11, N), 0);
    s1 = s2 = 0;
    for (int64_t i = 0; i < N; i++) {
        cr_assert(a[i] >= 0.0f && a[i] < 1.0f);
        s1 += a[i]; s2 += (a[i] - 0.5) * (a[i] - 0.5);
    }
    cr_assert(fabs(s1 / N - 0.5) < 5 * sqrt(1 / 12.0) * sd, "uniform mean %g", s1 / N);
    cr_assert(fabs(s2 / N - 1 / 12.0) < 5 * sqrt(1 / 180.0) * sd, "uniform var %g", s2 / N);
    cr_assert_eq(melora_noise_sign(a, 7, 11, N), 0);
    s1 = 0;
    for (int64_t i = 0; i < N; i++) {
        cr_assert(a[i] == 1.0f || a[i] == -1.0f);
        s1 += a[i];
    }
    cr_assert(fabs(s1 / N) < 5 * sd, "sign mean %g", s1 / N);
    free(a);
}

/* Disjoint offsets and different seeds give uncorrelated streams; neighbours too. */
Test(rng, independent_streams) {
    const int64_t N = 1 << 18;
    float *a = tu_const(N, 0), *b = tu_const(N, 0);
    double sd = 1.0 / sqrt((double)N);
    struct { uint64_t sa, oa, sb, ob; } cases[] = {{1, 0, 1, N}, {1, 0, 2, 0}, {1, 0, 1, 1}};
    for (int c = 0; c < 3; c++) {
        double sab = 0;
        melora_noise_normal(a, cases[c].sa, cases[c].oa, N);
        melora_noise_normal(b, cases[c].sb, cases[c].ob, N);
        for (int64_t i = 0; i < N; i++) sab += (double)a[i] * b[i];
        cr_assert(fabs(sab / N) < 5 * sd, "case %d: correlation %g", c, sab / N);
    }
    /* the cosine and sine halves of one Box-Muller pair are uncorrelated too */
    double s = 0;
    melora_noise_normal(a, 3, 0, N);
    for (int64_t i = 0; i + 1 < N; i += 2) s += (double)a[i] * a[i + 1];
    cr_assert(fabs(s / (N / 2)) < 5 * sqrt(2.0) * sd, "pair correlation %g", s / (N / 2));
    free(a); free(b);
}
