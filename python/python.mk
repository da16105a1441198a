# python/: the PyTorch bridge.  make lib | make python-test | make python-bench
# libmelora.so is melora.h compiled once as a shared library; with nvcc, libmelora_cuda.so
# holds melora_cuda.cu (linked against libmelora.so for the argument checks, cuBLAS and
# cudart). The Python package loads libmelora.so through ctypes; it does not yet drive
# the CUDA library (CUDA tensors are a later step).
PY_TORCH ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)
PY_ENV    = MELORA_LIB=$(abspath $(BUILD)/libmelora.so) PYTHONPATH=$(abspath python)

.PHONY: lib python-test python-bench python-torch

ifeq ($(NVCC),)
lib: $(BUILD)/libmelora.so
else
lib: $(BUILD)/libmelora.so $(BUILD)/libmelora_cuda.so
endif

$(BUILD)/libmelora.so: python/melora_lib.c melora.h | $(BUILD)
	$(CC) $(STD) $(OPT) $(OMP) $(WARN) -fPIC -shared $< -lm -o $@

$(BUILD)/libmelora_cuda.so: melora_cuda.cu melora_cuda.h melora.h $(BUILD)/libmelora.so
	$(NVCC) -std=c++17 -I. -Xcompiler -fPIC,-Wall,-Wextra -shared melora_cuda.cu \
	  -L$(BUILD) -lmelora -Xlinker -rpath,'$$ORIGIN' -lcublas -lcudart -o $@
	@nm -D --defined-only $@ | grep -q ' melora_cuda_melora_backward$$' \
	  || { echo "libmelora_cuda.so lacks its entry points"; exit 1; }

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
