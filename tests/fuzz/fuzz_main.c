/* libFuzzer entry: the low bit of the first byte picks the build of melora.h under test,
   the vector kernels (fuzz_vec) or the portable loops (fuzz_port, -DMELORA_NO_VECTOR);
   both are fuzz_api.c compiled with MELORA_STATIC. */
#include <stddef.h>
#include <stdint.h>

int fuzz_vec(const uint8_t *data, size_t size);
int fuzz_port(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    return (data[0] & 1) ? fuzz_port(data, size) : fuzz_vec(data, size);
}
