/* cudacpu: CUDA-on-CPU emulation for tests.  Qualifiers, built-in types,
 * vector types, dim3, error codes and the per-thread built-in variables.
 * Selected only through -I tests/cudacpu/include; never used in production. */
#ifndef CUDACPU_DEFS_H
#define CUDACPU_DEFS_H

#ifndef __cplusplus
#error "cudacpu: CUDA sources must be compiled as C++ (use tests/cudacpu/cudacpu-cc)"
#endif

/* The emulator compiles CUDA sources, so __CUDACC__ is defined (as nvcc
 * does for both passes).  __CUDA_ARCH__ is deliberately NOT defined: the same
 * code is host and device code here, and the host branch of any
 * `#ifdef __CUDA_ARCH__` is what runs inside emulated kernels. */
#ifndef __CUDACC__
#define __CUDACC__ 1
#endif
#define CUDACPU 1
#define CUDACPU_VERSION 1
#ifndef CUDART_VERSION
#define CUDART_VERSION 13000
#endif

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cmath>
#include <climits>
#include <cfloat>
#include <ctime>

/* ---- qualifiers ------------------------------------------------------ */
#define __host__
#define __device__
#define __global__
#define __constant__
#define __managed__
#define __grid_constant__
#define __forceinline__ inline __attribute__((always_inline))
#define __align__(n) __attribute__((aligned(n)))
#define __builtin_align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)
#define __cudart_builtin__
#define CUDARTAPI
#define CUDART_CB
/* Static shared memory: one instance per host thread; every block of a
 * launch runs entirely on one host thread, one block at a time. */
#define __shared__ static thread_local
/* __noinline__ is not defined: libstdc++ uses __attribute__((__noinline__)). */

/* ---- vector types ---------------------------------------------------- */
#define CUDACPU_VEC(T, N, A1, A2, A3, A4)                                         \
  struct __attribute__((aligned(A1))) N##1 { T x; };                              \
  struct __attribute__((aligned(A2))) N##2 { T x, y; };                           \
  struct __attribute__((aligned(A3))) N##3 { T x, y, z; };                        \
  struct __attribute__((aligned(A4))) N##4 { T x, y, z, w; };                     \
  static inline N##1 make_##N##1(T x) { N##1 r; r.x = x; return r; }              \
  static inline N##2 make_##N##2(T x, T y) { N##2 r; r.x = x; r.y = y; return r; } \
  static inline N##3 make_##N##3(T x, T y, T z) {                                 \
    N##3 r; r.x = x; r.y = y; r.z = z; return r; }                                \
  static inline N##4 make_##N##4(T x, T y, T z, T w) {                            \
    N##4 r; r.x = x; r.y = y; r.z = z; r.w = w; return r; }

CUDACPU_VEC(signed char, char, 1, 2, 1, 4)
CUDACPU_VEC(unsigned char, uchar, 1, 2, 1, 4)
CUDACPU_VEC(short, short, 2, 4, 2, 8)
CUDACPU_VEC(unsigned short, ushort, 2, 4, 2, 8)
CUDACPU_VEC(int, int, 4, 8, 4, 16)
CUDACPU_VEC(unsigned int, uint, 4, 8, 4, 16)
CUDACPU_VEC(long, long, 8, 16, 8, 16)
CUDACPU_VEC(unsigned long, ulong, 8, 16, 8, 16)
CUDACPU_VEC(long long, longlong, 8, 16, 8, 16)
CUDACPU_VEC(unsigned long long, ulonglong, 8, 16, 8, 16)
CUDACPU_VEC(float, float, 4, 8, 4, 16)
CUDACPU_VEC(double, double, 8, 16, 8, 16)
#undef CUDACPU_VEC

struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1)
      : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return uint3{x, y, z}; }
};

/* Built-in variables.  threadIdx is rewritten by the scheduler on every
 * switch to a fiber; the others are set once per block. */
inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;
constexpr int warpSize = 32;

/* ---- error codes (values as in the CUDA runtime) --------------------- */
enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInitializationError = 3,
  cudaErrorCudartUnloading = 4,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidPitchValue = 12,
  cudaErrorInvalidSymbol = 13,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorInvalidDeviceFunction = 98,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchOutOfResources = 701,
  cudaErrorLaunchTimeout = 702,
  cudaErrorAssert = 710,
  cudaErrorIllegalInstruction = 715,
  cudaErrorMisalignedAddress = 716,
  cudaErrorLaunchFailure = 719,
  cudaErrorNotPermitted = 800,
  cudaErrorNotSupported = 801,
  cudaErrorUnknown = 999
};
typedef enum cudaError cudaError_t;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};

typedef struct CUstream_st *cudaStream_t;
typedef struct CUevent_st *cudaEvent_t;
#define cudaStreamLegacy ((cudaStream_t)0x1)
#define cudaStreamPerThread ((cudaStream_t)0x2)
#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaEventDefault 0x00
#define cudaEventBlockingSync 0x01
#define cudaEventDisableTiming 0x02
#define cudaHostAllocDefault 0x00
#define cudaHostAllocPortable 0x01
#define cudaHostAllocMapped 0x02
#define cudaHostRegisterDefault 0x00
#define cudaMemAttachGlobal 0x01

enum cudaFuncAttribute {
  cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
  cudaFuncAttributePreferredSharedMemoryCarveout = 9
};

enum cudaDeviceAttr {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMaxBlockDimX = 2,
  cudaDevAttrMaxBlockDimY = 3,
  cudaDevAttrMaxBlockDimZ = 4,
  cudaDevAttrMaxGridDimX = 5,
  cudaDevAttrMaxGridDimY = 6,
  cudaDevAttrMaxGridDimZ = 7,
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrWarpSize = 10,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97
};

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  int regsPerBlock;
  int warpSize;
  size_t memPitch;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  size_t totalConstMem;
  int major;
  int minor;
  size_t textureAlignment;
  int multiProcessorCount;
  int integrated;
  int canMapHostMemory;
  int concurrentKernels;
  int ECCEnabled;
  int unifiedAddressing;
  int l2CacheSize;
  int maxThreadsPerMultiProcessor;
  size_t sharedMemPerMultiprocessor;
  int regsPerMultiprocessor;
  int managedMemory;
  int isMultiGpuBoard;
  size_t sharedMemPerBlockOptin;
  int maxBlocksPerMultiProcessor;
  size_t reservedSharedMemPerBlock;
};

struct cudaFuncAttributes {
  size_t sharedSizeBytes;
  size_t constSizeBytes;
  size_t localSizeBytes;
  int maxThreadsPerBlock;
  int numRegs;
  int ptxVersion;
  int binaryVersion;
  int cacheModeCA;
  int maxDynamicSharedSizeBytes;
  int preferredShmemCarveout;
};

#endif
