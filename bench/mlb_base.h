/* bench/mlb_base.h - what every bench header shares: the includes, MLB_API (every bench
   function is static, unused ones draw no warning) and the 16-lane vector type. */
#ifndef MELORA_BENCH_MLB_BASE_H
#define MELORA_BENCH_MLB_BASE_H

#include "melora.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__GNUC__)
#define MLB_UNUSED __attribute__((unused))
#else
#define MLB_UNUSED
#endif
#define MLB_API static MLB_UNUSED

typedef float mlb__v16 __attribute__((vector_size(64)));

#endif /* MELORA_BENCH_MLB_BASE_H */
