# make bench: the adapter benchmark (included by the top-level Makefile)
.PHONY: bench
$(BUILD)/bench_adapters: bench/bench_adapters.c melora.h | $(BUILD)
	$(CC) $(STD) -D_DEFAULT_SOURCE $(OPT) $(OMP) $(WARN) -I. $< -lm -o $@

bench: toolchain $(BUILD)/bench_adapters
	OMP_PROC_BIND=close ./$(BUILD)/bench_adapters
