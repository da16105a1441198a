/* Emulator speed figures (make bench).  Uses cudacpu internals for the
 * switch counter, so this file is for the emulator only. */
#include <chrono>
#include <cstdio>

__global__ void barrier_loop(float *x, int iters) {
  __shared__ float s[256];
  float v = x[blockIdx.x * blockDim.x + threadIdx.x];
  for (int i = 0; i < iters; ++i) {
    s[threadIdx.x] = v;
    __syncthreads();
    v += s[(threadIdx.x + 1) % blockDim.x];
    __syncthreads();
  }
  x[blockIdx.x * blockDim.x + threadIdx.x] = v;
}
__global__ void shuffle_loop(float *x, int iters) {
  float v = x[blockIdx.x * blockDim.x + threadIdx.x];
  for (int i = 0; i < iters; ++i)
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  x[blockIdx.x * blockDim.x + threadIdx.x] = v;
}
__global__ void elementwise(int n, float a, const float *x, float *y) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}

template <class F> static void measure(const char *what, F f) {
  auto &st = cudacpu::detail::stats();
  unsigned long long s0 = st.switches.load(), t0 = st.threads.load();
  auto a = std::chrono::steady_clock::now();
  f();
  cudaDeviceSynchronize();
  double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
  unsigned long long sw = st.switches.load() - s0, th = st.threads.load() - t0;
  std::printf("%-44s %8.3f s  %6.2f M switches/s  %6.2f M threads/s\n", what, sec,
              sw / sec / 1e6, th / sec / 1e6);
}

int main() {
  const int n = 1 << 22;
  float *x, *y;
  cudaMalloc(&x, n * sizeof(float));
  cudaMalloc(&y, n * sizeof(float));
  cudaMemset(x, 0, n * sizeof(float));
  cudaMemset(y, 0, n * sizeof(float));
  measure("barriers: 64 blocks x 256 thr x 200 syncs", [&] { barrier_loop<<<64, 256>>>(x, 100); });
  measure("shuffles: 64 blocks x 256 thr x 500 shfl", [&] { shuffle_loop<<<64, 256>>>(x, 100); });
  measure("elementwise: 4M threads, no sync", [&] {
    elementwise<<<n / 256, 256>>>(n, 2.0f, x, y);
  });
  cudaFree(x);
  cudaFree(y);
  return cudaGetLastError() == cudaSuccess ? 0 : 1;
}
