# melora: make test | make bench | make repro | make gpu-check | make clean
# Each area keeps its own rules in a .mk file beside its sources (bench/bench.mk,
# paper_repro/repro.mk, paper_repro/calibration/*.mk, python/*.mk, tests/check.mk);
# this file includes whichever exist.
CC      ?= cc
CXX     ?= g++
OPT     ?= -O3 -march=native
STD      = -std=c99
WARN     = -Wall -Wextra -pedantic
OMP      = -fopenmp
BUILD    = build
NVCC    := $(shell command -v nvcc 2>/dev/null)

TEST_SRCS = tests/melora_impl.c $(wildcard tests/test_*.c)
TEST_HDRS = melora.h tests/util.h tests/model.h

.PHONY: all test clean criterion cxx-check toolchain cudacpu-test cuda-emu-test cuda-nvcc-test cuda-coverage

all: toolchain $(BUILD)/melora_tests

toolchain:
ifeq ($(NVCC),)
	@echo "✗ nvcc not found: CUDA targets are skipped"
else
	@echo "✓ nvcc: $(NVCC)"
endif

# Criterion comes from Debian; installed here when missing and we are root.
criterion:
	@if ! printf '#include <criterion/criterion.h>\n' | $(CC) -E -x c - >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing libcriterion-dev"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libcriterion-dev) >/dev/null || exit 1; \
	  else \
	    echo "Criterion is missing: run 'sudo apt-get install -y libcriterion-dev'"; exit 1; \
	  fi; \
	fi

$(BUILD):
	@mkdir -p $(BUILD)

# The test suite twice: with OpenMP and vector kernels, and without either (portable
# loops, one thread), so both builds of the library are checked.
$(BUILD)/melora_tests: $(TEST_SRCS) $(TEST_HDRS) | $(BUILD) criterion
	$(CC) $(STD) -D_DEFAULT_SOURCE $(OPT) $(OMP) $(WARN) -I. $(TEST_SRCS) -lcriterion -lm -o $@
$(BUILD)/melora_tests_serial: $(TEST_SRCS) $(TEST_HDRS) | $(BUILD) criterion
	$(CC) $(STD) -D_DEFAULT_SOURCE -DMELORA_NO_VECTOR $(OPT) $(WARN) -I. $(TEST_SRCS) -lcriterion -lm -o $@

# The README's usage example, extracted and compiled as it stands.
$(BUILD)/readme_example.c: README.md | $(BUILD)
	awk '/^```c example/{on=1;next} /^```/{on=0} on' README.md > $@
	@test -s $@ || { echo "README.md has no example block"; exit 1; }
$(BUILD)/readme_example: $(BUILD)/readme_example.c melora.h
	$(CC) $(STD) $(OPT) $(WARN) -Werror -I. $< -lm -o $@

# The header must also be valid C++ (the CUDA file includes it).
cxx-check: | $(BUILD)
	$(CXX) -x c++ -std=c++11 $(OPT) $(OMP) -Wall -Wextra -I. -c tests/melora_impl.c -o $(BUILD)/melora_cxx.o

cudacpu-test:
	@if [ -f tests/cudacpu/Makefile ]; then $(MAKE) -C tests/cudacpu test; fi

# ---- the CUDA path --------------------------------------------------------------------
# 1. Through the emulator (tests/cudacpu) on every machine: the CUDA entry points against
#    a double-precision model, plain, with the threads of each block in reverse and in a
#    random order, and under ASan/UBSan (that build with tiny grid caps, so the kernels'
#    loops past gridDim run too).
CUDACPU_CC  = CXX="$(CXX)" tests/cudacpu/cudacpu-cc
CUEMU       = $(BUILD)/cuemu
CUEMU_SAN   = -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CUDA_DEPS   = melora_cuda.cu melora_cuda.h melora.h tests/cuda/test_cuda.cpp tests/cuda/ref.h tests/melora_impl.c $(wildcard tests/cudacpu/include/*.h tests/cudacpu/include/cudacpu/*.h)

$(CUEMU)/test_cuda: $(CUDA_DEPS) | $(BUILD)
	@mkdir -p $(CUEMU)
	$(CUDACPU_CC) -O2 -g -Wall -Wextra -Werror -iquote . -c melora_cuda.cu -o $(CUEMU)/melora_cuda.o
	$(CUDACPU_CC) -O0 -Wall -Wextra -Werror -DMELORA_CUDA_PROFILE -iquote . -fsyntax-only melora_cuda.cu
	$(CXX) -std=c++17 -O2 -g -Wall -Wextra -Werror -I. -Itests/cudacpu/include -c tests/cuda/test_cuda.cpp -o $(CUEMU)/test_cuda.o
	$(CC) $(STD) -O2 -I. -c tests/melora_impl.c -o $(CUEMU)/impl.o
	$(CXX) -pthread $(CUEMU)/melora_cuda.o $(CUEMU)/test_cuda.o $(CUEMU)/impl.o -lcriterion -lm -o $@
$(CUEMU)/test_cuda_asan: $(CUDA_DEPS) | $(BUILD)
	@mkdir -p $(CUEMU)
	$(CUDACPU_CC) $(CUEMU_SAN) -DMELORA__GRID_Y_MAX=3u -DMELORA__GRID_X_MAX=5u -iquote . -c melora_cuda.cu -o $(CUEMU)/melora_cuda_asan.o
	$(CXX) -std=c++17 $(CUEMU_SAN) -I. -Itests/cudacpu/include -c tests/cuda/test_cuda.cpp -o $(CUEMU)/test_cuda_asan.o
	$(CC) $(STD) $(CUEMU_SAN) -I. -c tests/melora_impl.c -o $(CUEMU)/impl_asan.o
	$(CXX) -pthread $(CUEMU_SAN) $(CUEMU)/melora_cuda_asan.o $(CUEMU)/test_cuda_asan.o $(CUEMU)/impl_asan.o -lcriterion -lm -o $@

cuda-emu-test: $(CUEMU)/test_cuda $(CUEMU)/test_cuda_asan
	@! grep -nE 'cuda(Stream|Device)Synchronize|cudaMemcpy\(' melora_cuda.cu || \
	  { echo "melora_cuda.cu synchronises the host (see above): no entry point may"; exit 1; }
	./$(CUEMU)/test_cuda
	CUDACPU_REVERSE=1 ./$(CUEMU)/test_cuda
	CUDACPU_SHUFFLE=17 ./$(CUEMU)/test_cuda
	./$(CUEMU)/test_cuda_asan

# make cuda-coverage: line and branch coverage of melora_cuda.cu by the emulator run (gcov).
cuda-coverage: $(CUDA_DEPS) | $(BUILD)
	@rm -rf $(CUEMU)/cov && mkdir -p $(CUEMU)/cov
	$(CUDACPU_CC) -O0 -g --coverage -iquote . -c melora_cuda.cu -o $(CUEMU)/cov/melora_cuda.o
	$(CXX) -std=c++17 -O1 -I. -Itests/cudacpu/include -c tests/cuda/test_cuda.cpp -o $(CUEMU)/cov/test_cuda.o
	$(CC) $(STD) -O1 -I. -c tests/melora_impl.c -o $(CUEMU)/cov/impl.o
	$(CXX) -pthread --coverage $(CUEMU)/cov/melora_cuda.o $(CUEMU)/cov/test_cuda.o $(CUEMU)/cov/impl.o -lcriterion -lm -o $(CUEMU)/cov/test_cuda
	./$(CUEMU)/cov/test_cuda -j1 >/dev/null
	gcov -b -o $(CUEMU)/cov $(CUEMU)/cov/melora_cuda.o 2>/dev/null | grep -A4 "^File 'melora_cuda.cu'"
	@mkdir -p $(CUEMU)/cov/gcov && mv -f *.gcov $(CUEMU)/cov/gcov/ 2>/dev/null; echo "annotated source: $(CUEMU)/cov/gcov/melora_cuda.cu.gcov"

# 2. With the real toolkit when nvcc exists: compile for sm_80 and sm_90 with warnings as
#    errors, link the same tests against cuBLAS/cudart and run them: on a machine without
#    a GPU every test reports itself skipped.
CUDA_HOME  ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CUREAL      = $(BUILD)/cureal
$(CUREAL)/test_cuda: $(CUDA_DEPS) | $(BUILD)
	@mkdir -p $(CUREAL)
	$(NVCC) -std=c++17 -I. -arch=sm_90 -Xcompiler -Wall,-Wextra,-Werror -Werror all-warnings -c melora_cuda.cu -o $(CUREAL)/melora_cuda_sm90.o
	$(NVCC) -std=c++17 -I. -arch=sm_80 -Xcompiler -Wall,-Wextra,-Werror -Werror all-warnings -c melora_cuda.cu -o $(CUREAL)/melora_cuda.o
	$(CXX) -std=c++17 -O2 -Wall -Wextra -Werror -I. -I$(CUDA_HOME)/include -c tests/cuda/test_cuda.cpp -o $(CUREAL)/test_cuda.o
	$(CC) $(STD) -O2 -I. -c tests/melora_impl.c -o $(CUREAL)/impl.o
	$(CXX) $(CUREAL)/melora_cuda.o $(CUREAL)/test_cuda.o $(CUREAL)/impl.o -L$(CUDA_HOME)/lib64 -lcublas -lcudart -lcriterion -lm -o $@

cuda-nvcc-test:
ifeq ($(NVCC),)
	@echo "✗ nvcc not found: CUDA path not compiled with the real toolkit (emulator tests still ran)"
else
	@$(MAKE) --no-print-directory $(CUREAL)/test_cuda $(BUILD)/libmelora_cuda.so
	./$(CUREAL)/test_cuda --verbose=0
endif

# 3. make gpu-check: on a machine with a GPU and the CUDA toolkit (no network needed), in
#    under 5 minutes: builds the tests and the benchmark for this machine's GPU
#    (-arch=native), runs every CUDA test with the GPU required (a test that would skip
#    fails instead), then bench_cuda at the paper's shapes (T = 1200, n = m = 4096,
#    r = 8 and 64) with the six-cublasSgemm LoRA peer and per-kernel bandwidth, into
#    bench/results/gpu.md and gpu.csv. Without nvcc or a GPU it says so and exits 0.
GPU_OUT    ?= bench/results
GPU_ARCH   ?= -arch=native
CUGPU       = $(BUILD)/cugpu
.PHONY: gpu-check gpu-check-run
$(CUGPU)/test_cuda: $(CUDA_DEPS) | $(BUILD)
	@mkdir -p $(CUGPU)
	$(NVCC) -std=c++17 -O3 -I. $(GPU_ARCH) -c melora_cuda.cu -o $(CUGPU)/melora_cuda.o
	$(CXX) -std=c++17 -O2 -Wall -Wextra -I. -I$(CUDA_HOME)/include -c tests/cuda/test_cuda.cpp -o $(CUGPU)/test_cuda.o
	$(CC) $(STD) -O2 -I. -c tests/melora_impl.c -o $(CUGPU)/impl.o
	$(CXX) $(CUGPU)/melora_cuda.o $(CUGPU)/test_cuda.o $(CUGPU)/impl.o -L$(CUDA_HOME)/lib64 -lcublas -lcudart -lcriterion -lm -o $@
$(CUGPU)/bench_cuda: bench/bench_cuda.cpp melora_cuda.cu melora_cuda.h melora.h | $(BUILD)
	@mkdir -p $(CUGPU)
	$(NVCC) -std=c++17 -O3 -I. $(GPU_ARCH) -DMELORA_CUDA_PROFILE -c melora_cuda.cu -o $(CUGPU)/melora_cuda_prof.o
	$(CXX) -std=c++17 $(OPT) $(OMP) -Wall -Wextra -I. -I$(CUDA_HOME)/include -DMELORA_CUDA_PROFILE -c bench/bench_cuda.cpp -o $(CUGPU)/bench_cuda.o
	$(CXX) $(OMP) $(CUGPU)/bench_cuda.o $(CUGPU)/melora_cuda_prof.o -L$(CUDA_HOME)/lib64 -lcublas -lcudart -lm -o $@
gpu-check:
	@if [ -z "$(NVCC)" ]; then \
	  echo "gpu-check: nvcc not found: nothing built or run (needs the CUDA toolkit and a GPU); no GPU number is claimed"; \
	elif ! { nvidia-smi -L 2>/dev/null | grep -q GPU || ls /dev/nvidia[0-9]* >/dev/null 2>&1; }; then \
	  echo "gpu-check: no GPU found (nvidia-smi -L lists none, no /dev/nvidia*): nothing run; no GPU number is claimed"; \
	else \
	  $(MAKE) --no-print-directory gpu-check-run; \
	fi
# The tests need libcriterion-dev (a GPU machine may have no network to install it): when it
# is missing the benchmark still runs and gpu-check ends with an error saying so.
gpu-check-run: $(CUGPU)/bench_cuda
	-@nvidia-smi -L
	@rm -f $(CUGPU)/tests.ok; \
	if printf '#include <criterion/criterion.h>\n' | $(CC) -E -x c - >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory $(CUGPU)/test_cuda && \
	  MELORA_REQUIRE_GPU=1 timeout 180 ./$(CUGPU)/test_cuda --verbose=0 && touch $(CUGPU)/tests.ok \
	  || echo "gpu-check: the CUDA tests did not build or did not pass (above); the benchmark runs anyway"; \
	else echo "gpu-check: libcriterion-dev is missing, so the CUDA tests cannot be built here"; fi
	@mkdir -p $(GPU_OUT)
	timeout 180 ./$(CUGPU)/bench_cuda --paper --out $(GPU_OUT) --name gpu
	@echo "gpu-check: results in $(GPU_OUT)/gpu.md and $(GPU_OUT)/gpu.csv"
	@if [ -f $(CUGPU)/tests.ok ]; then echo "gpu-check: every CUDA test passed on the GPU"; \
	else echo "gpu-check: FAILED: the CUDA tests did not pass on the GPU (or were not built)"; exit 1; fi

test: toolchain $(BUILD)/melora_tests $(BUILD)/melora_tests_serial $(BUILD)/readme_example cxx-check
	./$(BUILD)/melora_tests
	./$(BUILD)/melora_tests_serial
	./$(BUILD)/readme_example
	@$(MAKE) --no-print-directory -f docs/docs.mk docs-check
	@$(MAKE) --no-print-directory flags-check
	@$(MAKE) --no-print-directory bits
	@$(MAKE) --no-print-directory cudacpu-test
	@$(MAKE) --no-print-directory cuda-emu-test
	@$(MAKE) --no-print-directory cuda-nvcc-test
	@$(MAKE) --no-print-directory python-test

-include $(wildcard bench/*.mk docs/*.mk paper_repro/*.mk paper_repro/calibration/*.mk python/*.mk tests/*.mk)

clean:
	rm -rf $(BUILD)
	@if [ -f tests/cudacpu/Makefile ]; then $(MAKE) -C tests/cudacpu clean; fi
