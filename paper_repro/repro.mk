# make repro: check the Me-LoRA paper's quantitative claims (included by the top Makefile).
# Prints every part and writes paper_repro/results/*.md, with every table also as .csv and .json.
.PHONY: repro repro-counts

$(BUILD)/paper_repro: paper_repro/repro.c | $(BUILD)
	$(CC) $(STD) -D_DEFAULT_SOURCE $(OPT) $(OMP) $(WARN) -I. $(DEPS_LINK) $< -lm -o $@

repro: $(BUILD)/paper_repro
	@mkdir -p paper_repro/results
	OMP_PROC_BIND=close ./$(BUILD)/paper_repro paper_repro/results

# counts only (parts 1-3 and 5), no timing
repro-counts: $(BUILD)/paper_repro
	@mkdir -p paper_repro/results
	./$(BUILD)/paper_repro --no-timing paper_repro/results
