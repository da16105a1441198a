/* The shared-library build of melora (make lib -> build/libmelora.so), loaded by the
   Python package in python/melora through ctypes. */
#define MELORA_IMPLEMENTATION
#include "../melora.h"
