/* cudacpu: forwards to the emulated cuBLAS subset */
#include "cublas_v2.h"
