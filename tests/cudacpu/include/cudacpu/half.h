/* cudacpu: the toolkit's half-precision scalar types, __half (cuda_fp16.h) and
   __nv_bfloat16 (cuda_bf16.h), with their float conversions, on the host. Test builds
   only. Narrowing rounds to nearest, ties to even, overflows to infinity and gives the
   canonical NaN 0x7FFF, as cvt.rn.f16.f32 / cvt.rn.bf16.f32 do on sm_80 and later; the
   rounding is done here in double (a multiple of the format's spacing at x, found with
   nearbyint), not with the integer bit tricks melora.h uses, so that the emulator's tests
   compare two independent implementations. */
#ifndef CUDACPU_HALF_H
#define CUDACPU_HALF_H
#include <math.h>
#include <stdint.h>
#include <string.h>

struct __half_raw { unsigned short x; };
struct __nv_bfloat16_raw { unsigned short x; };
struct __half {
  unsigned short __x;
  __half() = default;
  __half(const __half_raw &r) : __x(r.x) {}
  operator __half_raw() const { __half_raw r; r.x = __x; return r; }
};
struct __nv_bfloat16 {
  unsigned short __x;
  __nv_bfloat16() = default;
  __nv_bfloat16(const __nv_bfloat16_raw &r) : __x(r.x) {}
  operator __nv_bfloat16_raw() const { __nv_bfloat16_raw r; r.x = __x; return r; }
};
typedef __half half;
typedef __nv_bfloat16 nv_bfloat16;

/* x rounded to p significant bits, with the spacing of exponent emin below 2^emin (the
   format's subnormals); exact in double for the float inputs here */
static inline double cudacpu_round_sig(double x, int p, int emin) {
  if (x == 0.0 || isinf(x)) return x;
  int e = ilogb(x);
  if (e < emin) e = emin;
  double q = ldexp(1.0, e - (p - 1));
  return nearbyint(x / q) * q; /* the default rounding mode: to nearest, ties to even */
}

static inline unsigned short __half_as_ushort(__half h) { return h.__x; }
static inline __half __ushort_as_half(unsigned short u) { __half h; h.__x = u; return h; }
static inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.__x; }
static inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short u) { __nv_bfloat16 h; h.__x = u; return h; }

static inline __half __float2half_rn(float f) {
  if (isnan(f)) return __ushort_as_half(0x7FFF);
  unsigned short sign = signbit(f) ? 0x8000 : 0;
  double a = fabs(cudacpu_round_sig((double)f, 11, -14));
  if (a > 65504.0) return __ushort_as_half((unsigned short)(sign | 0x7C00)); /* and infinities */
  if (a < ldexp(1.0, -14)) return __ushort_as_half((unsigned short)(sign | (unsigned)ldexp(a, 24)));
  int e = ilogb(a);
  unsigned mant = (unsigned)(ldexp(a, 10 - e) - 1024.0);
  return __ushort_as_half((unsigned short)(sign | (unsigned)(e + 15) << 10 | mant));
}
static inline __half __float2half(float f) { return __float2half_rn(f); }
static inline float __half2float(__half h) {
  unsigned u = h.__x, e = (u >> 10) & 0x1F, m = u & 0x3FF;
  double v = e == 0x1F ? (m ? NAN : INFINITY) : e == 0 ? ldexp((double)m, -24)
                                                  : ldexp((double)(1024 + m), (int)e - 25);
  return (float)((u & 0x8000) ? -v : v);
}

static inline __nv_bfloat16 __float2bfloat16_rn(float f) {
  if (isnan(f)) return __ushort_as_bfloat16(0x7FFF);
  unsigned short sign = signbit(f) ? 0x8000 : 0;
  double r = cudacpu_round_sig((double)f, 8, -126);
  if (fabs(r) > ldexp(255.0, 120)) /* (2 - 2^-7) 2^127, the largest bf16 */
    return __ushort_as_bfloat16((unsigned short)(sign | 0x7F80));
  float rf = (float)r; /* exact: r has 8 significant bits */
  uint32_t b;
  memcpy(&b, &rf, sizeof b);
  return __ushort_as_bfloat16((unsigned short)(b >> 16));
}
static inline __nv_bfloat16 __float2bfloat16(float f) { return __float2bfloat16_rn(f); }
static inline float __bfloat162float(__nv_bfloat16 h) {
  uint32_t b = (uint32_t)h.__x << 16;
  float f;
  memcpy(&f, &b, sizeof f);
  return f;
}
#endif
