/* cudacpu: forwards to the emulated runtime */
#ifndef CUDA_VERSION
#define CUDA_VERSION 13000
#endif
#include "cuda_runtime.h"
