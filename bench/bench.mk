# make bench: time and memory of LoRA vs BLoB vs Me-LoRA (included by the top-level Makefile)
#   make bench          full run (< 10 min on 2 cores): tables, CSV and PNG in bench/results/
#   make bench-quick    the 7B q/v shape only, no scaling sweeps, no plots
#   make bench-bf16     only the machine limits and the bf16 rows (bf16.md, bf16.csv)
# gnuplot (need "gnuplot" of tools/provision.sh) is installed when missing and we are root;
# otherwise the plots are skipped with a message. The CUDA table needs nvcc and a GPU (make bench-cuda-emu
# runs its program through the CPU emulator at a small shape).
BENCH_OUT  ?= bench/results
# OpenBLAS 0.3.21 picks its slow Prescott kernels on CPUs it does not know (recent
# Xeons): name the core from the CPU's flags unless the caller did.
OPENBLAS_CORE := $(or $(OPENBLAS_CORETYPE),$(if $(shell grep -qw avx512f /proc/cpuinfo 2>/dev/null && echo y),SkylakeX,$(if $(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && echo y),Haswell)))
BENCH_ENV  ?= OMP_PROC_BIND=close $(if $(OPENBLAS_CORE),OPENBLAS_CORETYPE=$(OPENBLAS_CORE))
BENCH_ARGS ?=

.PHONY: bench-accuracy bench-openblas bench bench-quick bench-bf16 bench-plots bench-gnuplot bench-cuda bench-cuda-emu bench-profile

# The peer (six cblas_sgemm, bench/peer.h) needs OpenBLAS and its OpenMP build (need
# "openblas"), installed when missing and we are root; without them the bench runs and
# says the peer was not timed.
bench-openblas:
	@$(PROVISION) openblas || true
	@f="$$(CC=$(CC) bench/openblas-flags.sh)"; if [ -n "$$f" ]; then echo "✓ OpenBLAS: $$f"; else echo "✗ OpenBLAS not found: the six-sgemm peer is skipped"; fi

$(BUILD)/bench_adapters: bench/bench_adapters.c bench/openblas-flags.sh | $(BUILD) bench-openblas
	$(CC) $(STD) -D_DEFAULT_SOURCE $(OPT) $(OMP) $(WARN) -I. $(DEPS_LINK) $< $$(CC=$(CC) bench/openblas-flags.sh) -lm -o $@

bench: toolchain $(BUILD)/bench_adapters
	@mkdir -p $(BENCH_OUT)
	$(BENCH_ENV) ./$(BUILD)/bench_adapters --out $(BENCH_OUT) $(BENCH_ARGS)
	@$(MAKE) --no-print-directory bench-plots
	@$(MAKE) --no-print-directory bench-cuda

bench-quick: $(BUILD)/bench_adapters
	@mkdir -p $(BUILD)/bench-quick
	$(BENCH_ENV) ./$(BUILD)/bench_adapters --quick --out $(BUILD)/bench-quick

# The bf16 rows alone (the full run has them too): LoRA, BLoB, Me-LoRA with bf16
# activations beside fp32, interleaved, at the paper's shapes.
bench-bf16: toolchain $(BUILD)/bench_adapters
	@mkdir -p $(BENCH_OUT)
	$(BENCH_ENV) ./$(BUILD)/bench_adapters --bf16 --out $(BENCH_OUT) $(BENCH_ARGS)

bench-gnuplot:
	@$(PROVISION) gnuplot || true

bench-plots: bench-gnuplot
	@if [ ! -f $(BENCH_OUT)/scaling_r.csv ]; then \
	  echo "no scaling CSV in $(BENCH_OUT) (run without --quick/--no-scaling): plots skipped"; \
	elif command -v gnuplot >/dev/null 2>&1; then \
	  gnuplot -e "dir='$(BENCH_OUT)'" bench/plots.gp && echo "plots: $(BENCH_OUT)/*.png"; \
	else \
	  echo "gnuplot not found (install gnuplot-nox): plots skipped, CSV files are in $(BENCH_OUT)"; \
	fi

# The CUDA table: bench/bench_cuda.cpp against melora_cuda.cu (cuBLAS), timed with CUDA
# events after checking every method against the CPU. Needs nvcc and a GPU; otherwise one line.
# (CUDA_HOME and CUDA_ARCHS come from the Makefile.)
BENCH_CU   = $(BUILD)/bench-cuda
$(BENCH_CU)/melora_cuda.o: melora_cuda.cu | $(BUILD)
	@mkdir -p $(@D)
	$(NVCC) -std=c++17 -O3 -I. $(CUDA_ARCHS) $(DEPS_C) -c $< -o $@
$(BENCH_CU)/bench_cuda.o: bench/bench_cuda.cpp | $(BUILD)
	@mkdir -p $(@D)
	$(CXX) -std=c++17 $(OPT) $(OMP) -Wall -Wextra -I. -I$(CUDA_HOME)/include $(DEPS_C) -c $< -o $@
$(BENCH_CU)/bench_cuda: $(BENCH_CU)/bench_cuda.o $(BENCH_CU)/melora_cuda.o
	$(CXX) $(OMP) $^ -L$(CUDA_HOME)/lib64 -lcublas -lcudart -lm -o $@

bench-cuda:
	@if [ -n "$(NVCC)" ] && nvidia-smi -L 2>/dev/null | grep -q GPU; then \
	  $(MAKE) --no-print-directory $(BENCH_CU)/bench_cuda && mkdir -p $(BENCH_OUT) && \
	  $(BENCH_ENV) ./$(BENCH_CU)/bench_cuda --out $(BENCH_OUT); \
	else \
	  echo "no GPU: CUDA table skipped"; \
	fi

# The same program through the CPU emulator (tests/cudacpu), one small shape: checks the
# program and the CPU/GPU agreement anywhere; its timings mean nothing.
$(BENCH_CU)/melora_cuda_emu.o: melora_cuda.cu | $(BUILD)
	@mkdir -p $(@D)
	$(call cudacpu_o,-O2)
$(BENCH_CU)/bench_cuda_emu.o: bench/bench_cuda.cpp | $(BUILD)
	@mkdir -p $(@D)
	$(CXX) -std=c++17 -O2 -Wall -Wextra -I. -Itests/cudacpu/include $(DEPS_C) -c $< -o $@
$(BENCH_CU)/bench_cuda_emu: $(BENCH_CU)/melora_cuda_emu.o $(BENCH_CU)/bench_cuda_emu.o
	$(CXX) -pthread $^ -lm -o $@

bench-cuda-emu: $(BENCH_CU)/bench_cuda_emu
	@mkdir -p $(BENCH_CU)/out
	./$(BENCH_CU)/bench_cuda_emu --small --out $(BENCH_CU)/out

# make bench-profile: instruction counts per function of one training step of each method
# (valgrind --tool=callgrind; built for x86-64-v3 since valgrind 3.19 lacks AVX-512).
PROFILE_SHAPE ?= 1200 4096 4096 64
$(BUILD)/profile_step: bench/profile_step.c | $(BUILD)
	$(CC) $(STD) -D_DEFAULT_SOURCE -O3 -march=x86-64-v3 -g $(OMP) $(WARN) -I. $(DEPS_LINK) $< -lm -o $@

bench-profile: $(BUILD)/profile_step
	@$(PROVISION) valgrind
	@for m in lora blob flipout melora_batch melora_example melora_folded; do \
	  OMP_NUM_THREADS=1 valgrind --tool=callgrind --callgrind-out-file=$(BUILD)/callgrind.$$m \
	    ./$(BUILD)/profile_step $$m $(PROFILE_SHAPE) 1 >/dev/null 2>&1 || exit 1; \
	  echo "== $$m ($(PROFILE_SHAPE)): instructions per function, setup included"; \
	  callgrind_annotate --inclusive=no $(BUILD)/callgrind.$$m 2>/dev/null | grep -E 'PROGRAM TOTALS|^ *[0-9,]+ \([ 0-9.]+%\)  [^=]*:(melora|mlb)' | head -10; \
	done

# make bench-accuracy: float32 error of melora and of plain float32 PyTorch against float64,
# at the paper's shapes and for batches up to 1M tokens (needs python3-torch).
bench-accuracy: $(BUILD)/libmelora.so python-torch
	MELORA_LIB=$(abspath $(BUILD)/libmelora.so) $(PY_TORCH) bench/accuracy_torch.py
