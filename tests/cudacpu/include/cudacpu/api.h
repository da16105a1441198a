/* cudacpu: the CUDA runtime API subset, executed synchronously on the host. */
#ifndef CUDACPU_API_H
#define CUDACPU_API_H

#include "device.h"

struct CUstream_st {
  unsigned flags;
};
struct CUevent_st {
  unsigned flags;
  bool recorded;
  std::chrono::steady_clock::time_point t;
};

namespace cudacpu {
namespace detail {
inline cudaError_t sticky_error() { return (cudaError_t)errstate().sticky.load(); }
#define CUDACPU_STICKY()                                              \
  do {                                                                \
    cudaError_t e_ = cudacpu::detail::sticky_error();                 \
    if (e_ != cudaSuccess) return cudacpu::detail::set_error(e_);     \
  } while (0)
inline size_t phys_mem() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? (size_t)pages * (size_t)page : (size_t)1 << 34;
}
inline cudaError_t alloc(void **p, size_t n, int kind, const char *fn) {
  if (!p) return set_error(cudaErrorInvalidValue);
  *p = nullptr;
  CUDACPU_STICKY();
  if (n == 0) return cudaSuccess;
  if (n > phys_mem()) {
    report("%s: %zu bytes exceed the emulated device memory", fn, n);
    return set_error(cudaErrorMemoryAllocation);
  }
  void *q = nullptr;
  /* exactly n bytes (256-aligned like cudaMalloc), so ASan sees overruns */
  if (posix_memalign(&q, 256, n) != 0) return set_error(cudaErrorMemoryAllocation);
  Registry &r = registry();
  std::lock_guard<std::mutex> g(r.m);
  r.allocs[reinterpret_cast<uintptr_t>(q)] = {n, kind};
  *p = q;
  return cudaSuccess;
}
inline cudaError_t release(void *p, int kind1, int kind2, const char *fn) {
  if (!p) return cudaSuccess;
  Registry &r = registry();
  {
    std::lock_guard<std::mutex> g(r.m);
    auto it = r.allocs.find(reinterpret_cast<uintptr_t>(p));
    if (it == r.allocs.end() || (it->second.second != kind1 && it->second.second != kind2)) {
      report("%s(%p): not a pointer returned by the matching allocation call", fn, p);
      return set_error(cudaErrorInvalidValue);
    }
    r.allocs.erase(it);
  }
  std::free(p);
  return cudaSuccess;
}
inline bool device_only(int k) { return k == MK_DEVICE || k == MK_SYMBOL; }
inline cudaError_t check_copy(void *dst, const void *src, size_t n, cudaMemcpyKind kind,
                              const char *fn) {
  if (n == 0) return cudaSuccess;
  if (!dst || !src) return set_error(cudaErrorInvalidValue);
  int dk = mem_kind(dst, n), sk = mem_kind(src, n);
  auto bad = [&](const char *what, const void *p) {
    report("%s: %s %p (%zu bytes) %s", fn, what, p, n,
           mem_kind(p, 0) ? "runs past the end of its allocation" : "is not device memory");
    return set_error(cudaErrorInvalidValue);
  };
  auto is_dev = [&](const char *what, const void *p) {
    report("%s: %s %p is device memory, but the copy kind says host", fn, what, p);
    return set_error(cudaErrorInvalidValue);
  };
  switch (kind) {
  case cudaMemcpyHostToHost:
    if (device_only(dk)) return is_dev("destination", dst);
    if (device_only(sk)) return is_dev("source", src);
    return cudaSuccess;
  case cudaMemcpyHostToDevice:
    if (!dk) return bad("destination", dst);
    if (device_only(sk)) return is_dev("source", src);
    return cudaSuccess;
  case cudaMemcpyDeviceToHost:
    if (!sk) return bad("source", src);
    if (device_only(dk)) return is_dev("destination", dst);
    return cudaSuccess;
  case cudaMemcpyDeviceToDevice:
    if (!dk) return bad("destination", dst);
    if (!sk) return bad("source", src);
    return cudaSuccess;
  case cudaMemcpyDefault:
    return cudaSuccess;
  }
  return set_error(cudaErrorInvalidMemcpyDirection);
}
inline cudaError_t check_stream(cudaStream_t s) {
  return stream_valid(s) ? cudaSuccess : set_error(cudaErrorInvalidResourceHandle);
}
inline bool event_valid(cudaEvent_t e) {
  Registry &r = registry();
  std::lock_guard<std::mutex> g(r.m);
  return e && r.events.count(reinterpret_cast<uintptr_t>(e));
}
} // namespace detail
} // namespace cudacpu

/* ---- errors -------------------------------------------------------------- */
inline cudaError_t cudaGetLastError() {
  cudaError_t s = cudacpu::detail::sticky_error();
  if (s != cudaSuccess) return s;
  cudaError_t e = cudacpu::detail::tl_last_error;
  cudacpu::detail::tl_last_error = cudaSuccess;
  return e;
}
inline cudaError_t cudaPeekAtLastError() {
  cudaError_t s = cudacpu::detail::sticky_error();
  return s != cudaSuccess ? s : cudacpu::detail::tl_last_error;
}
inline const char *cudaGetErrorName(cudaError_t e) {
  switch (e) {
#define CUDACPU_E(n) case n: return #n;
  CUDACPU_E(cudaSuccess) CUDACPU_E(cudaErrorInvalidValue) CUDACPU_E(cudaErrorMemoryAllocation)
  CUDACPU_E(cudaErrorInitializationError) CUDACPU_E(cudaErrorCudartUnloading)
  CUDACPU_E(cudaErrorInvalidConfiguration) CUDACPU_E(cudaErrorInvalidPitchValue)
  CUDACPU_E(cudaErrorInvalidSymbol) CUDACPU_E(cudaErrorInvalidDevicePointer)
  CUDACPU_E(cudaErrorInvalidMemcpyDirection) CUDACPU_E(cudaErrorInvalidDeviceFunction)
  CUDACPU_E(cudaErrorNoDevice) CUDACPU_E(cudaErrorInvalidDevice)
  CUDACPU_E(cudaErrorInvalidResourceHandle) CUDACPU_E(cudaErrorNotReady)
  CUDACPU_E(cudaErrorIllegalAddress) CUDACPU_E(cudaErrorLaunchOutOfResources)
  CUDACPU_E(cudaErrorLaunchTimeout) CUDACPU_E(cudaErrorAssert)
  CUDACPU_E(cudaErrorIllegalInstruction) CUDACPU_E(cudaErrorMisalignedAddress)
  CUDACPU_E(cudaErrorLaunchFailure) CUDACPU_E(cudaErrorNotPermitted)
  CUDACPU_E(cudaErrorNotSupported) CUDACPU_E(cudaErrorUnknown)
#undef CUDACPU_E
  }
  return "cudaErrorUnknown";
}
inline const char *cudaGetErrorString(cudaError_t e) {
  switch (e) {
  case cudaSuccess: return "no error";
  case cudaErrorInvalidValue: return "invalid argument";
  case cudaErrorMemoryAllocation: return "out of memory";
  case cudaErrorInitializationError: return "initialization error";
  case cudaErrorCudartUnloading: return "driver shutting down";
  case cudaErrorInvalidConfiguration: return "invalid configuration argument";
  case cudaErrorInvalidPitchValue: return "invalid pitch argument";
  case cudaErrorInvalidSymbol: return "invalid device symbol";
  case cudaErrorInvalidDevicePointer: return "invalid device pointer";
  case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
  case cudaErrorInvalidDeviceFunction: return "invalid device function";
  case cudaErrorNoDevice: return "no CUDA-capable device is detected";
  case cudaErrorInvalidDevice: return "invalid device ordinal";
  case cudaErrorInvalidResourceHandle: return "invalid resource handle";
  case cudaErrorNotReady: return "device not ready";
  case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
  case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
  case cudaErrorLaunchTimeout: return "the launch timed out and was terminated";
  case cudaErrorAssert: return "device-side assert triggered";
  case cudaErrorIllegalInstruction: return "an illegal instruction was encountered";
  case cudaErrorMisalignedAddress: return "misaligned address";
  case cudaErrorLaunchFailure: return "unspecified launch failure";
  case cudaErrorNotPermitted: return "operation not permitted";
  case cudaErrorNotSupported: return "operation not supported";
  case cudaErrorUnknown: return "unknown error";
  }
  return "unrecognized error code";
}

/* ---- device management ---------------------------------------------------- */
inline cudaError_t cudaGetDeviceCount(int *n) { CUDACPU_COUNTED("cudaGetDeviceCount");
  if (!n) return cudacpu::detail::set_error(cudaErrorInvalidValue);
  *n = 1;
  return cudaSuccess;
}
inline cudaError_t cudaSetDevice(int d) { CUDACPU_COUNTED("cudaSetDevice");
  return d == 0 ? cudaSuccess : cudacpu::detail::set_error(cudaErrorInvalidDevice);
}
inline cudaError_t cudaGetDevice(int *d) { CUDACPU_COUNTED("cudaGetDevice");
  if (!d) return cudacpu::detail::set_error(cudaErrorInvalidValue);
  *d = 0;
  return cudaSuccess;
}
inline cudaError_t cudaSetDeviceFlags(unsigned) { CUDACPU_COUNTED("cudaSetDeviceFlags"); return cudaSuccess; }
/* Clears the sticky error and frees every device, managed and pinned
 * allocation, like destroying the context. */
inline cudaError_t cudaDeviceReset() {
  std::vector<void *> dead;
  {
    cudacpu::detail::Registry &r = cudacpu::detail::registry();
    std::lock_guard<std::mutex> g(r.m);
    for (auto it = r.allocs.begin(); it != r.allocs.end();) {
      int k = it->second.second;
      if (k == cudacpu::detail::MK_DEVICE || k == cudacpu::detail::MK_MANAGED ||
          k == cudacpu::detail::MK_HOST) {
        dead.push_back(reinterpret_cast<void *>(it->first));
        it = r.allocs.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (void *p : dead) std::free(p);
  cudacpu::detail::errstate().sticky.store(0);
  cudacpu::detail::tl_last_error = cudaSuccess;
  return cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize() { CUDACPU_COUNTED("cudaDeviceSynchronize");
  CUDACPU_STICKY();
  return cudaSuccess;
}
inline cudaError_t cudaThreadSynchronize() { CUDACPU_COUNTED("cudaThreadSynchronize"); return cudaDeviceSynchronize(); }
inline cudaError_t cudaRuntimeGetVersion(int *v) { CUDACPU_COUNTED("cudaRuntimeGetVersion");
  if (!v) return cudacpu::detail::set_error(cudaErrorInvalidValue);
  *v = CUDART_VERSION;
  return cudaSuccess;
}
inline cudaError_t cudaDriverGetVersion(int *v) { CUDACPU_COUNTED("cudaDriverGetVersion"); return cudaRuntimeGetVersion(v); }
inline int cudacpu_num_sms() {
  unsigned n = std::thread::hardware_concurrency();
  return n ? (int)n : 1;
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int dev) { CUDACPU_COUNTED("cudaGetDeviceProperties");
  if (!p) return cudacpu::detail::set_error(cudaErrorInvalidValue);
  if (dev != 0) return cudacpu::detail::set_error(cudaErrorInvalidDevice);
  std::memset(p, 0, sizeof *p);
  std::snprintf(p->name, sizeof p->name, "cudacpu emulated device");
  p->totalGlobalMem = cudacpu::detail::phys_mem();
  p->sharedMemPerBlock = 48 * 1024;
  p->sharedMemPerBlockOptin = 227 * 1024;
  p->sharedMemPerMultiprocessor = 228 * 1024;
  p->regsPerBlock = 65536;
  p->regsPerMultiprocessor = 65536;
  p->warpSize = 32;
  p->memPitch = (size_t)1 << 31;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsDim[0] = 1024;
  p->maxThreadsDim[1] = 1024;
  p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 2147483647;
  p->maxGridSize[1] = 65535;
  p->maxGridSize[2] = 65535;
  p->totalConstMem = 65536;
  p->major = 8;
  p->minor = 0;
  p->textureAlignment = 512;
  p->multiProcessorCount = cudacpu_num_sms();
  p->concurrentKernels = 1;
  p->unifiedAddressing = 1;
  p->managedMemory = 1;
  p->canMapHostMemory = 1;
  p->l2CacheSize = 40 * 1024 * 1024;
  p->maxThreadsPerMultiProcessor = 2048;
  p->maxBlocksPerMultiProcessor = 32;
  p->reservedSharedMemPerBlock = 1024;
  return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int dev) { CUDACPU_COUNTED("cudaDeviceGetAttribute");
  if (!v) return cudacpu::detail::set_error(cudaErrorInvalidValue);
  if (dev != 0) return cudacpu::detail::set_error(cudaErrorInvalidDevice);
  switch (a) {
  case cudaDevAttrMaxThreadsPerBlock: *v = 1024; break;
  case cudaDevAttrMaxBlockDimX: *v = 1024; break;
  case cudaDevAttrMaxBlockDimY: *v = 1024; break;
  case cudaDevAttrMaxBlockDimZ: *v = 64; break;
  case cudaDevAttrMaxGridDimX: *v = 2147483647; break;
  case cudaDevAttrMaxGridDimY: *v = 65535; break;
  case cudaDevAttrMaxGridDimZ: *v = 65535; break;
  case cudaDevAttrMaxSharedMemoryPerBlock: *v = 48 * 1024; break;
  case cudaDevAttrWarpSize: *v = 32; break;
  case cudaDevAttrMultiProcessorCount: *v = cudacpu_num_sms(); break;
  case cudaDevAttrComputeCapabilityMajor: *v = 8; break;
  case cudaDevAttrComputeCapabilityMinor: *v = 0; break;
  case cudaDevAttrMaxSharedMemoryPerBlockOptin: *v = 227 * 1024; break;
  default: return cudacpu::detail::set_error(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}
inline cudaError_t cudaMemGetInfo(size_t *free_b, size_t *total_b) { CUDACPU_COUNTED("cudaMemGetInfo");
  size_t t = cudacpu::detail::phys_mem();
  long av = sysconf(_SC_AVPHYS_PAGES);
  if (free_b) *free_b = av > 0 ? (size_t)av * (size_t)sysconf(_SC_PAGESIZE) : t / 2;
  if (total_b) *total_b = t;
  return cudaSuccess;
}

/* ---- memory ------------------------------------------------------------- */
inline cudaError_t cudaMalloc(void **p, size_t n) { CUDACPU_COUNTED("cudaMalloc");
  return cudacpu::detail::alloc(p, n, cudacpu::detail::MK_DEVICE, "cudaMalloc");
}
template <class T> inline cudaError_t cudaMalloc(T **p, size_t n) { CUDACPU_COUNTED("cudaMalloc");
  return cudaMalloc(reinterpret_cast<void **>(p), n);
}
inline cudaError_t cudaMallocManaged(void **p, size_t n, unsigned = cudaMemAttachGlobal) { CUDACPU_COUNTED("cudaMallocManaged");
  return cudacpu::detail::alloc(p, n, cudacpu::detail::MK_MANAGED, "cudaMallocManaged");
}
template <class T>
inline cudaError_t cudaMallocManaged(T **p, size_t n, unsigned f = cudaMemAttachGlobal) { CUDACPU_COUNTED("cudaMallocManaged");
  return cudaMallocManaged(reinterpret_cast<void **>(p), n, f);
}
inline cudaError_t cudaMallocHost(void **p, size_t n) { CUDACPU_COUNTED("cudaMallocHost");
  return cudacpu::detail::alloc(p, n, cudacpu::detail::MK_HOST, "cudaMallocHost");
}
template <class T> inline cudaError_t cudaMallocHost(T **p, size_t n) { CUDACPU_COUNTED("cudaMallocHost");
  return cudaMallocHost(reinterpret_cast<void **>(p), n);
}
inline cudaError_t cudaHostAlloc(void **p, size_t n, unsigned) { CUDACPU_COUNTED("cudaHostAlloc"); return cudaMallocHost(p, n); }
template <class T> inline cudaError_t cudaHostAlloc(T **p, size_t n, unsigned f) { CUDACPU_COUNTED("cudaHostAlloc");
  return cudaHostAlloc(reinterpret_cast<void **>(p), n, f);
}
inline cudaError_t cudaMallocPitch(void **p, size_t *pitch, size_t width, size_t height) { CUDACPU_COUNTED("cudaMallocPitch");
  if (!pitch) return cudacpu::detail::set_error(cudaErrorInvalidValue);
  *pitch = (width + 255) / 256 * 256;
  return cudaMalloc(p, *pitch * height);
}
template <class T> inline cudaError_t cudaMallocPitch(T **p, size_t *pitch, size_t w, size_t h) { CUDACPU_COUNTED("cudaMallocPitch");
  return cudaMallocPitch(reinterpret_cast<void **>(p), pitch, w, h);
}
inline cudaError_t cudaMallocAsync(void **p, size_t n, cudaStream_t s) { CUDACPU_COUNTED("cudaMallocAsync");
  if (cudacpu::detail::check_stream(s)) return cudaErrorInvalidResourceHandle;
  return cudaMalloc(p, n);
}
template <class T> inline cudaError_t cudaMallocAsync(T **p, size_t n, cudaStream_t s) { CUDACPU_COUNTED("cudaMallocAsync");
  return cudaMallocAsync(reinterpret_cast<void **>(p), n, s);
}
/* After a kernel fault the memory is still released (so leak checkers stay
 * quiet), but the sticky error is returned as on a GPU. */
inline cudaError_t cudaFree(void *p) { CUDACPU_COUNTED("cudaFree");
  cudaError_t e = cudacpu::detail::release(p, cudacpu::detail::MK_DEVICE,
                                           cudacpu::detail::MK_MANAGED, "cudaFree");
  cudaError_t s = cudacpu::detail::sticky_error();
  return s != cudaSuccess ? cudacpu::detail::set_error(s) : e;
}
inline cudaError_t cudaFreeAsync(void *p, cudaStream_t s) { CUDACPU_COUNTED("cudaFreeAsync");
  if (cudacpu::detail::check_stream(s)) return cudaErrorInvalidResourceHandle;
  return cudaFree(p);
}
inline cudaError_t cudaFreeHost(void *p) { CUDACPU_COUNTED("cudaFreeHost");
  return cudacpu::detail::release(p, cudacpu::detail::MK_HOST, cudacpu::detail::MK_HOST,
                                  "cudaFreeHost");
}
inline cudaError_t cudaHostRegister(void *p, size_t n, unsigned) { CUDACPU_COUNTED("cudaHostRegister");
  if (!p || !n) return cudacpu::detail::set_error(cudaErrorInvalidValue);
  cudacpu::detail::Registry &r = cudacpu::detail::registry();
  std::lock_guard<std::mutex> g(r.m);
  r.allocs[reinterpret_cast<uintptr_t>(p)] = {n, cudacpu::detail::MK_REGISTERED};
  return cudaSuccess;
}
inline cudaError_t cudaHostUnregister(void *p) { CUDACPU_COUNTED("cudaHostUnregister");
  cudacpu::detail::Registry &r = cudacpu::detail::registry();
  std::lock_guard<std::mutex> g(r.m);
  auto it = r.allocs.find(reinterpret_cast<uintptr_t>(p));
  if (it == r.allocs.end() || it->second.second != cudacpu::detail::MK_REGISTERED)
    return cudacpu::detail::set_error(cudaErrorInvalidValue);
  r.allocs.erase(it);
  return cudaSuccess;
}

inline cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind kind) { CUDACPU_COUNTED("cudaMemcpy");
  CUDACPU_STICKY();
  cudaError_t e = cudacpu::detail::check_copy(dst, src, n, kind, "cudaMemcpy");
  if (e != cudaSuccess) return e;
  if (n) std::memmove(dst, src, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind kind,
                                   cudaStream_t s = nullptr) { CUDACPU_COUNTED("cudaMemcpyAsync");
  if (cudacpu::detail::check_stream(s)) return cudaErrorInvalidResourceHandle;
  return cudaMemcpy(dst, src, n, kind);
}
inline cudaError_t cudaMemcpy2D(void *dst, size_t dpitch, const void *src, size_t spitch,
                                size_t width, size_t height, cudaMemcpyKind kind) { CUDACPU_COUNTED("cudaMemcpy2D");
  CUDACPU_STICKY();
  if (width > dpitch || width > spitch) return cudacpu::detail::set_error(cudaErrorInvalidPitchValue);
  if (height == 0 || width == 0) return cudaSuccess;
  size_t dspan = dpitch * (height - 1) + width, sspan = spitch * (height - 1) + width;
  if (cudacpu::detail::check_copy(dst, src, 0, kind, "cudaMemcpy2D") ||
      cudacpu::detail::mem_kind(dst, dspan) != cudacpu::detail::mem_kind(dst, 0) ||
      cudacpu::detail::mem_kind(src, sspan) != cudacpu::detail::mem_kind(src, 0)) {
    cudacpu::detail::report("cudaMemcpy2D: a pitched range runs past the end of its allocation");
    return cudacpu::detail::set_error(cudaErrorInvalidValue);
  }
  for (size_t r = 0; r < height; ++r)
    std::memmove(static_cast<char *>(dst) + r * dpitch, static_cast<const char *>(src) + r * spitch,
                 width);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch,
                                     size_t width, size_t height, cudaMemcpyKind kind,
                                     cudaStream_t s = nullptr) { CUDACPU_COUNTED("cudaMemcpy2DAsync");
  if (cudacpu::detail::check_stream(s)) return cudaErrorInvalidResourceHandle;
  return cudaMemcpy2D(dst, dpitch, src, spitch, width, height, kind);
}
inline cudaError_t cudaMemset(void *p, int v, size_t n) { CUDACPU_COUNTED("cudaMemset");
  CUDACPU_STICKY();
  if (n == 0) return cudaSuccess;
  if (!cudacpu::detail::mem_kind(p, n)) {
    cudacpu::detail::report("cudaMemset: %p (%zu bytes) %s", p, n,
                            cudacpu::detail::mem_kind(p, 0) ? "runs past the end of its allocation"
                                                            : "is not device memory");
    return cudacpu::detail::set_error(cudaErrorInvalidValue);
  }
  std::memset(p, v, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t s = nullptr) { CUDACPU_COUNTED("cudaMemsetAsync");
  if (cudacpu::detail::check_stream(s)) return cudaErrorInvalidResourceHandle;
  return cudaMemset(p, v, n);
}
template <class T>
inline cudaError_t cudaMemcpyToSymbol(T &sym, const void *src, size_t n, size_t off = 0,
                                      cudaMemcpyKind kind = cudaMemcpyHostToDevice) { CUDACPU_COUNTED("cudaMemcpyToSymbol");
  CUDACPU_STICKY();
  if (off > sizeof(T) || n > sizeof(T) - off) return cudacpu::detail::set_error(cudaErrorInvalidValue);
  if (kind != cudaMemcpyHostToDevice && kind != cudaMemcpyDeviceToDevice && kind != cudaMemcpyDefault)
    return cudacpu::detail::set_error(cudaErrorInvalidMemcpyDirection);
  std::memmove(reinterpret_cast<char *>(&sym) + off, src, n);
  return cudaSuccess;
}
template <class T>
inline cudaError_t cudaMemcpyFromSymbol(void *dst, const T &sym, size_t n, size_t off = 0,
                                        cudaMemcpyKind kind = cudaMemcpyDeviceToHost) { CUDACPU_COUNTED("cudaMemcpyFromSymbol");
  CUDACPU_STICKY();
  if (off > sizeof(T) || n > sizeof(T) - off) return cudacpu::detail::set_error(cudaErrorInvalidValue);
  if (kind != cudaMemcpyDeviceToHost && kind != cudaMemcpyDeviceToDevice && kind != cudaMemcpyDefault)
    return cudacpu::detail::set_error(cudaErrorInvalidMemcpyDirection);
  std::memmove(dst, reinterpret_cast<const char *>(&sym) + off, n);
  return cudaSuccess;
}
template <class T>
inline cudaError_t cudaMemcpyToSymbolAsync(T &sym, const void *src, size_t n, size_t off,
                                           cudaMemcpyKind kind, cudaStream_t s = nullptr) { CUDACPU_COUNTED("cudaMemcpyToSymbolAsync");
  if (cudacpu::detail::check_stream(s)) return cudaErrorInvalidResourceHandle;
  return cudaMemcpyToSymbol(sym, src, n, off, kind);
}
template <class T>
inline cudaError_t cudaMemcpyFromSymbolAsync(void *dst, const T &sym, size_t n, size_t off,
                                             cudaMemcpyKind kind, cudaStream_t s = nullptr) { CUDACPU_COUNTED("cudaMemcpyFromSymbolAsync");
  if (cudacpu::detail::check_stream(s)) return cudaErrorInvalidResourceHandle;
  return cudaMemcpyFromSymbol(dst, sym, n, off, kind);
}
/* Registers the symbol as device memory so that its address may be passed
 * to kernels. */
template <class T> inline cudaError_t cudaGetSymbolAddress(void **p, const T &sym) { CUDACPU_COUNTED("cudaGetSymbolAddress");
  if (!p) return cudacpu::detail::set_error(cudaErrorInvalidValue);
  *p = const_cast<void *>(static_cast<const void *>(&sym));
  cudacpu::detail::Registry &r = cudacpu::detail::registry();
  std::lock_guard<std::mutex> g(r.m);
  r.allocs[reinterpret_cast<uintptr_t>(*p)] = {sizeof(T), cudacpu::detail::MK_SYMBOL};
  return cudaSuccess;
}
template <class T> inline cudaError_t cudaGetSymbolSize(size_t *n, const T &) { CUDACPU_COUNTED("cudaGetSymbolSize");
  if (!n) return cudacpu::detail::set_error(cudaErrorInvalidValue);
  *n = sizeof(T);
  return cudaSuccess;
}

/* ---- streams and events (everything is already complete) ----------- */
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags) { CUDACPU_COUNTED("cudaStreamCreateWithFlags");
  if (!s) return cudacpu::detail::set_error(cudaErrorInvalidValue);
  *s = new CUstream_st{flags};
  cudacpu::detail::Registry &r = cudacpu::detail::registry();
  std::lock_guard<std::mutex> g(r.m);
  r.streams[reinterpret_cast<uintptr_t>(*s)] = 1;
  return cudaSuccess;
}
inline cudaError_t cudaStreamCreate(cudaStream_t *s) { CUDACPU_COUNTED("cudaStreamCreate"); return cudaStreamCreateWithFlags(s, 0); }
inline cudaError_t cudaStreamCreateWithPriority(cudaStream_t *s, unsigned flags, int) { CUDACPU_COUNTED("cudaStreamCreateWithPriority");
  return cudaStreamCreateWithFlags(s, flags);
}
inline cudaError_t cudaStreamDestroy(cudaStream_t s) { CUDACPU_COUNTED("cudaStreamDestroy");
  cudacpu::detail::Registry &r = cudacpu::detail::registry();
  {
    std::lock_guard<std::mutex> g(r.m);
    if (!s || !r.streams.erase(reinterpret_cast<uintptr_t>(s)))
      return cudacpu::detail::set_error(cudaErrorInvalidResourceHandle);
  }
  delete s;
  return cudaSuccess;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t s) { CUDACPU_COUNTED("cudaStreamSynchronize");
  CUDACPU_STICKY();
  return cudacpu::detail::check_stream(s);
}
inline cudaError_t cudaStreamQuery(cudaStream_t s) { CUDACPU_COUNTED("cudaStreamQuery"); return cudaStreamSynchronize(s); }
inline cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned = 0) { CUDACPU_COUNTED("cudaStreamWaitEvent");
  if (cudacpu::detail::check_stream(s)) return cudaErrorInvalidResourceHandle;
  if (!cudacpu::detail::event_valid(e)) return cudacpu::detail::set_error(cudaErrorInvalidResourceHandle);
  return cudaSuccess;
}
typedef void (*cudaHostFn_t)(void *);
inline cudaError_t cudaLaunchHostFunc(cudaStream_t s, cudaHostFn_t fn, void *data) { CUDACPU_COUNTED("cudaLaunchHostFunc");
  if (cudacpu::detail::check_stream(s)) return cudaErrorInvalidResourceHandle;
  if (!fn) return cudacpu::detail::set_error(cudaErrorInvalidValue);
  fn(data);
  return cudaSuccess;
}
inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags) { CUDACPU_COUNTED("cudaEventCreateWithFlags");
  if (!e) return cudacpu::detail::set_error(cudaErrorInvalidValue);
  *e = new CUevent_st{flags, false, {}};
  cudacpu::detail::Registry &r = cudacpu::detail::registry();
  std::lock_guard<std::mutex> g(r.m);
  r.events[reinterpret_cast<uintptr_t>(*e)] = 1;
  return cudaSuccess;
}
inline cudaError_t cudaEventCreate(cudaEvent_t *e) { CUDACPU_COUNTED("cudaEventCreate"); return cudaEventCreateWithFlags(e, 0); }
inline cudaError_t cudaEventDestroy(cudaEvent_t e) { CUDACPU_COUNTED("cudaEventDestroy");
  cudacpu::detail::Registry &r = cudacpu::detail::registry();
  {
    std::lock_guard<std::mutex> g(r.m);
    if (!e || !r.events.erase(reinterpret_cast<uintptr_t>(e)))
      return cudacpu::detail::set_error(cudaErrorInvalidResourceHandle);
  }
  delete e;
  return cudaSuccess;
}
inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = nullptr) { CUDACPU_COUNTED("cudaEventRecord");
  if (!cudacpu::detail::event_valid(e)) return cudacpu::detail::set_error(cudaErrorInvalidResourceHandle);
  if (cudacpu::detail::check_stream(s)) return cudaErrorInvalidResourceHandle;
  e->recorded = true;
  e->t = std::chrono::steady_clock::now();
  return cudaSuccess;
}
inline cudaError_t cudaEventSynchronize(cudaEvent_t e) { CUDACPU_COUNTED("cudaEventSynchronize");
  if (!cudacpu::detail::event_valid(e)) return cudacpu::detail::set_error(cudaErrorInvalidResourceHandle);
  CUDACPU_STICKY();
  return cudaSuccess;
}
inline cudaError_t cudaEventQuery(cudaEvent_t e) { CUDACPU_COUNTED("cudaEventQuery"); return cudaEventSynchronize(e); }
inline cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b) { CUDACPU_COUNTED("cudaEventElapsedTime");
  if (!ms) return cudacpu::detail::set_error(cudaErrorInvalidValue);
  if (!cudacpu::detail::event_valid(a) || !cudacpu::detail::event_valid(b) || !a->recorded ||
      !b->recorded || (a->flags & cudaEventDisableTiming) || (b->flags & cudaEventDisableTiming))
    return cudacpu::detail::set_error(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(b->t - a->t).count();
  return cudaSuccess;
}

/* ---- kernels ----------------------------------------------------------- */
template <class... P>
inline cudaError_t cudaFuncSetAttribute(void (*k)(P...), cudaFuncAttribute attr, int value) { CUDACPU_COUNTED("cudaFuncSetAttribute");
  if (!k) return cudacpu::detail::set_error(cudaErrorInvalidDeviceFunction);
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || value > 227 * 1024) return cudacpu::detail::set_error(cudaErrorInvalidValue);
    cudacpu::detail::Registry &r = cudacpu::detail::registry();
    std::lock_guard<std::mutex> g(r.m);
    r.smem_optin[reinterpret_cast<uintptr_t>(k)] = value;
    return cudaSuccess;
  }
  if (attr == cudaFuncAttributePreferredSharedMemoryCarveout) return cudaSuccess;
  return cudacpu::detail::set_error(cudaErrorInvalidValue);
}
template <class... P>
inline cudaError_t cudaFuncGetAttributes(cudaFuncAttributes *a, void (*k)(P...)) { CUDACPU_COUNTED("cudaFuncGetAttributes");
  if (!a || !k) return cudacpu::detail::set_error(cudaErrorInvalidValue);
  std::memset(a, 0, sizeof *a);
  a->maxThreadsPerBlock = 1024;
  a->numRegs = 32;
  a->ptxVersion = 80;
  a->binaryVersion = 80;
  cudacpu::detail::Registry &r = cudacpu::detail::registry();
  std::lock_guard<std::mutex> g(r.m);
  auto it = r.smem_optin.find(reinterpret_cast<uintptr_t>(k));
  a->maxDynamicSharedSizeBytes = it != r.smem_optin.end() ? it->second : 48 * 1024;
  return cudaSuccess;
}
/* Occupancy helpers: plausible numbers for an sm_80-like device (2048
 * threads and 32 blocks per SM); they do not model registers. */
template <class K>
inline cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int *nb, K, int blockSize,
                                                                 size_t smem) { CUDACPU_COUNTED("cudaOccupancyMaxActiveBlocksPerMultiprocessor");
  if (!nb || blockSize <= 0 || blockSize > 1024) return cudacpu::detail::set_error(cudaErrorInvalidValue);
  int b = 2048 / blockSize;
  if (b > 32) b = 32;
  if (smem) {
    int bs = (int)((228 * 1024) / (smem + 1024));
    if (bs < b) b = bs;
  }
  *nb = b;
  return cudaSuccess;
}
template <class K>
inline cudaError_t cudaOccupancyMaxPotentialBlockSize(int *minGrid, int *blockSize, K,
                                                      size_t smem = 0, int limit = 0) { CUDACPU_COUNTED("cudaOccupancyMaxPotentialBlockSize");
  if (!minGrid || !blockSize) return cudacpu::detail::set_error(cudaErrorInvalidValue);
  int bs = limit > 0 && limit < 1024 ? limit / 32 * 32 : 1024;
  if (bs <= 0) bs = limit > 0 ? limit : 32;
  int per = 2048 / bs;
  if (smem) {
    int q = (int)((228 * 1024) / (smem + 1024));
    if (q < per) per = q;
  }
  *blockSize = bs;
  *minGrid = (per > 0 ? per : 1) * cudacpu_num_sms();
  return cudaSuccess;
}

/* cudaLaunchKernel with the kernel's own type (as the runtime's C++ template). */
template <class... P, size_t... I>
inline cudaError_t cudacpu_launch_kernel(void (*k)(P...), dim3 g, dim3 b, void **args, size_t smem,
                                         cudaStream_t s, std::index_sequence<I...>) {
  cudacpu::launcher("cudaLaunchKernel", 0, "kernel", k, cudacpu::make_cfg(g, b, smem, s))(
      *static_cast<std::decay_t<P> *>(args[I])...);
  return cudaPeekAtLastError();
}
template <class... P>
inline cudaError_t cudaLaunchKernel(void (*k)(P...), dim3 g, dim3 b, void **args, size_t smem = 0,
                                    cudaStream_t s = nullptr) { CUDACPU_COUNTED("cudaLaunchKernel");
  return cudacpu_launch_kernel(k, g, b, args, smem, s, std::index_sequence_for<P...>{});
}

#endif
