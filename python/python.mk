# python/: the PyTorch bridge.  make lib | make python-test | make python-bench
# libmelora.so is melora.h compiled once as a shared library (the CUDA library,
# libmelora_cuda.so, is not built yet). The Python package loads it through ctypes.
PY_TORCH ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)
PY_ENV    = MELORA_LIB=$(abspath $(BUILD)/libmelora.so) PYTHONPATH=$(abspath python)

.PHONY: lib python-test python-bench python-torch

lib: $(BUILD)/libmelora.so

$(BUILD)/libmelora.so: python/melora_lib.c melora.h | $(BUILD)
	$(CC) $(STD) $(OPT) $(OMP) $(WARN) -fPIC -shared $< -lm -o $@

# Debian's python3-torch (for /usr/bin/python3), installed when missing and we are root.
python-torch:
	@if ! $(PY_TORCH) -c 'import torch, numpy' >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing python3-torch python3-numpy"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch python3-numpy) >/dev/null 2>&1 \
	      || echo "apt-get install python3-torch failed"; \
	  fi; \
	fi

python-test: $(BUILD)/libmelora.so python-torch
	@if $(PY_TORCH) -c 'import torch' >/dev/null 2>&1; then \
	  cd python && $(PY_ENV) $(PY_TORCH) -m unittest discover -s tests ; \
	else \
	  echo "SKIP python-test: PyTorch cannot be imported by $(PY_TORCH) (apt-get install python3-torch)"; \
	fi

# Speed of each module against the pure-PyTorch reference (T=1200, n=m=4096, r=8).
python-bench: $(BUILD)/libmelora.so python-torch
	cd python && $(PY_ENV) $(PY_TORCH) bench_torch.py
