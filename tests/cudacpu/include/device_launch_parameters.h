/* cudacpu: forwards to the emulated runtime */
#include "cuda_runtime.h"
