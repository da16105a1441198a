# make repro: check the Me-LoRA paper's quantitative claims (included by the top Makefile).
# Prints every part and writes paper_repro/results/*.md, with every table also as .csv and .json.
.PHONY: repro repro-counts
REPRO_DEPS = paper_repro/repro.c paper_repro/checks.h paper_repro/paper_values.h \
             melora.h bench/harness.h

$(BUILD)/paper_repro: $(REPRO_DEPS) | $(BUILD)
	$(CC) $(STD) -D_DEFAULT_SOURCE $(OPT) $(OMP) $(WARN) -I. $< -lm -o $@

repro: $(BUILD)/paper_repro
	@mkdir -p paper_repro/results
	OMP_PROC_BIND=close ./$(BUILD)/paper_repro paper_repro/results

# counts only (parts 1-3 and 5), no timing
repro-counts: $(BUILD)/paper_repro
	@mkdir -p paper_repro/results
	./$(BUILD)/paper_repro --no-timing paper_repro/results
