/* cudacpu stand-in for the CUDA runtime header.  Test builds only. */
#ifndef CUDACPU_CUDA_RUNTIME_H
#define CUDACPU_CUDA_RUNTIME_H
#include "cudacpu/defs.h"
#include "cudacpu/sched.h"
#include "cudacpu/device.h"
#include "cudacpu/api.h"
#endif
