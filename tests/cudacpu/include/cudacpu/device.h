/* cudacpu: device-side intrinsics: synchronisation, warp operations,
 * atomics, fast-math and integer intrinsics, memory fences. */
#ifndef CUDACPU_DEVICE_H
#define CUDACPU_DEVICE_H

#include "sched.h"
#include <limits>

/* ---- block and warp synchronisation ------------------------------------ */
inline void __syncthreads() { cudacpu::detail::barrier(1); }
inline int __syncthreads_count(int pred) { return cudacpu::detail::barrier(pred); }
inline int __syncthreads_and(int pred) {
  return cudacpu::detail::barrier(pred) == (int)(blockDim.x * blockDim.y * blockDim.z);
}
inline int __syncthreads_or(int pred) { return cudacpu::detail::barrier(pred) != 0; }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  cudacpu::detail::warp_op<int>(cudacpu::detail::WK_SYNCWARP, mask, 0, 0, 32, "__syncwarp");
}
template <class T> inline T __shfl_sync(unsigned mask, T var, int srcLane, int width = warpSize) {
  return cudacpu::detail::warp_op<T>(cudacpu::detail::WK_SHFL, mask, var, srcLane, width,
                                     "__shfl_sync");
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned int delta, int width = warpSize) {
  return cudacpu::detail::warp_op<T>(cudacpu::detail::WK_SHFL_UP, mask, var, (int)delta, width,
                                     "__shfl_up_sync");
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned int delta, int width = warpSize) {
  return cudacpu::detail::warp_op<T>(cudacpu::detail::WK_SHFL_DOWN, mask, var, (int)delta,
                                     width, "__shfl_down_sync");
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T var, int laneMask, int width = warpSize) {
  return cudacpu::detail::warp_op<T>(cudacpu::detail::WK_SHFL_XOR, mask, var, laneMask, width,
                                     "__shfl_xor_sync");
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
  return cudacpu::detail::warp_op<unsigned>(cudacpu::detail::WK_BALLOT, mask, pred != 0, 0, 32,
                                            "__ballot_sync");
}
inline int __any_sync(unsigned mask, int pred) {
  return (int)cudacpu::detail::warp_op<unsigned>(cudacpu::detail::WK_ANY, mask, pred != 0, 0,
                                                 32, "__any_sync");
}
inline int __all_sync(unsigned mask, int pred) {
  return (int)cudacpu::detail::warp_op<unsigned>(cudacpu::detail::WK_ALL, mask, pred != 0, 0,
                                                 32, "__all_sync");
}
template <class T> inline unsigned __match_any_sync(unsigned mask, T value) {
  uint64_t v = 0;
  std::memcpy(&v, &value, sizeof(T) < 8 ? sizeof(T) : 8);
  return (unsigned)cudacpu::detail::warp_op<uint64_t>(cudacpu::detail::WK_MATCH_ANY, mask, v, 0,
                                                      32, "__match_any_sync");
}
#define CUDACPU_WRED(NAME, KIND, T)                                                       \
  inline T NAME(unsigned mask, T value) {                                                 \
    return cudacpu::detail::warp_op<T>(cudacpu::detail::KIND, mask, value, 0, 32, #NAME); \
  }
CUDACPU_WRED(__reduce_add_sync, WK_RED_ADD, unsigned)
CUDACPU_WRED(__reduce_add_sync, WK_RED_ADD, int)
CUDACPU_WRED(__reduce_min_sync, WK_RED_UMIN, unsigned)
CUDACPU_WRED(__reduce_min_sync, WK_RED_MIN, int)
CUDACPU_WRED(__reduce_max_sync, WK_RED_UMAX, unsigned)
CUDACPU_WRED(__reduce_max_sync, WK_RED_MAX, int)
CUDACPU_WRED(__reduce_and_sync, WK_RED_AND, unsigned)
CUDACPU_WRED(__reduce_or_sync, WK_RED_OR, unsigned)
CUDACPU_WRED(__reduce_xor_sync, WK_RED_XOR, unsigned)
#undef CUDACPU_WRED
/* Lanes of the calling warp that have not exited (an approximation). */
inline unsigned __activemask() {
  cudacpu::detail::Worker *w = cudacpu::detail::tl_worker;
  cudacpu::detail::Fiber *f = cudacpu::detail::current_fiber();
  unsigned base = f->linear & ~31u, m = 0;
  for (unsigned l = 0; l < 32 && base + l < w->nthreads; ++l)
    if (w->fibers[base + l]->state != cudacpu::detail::FState::Done) m |= 1u << l;
  return m;
}
inline void __trap() { cudacpu::detail::fiber_fail("__trap() called"); }
inline void __brkpt() { cudacpu::detail::fiber_fail("__brkpt() called"); }
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_system() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __nanosleep(unsigned) {}
inline long long clock64() {
  return (long long)std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/* ---- atomics (real host atomics: blocks run in parallel) ------------- */
#define CUDACPU_AINT(T)                                                                            \
  inline T atomicAdd(T *a, T v) { return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST); }             \
  inline T atomicSub(T *a, T v) { return __atomic_fetch_sub(a, v, __ATOMIC_SEQ_CST); }             \
  inline T atomicExch(T *a, T v) { return __atomic_exchange_n(a, v, __ATOMIC_SEQ_CST); }           \
  inline T atomicAnd(T *a, T v) { return __atomic_fetch_and(a, v, __ATOMIC_SEQ_CST); }             \
  inline T atomicOr(T *a, T v) { return __atomic_fetch_or(a, v, __ATOMIC_SEQ_CST); }               \
  inline T atomicXor(T *a, T v) { return __atomic_fetch_xor(a, v, __ATOMIC_SEQ_CST); }             \
  inline T atomicCAS(T *a, T cmp, T v) {                                                           \
    __atomic_compare_exchange_n(a, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);            \
    return cmp;                                                                                    \
  }                                                                                                \
  inline T atomicMin(T *a, T v) {                                                                  \
    T old = __atomic_load_n(a, __ATOMIC_SEQ_CST);                                                  \
    while (v < old &&                                                                              \
           !__atomic_compare_exchange_n(a, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) { \
    }                                                                                              \
    return old;                                                                                    \
  }                                                                                                \
  inline T atomicMax(T *a, T v) {                                                                  \
    T old = __atomic_load_n(a, __ATOMIC_SEQ_CST);                                                  \
    while (v > old &&                                                                              \
           !__atomic_compare_exchange_n(a, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) { \
    }                                                                                              \
    return old;                                                                                    \
  }
CUDACPU_AINT(int)
CUDACPU_AINT(unsigned int)
CUDACPU_AINT(long long)
CUDACPU_AINT(unsigned long long)
#undef CUDACPU_AINT
inline unsigned short atomicCAS(unsigned short *a, unsigned short cmp, unsigned short v) {
  __atomic_compare_exchange_n(a, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return cmp;
}
#define CUDACPU_AFLT(T)                                                                        \
  inline T atomicAdd(T *a, T v) {                                                              \
    T old, nv;                                                                                 \
    __atomic_load(a, &old, __ATOMIC_SEQ_CST);                                                  \
    do {                                                                                       \
      nv = old + v;                                                                            \
    } while (!__atomic_compare_exchange(a, &old, &nv, false, __ATOMIC_SEQ_CST,                 \
                                        __ATOMIC_SEQ_CST));                                    \
    return old;                                                                                \
  }                                                                                            \
  inline T atomicExch(T *a, T v) {                                                             \
    T old;                                                                                     \
    __atomic_exchange(a, &v, &old, __ATOMIC_SEQ_CST);                                          \
    return old;                                                                                \
  }
CUDACPU_AFLT(float)
CUDACPU_AFLT(double)
#undef CUDACPU_AFLT
inline unsigned atomicInc(unsigned *a, unsigned v) {
  unsigned old = __atomic_load_n(a, __ATOMIC_SEQ_CST), nv;
  do {
    nv = old >= v ? 0 : old + 1;
  } while (!__atomic_compare_exchange_n(a, &old, nv, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
  return old;
}
inline unsigned atomicDec(unsigned *a, unsigned v) {
  unsigned old = __atomic_load_n(a, __ATOMIC_SEQ_CST), nv;
  do {
    nv = (old == 0 || old > v) ? v : old - 1;
  } while (!__atomic_compare_exchange_n(a, &old, nv, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
  return old;
}
/* scoped variants behave like the device-wide ones */
#define atomicAdd_block atomicAdd
#define atomicAdd_system atomicAdd
#define atomicMax_block atomicMax
#define atomicMin_block atomicMin
#define atomicCAS_block atomicCAS
#define atomicExch_block atomicExch

/* ---- cached loads / stores --------------------------------------------- */
template <class T> inline T __ldg(const T *p) { return *p; }
template <class T> inline T __ldcg(const T *p) { return *p; }
template <class T> inline T __ldca(const T *p) { return *p; }
template <class T> inline T __ldcs(const T *p) { return *p; }
template <class T> inline T __ldlu(const T *p) { return *p; }
template <class T> inline T __ldcv(const T *p) { return *p; }
template <class T> inline void __stwb(T *p, T v) { *p = v; }
template <class T> inline void __stcg(T *p, T v) { *p = v; }
template <class T> inline void __stcs(T *p, T v) { *p = v; }
template <class T> inline void __stwt(T *p, T v) { *p = v; }

/* ---- floating-point intrinsics (round-to-nearest versions) ----------- */
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float rcbrtf(float x) { return 1.0f / std::cbrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __exp10f(float x) { return std::pow(10.0f, x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __log10f(float x) { return std::log10(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline void __sincosf(float x, float *s, float *c) { *s = std::sin(x); *c = std::cos(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __fdividef(float a, float b) { return a / b; }
inline float fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __frsqrt_rn(float x) { return 1.0f / std::sqrt(x); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline double __dsqrt_rn(double x) { return std::sqrt(x); }
inline double __drcp_rn(double x) { return 1.0 / x; }
inline float sinpif(float x) { return std::sin(float(M_PI) * x); }
inline float cospif(float x) { return std::cos(float(M_PI) * x); }
inline void sincospif(float x, float *s, float *c) { *s = sinpif(x); *c = cospif(x); }
inline double sinpi(double x) { return std::sin(M_PI * x); }
inline double cospi(double x) { return std::cos(M_PI * x); }
inline void sincospi(double x, double *s, double *c) { *s = sinpi(x); *c = cospi(x); }
inline float normcdff(float x) { return 0.5f * std::erfc(-x * float(M_SQRT1_2)); }
inline double normcdf(double x) { return 0.5 * std::erfc(-x * M_SQRT1_2); }

/* ---- conversions and reinterpretation --------------------------------- */
namespace cudacpu {
namespace detail {
template <class I, class F> inline I sat_cvt(F r) {
  if (r != r) return 0;
  if (r <= (F)std::numeric_limits<I>::min()) return std::numeric_limits<I>::min();
  if (r >= (F)std::numeric_limits<I>::max()) return std::numeric_limits<I>::max();
  return (I)r;
}
template <class To, class From> inline To bits(From f) {
  static_assert(sizeof(To) == sizeof(From), "size mismatch");
  To t;
  std::memcpy(&t, &f, sizeof t);
  return t;
}
} // namespace detail
} // namespace cudacpu
inline int __float2int_rn(float x) { return cudacpu::detail::sat_cvt<int>(std::nearbyint(x)); }
inline int __float2int_rz(float x) { return cudacpu::detail::sat_cvt<int>(std::trunc(x)); }
inline int __float2int_rd(float x) { return cudacpu::detail::sat_cvt<int>(std::floor(x)); }
inline int __float2int_ru(float x) { return cudacpu::detail::sat_cvt<int>(std::ceil(x)); }
inline unsigned __float2uint_rn(float x) { return cudacpu::detail::sat_cvt<unsigned>(std::nearbyint(x)); }
inline unsigned __float2uint_rz(float x) { return cudacpu::detail::sat_cvt<unsigned>(std::trunc(x)); }
inline unsigned __float2uint_rd(float x) { return cudacpu::detail::sat_cvt<unsigned>(std::floor(x)); }
inline unsigned __float2uint_ru(float x) { return cudacpu::detail::sat_cvt<unsigned>(std::ceil(x)); }
inline long long __float2ll_rn(float x) { return cudacpu::detail::sat_cvt<long long>(std::nearbyint(x)); }
inline long long __float2ll_rz(float x) { return cudacpu::detail::sat_cvt<long long>(std::trunc(x)); }
inline int __double2int_rn(double x) { return cudacpu::detail::sat_cvt<int>(std::nearbyint(x)); }
inline int __double2int_rz(double x) { return cudacpu::detail::sat_cvt<int>(std::trunc(x)); }
inline float __double2float_rn(double x) { return (float)x; }
inline float __int2float_rn(int x) { return (float)x; }
inline float __uint2float_rn(unsigned x) { return (float)x; }
inline float __ll2float_rn(long long x) { return (float)x; }
inline double __int2double_rn(int x) { return (double)x; }
inline int __float_as_int(float x) { return cudacpu::detail::bits<int>(x); }
inline unsigned __float_as_uint(float x) { return cudacpu::detail::bits<unsigned>(x); }
inline float __int_as_float(int x) { return cudacpu::detail::bits<float>(x); }
inline float __uint_as_float(unsigned x) { return cudacpu::detail::bits<float>(x); }
inline long long __double_as_longlong(double x) { return cudacpu::detail::bits<long long>(x); }
inline double __longlong_as_double(long long x) { return cudacpu::detail::bits<double>(x); }

/* ---- integer intrinsics ------------------------------------------------ */
namespace cudacpu {
namespace detail {
__extension__ typedef unsigned __int128 u128;
__extension__ typedef __int128 i128;
} // namespace detail
} // namespace cudacpu
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((uint64_t)a * b) >> 32); }
inline int __mulhi(int a, int b) { return (int)(((int64_t)a * b) >> 32); }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return (unsigned long long)(((cudacpu::detail::u128)a * b) >> 64);
}
inline long long __mul64hi(long long a, long long b) {
  return (long long)(((cudacpu::detail::i128)a * b) >> 64);
}
inline int __mul24(int a, int b) {
  int64_t x = (int32_t)((uint32_t)a << 8) >> 8, y = (int32_t)((uint32_t)b << 8) >> 8;
  return (int)(uint32_t)(uint64_t)(x * y);
}
inline unsigned __umul24(unsigned a, unsigned b) { return (a & 0xffffffu) * (b & 0xffffffu); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
inline int __clzll(long long x) { return x ? __builtin_clzll((unsigned long long)x) : 64; }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
  return __builtin_bswap32(x);
}
inline unsigned long long __brevll(unsigned long long x) {
  return ((unsigned long long)__brev((unsigned)x) << 32) | __brev((unsigned)(x >> 32));
}
inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s) {
  uint64_t v = ((uint64_t)y << 32) | x;
  unsigned r = 0;
  for (int i = 0; i < 4; ++i) r |= (unsigned)((v >> (8 * ((s >> (4 * i)) & 7))) & 0xff) << (8 * i);
  return r;
}
inline unsigned __funnelshift_l(unsigned lo, unsigned hi, unsigned s) {
  return (unsigned)(((((uint64_t)hi << 32) | lo) << (s & 31)) >> 32);
}
inline unsigned __funnelshift_lc(unsigned lo, unsigned hi, unsigned s) {
  return (unsigned)(((((uint64_t)hi << 32) | lo) << (s > 32 ? 32 : s)) >> 32);
}
inline unsigned __funnelshift_r(unsigned lo, unsigned hi, unsigned s) {
  return (unsigned)((((uint64_t)hi << 32) | lo) >> (s & 31));
}
inline unsigned __funnelshift_rc(unsigned lo, unsigned hi, unsigned s) {
  return (unsigned)((((uint64_t)hi << 32) | lo) >> (s > 32 ? 32 : s));
}
inline int __hadd(int a, int b) { return (int)(((int64_t)a + b) >> 1); }
inline int __rhadd(int a, int b) { return (int)(((int64_t)a + b + 1) >> 1); }
inline unsigned __uhadd(unsigned a, unsigned b) { return (unsigned)(((uint64_t)a + b) >> 1); }
inline unsigned __urhadd(unsigned a, unsigned b) { return (unsigned)(((uint64_t)a + b + 1) >> 1); }
inline unsigned __sad(int x, int y, unsigned z) { return z + (unsigned)(x > y ? x - y : y - x); }
inline unsigned __usad(unsigned x, unsigned y, unsigned z) { return z + (x > y ? x - y : y - x); }

/* ---- min / max as provided by CUDA's math headers --------------------- */
#define CUDACPU_MINMAX(T)                               \
  inline T min(T a, T b) { return a < b ? a : b; }      \
  inline T max(T a, T b) { return a > b ? a : b; }
CUDACPU_MINMAX(int)
CUDACPU_MINMAX(unsigned int)
CUDACPU_MINMAX(long)
CUDACPU_MINMAX(unsigned long)
CUDACPU_MINMAX(long long)
CUDACPU_MINMAX(unsigned long long)
#undef CUDACPU_MINMAX
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }
inline double min(float a, double b) { return std::fmin((double)a, b); }
inline double max(float a, double b) { return std::fmax((double)a, b); }
inline double min(double a, float b) { return std::fmin(a, (double)b); }
inline double max(double a, float b) { return std::fmax(a, (double)b); }
inline unsigned min(int a, unsigned b) { return min((unsigned)a, b); }
inline unsigned max(int a, unsigned b) { return max((unsigned)a, b); }
inline unsigned min(unsigned a, int b) { return min(a, (unsigned)b); }
inline unsigned max(unsigned a, int b) { return max(a, (unsigned)b); }

#endif
