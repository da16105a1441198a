/* cudacpu: fibers, the per-block scheduler, barriers, warp operations,
 * the host thread pool and kernel launches. */
#ifndef CUDACPU_SCHED_H
#define CUDACPU_SCHED_H

#include "defs.h"
#include <atomic>
#include <cstdarg>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define CUDACPU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CUDACPU_ASAN 1
#endif
#endif
#ifdef CUDACPU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if !defined(__x86_64__) && !defined(CUDACPU_UCONTEXT)
#define CUDACPU_UCONTEXT 1
#endif
#ifdef CUDACPU_UCONTEXT
#include <ucontext.h>
#else
/* void cudacpu_ctx_swap(void **save_sp, void *load_sp): saves the callee-saved
 * registers, MXCSR and the x87 control word on the current stack, stores the
 * stack pointer in *save_sp and resumes the context whose stack pointer is
 * load_sp.  Weak, so every translation unit may carry a copy. */
__asm__(
    ".pushsection .text\n"
    ".weak cudacpu_ctx_swap\n"
    ".type cudacpu_ctx_swap,@function\n"
    "cudacpu_ctx_swap:\n"
    "  .cfi_startproc\n"
    "  pushq %rbp\n"
    "  pushq %rbx\n"
    "  pushq %r12\n"
    "  pushq %r13\n"
    "  pushq %r14\n"
    "  pushq %r15\n"
    "  subq $8, %rsp\n"
    "  stmxcsr (%rsp)\n"
    "  fnstcw 4(%rsp)\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  ldmxcsr (%rsp)\n"
    "  fldcw 4(%rsp)\n"
    "  addq $8, %rsp\n"
    "  popq %r15\n"
    "  popq %r14\n"
    "  popq %r13\n"
    "  popq %r12\n"
    "  popq %rbx\n"
    "  popq %rbp\n"
    "  ret\n"
    "  .cfi_endproc\n"
    ".size cudacpu_ctx_swap, .-cudacpu_ctx_swap\n"
    ".weak cudacpu_ctx_start\n"
    ".type cudacpu_ctx_start,@function\n"
    "cudacpu_ctx_start:\n"
    "  .cfi_startproc\n"
    "  .cfi_undefined rip\n"
    "  movq %r12, %rdi\n"
    "  callq *%r13\n"
    "  ud2\n"
    "  .cfi_endproc\n"
    ".size cudacpu_ctx_start, .-cudacpu_ctx_start\n"
    ".popsection\n");
extern "C" void cudacpu_ctx_swap(void **save_sp, void *load_sp);
extern "C" void cudacpu_ctx_start(void);
#endif

namespace cudacpu {
namespace detail {

/* ---- configuration (environment, read at every launch) --------------- */
inline bool env_flag(const char *name) {
  const char *v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}
inline long env_long(const char *name, long dflt) {
  const char *v = std::getenv(name);
  if (!v || !*v) return dflt;
  char *end = nullptr;
  long r = std::strtol(v, &end, 10);
  return (end && *end == 0) ? r : dflt;
}
inline bool quiet() { return env_flag("CUDACPU_QUIET"); }

/* ---- error state ------------------------------------------------------ */
struct ErrorState {
  std::atomic<int> sticky{0};
};
inline ErrorState &errstate() {
  static ErrorState e;
  return e;
}
inline thread_local cudaError_t tl_last_error = cudaSuccess;
inline cudaError_t set_error(cudaError_t e) {
  if (e != cudaSuccess) tl_last_error = e;
  return e;
}
/* ---- failure injection --------------------------------------------------
 * Counted calls of this host thread: every runtime call returning cudaError_t
 * (but cudaGetLastError, cudaPeekAtLastError, cudaDeviceReset), every launch,
 * every cuBLAS call returning cublasStatus_t. A call made inside another one
 * (cudaMemcpyAsync -> cudaMemcpy) is not counted again. fail_call arms one
 * of them; see the public functions at the end of this section. */
enum { FK_NONE = 0, FK_RUNTIME = 1, FK_LAUNCH = 2, FK_BLAS = 3 };
struct Fault {
  long count = 0, at = -1;
  cudaError_t cuda = cudaErrorMemoryAllocation;
  int blas = 13; /* CUBLAS_STATUS_EXECUTION_FAILED */
  int depth = 0, hit_kind = FK_NONE;
  const char *hit = nullptr;
};
inline thread_local Fault tl_fault;
struct Counted {
  bool fail = false;
  Counted(const char *name, int kind) {
    Fault &f = tl_fault;
    if (f.depth++ == 0 && f.count++ == f.at) {
      fail = true;
      f.at = -1; /* one failure per fail_call */
      f.hit = name;
      f.hit_kind = kind;
    }
  }
  ~Counted() { --tl_fault.depth; }
  Counted(const Counted &) = delete;
  Counted &operator=(const Counted &) = delete;
};
/* Never success, visibly to the compiler: a caller that returns on the error
 * never reads what the failed call did not write. */
inline cudaError_t injected_cuda() {
  return tl_fault.cuda != cudaSuccess ? tl_fault.cuda : cudaErrorUnknown;
}
inline int injected_blas() { return tl_fault.blas != 0 ? tl_fault.blas : 14; }
/* The first statement of a counted runtime call / cuBLAS call. An injected
 * runtime failure is recorded as the last error, as the runtime records its
 * own (so cudaGetLastError reports it once, and it is not sticky). */
#define CUDACPU_COUNTED(name)                                                \
  ::cudacpu::detail::Counted cudacpu_counted_(name, ::cudacpu::detail::FK_RUNTIME); \
  if (cudacpu_counted_.fail) return ::cudacpu::detail::set_error(::cudacpu::detail::injected_cuda())
#define CUDACPU_BLAS_COUNTED(name)                                           \
  ::cudacpu::detail::Counted cudacpu_counted_(name, ::cudacpu::detail::FK_BLAS); \
  if (cudacpu_counted_.fail) return (cublasStatus_t)::cudacpu::detail::injected_blas()
} // namespace detail

/* The n-th counted call from now (0: the next one) fails: a runtime call
 * returns `cuda` without doing anything, a launch runs nothing and leaves
 * `cuda` for cudaGetLastError/cudaPeekAtLastError, a cuBLAS call returns
 * `blas` (a cublasStatus_t). n < 0 disarms. Either way the count restarts. */
inline void fail_call(long n, cudaError_t cuda = cudaErrorMemoryAllocation, int blas = 13) {
  detail::Fault &f = detail::tl_fault;
  f.count = 0;
  f.at = n < 0 ? -1 : n;
  f.cuda = cuda;
  f.blas = blas;
  f.hit = nullptr;
  f.hit_kind = detail::FK_NONE;
}
/* Counted calls since the last fail_call. */
inline long counted_calls() { return detail::tl_fault.count; }
/* The call the armed failure hit (its API name; a launch's kernel name) and
 * its kind (FAULT_RUNTIME, FAULT_LAUNCH, FAULT_BLAS), kept until the next
 * fail_call; nullptr and FAULT_NONE while none has been hit. One failure per
 * fail_call: the calls after the hit run normally. */
enum { FAULT_NONE = detail::FK_NONE, FAULT_RUNTIME = detail::FK_RUNTIME,
       FAULT_LAUNCH = detail::FK_LAUNCH, FAULT_BLAS = detail::FK_BLAS };
inline const char *failed_call(int *kind = nullptr) {
  if (kind) *kind = detail::tl_fault.hit_kind;
  return detail::tl_fault.hit;
}
namespace detail {

inline void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
inline void report(const char *fmt, ...) {
  if (quiet()) return;
  va_list ap;
  va_start(ap, fmt);
  std::fputs("cudacpu: ", stderr);
  std::vfprintf(stderr, fmt, ap);
  std::fputc('\n', stderr);
  va_end(ap);
}

/* ---- statistics -------------------------------------------------------- */
struct Stats {
  std::atomic<unsigned long long> launches{0}, blocks{0}, threads{0}, switches{0};
  ~Stats() {
    if (env_flag("CUDACPU_STATS"))
      std::fprintf(stderr,
                   "cudacpu stats: %llu launches, %llu blocks, %llu threads, "
                   "%llu fiber switches\n",
                   launches.load(), blocks.load(), threads.load(), switches.load());
  }
};
inline Stats &stats() {
  static Stats s;
  return s;
}

/* ---- fibers ------------------------------------------------------------ */
enum class FState : unsigned char { Runnable, Barrier, Warp, Done, Dead };
enum WarpKind : unsigned char {
  WK_SYNCWARP, WK_SHFL, WK_SHFL_UP, WK_SHFL_DOWN, WK_SHFL_XOR, WK_BALLOT,
  WK_ANY, WK_ALL, WK_MATCH_ANY, WK_RED_ADD, WK_RED_MIN, WK_RED_MAX,
  WK_RED_UMIN, WK_RED_UMAX, WK_RED_AND, WK_RED_OR, WK_RED_XOR
};

struct Fiber {
#ifdef CUDACPU_UCONTEXT
  ucontext_t uc;
#else
  void *sp = nullptr;
#endif
  char *map = nullptr; /* mmap base (guard page first) */
  size_t map_size = 0;
  char *stack = nullptr; /* usable stack */
  size_t stack_size = 0;
  void *asan_fake = nullptr;
  bool dirty = false; /* abandoned mid-kernel: stack shadow may be poisoned */
  uint3 tid{0, 0, 0};
  unsigned linear = 0;
  FState state = FState::Done;
  /* pending warp operation */
  WarpKind wk = WK_SYNCWARP;
  unsigned char wsize = 0;
  unsigned mask = 0;
  int arg = 0;
  int width = 32;
  uint64_t val = 0, res = 0;
  const char *op = "";
  /* barrier */
  int bar_pred = 0, bar_count = 0;
  ~Fiber() {
    if (map) munmap(map, map_size);
  }
};

struct Job;

struct Worker {
  std::vector<Fiber *> fibers;
#ifdef CUDACPU_UCONTEXT
  ucontext_t sched_uc;
#else
  void *sched_sp = nullptr;
#endif
  const void *sched_stack = nullptr;
  size_t sched_stack_size = 0;
  void *sched_fake = nullptr;
  Fiber *cur = nullptr;
  const Job *job = nullptr;
  unsigned nthreads = 0;
  void *dyn_smem = nullptr;
  unsigned long long switches = 0;
  std::string fail; /* set by a fiber that aborts the block */
  ~Worker() {
    for (Fiber *f : fibers) delete f;
    std::free(dyn_smem);
  }
};

inline Worker &worker() {
  static thread_local Worker w;
  return w;
}
inline thread_local Worker *tl_worker = nullptr;
inline thread_local void *tl_dyn_smem = nullptr;
inline thread_local unsigned long long tl_block_gen = 1;

struct Job {
  void (*thunk)(const void *) = nullptr;
  const void *bound = nullptr;
  dim3 grid, block;
  size_t smem = 0;
  unsigned nthreads = 0;
  unsigned long long nblocks = 0;
  bool reverse = false;
  unsigned long long shuffle = 0; /* CUDACPU_SHUFFLE seed, 0 = off */
  size_t stack_size = 0;
  const char *name = "?";
  const char *file = "?";
  int line = 0;
  std::atomic<unsigned long long> next{0};
  std::atomic<bool> failed{false};
  std::mutex msg_mutex;
  std::string msg;
};

inline void asan_start(void **fake, const void *bottom, size_t size) {
#ifdef CUDACPU_ASAN
  __sanitizer_start_switch_fiber(fake, bottom, size);
#else
  (void)fake, (void)bottom, (void)size;
#endif
}
inline void asan_finish(void *fake, const void **bottom, size_t *size) {
#ifdef CUDACPU_ASAN
  __sanitizer_finish_switch_fiber(fake, bottom, size);
#else
  (void)fake, (void)bottom, (void)size;
#endif
}

[[noreturn]] inline void fatal(const char *what) {
  std::fprintf(stderr, "cudacpu: fatal: %s\n", what);
  std::abort();
}

inline Fiber *current_fiber() {
  Worker *w = tl_worker;
  if (!w || !w->cur)
    fatal("device-side synchronisation or warp intrinsic called outside a kernel");
  return w->cur;
}

/* Switch from the running fiber back to the block scheduler. */
inline void yield_fiber(Worker *w, Fiber *f) {
  asan_start(&f->asan_fake, w->sched_stack, w->sched_stack_size);
#ifdef CUDACPU_UCONTEXT
  swapcontext(&f->uc, &w->sched_uc);
#else
  cudacpu_ctx_swap(&f->sp, w->sched_sp);
#endif
  asan_finish(f->asan_fake, nullptr, nullptr);
}

inline void fiber_main_impl(Fiber *f) {
  Worker *w = tl_worker;
  asan_finish(nullptr, &w->sched_stack, &w->sched_stack_size);
  w->job->thunk(w->job->bound);
  f->state = FState::Done;
  asan_start(nullptr, w->sched_stack, w->sched_stack_size); /* fiber ends */
#ifdef CUDACPU_UCONTEXT
  swapcontext(&f->uc, &w->sched_uc);
#else
  cudacpu_ctx_swap(&f->sp, w->sched_sp);
#endif
  fatal("finished fiber resumed");
}
extern "C" inline void cudacpu_fiber_main(void *f) {
  fiber_main_impl(static_cast<Fiber *>(f));
}
#ifdef CUDACPU_UCONTEXT
inline thread_local Fiber *tl_starting = nullptr;
extern "C" inline void cudacpu_fiber_main_uc(void) { fiber_main_impl(tl_starting); }
#endif

inline void fiber_prepare(Fiber *f, size_t stack_size) {
  if (f->stack_size != stack_size) {
    if (f->map) munmap(f->map, f->map_size);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t sz = (stack_size + page - 1) / page * page;
    f->map_size = sz + page;
    void *m = mmap(nullptr, f->map_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (m == MAP_FAILED) fatal("cannot allocate a fiber stack");
    f->map = static_cast<char *>(m);
    mprotect(f->map, page, PROT_NONE); /* guard page: overflow faults */
    f->stack = f->map + page;
    f->stack_size = sz;
    f->dirty = false;
  }
#ifdef CUDACPU_ASAN
  if (f->dirty) __asan_unpoison_memory_region(f->stack, f->stack_size);
#endif
  f->dirty = false;
  f->asan_fake = nullptr;
#ifdef CUDACPU_UCONTEXT
  getcontext(&f->uc);
  f->uc.uc_stack.ss_sp = f->stack;
  f->uc.uc_stack.ss_size = f->stack_size;
  f->uc.uc_link = nullptr;
  makecontext(&f->uc, cudacpu_fiber_main_uc, 0);
#else
  uintptr_t top = (reinterpret_cast<uintptr_t>(f->stack) + f->stack_size) & ~uintptr_t(15);
  uint64_t *sp = reinterpret_cast<uint64_t *>(top - 80);
  unsigned mxcsr;
  unsigned short fcw;
  __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
  __asm__ volatile("fnstcw %0" : "=m"(fcw));
  sp[0] = mxcsr | (uint64_t(fcw) << 32);
  sp[1] = 0;                                         /* r15 */
  sp[2] = 0;                                         /* r14 */
  sp[3] = reinterpret_cast<uint64_t>(&cudacpu_fiber_main); /* r13 */
  sp[4] = reinterpret_cast<uint64_t>(f);             /* r12 */
  sp[5] = 0;                                         /* rbx */
  sp[6] = 0;                                         /* rbp */
  sp[7] = reinterpret_cast<uint64_t>(&cudacpu_ctx_start);
  sp[8] = 0;
  sp[9] = 0;
  f->sp = sp;
#endif
}

inline void resume(Worker *w, Fiber *f) {
  w->cur = f;
  threadIdx = f->tid;
  asan_start(&w->sched_fake, f->stack, f->stack_size);
#ifdef CUDACPU_UCONTEXT
  tl_starting = f;
  swapcontext(&w->sched_uc, &f->uc);
#else
  cudacpu_ctx_swap(&w->sched_sp, f->sp);
#endif
  asan_finish(w->sched_fake, nullptr, nullptr);
  w->cur = nullptr;
  ++w->switches;
}

/* Abort the current block from inside a fiber (never returns). */
[[noreturn]] inline void fiber_fail(const std::string &msg) {
  Worker *w = tl_worker;
  Fiber *f = current_fiber();
  w->fail = msg;
  f->state = FState::Dead;
  yield_fiber(w, f);
  fatal("aborted fiber resumed");
}

/* ---- barrier and warp operations (called from fibers) ---------------- */
inline int barrier(int pred) {
  Worker *w = tl_worker;
  Fiber *f = current_fiber();
  f->bar_pred = pred != 0;
  f->state = FState::Barrier;
  yield_fiber(w, f);
  return f->bar_count;
}

template <class T>
inline T warp_op(WarpKind k, unsigned mask, T v, int arg, int width, const char *op) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value,
                "cudacpu: warp operations take values of at most 8 bytes");
  Worker *w = tl_worker;
  Fiber *f = current_fiber();
  f->wk = k;
  f->wsize = sizeof(T);
  f->mask = mask;
  f->arg = arg;
  f->width = width;
  f->val = 0;
  std::memcpy(&f->val, &v, sizeof(T));
  f->op = op;
  f->state = FState::Warp;
  yield_fiber(w, f);
  T r;
  std::memcpy(&r, &f->res, sizeof(T));
  return r;
}

inline std::string fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
inline std::string fmt(const char *f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}
inline std::string thread_name(const Fiber *f) {
  return fmt("thread (%u,%u,%u) [warp %u lane %u]", f->tid.x, f->tid.y, f->tid.z,
             f->linear / 32, f->linear % 32);
}
inline const char *state_name(const Fiber *f) {
  switch (f->state) {
  case FState::Runnable: return "running";
  case FState::Barrier: return "waiting at __syncthreads";
  case FState::Warp: return f->op;
  case FState::Done: return "exited";
  case FState::Dead: return "aborted";
  }
  return "?";
}

/* Resolve every warp operation whose participants have all arrived.
 * Returns true if any fiber became runnable; sets *err on a usage error. */
inline bool resolve_warps(Worker *w, std::string *err) {
  bool any = false;
  unsigned n = w->nthreads;
  for (unsigned base = 0; base < n; base += 32) {
    unsigned lanes = n - base < 32 ? n - base : 32;
    unsigned exist = lanes == 32 ? 0xffffffffu : ((1u << lanes) - 1);
    unsigned done = 0, waiting = 0;
    Fiber **F = &w->fibers[base];
    for (unsigned l = 0; l < lanes; ++l) {
      if (F[l]->state == FState::Done) done |= 1u << l;
      else if (F[l]->state == FState::Warp) waiting |= 1u << l;
    }
    unsigned pending = waiting;
    while (pending) {
      unsigned l = __builtin_ctz(pending);
      Fiber *f = F[l];
      unsigned M = f->mask;
      if (!((M >> l) & 1)) {
        *err = fmt("%s: %s called with mask 0x%08x that does not include the calling lane",
                   thread_name(f).c_str(), f->op, M);
        return false;
      }
      if ((f->wk == WK_SHFL || f->wk == WK_SHFL_UP || f->wk == WK_SHFL_DOWN ||
           f->wk == WK_SHFL_XOR) &&
          (f->width < 1 || f->width > 32 || (f->width & (f->width - 1)))) {
        *err = fmt("%s: %s called with width %d (must be a power of two <= 32)",
                   thread_name(f).c_str(), f->op, f->width);
        return false;
      }
      unsigned need = M & exist & ~done;
      bool ok = (need & ~waiting) == 0;
      for (unsigned m = need; ok && m; m &= m - 1) {
        Fiber *g = F[__builtin_ctz(m)];
        if (g->mask != M || g->wk != f->wk || g->wsize != f->wsize) ok = false;
      }
      if (!ok) {
        pending &= ~(1u << l);
        continue;
      }
      /* all named, non-exited lanes have arrived: compute results */
      uint64_t poison = ~uint64_t(0);
      auto val_of = [&](unsigned s, unsigned self) -> uint64_t {
        if (s == self) return F[self]->val;
        if (s < 32 && ((need >> s) & 1)) return F[s]->val;
        return poison; /* inactive or exited source lane: undefined on a GPU */
      };
      unsigned ballot = 0;
      for (unsigned m = need; m; m &= m - 1) {
        unsigned j = __builtin_ctz(m);
        if (F[j]->val) ballot |= 1u << j;
      }
      for (unsigned m = need; m; m &= m - 1) {
        unsigned j = __builtin_ctz(m);
        Fiber *g = F[j];
        unsigned wdt = (unsigned)g->width;
        unsigned seg = j & ~(wdt - 1);
        uint64_t r = 0;
        switch (g->wk) {
        case WK_SYNCWARP: break;
        case WK_SHFL: r = val_of(seg + ((unsigned)g->arg & (wdt - 1)), j); break;
        case WK_SHFL_UP: {
          unsigned d = (unsigned)g->arg;
          r = (j - seg) >= d ? val_of(j - d, j) : g->val;
          break;
        }
        case WK_SHFL_DOWN: {
          unsigned d = (unsigned)g->arg;
          r = (j - seg) + (uint64_t)d < wdt ? val_of(j + d, j) : g->val;
          break;
        }
        case WK_SHFL_XOR: {
          unsigned s = j ^ (unsigned)g->arg;
          r = s >= seg + wdt ? g->val : val_of(s, j);
          break;
        }
        case WK_BALLOT: r = ballot; break;
        case WK_ANY: r = ballot != 0; break;
        case WK_ALL: r = ballot == need; break;
        case WK_MATCH_ANY: {
          unsigned mm = 0;
          for (unsigned q = need; q; q &= q - 1) {
            unsigned s = __builtin_ctz(q);
            if (F[s]->val == g->val) mm |= 1u << s;
          }
          r = mm;
          break;
        }
        default: {
          uint32_t acc = (uint32_t)F[__builtin_ctz(need)]->val;
          for (unsigned q = need & (need - 1); q; q &= q - 1) {
            uint32_t x = (uint32_t)F[__builtin_ctz(q)]->val;
            switch (g->wk) {
            case WK_RED_ADD: acc += x; break;
            case WK_RED_MIN: acc = (int32_t)x < (int32_t)acc ? x : acc; break;
            case WK_RED_MAX: acc = (int32_t)x > (int32_t)acc ? x : acc; break;
            case WK_RED_UMIN: acc = x < acc ? x : acc; break;
            case WK_RED_UMAX: acc = x > acc ? x : acc; break;
            case WK_RED_AND: acc &= x; break;
            case WK_RED_OR: acc |= x; break;
            case WK_RED_XOR: acc ^= x; break;
            default: break;
            }
          }
          r = acc;
        }
        }
        g->res = r;
      }
      for (unsigned m = need; m; m &= m - 1) F[__builtin_ctz(m)]->state = FState::Runnable;
      pending &= ~need;
      waiting &= ~need;
      any = true;
    }
  }
  return any;
}

/* Explain why no fiber of the block can make progress. */
inline std::string diagnose(Worker *w) {
  unsigned n = w->nthreads;
  unsigned at_bar = 0, exited = 0, at_warp = 0;
  const Fiber *first_exited = nullptr, *first_bar = nullptr;
  for (unsigned i = 0; i < n; ++i) {
    const Fiber *f = w->fibers[i];
    if (f->state == FState::Barrier) { ++at_bar; if (!first_bar) first_bar = f; }
    if (f->state == FState::Done) { ++exited; if (!first_exited) first_exited = f; }
    if (f->state == FState::Warp) ++at_warp;
  }
  for (unsigned i = 0; i < n; ++i) {
    const Fiber *f = w->fibers[i];
    if (f->state != FState::Warp) continue;
    unsigned base = i & ~31u;
    for (unsigned m = f->mask; m; m &= m - 1) {
      unsigned l = __builtin_ctz(m);
      if (base + l >= n) continue;
      const Fiber *g = w->fibers[base + l];
      if (g->state == FState::Done) continue;
      if (g->state == FState::Warp && g->mask == f->mask && g->wk == f->wk &&
          g->wsize == f->wsize)
        continue;
      std::string other = g->state == FState::Warp
                              ? fmt("waits in %s with mask 0x%08x", g->op, g->mask)
                              : std::string(state_name(g));
      return fmt("deadlock: %s waits in %s (mask 0x%08x) for lane %u, which %s%s",
                 thread_name(f).c_str(), f->op, f->mask, l,
                 g->state == FState::Warp ? "" : "is ", other.c_str());
    }
  }
  if (at_bar && exited)
    return fmt("deadlock: __syncthreads reached by %u of %u threads; %u threads "
               "exited without reaching it (first: %s) - barrier in divergent code",
               at_bar, n, exited, thread_name(first_exited).c_str());
  return fmt("deadlock: %u threads at __syncthreads, %u in warp operations, %u exited",
             at_bar, at_warp, exited);
}

inline void block_failed(Job *job, const std::string &msg) {
  std::lock_guard<std::mutex> g(job->msg_mutex);
  if (!job->failed.exchange(true)) job->msg = msg;
}

inline void run_block(Worker *w, Job *job, unsigned long long lin) {
  unsigned long long gx = job->grid.x, gy = job->grid.y;
  blockIdx = uint3{(unsigned)(lin % gx), (unsigned)((lin / gx) % gy),
                   (unsigned)(lin / (gx * gy))};
  blockDim = job->block;
  gridDim = job->grid;
  unsigned n = job->nthreads;
  w->nthreads = n;
  w->job = job;
  w->fail.clear();
  ++tl_block_gen;
  /* dynamic shared memory: exactly the requested size, filled with 0xff */
  std::free(w->dyn_smem);
  w->dyn_smem = nullptr;
  if (posix_memalign(&w->dyn_smem, 128, job->smem ? job->smem : 1) != 0)
    fatal("out of memory for dynamic shared memory");
  std::memset(w->dyn_smem, 0xff, job->smem);
  tl_dyn_smem = w->dyn_smem;
  while (w->fibers.size() < n) w->fibers.push_back(new Fiber);
  unsigned bx = job->block.x, by = job->block.y;
  for (unsigned i = 0; i < n; ++i) {
    Fiber *f = w->fibers[i];
    fiber_prepare(f, job->stack_size);
    f->tid = uint3{i % bx, (i / bx) % by, i / (bx * by)};
    f->linear = i;
    f->state = FState::Runnable;
  }
  std::string err;
  std::vector<unsigned> order;
  unsigned long long rng = job->shuffle ^ (lin * 0x9e3779b97f4a7c15ull);
  if (job->shuffle) {
    order.resize(n);
    for (unsigned i = 0; i < n; ++i) order[i] = i;
  }
  for (;;) {
    unsigned live = 0, at_bar = 0, bar_true = 0;
    bool dead = false;
    if (job->shuffle) /* new random order for every round */
      for (unsigned i = n; i > 1; --i) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        std::swap(order[i - 1], order[rng % i]);
      }
    for (unsigned k = 0; k < n; ++k) {
      Fiber *f = w->fibers[job->shuffle ? order[k] : job->reverse ? n - 1 - k : k];
      if (f->state == FState::Runnable) resume(w, f);
      if (f->state == FState::Dead) { dead = true; break; }
    }
    if (dead) { err = w->fail; break; }
    for (unsigned i = 0; i < n; ++i) {
      Fiber *f = w->fibers[i];
      if (f->state != FState::Done) ++live;
      if (f->state == FState::Barrier) { ++at_bar; bar_true += f->bar_pred; }
    }
    if (!live) break;
    if (resolve_warps(w, &err)) continue;
    if (!err.empty()) break;
    if (at_bar == live && live == n) {
      for (unsigned i = 0; i < n; ++i) {
        w->fibers[i]->bar_count = (int)bar_true;
        w->fibers[i]->state = FState::Runnable;
      }
      continue;
    }
    err = diagnose(w);
    break;
  }
  if (!err.empty()) {
    for (unsigned i = 0; i < n; ++i)
      if (w->fibers[i]->state != FState::Done) w->fibers[i]->dirty = true;
    block_failed(job, fmt("%s:%d: kernel %s, block (%u,%u,%u): %s", job->file, job->line,
                          job->name, blockIdx.x, blockIdx.y, blockIdx.z, err.c_str()));
  }
  tl_dyn_smem = nullptr;
  stats().blocks.fetch_add(1, std::memory_order_relaxed);
  stats().threads.fetch_add(n, std::memory_order_relaxed);
}

inline void work(Job *job) {
  Worker &w = worker();
  tl_worker = &w;
  w.switches = 0;
  for (;;) {
    if (job->failed.load(std::memory_order_relaxed)) break;
    unsigned long long b = job->next.fetch_add(1);
    if (b >= job->nblocks) break;
    run_block(&w, job, job->reverse ? job->nblocks - 1 - b : b);
  }
  stats().switches.fetch_add(w.switches, std::memory_order_relaxed);
  tl_worker = nullptr;
}

/* ---- host thread pool ------------------------------------------------- */
class Pool {
  std::mutex m_;
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> threads_;
  Job *job_ = nullptr;
  unsigned long long gen_ = 0;
  unsigned want_ = 0, active_ = 0;
  bool quit_ = false;

  void loop(unsigned idx) {
    unsigned long long seen = 0;
    std::unique_lock<std::mutex> lk(m_);
    for (;;) {
      cv_.wait(lk, [&] { return quit_ || gen_ != seen; });
      if (quit_) return;
      seen = gen_;
      if (idx >= want_) continue;
      Job *j = job_;
      lk.unlock();
      work(j);
      lk.lock();
      if (--active_ == 0) done_cv_.notify_all();
    }
  }

public:
  void run(Job *job, unsigned nworkers) {
    if (nworkers <= 1 || job->nblocks <= 1) {
      work(job);
      return;
    }
    unsigned helpers = nworkers - 1;
    if (helpers > job->nblocks - 1) helpers = (unsigned)(job->nblocks - 1);
    {
      std::lock_guard<std::mutex> g(m_);
      while (threads_.size() < helpers) {
        unsigned idx = (unsigned)threads_.size();
        threads_.emplace_back([this, idx] { loop(idx); });
      }
      job_ = job;
      want_ = helpers;
      active_ = helpers;
      ++gen_;
    }
    cv_.notify_all();
    work(job);
    std::unique_lock<std::mutex> lk(m_);
    done_cv_.wait(lk, [&] { return active_ == 0; });
    job_ = nullptr;
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> g(m_);
      quit_ = true;
    }
    cv_.notify_all();
    for (auto &t : threads_) t.join();
  }
};
inline Pool &pool() {
  static Pool p;
  return p;
}

/* ---- device memory registry ------------------------------------------ */
enum MemKind { MK_DEVICE = 1, MK_HOST = 2, MK_MANAGED = 3, MK_SYMBOL = 4, MK_REGISTERED = 5 };
struct Registry {
  std::mutex m;
  std::map<uintptr_t, std::pair<size_t, int>> allocs; /* start -> (size, kind) */
  std::map<uintptr_t, int> smem_optin;                /* kernel -> max dynamic smem */
  std::map<uintptr_t, int> streams;                   /* live streams */
  std::map<uintptr_t, int> events;
};
inline Registry &registry() {
  static Registry r;
  return r;
}
/* Kind of the allocation holding [p, p+n), or 0.  n == 0 accepts one past the end. */
inline int mem_kind(const void *p, size_t n) {
  Registry &r = registry();
  std::lock_guard<std::mutex> g(r.m);
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = r.allocs.upper_bound(a);
  if (it == r.allocs.begin()) return 0;
  --it;
  uintptr_t s = it->first;
  size_t sz = it->second.first;
  if (n == 0 ? a <= s + sz : (a >= s && a - s <= sz && n <= sz - (a - s))) return it->second.second;
  return 0;
}
inline bool allow_host_ptrs() { return env_flag("CUDACPU_ALLOW_HOST_PTRS"); }

/* ---- launches ----------------------------------------------------------- */
struct LaunchCfg {
  dim3 grid, block;
  size_t smem;
  cudaStream_t stream;
};
inline LaunchCfg make_cfg(dim3 g, dim3 b, size_t smem = 0, cudaStream_t s = nullptr) {
  return LaunchCfg{g, b, smem, s};
}

inline bool stream_valid(cudaStream_t s) {
  if (s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread) return true;
  Registry &r = registry();
  std::lock_guard<std::mutex> g(r.m);
  return r.streams.count(reinterpret_cast<uintptr_t>(s)) != 0;
}

template <class T> inline T conv(T v) { return v; }

template <class T> inline bool check_arg(const T &v, unsigned idx, std::string *msg) {
  if constexpr (std::is_pointer<T>::value) {
    using P = std::remove_cv_t<std::remove_pointer_t<T>>;
    if constexpr (!std::is_function<P>::value) {
      if (v != nullptr && !mem_kind(static_cast<const void *>(v), 0)) {
        *msg = fmt("kernel argument %u (%p) is not device memory (host pointer passed "
                   "to a kernel? set CUDACPU_ALLOW_HOST_PTRS=1 to permit)",
                   idx, static_cast<const void *>(v));
        return false;
      }
    }
  }
  (void)v, (void)idx, (void)msg;
  return true;
}

template <class K, class Tup> struct Bound {
  K k;
  Tup args;
  static void call(const void *p) {
    const Bound *b = static_cast<const Bound *>(p);
    std::apply(b->k, b->args);
  }
};

#ifdef CUDACPU_ASAN
/* Names the kernel, block and thread when a sanitizer reports an error. */
inline void asan_death_callback() {
  Worker *w = tl_worker;
  if (w && w->cur && w->job)
    std::fprintf(stderr,
                 "cudacpu: the error above occurred in kernel %s (launched at %s:%d), "
                 "block (%u,%u,%u), thread (%u,%u,%u)\n",
                 w->job->name, w->job->file, w->job->line, blockIdx.x, blockIdx.y, blockIdx.z,
                 threadIdx.x, threadIdx.y, threadIdx.z);
}
#endif

inline cudaError_t launch_job(Job &job, const LaunchCfg &c, uintptr_t kaddr) {
  stats().launches.fetch_add(1, std::memory_order_relaxed);
#ifdef CUDACPU_ASAN
  __sanitizer_set_death_callback(&asan_death_callback);
#endif
  int sticky = errstate().sticky.load();
  if (sticky) return set_error((cudaError_t)sticky);
  const dim3 &g = c.grid, &b = c.block;
  unsigned long long nt = (unsigned long long)b.x * b.y * b.z;
  if (b.x == 0 || b.y == 0 || b.z == 0 || g.x == 0 || g.y == 0 || g.z == 0 || nt > 1024 ||
      b.x > 1024 || b.y > 1024 || b.z > 64 || g.x > 2147483647u || g.y > 65535 ||
      g.z > 65535) {
    report("%s:%d: launch of %s: invalid configuration grid (%u,%u,%u) block (%u,%u,%u)",
           job.file, job.line, job.name, g.x, g.y, g.z, b.x, b.y, b.z);
    return set_error(cudaErrorInvalidConfiguration);
  }
  size_t limit = 48 * 1024;
  {
    Registry &r = registry();
    std::lock_guard<std::mutex> lk(r.m);
    auto it = r.smem_optin.find(kaddr);
    if (it != r.smem_optin.end()) limit = (size_t)it->second > limit ? (size_t)it->second : limit;
  }
  if (c.smem > limit) {
    report("%s:%d: launch of %s: %zu bytes of dynamic shared memory exceed the limit of "
           "%zu (cudaFuncSetAttribute(cudaFuncAttributeMaxDynamicSharedMemorySize) raises it)",
           job.file, job.line, job.name, c.smem, limit);
    return set_error(cudaErrorInvalidValue);
  }
  if (!stream_valid(c.stream)) {
    report("%s:%d: launch of %s: invalid stream", job.file, job.line, job.name);
    return set_error(cudaErrorInvalidResourceHandle);
  }
  job.grid = g;
  job.block = b;
  job.smem = c.smem;
  job.nthreads = (unsigned)nt;
  job.nblocks = (unsigned long long)g.x * g.y * g.z;
  job.reverse = env_flag("CUDACPU_REVERSE");
  job.shuffle = (unsigned long long)env_long("CUDACPU_SHUFFLE", 0);
  job.stack_size = (size_t)env_long("CUDACPU_STACK_KB", 256) * 1024;
  long nthr = env_long("CUDACPU_THREADS", 0);
  if (nthr <= 0) nthr = (long)std::thread::hardware_concurrency();
  if (nthr <= 0) nthr = 1;
  pool().run(&job, (unsigned)nthr);
  if (job.failed.load()) {
    std::fprintf(stderr, "cudacpu: %s\n", job.msg.c_str());
    if (env_flag("CUDACPU_ABORT")) std::abort();
    errstate().sticky.store(cudaErrorLaunchFailure);
    return set_error(cudaErrorLaunchFailure);
  }
  return cudaSuccess;
}

template <class... P> struct Launcher {
  void (*k)(P...);
  LaunchCfg cfg;
  const char *name;
  const char *file;
  int line;

  template <class... A> void operator()(A &&...a) const {
    static_assert(sizeof...(A) == sizeof...(P), "cudacpu: wrong number of kernel arguments");
    using Tup = std::tuple<std::decay_t<P>...>;
    Bound<void (*)(P...), Tup> b{k, Tup(conv<std::decay_t<P>>(std::forward<A>(a))...)};
    launch(b, std::index_sequence_for<P...>{});
  }
  template <class B, size_t... I> void launch(const B &b, std::index_sequence<I...>) const {
    Counted counted(name, FK_LAUNCH);
    if (counted.fail) {
      set_error(injected_cuda());
      return;
    }
    std::string msg;
    if (!allow_host_ptrs() && !(check_arg(std::get<I>(b.args), (unsigned)I, &msg) && ...)) {
      report("%s:%d: launch of %s: %s", file, line, name, msg.c_str());
      set_error(cudaErrorInvalidValue);
      return;
    }
    Job job;
    job.thunk = &B::call;
    job.bound = &b;
    job.name = name;
    job.file = file;
    job.line = line;
    launch_job(job, cfg, reinterpret_cast<uintptr_t>(k));
  }
};

template <class... P>
inline Launcher<P...> launcher(const char *file, int line, const char *name, void (*k)(P...),
                               const LaunchCfg &cfg) {
  return Launcher<P...>{k, cfg, name, file, line};
}

inline void *dynamic_smem() {
  if (!tl_dyn_smem) fatal("extern __shared__ memory used outside a kernel");
  return tl_dyn_smem;
}

/* Static __shared__ variables are filled with 0xff the first time a thread
 * of a new block passes their declaration (inserted by the source filter). */
inline bool shared_first_touch(void *p, size_t n, unsigned long long &gen) {
  if (gen != tl_block_gen && tl_worker) {
    gen = tl_block_gen;
    std::memset(p, 0xff, n);
  }
  return true;
}

} // namespace detail

using detail::launcher;
using detail::make_cfg;
using detail::dynamic_smem;
using detail::shared_first_touch;

} // namespace cudacpu

#endif
