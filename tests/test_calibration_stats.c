/* The calibration experiment's paired statistics (paper_repro/calibration/metrics.h)
   against cases worked by hand. */
#include <criterion/criterion.h>
#include <math.h>

#include "paper_repro/calibration/metrics.h"

/* a - b = 1, 2, 3, 4, 5: mean 3, sample std sqrt(10/4), 95% half-width
   2.776 sqrt(2.5) / sqrt(5) = 2.776 / sqrt(2) = 1.96293 */
Test(calibration_stats, paired_interval) {
    const double a[5] = {1.5, 2.5, 3.5, 4.5, 5.5}, b[5] = {0.5, 0.5, 0.5, 0.5, 0.5};
    double mean = -1, half = -1;
    calib_paired(&mean, &half, a, b, 5);
    cr_assert(fabs(mean - 3.0) < 1e-12);
    cr_assert(fabs(half - 2.776 * sqrt(2.5) / sqrt(5.0)) < 1e-12);
    cr_assert(fabs(half - 1.9629284) < 1e-6);
    /* the interval [1.04, 4.96] excludes 0 */
    cr_assert(mean - half > 0);
}

/* Equal differences: no spread, a zero-width interval; one pair: no interval at all. */
Test(calibration_stats, degenerate) {
    const double a[3] = {2, 3, 4}, b[3] = {1, 2, 3};
    double mean, half;
    calib_paired(&mean, &half, a, b, 3);
    cr_assert(fabs(mean - 1.0) < 1e-12 && half == 0.0);
    calib_paired(&mean, &half, a, b, 1);
    cr_assert(mean == 1.0 && half == 0.0);
    calib_paired(&mean, &half, a, b, 0);
    cr_assert(mean == 0.0 && half == 0.0);
}

/* Student's t quantiles used for 2..8 seeds (tables of the t distribution). The casts round
   each constant to double: where FLT_EVAL_METHOD is 2 (x87, -m32) a bare 12.706 keeps long
   double precision. */
Test(calibration_stats, t_quantiles) {
    cr_assert_eq(calib_t975(1), (double)12.706);
    cr_assert_eq(calib_t975(2), (double)4.303);
    cr_assert_eq(calib_t975(4), (double)2.776);
    cr_assert_eq(calib_t975(7), (double)2.365);
    cr_assert_eq(calib_t975(30), (double)1.96);
    /* decreasing in the degrees of freedom */
    for (int df = 1; df < 7; df++) cr_assert(calib_t975(df) > calib_t975(df + 1));
}
