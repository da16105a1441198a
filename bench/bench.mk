# make bench: time and memory of LoRA vs BLoB vs Me-LoRA (included by the top-level Makefile)
#   make bench          full run (< 10 min on 2 cores): tables, CSV and PNG in bench/results/
#   make bench-quick    the 7B q/v shape only, no scaling sweeps, no plots
# gnuplot (Debian gnuplot-nox) is installed when missing and we are root; otherwise the
# plots are skipped with a message. The CUDA table needs nvcc and a GPU.
BENCH_OUT  ?= bench/results
BENCH_ENV  ?= OMP_PROC_BIND=close
BENCH_ARGS ?=

.PHONY: bench bench-quick bench-plots bench-gnuplot bench-cuda

$(BUILD)/bench_adapters: bench/bench_adapters.c bench/harness.h melora.h | $(BUILD)
	$(CC) $(STD) -D_DEFAULT_SOURCE $(OPT) $(OMP) $(WARN) -I. $< -lm -o $@

bench: toolchain $(BUILD)/bench_adapters
	@mkdir -p $(BENCH_OUT)
	$(BENCH_ENV) ./$(BUILD)/bench_adapters --out $(BENCH_OUT) $(BENCH_ARGS)
	@$(MAKE) --no-print-directory bench-plots
	@$(MAKE) --no-print-directory bench-cuda

bench-quick: $(BUILD)/bench_adapters
	@mkdir -p $(BUILD)/bench-quick
	$(BENCH_ENV) ./$(BUILD)/bench_adapters --quick --out $(BUILD)/bench-quick

bench-gnuplot:
	@if ! command -v gnuplot >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing gnuplot-nox"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox) >/dev/null 2>&1 \
	    || echo "gnuplot-nox could not be installed"; \
	fi

bench-plots: bench-gnuplot
	@if command -v gnuplot >/dev/null 2>&1; then \
	  gnuplot -e "dir='$(BENCH_OUT)'" bench/plots.gp && echo "plots: $(BENCH_OUT)/*.png"; \
	else \
	  echo "gnuplot not found (install gnuplot-nox): plots skipped, CSV files are in $(BENCH_OUT)"; \
	fi

# No CUDA path exists yet (melora_cuda.cu); this reports what the machine offers.
bench-cuda:
	@if [ -n "$(NVCC)" ] && nvidia-smi -L >/dev/null 2>&1 && nvidia-smi -L | grep -q GPU; then \
	  if [ -f melora_cuda.cu ]; then echo "GPU found: CUDA table not implemented yet: CUDA table skipped"; \
	  else echo "GPU found but no melora_cuda.cu: CUDA table skipped"; fi; \
	else \
	  echo "no GPU: CUDA table skipped"; \
	fi
