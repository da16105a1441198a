# python/: the PyTorch bridge.  make lib | make python-test | make python-bench
# libmelora.so is melora.h compiled once as a shared library; with nvcc, libmelora_cuda.so
# holds melora_cuda.cu (linked against libmelora.so for the argument checks, cuBLAS and
# cudart). The Python package loads libmelora.so through ctypes; it does not yet drive
# the CUDA library (CUDA tensors are a later step).
PY_TORCH ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)
PY_ENV    = MELORA_LIB=$(abspath $(BUILD)/libmelora.so) PYTHONPATH=$(abspath python)
# The Hugging Face tests (python/tests/test_hf.py) run in build/venv: a venv over
# /usr/bin/python3 with its system site packages (Debian's torch 1.13), into which pip
# installs these pinned versions with --no-deps, so that pip never pulls another torch.
# If the venv cannot be made, the tests run with $(PY_TORCH) and the HF tests skip.
PY_VENV   = $(BUILD)/venv
HF_PINS   = peft==0.10.0 transformers==4.38.2 accelerate==0.28.0 safetensors==0.4.2 \
            huggingface_hub==0.21.4 tokenizers==0.15.2 packaging==23.2 filelock==3.13.1 \
            fsspec==2024.2.0 tqdm==4.66.2 regex==2023.12.25 \
            Jinja2==3.1.3 MarkupSafe==2.1.5

.PHONY: lib python-test python-bench python-torch python-venv python-hf

ifeq ($(NVCC),)
lib: $(BUILD)/libmelora.so
else
lib: $(BUILD)/libmelora.so $(BUILD)/libmelora_cuda.so
endif

$(BUILD)/libmelora.so: python/melora_lib.c | $(BUILD)
	$(CC) $(STD) $(OPT) $(OMP) $(WARN) -fPIC -shared $(DEPS_LINK) $< -lm -o $@

$(BUILD)/libmelora_cuda.so: melora_cuda.cu $(BUILD)/libmelora.so
	$(NVCC) -std=c++17 -I. -Xcompiler -fPIC,-Wall,-Wextra -shared $(DEPS_LINK) melora_cuda.cu \
	  -L$(BUILD) -lmelora -Xlinker -rpath,'$$ORIGIN' -lcublas -lcudart -o $@
	@nm -D --defined-only $@ | grep -q ' melora_cuda_melora_backward$$' \
	  || { echo "libmelora_cuda.so lacks its entry points"; exit 1; }

# Debian's python3-torch and python3-numpy for /usr/bin/python3 (need "torch"), and
# python3-venv (need "venv"), installed when missing and we are root.
python-torch:
	@PYTHON="$(PY_TORCH)" $(PROVISION) torch || true
python-venv:
	@PYTHON="$(PY_TORCH)" $(PROVISION) venv || true

# The pinned Hugging Face packages in build/venv (once; the stamp records the pins).
python-hf: python-torch python-venv | $(BUILD)
	@if ! $(PY_TORCH) -c 'import torch' >/dev/null 2>&1; then \
	  echo "SKIP the Hugging Face packages: PyTorch cannot be imported by $(PY_TORCH)"; \
	elif [ "$$(cat $(PY_VENV)/.pins 2>/dev/null)" != "$(strip $(HF_PINS))" ]; then \
	  echo "installing into $(PY_VENV): $(strip $(HF_PINS))"; \
	  rm -rf $(PY_VENV); \
	  if $(PY_TORCH) -m venv --system-site-packages $(PY_VENV) >$(BUILD)/venv.log 2>&1 \
	     && $(PY_VENV)/bin/python -m pip install -q \
	       --disable-pip-version-check --no-deps $(HF_PINS) >>$(BUILD)/venv.log 2>&1; then \
	    echo "$(strip $(HF_PINS))" > $(PY_VENV)/.pins; \
	  else \
	    echo "SKIP the Hugging Face tests: the pinned packages could not be installed (see $(BUILD)/venv.log)"; \
	    rm -rf $(PY_VENV); \
	  fi; \
	fi

python-test: $(BUILD)/libmelora.so python-torch python-hf
	@py=$$(test -x $(PY_VENV)/bin/python && echo $(abspath $(PY_VENV))/bin/python || echo $(PY_TORCH)); \
	if $$py -c 'import torch' >/dev/null 2>&1; then \
	  cd python && $(PY_ENV) $$py -m unittest discover -s tests ; \
	else \
	  echo "SKIP python-test: PyTorch cannot be imported by $(PY_TORCH) (apt-get install python3-torch)"; \
	fi

# Speed of each module against the pure-PyTorch reference (T=1200, n=m=4096, r=8).
python-bench: $(BUILD)/libmelora.so python-torch
	cd python && $(PY_ENV) $(PY_TORCH) bench_torch.py
