/* cudacpu stand-in for the toolkit's cuda_bf16.h (__nv_bfloat16, conversions).  Test builds only. */
#ifndef CUDACPU_CUDA_BF16_H
#define CUDACPU_CUDA_BF16_H
#include "cudacpu/half.h"
#endif
