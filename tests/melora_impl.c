/* The one translation unit of the test binary that holds the implementation. */
#define MELORA_IMPLEMENTATION
#include "melora.h"
