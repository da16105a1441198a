/* The calibration experiment's metrics (paper_repro/calibration/metrics.h) against cases
   computed by hand. */
#include <criterion/criterion.h>
#include <math.h>

#include "paper_repro/calibration/metrics.h"

#define NEAR(a, b) cr_assert(fabs((double)(a) - (double)(b)) < 1e-6, "%s = %.9f, expected %.9f", #a, (double)(a), (double)(b))

/* Four examples, three classes. */
static const float P4[4 * 3] = {
    0.7f, 0.2f, 0.1f, /* y 0: correct, conf 0.7 */
    0.1f, 0.6f, 0.3f, /* y 2: wrong (argmax 1), conf 0.6 */
    0.2f, 0.2f, 0.6f, /* y 2: correct, conf 0.6 */
    0.9f, 0.05f, 0.05f /* y 1: wrong (argmax 0), conf 0.9 */
};
static const int Y4[4] = {0, 2, 2, 1};

Test(calibration_metrics, accuracy) {
    NEAR(calib_accuracy(P4, Y4, 4, 3), 0.5);
    /* ties go to the first maximum */
    {
        const float p[3] = {0.4f, 0.4f, 0.2f};
        const int y0 = 0, y1 = 1;
        NEAR(calib_accuracy(p, &y0, 1, 3), 1.0);
        NEAR(calib_accuracy(p, &y1, 1, 3), 0.0);
    }
}

Test(calibration_metrics, nll) {
    /* -(log 0.7 + log 0.3 + log 0.6 + log 0.05) / 4 */
    double want = -(log(0.7) + log(0.3) + log(0.6) + log(0.05)) / 4.0;
    cr_assert(fabs(calib_nll(P4, Y4, 4, 3) - want) < 1e-6);
    /* a zero probability is clamped at CALIB_PMIN, not infinite */
    {
        const float p[2] = {1.0f, 0.0f};
        const int y = 1;
        NEAR(calib_nll(p, &y, 1, 2), -log(CALIB_PMIN));
    }
}

Test(calibration_metrics, brier) {
    /* (0.09+0.04+0.01) + (0.01+0.36+0.49) + (0.04+0.04+0.16) + (0.81+0.9025+0.0025) = 2.955 */
    cr_assert(fabs(calib_brier(P4, Y4, 4, 3) - 2.955 / 4.0) < 1e-6);
    {
        const float p[3] = {0.0f, 1.0f, 0.0f};
        const int ok = 1, bad = 0;
        NEAR(calib_brier(p, &ok, 1, 3), 0.0);
        NEAR(calib_brier(p, &bad, 1, 3), 2.0);
    }
}

Test(calibration_metrics, ece_by_hand) {
    /* 10 bins: conf 0.6 (two, one right) -> bin (0.5,0.6]: |0.5 - 0.6| * 2/4;
       conf 0.7 (right) -> (0.6,0.7]: |1 - 0.7| * 1/4; conf 0.9 (wrong) -> (0.8,0.9]: 0.9 * 1/4.
       ECE = 0.05 + 0.075 + 0.225 = 0.35 */
    cr_assert(fabs(calib_ece(P4, Y4, 4, 3, 10) - 0.35) < 1e-6);
    /* 2 bins: (0,0.5] empty; (0.5,1] holds all: |acc 0.5 - conf 0.7| = 0.2 */
    cr_assert(fabs(calib_ece(P4, Y4, 4, 3, 2) - 0.2) < 1e-6);
    /* one bin: |accuracy - mean confidence| */
    cr_assert(fabs(calib_ece(P4, Y4, 4, 3, 1) - 0.2) < 1e-6);
}

Test(calibration_metrics, ece_15_bins_and_edges) {
    /* bins are (b/bins, (b+1)/bins]: with 4 bins a confidence of exactly 0.75 falls in
       bin 2 = (0.5, 0.75], 0.8 in bin 3; both correct -> ECE = (0.25 + 0.2)/2. The float
       edges are written (float)0.7f: where FLT_EVAL_METHOD is 2 (x87, -m32) a bare 0.7f
       keeps long double precision and only the cast rounds it to float. */
    const float p[4] = {0.75f, 0.25f, 0.8f, 0.2f};
    const int y[2] = {0, 0};
    double want = ((1.0 - 0.75) + (1.0 - (double)(float)0.8f)) / 2.0;
    cr_assert(fabs(calib_ece(p, y, 2, 2, 4) - want) < 1e-6);
    cr_assert_eq(calib_bin(0.75, 4), 2);
    cr_assert_eq(calib_bin(0.8, 4), 3);
    cr_assert_eq(calib_bin((double)(float)0.7f, 15), 10);
    cr_assert_eq(calib_bin(1.0, 15), 14);
    cr_assert_eq(calib_bin(0.0, 15), 0);
    cr_assert_eq(calib_bin(0.5, 10), 4); /* (0.4, 0.5] */
    cr_assert_eq(calib_bin((double)(float)0.6f, 10), 5); /* 0.6f is the float edge of (0.5, 0.6] */
    cr_assert_eq(calib_bin((double)(float)0.7f, 10), 6);
    cr_assert_eq(calib_bin((double)(float)0.3f, 15), 4); /* 0.3f = 4.5/15: (4/15, 5/15] */
    /* perfectly calibrated: 0.8 confidence, 4 of 5 right -> 0 */
    {
        const float q[10] = {0.8f, 0.2f, 0.8f, 0.2f, 0.8f, 0.2f, 0.8f, 0.2f, 0.8f, 0.2f};
        const int yy[5] = {0, 0, 0, 0, 1};
        cr_assert(fabs(calib_ece(q, yy, 5, 2, 15) - (0.8 - (double)(float)0.8f)) < 1e-6);
    }
}

Test(calibration_metrics, reliability_bins) {
    int count[10];
    double conf[10], acc[10];
    calib_reliability(count, conf, acc, P4, Y4, 4, 3, 10);
    cr_assert_eq(count[5], 2);
    cr_assert_eq(count[6], 1);
    cr_assert_eq(count[8], 1);
    cr_assert_eq(count[0] + count[1] + count[2] + count[3] + count[4] + count[7] + count[9], 0);
    NEAR(acc[5], 0.5);
    NEAR(conf[5], 0.6f);
    NEAR(acc[8], 0.0);
}

Test(calibration_metrics, entropy) {
    const float u[4] = {0.25f, 0.25f, 0.25f, 0.25f}, d[3] = {1.0f, 0.0f, 0.0f};
    const float h[2] = {0.5f, 0.5f};
    NEAR(calib_entropy(u, 4), log(4.0));
    NEAR(calib_entropy(d, 3), 0.0);
    NEAR(calib_entropy(h, 2), log(2.0));
}

Test(calibration_metrics, auroc_by_hand) {
    /* positives {0.9, 0.4}, negatives {0.5, 0.1, 0.3}: pairs won 3 + 2 = 5 of 6 */
    const double pos[2] = {0.9, 0.4}, neg[3] = {0.5, 0.1, 0.3};
    NEAR(calib_auroc(pos, 2, neg, 3), 5.0 / 6.0);
    /* perfect separation and its reverse */
    {
        const double a[2] = {2, 3}, b[2] = {0, 1};
        NEAR(calib_auroc(a, 2, b, 2), 1.0);
        NEAR(calib_auroc(b, 2, a, 2), 0.0);
    }
    /* ties count one half: pos {1, 1}, neg {1, 0}: pairs 0.5 + 1 + 0.5 + 1 = 3 of 4 */
    {
        const double a[2] = {1, 1}, b[2] = {1, 0};
        NEAR(calib_auroc(a, 2, b, 2), 0.75);
    }
    /* all equal: 0.5 */
    {
        const double a[3] = {7, 7, 7}, b[1] = {7};
        NEAR(calib_auroc(a, 3, b, 1), 0.5);
    }
    /* empty set: -1 */
    cr_assert(calib_auroc(pos, 2, neg, 0) < 0);
}
