/* Launch spellings the cudacpu source filter must handle.  Plain CUDA. */
#include "kernels.h"

template <typename T> struct Box {
  T v;
};
namespace outer {
namespace inner {
__global__ void add_one(int *x) { atomicAdd(x, 1); }
} // namespace inner
template <typename T, int N> __global__ void add_n(int *x, T) { atomicAdd(x, N); }
} // namespace outer
template <typename B> __global__ void add_box(int *x, B b) { atomicAdd(x, (int)b.v); }

#define LAUNCH_ADD(ptr) outer::inner::add_one<<<1, 1>>>(ptr)

/* returns the counter after all launches (expected 1+1+2+3+5+1+4+1 = 18) */
int run_launch_forms(void) {
  int *d, h = -1;
  if (cudaMalloc(&d, sizeof(int)) != cudaSuccess) return -1;
  cudaMemset(d, 0, sizeof(int));
  outer::inner::add_one<<<1, 1>>>(d);                     /* qualified name: +1 */
  ::outer::inner::add_one <<< dim3(1, 1, 1), dim3(1) >>> (d); /* spaces, leading :: +1 */
  outer::add_n<int, 2><<<1, 1, 0>>>(d, 0);                /* template args: +2 */
  add_box<Box<int>><<<1, 1, 0, 0>>>(d, Box<int>{3});       /* nested template, `>><<<`: +3 */
  if (h < 0)
    outer::add_n<char,
                 5>
        <<<(1 + 0),
           1>>>(d,
                'x');                                     /* multi-line, unbraced if: +5 */
  LAUNCH_ADD(d);                                           /* inside a macro: +1 */
  for (int i = 0; i < 2; ++i) outer::add_n<long, 2><<<1, 1>>>(d, 0L); /* in a loop: +4 */
  void (*fp)(int *) = outer::inner::add_one;
  fp<<<1, 1>>>(d);                                         /* through a pointer: +1 */
  if (cudaDeviceSynchronize() != cudaSuccess) return -2;
  cudaMemcpy(&h, d, sizeof(int), cudaMemcpyDeviceToHost);
  cudaFree(d);
  return h;
}
