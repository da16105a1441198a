/* Deliberate off-by-one kernel write: the ASan build of the emulator must
 * report a heap-buffer-overflow on the marked line (checked by `make asan`). */
#include <cstdio>

__global__ void off_by_one(float *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) out[i] = 1.0f; /* OOB-WRITE: i == n is one past the end */
}

int main() {
  const int n = 100;
  float *d;
  if (cudaMalloc(&d, n * sizeof(float)) != cudaSuccess) return 2;
  off_by_one<<<(n + 63) / 64, 64>>>(d, n);
  cudaError_t e = cudaDeviceSynchronize();
  std::printf("kernel finished: %s\n", cudaGetErrorString(e));
  cudaFree(d);
  return 0;
}
