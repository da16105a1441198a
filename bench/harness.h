/* bench/harness.h - time and count the memory of the melora adapters with one code path.

   Used by bench/bench_adapters.c (`make bench`) and by anything else that wants the same
   figures (e.g. paper_repro/). Header-only; every function is static. This file is the
   one include; the code lives in one header per job:
       bench/timing.h    clock, medians, interleaved rounds
       bench/alloc.h     the counting allocator
       bench/machine.h   machine-limit probes (bandwidth, FMA peak) and the work model
       bench/folded.h    the second Me-LoRA per-batch implementation (C folded into A)
       bench/methods.h   the methods and the shape of a step
       bench/step.h      one step of each method; mlb_time, mlb_measure_memory
   (bench/mlb_base.h holds what they share.) Include it in the
   file that holds the melora implementation, BEFORE the implementation, and route the
   library's allocator through the counting allocator:

       #include "bench/harness.h"           // declares mlb_* (includes melora.h)
       #define MELORA_MALLOC(bytes) mlb_malloc(bytes)
       #define MELORA_FREE(p) mlb_free(p)
       #define MELORA_IMPLEMENTATION
       #include "melora.h"

   (Without the two defines timing works; the memory functions return MELORA_ERR_VALUE.)
   Compile with -fopenmp to time the threaded library; link -lm.

   METHODS (mlb_method): MLB_LORA, MLB_BLOB (one draw of A per batch), MLB_FLIPOUT (BLoB
   with Flipout signs per group of shape.G tokens), MLB_MELORA_BATCH (one C per batch),
   MLB_MELORA_EXAMPLE (one C per example, shape.E examples), MLB_MELORA_FOLDED (one C per
   batch computed as LoRA with A' = C A: melora_lora_forward/backward with A', then
   dC = dA' A^T, dA += C^T dA', dM += dC, dH += dC * EC * 2H; only v = x A'^T is saved;
   composed in bench/folded.h from the public API, it is not a library function), and
   MLB_TRAFFIC, not an adapter: a kernel that moves exactly the large-tensor bytes of a
   LoRA step at the shape (forward reads x and updates z, backward reads dz and x and
   updates dx; row sums in 16-lane vectors stand in for the products, rows split over the
   threads as in the library), so that timed among the methods it gives the bandwidth
   limit of this shape under the same conditions. A step of each method draws its noise
   from the counter RNG (inside the forward time, as a training step would: step k of a
   context is draw k, through melora_blob_noise, melora_blob_flipout_noise or
   melora_melora_noise), runs the forward and then the backward with dz given.

   TIMING
       mlb_shape sh = {T, n, m, r, E, G, alpha};
       int meths[] = {MLB_LORA, MLB_MELORA_BATCH};
       mlb_result res[2];
       int st = mlb_time(res, &sh, meths, 2, warmup, reps);   // 0 or a melora_status
     runs `warmup` untimed rounds and `reps` timed rounds; a round runs every listed
     method once, in the listed order (interleaved, so slow drifts of a shared machine hit
     all methods alike). res[i].fwd / .bwd / .total hold the median, min and max over the
     reps in seconds (total = fwd + bwd of the same step); res[i].ratio is
     res[i].total.med / LoRA's total.med from the same run (LoRA is timed as well when it
     is not listed). reps <= MLB_MAX_REPS. Two more robust ratios on a shared machine:
     res[i].ratio_paired, the median over rounds of the round's total / LoRA's total, and
     res[i].ratio_min = total.min / LoRA's total.min.

   MEMORY (exact, counted by the allocator)
       mlb_memory mem;
       int st = mlb_measure_memory(&mem, &sh, MLB_MELORA_BATCH);
     allocates exactly the buffers one training step of the method needs (trainable
     parameters, gradients, AdamW moments, saved activations, the sample As or C, stored
     noise, library workspace, and the caller's x, z, dz, dx), each through melora_alloc
     and so through the counting allocator, runs one forward + backward, and reports the
     bytes per category (mem.bytes[MLB_CAT_*], payload bytes without melora_alloc's
     alignment slack), the allocator's raw peak during the step (mem.peak_raw) and the
     byte counts melora_count_train_memory gives for the same shape (mem.model, fp32,
     noise stored). Not for MLB_TRAFFIC (MELORA_ERR_ENUM).

   MACHINE LIMITS AND WORK MODEL
       mlb_machine mc;  mlb_measure_machine(&mc, reps);
     measures with the same OpenMP threads as the library: a STREAM-style triad
     a = b + q*c over 3 x 64 MiB arrays, a read-only sum over 2 of them (16-lane vectors,
     4 accumulators per thread), and the FMA rate of 24 (AVX-512) or 12 chains of the widest
     fused multiply-add (intrinsics) held in registers (mlb_fma_gflops(), also callable
     alone at the current thread count); each the best of `reps` repetitions.
     mc.triad_gbs, mc.read_gbs (GB/s = 1e9 B/s; the triad counts 3 arrays, no
     write-allocate), mc.lora_stream_gbs (a kernel that moves exactly the large-tensor bytes
     of a LoRA step at T = 1200, n = m = 4096: z += q x, then dx += q dz + q' x, rows split
     over the threads, 7 arrays of T*n floats), mc.bw_gbs = the largest of the three, and
     mc.peak_gflops (1 FMA = 2 flops).
       mlb_work w = mlb_work_model(&sh, method);
     w.bytes and w.flops of one forward + backward (the data that must cross memory and
     the multiply-adds that must run, see the function), and
       double lb = mlb_lower_bound(&w, &mc);   // max(bytes / bw, flops / peak), seconds

   ALSO
     mlb_method_name(m), mlb_method_key(m) (CSV identifiers), mlb_category_name(c);
     mlb_check_folded(&max_rel): MLB_MELORA_FOLDED against the library's Me-LoRA, 0 if ok;
     mlb_ctx_init(&c, &sh, mask, adam) / mlb_ctx_step(&c, method, &tf, &tb) /
     mlb_ctx_free(&c): the buffers and the step that mlb_time uses, for your own loops;
     mlb_malloc/mlb_free, mlb_set_category(cat), mlb_alloc_current(), mlb_alloc_peak(),
     mlb_alloc_reset_peak(): the counting allocator itself.

   API STABILITY: the names and fields above stay; new ones may be added.
*/
#ifndef MELORA_BENCH_HARNESS_H
#define MELORA_BENCH_HARNESS_H

#include "step.h" /* and through it every part */

#endif /* MELORA_BENCH_HARNESS_H */
