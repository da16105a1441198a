/* cudacpu stand-in for the toolkit's cuda_fp16.h (__half, conversions).  Test builds only. */
#ifndef CUDACPU_CUDA_FP16_H
#define CUDACPU_CUDA_FP16_H
#include "cudacpu/half.h"
#endif
