/* Test kernels for the cudacpu emulator.  Plain CUDA: compiled through
 * cudacpu-cc for the tests and with nvcc -arch=sm_80 -c as a check. */
#include "kernels.h"
#include <cstdio>
#include <cstdlib>

#define CK(call)                                                       \
  do {                                                                 \
    cudaError_t e_ = (call);                                           \
    if (e_ != cudaSuccess) return e_;                                  \
  } while (0)

static cudaError_t finish() {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  return cudaDeviceSynchronize();
}

/* ---- grid-stride elementwise ------------------------------------------ */
__global__ void saxpy_kernel(int n, float a, const float *__restrict__ x, float *__restrict__ y) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
    y[i] = fmaf(a, x[i], y[i]);
}
cudaError_t run_saxpy(int n, float a, const float *x, float *y, int grid, int block) {
  float *dx, *dy;
  CK(cudaMalloc(&dx, n * sizeof(float)));
  CK(cudaMalloc(&dy, n * sizeof(float)));
  CK(cudaMemcpy(dx, x, n * sizeof(float), cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dy, y, n * sizeof(float), cudaMemcpyHostToDevice));
  saxpy_kernel<<<grid, block>>>(n, a, dx, dy);
  CK(finish());
  CK(cudaMemcpy(y, dy, n * sizeof(float), cudaMemcpyDeviceToHost));
  CK(cudaFree(dx));
  return cudaFree(dy);
}

/* ---- shared-memory tree reduction ---------------------------------------- */
template <int BS> __global__ void tree_sum_kernel(int n, const float *x, float *partial) {
  __shared__ float s[BS];
  float acc = 0.0f;
  for (int i = blockIdx.x * BS + threadIdx.x; i < n; i += BS * gridDim.x) acc += x[i];
  s[threadIdx.x] = acc;
  __syncthreads();
  for (int stride = BS / 2; stride > 0; stride >>= 1) {
    if ((int)threadIdx.x < stride) s[threadIdx.x] += s[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}
cudaError_t run_tree_sum(int n, const float *x, int grid, float *sum) {
  float *dx, *dp, *dsum;
  CK(cudaMalloc(&dx, n * sizeof(float)));
  CK(cudaMalloc(&dp, grid * sizeof(float)));
  CK(cudaMalloc(&dsum, sizeof(float)));
  CK(cudaMemcpy(dx, x, n * sizeof(float), cudaMemcpyHostToDevice));
  tree_sum_kernel<256><<<grid, 256>>>(n, dx, dp);
  CK(finish());
  tree_sum_kernel<256><<<1, 256>>>(grid, dp, dsum); /* second pass: one block */
  CK(finish());
  CK(cudaMemcpy(sum, dsum, sizeof(float), cudaMemcpyDeviceToHost));
  cudaFree(dx);
  cudaFree(dp);
  return cudaFree(dsum);
}

/* ---- warp shuffles, ballot, warp-0-only reduction ------------------------ */
__global__ void warp_ops_kernel(int n, const float *x, WarpOut o) {
  __shared__ float wsum[32];
  const unsigned full = 0xffffffffu;
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32, gw = i / 32;
  float v = i < n ? x[i] : 0.0f;

  float d = v;
  for (int off = 16; off > 0; off >>= 1) d += __shfl_down_sync(full, d, off);
  if (lane == 0) o.down[gw] = d;

  float xr = v;
  for (int m = 1; m < 32; m <<= 1) xr += __shfl_xor_sync(full, xr, m);
  o.xr[i] = xr;

  float sc = v;
  for (int off = 1; off < 32; off <<= 1) {
    float t = __shfl_up_sync(full, sc, off);
    if (lane >= off) sc += t;
  }
  o.scan[i] = sc;

  o.bc[i] = __shfl_sync(full, v, 3);

  float s8 = v;
  for (int m = 1; m < 8; m <<= 1) s8 += __shfl_xor_sync(full, s8, m, 8);
  o.seg8[i] = s8;

  unsigned b = __ballot_sync(full, v > 0.0f);
  int any = __any_sync(full, v < 0.0f), all = __all_sync(full, v > -100.0f);
  int red = (int)__reduce_add_sync(full, (int)v);
  if (lane == 0) {
    o.ballot[gw] = b;
    o.anyall[gw] = any | (all << 1);
    o.red[gw] = red;
  }

  /* block sum: lane 0 of each warp stores, then only warp 0 reduces */
  if (lane == 0) wsum[warp] = d;
  int c = __syncthreads_count(v > 0.0f);
  if (warp == 0) {
    int nw = (blockDim.x + 31) / 32;
    float t = lane < nw ? wsum[lane] : 0.0f;
    for (int off = 16; off > 0; off >>= 1) t += __shfl_down_sync(full, t, off);
    if (lane == 0) {
      o.blocksum[blockIdx.x] = t;
      o.cnt[blockIdx.x] = c;
    }
  }
}
cudaError_t run_warp_ops(int n, int block, const float *x, WarpOut out) {
  int grid = (n + block - 1) / block, nw = n / 32;
  float *dx, *f;
  unsigned *bal;
  int *ints;
  CK(cudaMalloc(&dx, n * sizeof(float)));
  CK(cudaMalloc(&f, (nw + 4 * n + grid) * sizeof(float)));
  CK(cudaMalloc(&bal, nw * sizeof(unsigned)));
  CK(cudaMalloc(&ints, (2 * nw + grid) * sizeof(int)));
  CK(cudaMemcpy(dx, x, n * sizeof(float), cudaMemcpyHostToDevice));
  WarpOut d;
  d.down = f;
  d.xr = f + nw;
  d.scan = d.xr + n;
  d.bc = d.scan + n;
  d.seg8 = d.bc + n;
  d.blocksum = d.seg8 + n;
  d.ballot = bal;
  d.anyall = ints;
  d.red = ints + nw;
  d.cnt = ints + 2 * nw;
  warp_ops_kernel<<<grid, block>>>(n, dx, d);
  CK(finish());
  CK(cudaMemcpy(out.down, d.down, nw * sizeof(float), cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(out.xr, d.xr, n * sizeof(float), cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(out.scan, d.scan, n * sizeof(float), cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(out.bc, d.bc, n * sizeof(float), cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(out.seg8, d.seg8, n * sizeof(float), cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(out.blocksum, d.blocksum, grid * sizeof(float), cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(out.ballot, d.ballot, nw * sizeof(unsigned), cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(out.anyall, d.anyall, nw * sizeof(int), cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(out.red, d.red, nw * sizeof(int), cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(out.cnt, d.cnt, grid * sizeof(int), cudaMemcpyDeviceToHost));
  cudaFree(dx);
  cudaFree(f);
  cudaFree(bal);
  return cudaFree(ints);
}

/* ---- dynamic shared memory histogram with atomics --------------------- */
__global__ void histogram_kernel(int n, const unsigned *v, int nbins, unsigned *hist) {
  extern __shared__ unsigned local[];
  for (int b = threadIdx.x; b < nbins; b += blockDim.x) local[b] = 0;
  __syncthreads();
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
    atomicAdd(&local[v[i] % nbins], 1u);
  __syncthreads();
  for (int b = threadIdx.x; b < nbins; b += blockDim.x)
    if (local[b]) atomicAdd(&hist[b], local[b]);
}
cudaError_t run_histogram(int n, const unsigned *v, int nbins, unsigned *hist, int grid, int block) {
  unsigned *dv, *dh;
  CK(cudaMalloc(&dv, n * sizeof(unsigned)));
  CK(cudaMalloc(&dh, nbins * sizeof(unsigned)));
  CK(cudaMemcpy(dv, v, n * sizeof(unsigned), cudaMemcpyHostToDevice));
  CK(cudaMemset(dh, 0, nbins * sizeof(unsigned)));
  histogram_kernel<<<grid, block, nbins * sizeof(unsigned)>>>(n, dv, nbins, dh);
  CK(finish());
  CK(cudaMemcpy(hist, dh, nbins * sizeof(unsigned), cudaMemcpyDeviceToHost));
  cudaFree(dv);
  return cudaFree(dh);
}

/* ---- tiled shared-memory SGEMM (row-major C[M,N] = A[M,K] B[K,N]) ---- */
#define TILE 16
__global__ void tiled_sgemm_kernel(int M, int N, int K, const float *A, const float *B, float *C) {
  __shared__ float As[TILE][TILE];
  __shared__ float Bs[TILE][TILE + 1];
  int row = blockIdx.y * TILE + threadIdx.y, col = blockIdx.x * TILE + threadIdx.x;
  float acc = 0.0f;
  for (int t = 0; t < K; t += TILE) {
    As[threadIdx.y][threadIdx.x] =
        (row < M && t + (int)threadIdx.x < K) ? A[row * K + t + threadIdx.x] : 0.0f;
    Bs[threadIdx.y][threadIdx.x] =
        (col < N && t + (int)threadIdx.y < K) ? B[(t + threadIdx.y) * N + col] : 0.0f;
    __syncthreads();
#pragma unroll
    for (int k = 0; k < TILE; ++k) acc += As[threadIdx.y][k] * Bs[k][threadIdx.x];
    __syncthreads();
  }
  if (row < M && col < N) C[row * N + col] = acc;
}
cudaError_t run_tiled_sgemm(int M, int N, int K, const float *A, const float *B, float *C) {
  float *dA, *dB, *dC;
  CK(cudaMalloc(&dA, (size_t)M * K * sizeof(float)));
  CK(cudaMalloc(&dB, (size_t)K * N * sizeof(float)));
  CK(cudaMalloc(&dC, (size_t)M * N * sizeof(float)));
  CK(cudaMemcpy(dA, A, (size_t)M * K * sizeof(float), cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dB, B, (size_t)K * N * sizeof(float), cudaMemcpyHostToDevice));
  dim3 block(TILE, TILE), grid((N + TILE - 1) / TILE, (M + TILE - 1) / TILE);
  tiled_sgemm_kernel<<<grid, block>>>(M, N, K, dA, dB, dC);
  CK(finish());
  CK(cudaMemcpy(C, dC, (size_t)M * N * sizeof(float), cudaMemcpyDeviceToHost));
  cudaFree(dA);
  cudaFree(dB);
  return cudaFree(dC);
}

/* ---- missing barrier ------------------------------------------------------- */
__global__ void shift_kernel(const float *in, float *out, int with_barrier) {
  __shared__ float s[1024];
  int t = threadIdx.x;
  s[t] = in[t];
  if (with_barrier) __syncthreads();
  out[t] = t > 0 ? s[t - 1] : 0.0f;
}
cudaError_t run_shift(int n, const float *in, float *out, bool with_barrier) {
  float *di, *dout;
  CK(cudaMalloc(&di, n * sizeof(float)));
  CK(cudaMalloc(&dout, n * sizeof(float)));
  CK(cudaMemcpy(di, in, n * sizeof(float), cudaMemcpyHostToDevice));
  shift_kernel<<<1, n>>>(di, dout, with_barrier ? 1 : 0);
  CK(finish());
  CK(cudaMemcpy(out, dout, n * sizeof(float), cudaMemcpyDeviceToHost));
  cudaFree(di);
  return cudaFree(dout);
}

/* ---- deadlocks (on a GPU these hang or are undefined) -------------------- */
__global__ void deadlock_kernel(int which, float *out) {
  int t = threadIdx.x, lane = t % 32;
  float v = (float)t;
  if (which == 0) {
    if (t < 16) __syncthreads();
  } else if (which == 1) {
    if (lane == 0) __syncthreads();
    else v = __shfl_down_sync(0xffffffffu, v, 1);
  } else if (which == 2) {
    if (lane < 16) v = (float)__ballot_sync(0xffffffffu, v > 3.0f);
    else v = __shfl_xor_sync(0xffffffffu, v, 1);
  } else {
    v = __shfl_xor_sync(0x0000fffeu, v, 1);
  }
  out[t] = v;
}
cudaError_t run_deadlock(int which) {
  float *d;
  CK(cudaMalloc(&d, 64 * sizeof(float)));
  deadlock_kernel<<<2, 64>>>(which, d);
  cudaError_t e = cudaGetLastError();
  cudaError_t s = cudaDeviceSynchronize();
  cudaFree(d);
  return e != cudaSuccess ? e : s;
}

/* ---- launch configuration errors ---------------------------------------- */
__global__ void noop_kernel(int *p) {
  if (p) *p = 1;
}
cudaError_t run_launch_config(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                              unsigned bz, size_t smem) {
  noop_kernel<<<dim3(gx, gy, gz), dim3(bx, by, bz), smem>>>(nullptr);
  return finish();
}
__global__ void big_smem_kernel(size_t bytes, int *ok) {
  extern __shared__ unsigned char big[];
  for (size_t i = threadIdx.x; i < bytes; i += blockDim.x) big[i] = (unsigned char)(i * 7u);
  __syncthreads();
  int good = 1;
  for (size_t i = threadIdx.x; i < bytes; i += blockDim.x)
    if (big[bytes - 1 - i] != (unsigned char)((bytes - 1 - i) * 7u)) good = 0;
  good = __syncthreads_and(good);
  if (threadIdx.x == 0) *ok = good;
}
cudaError_t run_big_smem(size_t bytes, bool optin, int *ok) {
  int *d;
  CK(cudaMalloc(&d, sizeof(int)));
  CK(cudaMemset(d, 0, sizeof(int)));
  if (optin)
    CK(cudaFuncSetAttribute(big_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
  big_smem_kernel<<<1, 128, bytes>>>(bytes, d);
  cudaError_t e = finish();
  if (e == cudaSuccess) CK(cudaMemcpy(ok, d, sizeof(int), cudaMemcpyDeviceToHost));
  cudaFree(d);
  return e;
}

/* ---- host pointer passed to a kernel (the missing cudaMemcpy) ----------- */
__global__ void scale_kernel(float *x, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= 2.0f;
}
cudaError_t run_host_pointer_arg(float *host) {
  scale_kernel<<<1, 32>>>(host, 4);
  return finish();
}

/* ---- 2-D indexing and warp lanes in 2-D blocks ------------------------ */
__global__ void index2d_kernel(int *id, int *lane0) {
  int tib = threadIdx.y * blockDim.x + threadIdx.x;
  int bid = blockIdx.y * gridDim.x + blockIdx.x;
  int g = bid * blockDim.x * blockDim.y + tib;
  id[g] = (int)(((blockIdx.y * 1000 + blockIdx.x) * 100 + threadIdx.y) * 100 + threadIdx.x);
  int nthreads = blockDim.x * blockDim.y;
  unsigned mask = 0xffffffffu;
  int wbase = tib & ~31;
  if (nthreads - wbase < 32) mask = (1u << (nthreads - wbase)) - 1u;
  lane0[g] = __shfl_sync(mask, g, 0);
}
cudaError_t run_index2d(unsigned gx, unsigned gy, unsigned bx, unsigned by, int *id, int *lane0) {
  size_t n = (size_t)gx * gy * bx * by;
  int *d;
  CK(cudaMalloc(&d, 2 * n * sizeof(int)));
  index2d_kernel<<<dim3(gx, gy), dim3(bx, by)>>>(d, d + n);
  CK(finish());
  CK(cudaMemcpy(id, d, n * sizeof(int), cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(lane0, d + n, n * sizeof(int), cudaMemcpyDeviceToHost));
  return cudaFree(d);
}

/* ---- math and integer intrinsics --------------------------------------- */
__global__ void intrinsics_kernel(float *f, int *i, unsigned *u) {
  if (threadIdx.x != 0) return;
  float s, c;
  sincosf(0.5f, &s, &c);
  f[0] = s;
  f[1] = c;
  f[2] = rsqrtf(4.0f);
  f[3] = __fmul_rn(1.5f, 2.0f);
  f[4] = fminf(3.0f, -1.0f);
  f[5] = fmaxf(3.0f, -1.0f);
  f[6] = expf(1.0f);
  f[7] = logf(2.0f);
  f[8] = sqrtf(2.0f);
  f[9] = __saturatef(1.5f);
  f[10] = __int_as_float(0x3f800000);
  float4 q = make_float4(1.0f, 2.0f, 3.0f, 4.0f);
  f[11] = q.x + q.y + q.z + q.w;
  f[12] = fmaf(2.0f, 3.0f, 1.0f);
  f[13] = __expf(0.0f) + __logf(1.0f);
  i[0] = __float2int_rn(2.5f);
  i[1] = __float2int_rn(3.5f);
  i[2] = __float2int_rn(-2.5f);
  i[3] = __float2int_rz(-2.7f);
  i[4] = __float2int_rd(-2.1f);
  i[5] = __float2int_ru(2.1f);
  i[6] = __float2int_rn(3e9f);
  i[7] = __popc(0xf0f0u);
  i[8] = __clz(1);
  i[9] = __ffs(8);
  i[10] = __float_as_int(1.0f);
  i[11] = min(3, -2) + max(3, -2);
  u[0] = __umulhi(0xffffffffu, 0xffffffffu);
  u[1] = __brev(1u);
  u[2] = __byte_perm(0x33221100u, 0x77665544u, 0x4567u);
  u[3] = __funnelshift_l(0x80000000u, 0x1u, 1);
  uint4 w = make_uint4(1u, 2u, 3u, 4u);
  u[4] = w.x + w.y + w.z + w.w;
  u[5] = (unsigned)sizeof(float4) + (unsigned)alignof(float4) * 100u;
}
cudaError_t run_intrinsics(float *f, int *i, unsigned *u, int nf, int ni, int nu) {
  float *df;
  int *di;
  unsigned *du;
  CK(cudaMalloc(&df, nf * sizeof(float)));
  CK(cudaMalloc(&di, ni * sizeof(int)));
  CK(cudaMalloc(&du, nu * sizeof(unsigned)));
  intrinsics_kernel<<<1, 32>>>(df, di, du);
  CK(finish());
  CK(cudaMemcpy(f, df, nf * sizeof(float), cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(i, di, ni * sizeof(int), cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(u, du, nu * sizeof(unsigned), cudaMemcpyDeviceToHost));
  cudaFree(df);
  cudaFree(di);
  return cudaFree(du);
}

/* ---- template kernel in a namespace, multi-line launch ---------------- */
namespace tk {
template <typename T, int Mul> __global__ void mul_add(T *x, int n, T add) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] = x[i] * Mul + add;
}
} // namespace tk
cudaError_t run_template_launch(int n, float *x) {
  float *d;
  cudaStream_t st;
  CK(cudaStreamCreate(&st));
  CK(cudaMalloc(&d, n * sizeof(float)));
  CK(cudaMemcpyAsync(d, x, n * sizeof(float), cudaMemcpyHostToDevice, st));
  tk::mul_add<float, 3>
      <<<(n + 63) / 64,
         64, 0, st>>>(d, n,
                      0.5f);
  CK(cudaGetLastError());
  CK(cudaMemcpyAsync(x, d, n * sizeof(float), cudaMemcpyDeviceToHost, st));
  CK(cudaStreamSynchronize(st));
  CK(cudaStreamDestroy(st));
  return cudaFree(d);
}

/* ---- __constant__ and __device__ symbols ------------------------------- */
__constant__ float c_coef[4];
__device__ float g_bias[8];
__global__ void symbols_kernel(float *out, const float *bias, int n) {
  int i = threadIdx.x;
  if (i < n) out[i] = c_coef[i % 4] * (float)i + bias[i % 8];
}
cudaError_t run_symbols(int n, float *out) {
  float coef[4] = {1.0f, 2.0f, 3.0f, 4.0f}, bias[8];
  for (int i = 0; i < 8; ++i) bias[i] = 0.25f * i;
  CK(cudaMemcpyToSymbol(c_coef, coef, sizeof coef));
  CK(cudaMemcpyToSymbol(g_bias, bias, sizeof bias));
  void *pb;
  CK(cudaGetSymbolAddress(&pb, g_bias));
  float *d;
  CK(cudaMalloc(&d, n * sizeof(float)));
  symbols_kernel<<<1, n>>>(d, (const float *)pb, n);
  CK(finish());
  CK(cudaMemcpy(out, d, n * sizeof(float), cudaMemcpyDeviceToHost));
  float back[4];
  CK(cudaMemcpyFromSymbol(back, c_coef, sizeof back));
  if (back[3] != 4.0f) return cudaErrorUnknown;
  return cudaFree(d);
}

/* ---- global atomics from many blocks ------------------------------------ */
__global__ void atomics_kernel(unsigned long long *count, int *maxv, float *fsum, unsigned *inc) {
  int g = blockIdx.x * blockDim.x + threadIdx.x;
  atomicAdd(count, 1ull);
  atomicMax(maxv, (g * 7919) % 100003);
  atomicAdd(fsum, 1.0f);
  atomicInc(inc, 9u);
}
cudaError_t run_global_atomics(int blocks, int block, unsigned long long *count, int *maxv,
                               float *fsum, unsigned *inc) {
  unsigned long long *dc;
  int *dm;
  float *df;
  unsigned *di;
  CK(cudaMalloc(&dc, sizeof *dc));
  CK(cudaMalloc(&dm, sizeof *dm));
  CK(cudaMalloc(&df, sizeof *df));
  CK(cudaMalloc(&di, sizeof *di));
  CK(cudaMemset(dc, 0, sizeof *dc));
  CK(cudaMemset(dm, 0, sizeof *dm));
  CK(cudaMemset(df, 0, sizeof *df));
  CK(cudaMemset(di, 0, sizeof *di));
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  CK(cudaEventRecord(e0));
  atomics_kernel<<<blocks, block>>>(dc, dm, df, di);
  CK(cudaEventRecord(e1));
  CK(cudaEventSynchronize(e1));
  float ms = -1.0f;
  CK(cudaEventElapsedTime(&ms, e0, e1));
  if (!(ms >= 0.0f)) return cudaErrorUnknown;
  CK(cudaEventDestroy(e0));
  CK(cudaEventDestroy(e1));
  CK(finish());
  CK(cudaMemcpy(count, dc, sizeof *dc, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(maxv, dm, sizeof *dm, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(fsum, df, sizeof *df, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(inc, di, sizeof *di, cudaMemcpyDeviceToHost));
  cudaFree(dc);
  cudaFree(dm);
  cudaFree(df);
  return cudaFree(di);
}

/* ---- reading shared memory before writing it ---------------------------- */
__global__ void uninit_shared_kernel(unsigned *out) {
  __shared__ unsigned s[64];
  out[threadIdx.x] = s[threadIdx.x]; /* deliberately uninitialised */
  __syncthreads();
  s[threadIdx.x] = 7u;
}
cudaError_t run_uninit_shared(unsigned *out) {
  unsigned *d;
  CK(cudaMalloc(&d, 2 * 64 * sizeof(unsigned)));
  uninit_shared_kernel<<<1, 64>>>(d);
  uninit_shared_kernel<<<1, 64>>>(d + 64); /* new block: poisoned again */
  CK(finish());
  CK(cudaMemcpy(out, d, 2 * 64 * sizeof(unsigned), cudaMemcpyDeviceToHost));
  return cudaFree(d);
}

/* ---- cudaLaunchKernel --------------------------------------------------- */
cudaError_t run_launch_kernel_api(int n, float *x) {
  float *d;
  CK(cudaMalloc(&d, n * sizeof(float)));
  CK(cudaMemcpy(d, x, n * sizeof(float), cudaMemcpyHostToDevice));
  void *args[] = {&d, &n};
  CK(cudaLaunchKernel(scale_kernel, dim3((n + 31) / 32), dim3(32), args, 0, 0));
  CK(finish());
  CK(cudaMemcpy(x, d, n * sizeof(float), cudaMemcpyDeviceToHost));
  return cudaFree(d);
}

/* ---- __trap ------------------------------------------------------------- */
__global__ void trap_kernel(int n) {
  if ((int)threadIdx.x == n) __trap();
}
cudaError_t run_trap(void) {
  trap_kernel<<<1, 32>>>(5);
  return finish();
}
