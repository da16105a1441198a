# make calibration: the calibration experiment (LoRA vs BLoB vs Me-LoRA on Fashion-MNIST).
# Included by the top-level Makefile. Installs Debian's dataset-fashion-mnist (and gnuplot-nox
# for the reliability diagrams) when missing and we are root; trains the frozen base once
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
	@if ! dpkg -s dataset-fashion-mnist >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing dataset-fashion-mnist"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) >/dev/null || exit 1; \
	  else \
	    echo "dataset-fashion-mnist is missing: run 'sudo apt-get install -y dataset-fashion-mnist'"; exit 1; \
	  fi; \
	fi
	@if ! printf '#include <zlib.h>\n' | $(CC) -E -x c - >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing zlib1g-dev"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zlib1g-dev) >/dev/null || exit 1; \
	  else \
	    echo "zlib1g-dev is missing: run 'sudo apt-get install -y zlib1g-dev'"; exit 1; \
	  fi; \
	fi
	@if ! command -v gnuplot >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "installing gnuplot-nox"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox) >/dev/null \
	    || echo "gnuplot-nox could not be installed: the tables are written, the diagrams are not"; \
	fi

$(CALIB_BIN): paper_repro/calibration/calib.c paper_repro/calibration/metrics.h melora.h | calibration-data
	@mkdir -p $(CALIB_DIR)
	$(CC) $(STD) -D_DEFAULT_SOURCE $(OPT) $(OMP) $(WARN) -I. -Ipaper_repro/calibration $< -lz -lm -o $@

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
