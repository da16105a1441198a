# make calibration: the calibration experiment (LoRA vs BLoB vs Me-LoRA on Fashion-MNIST).
# Included by the top-level Makefile. Installs Debian's dataset-fashion-mnist and zlib1g-dev
# (and gnuplot-nox for the reliability diagrams) through tools/provision.sh when missing and
# we are root; trains the frozen base once
# (build/calibration/base_<hidden>.bin), then runs every method and seed and writes
# paper_repro/results/calibration.md and paper_repro/results/calibration_*.png.
# The fine-tuning runs use one thread (OMP_NUM_THREADS=1): the matrices are small, the CPU is
# shared, and per-method training times compare better without thread scheduling noise.
.PHONY: calibration calibration-data calibration-quick
CALIB_DIR   = $(BUILD)/calibration
CALIB_BIN   = $(CALIB_DIR)/calib
CALIB_HID  ?= 512
CALIB_EPOCHS ?= 2
CALIB_BASE  = $(CALIB_DIR)/base_$(CALIB_HID).bin
CALIB_ARGS ?=
CALIB_FMNIST = $$(dirname $$(dpkg -L dataset-fashion-mnist | grep 'train-images-idx3-ubyte' | head -n 1))

calibration-data:
	@$(PROVISION) fashion-mnist zlib
	@$(PROVISION) gnuplot || echo "the tables are written, the reliability diagrams are not"

$(CALIB_BIN): paper_repro/calibration/calib.c | calibration-data
	@mkdir -p $(CALIB_DIR)
	$(CC) $(STD) -D_DEFAULT_SOURCE $(OPT) $(OMP) $(WARN) -I. -Ipaper_repro/calibration $(DEPS_LINK) $< -lz -lm -o $@

$(CALIB_BASE): $(CALIB_BIN)
	./$(CALIB_BIN) pretrain $(CALIB_FMNIST) $@ $(CALIB_HID) $(CALIB_EPOCHS)

calibration: $(CALIB_BIN) $(CALIB_BASE)
	@mkdir -p paper_repro/results
	OMP_NUM_THREADS=1 ./$(CALIB_BIN) run $(CALIB_FMNIST) $(CALIB_BASE) paper_repro/results/calibration.md $(CALIB_DIR) $(CALIB_ARGS)
	@if command -v gnuplot >/dev/null 2>&1; then \
	  gnuplot $(CALIB_DIR)/reliability.gp && echo "reliability diagrams: paper_repro/results/calibration_*.png"; \
	else echo "gnuplot not found: reliability diagrams not drawn (data in $(CALIB_DIR)/reliability_*.dat)"; fi

# a small smoke run (one seed, few steps) that does not touch paper_repro/results
calibration-quick: $(CALIB_BIN) $(CALIB_BASE)
	OMP_NUM_THREADS=1 ./$(CALIB_BIN) run $(CALIB_FMNIST) $(CALIB_BASE) $(CALIB_DIR)/quick.md $(CALIB_DIR) seeds=1 steps=200 $(CALIB_ARGS)
