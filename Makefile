# melora: make test | make bench | make repro | make check | make gpu-check | make clean
# Each area keeps its own rules in a .mk file beside its sources; this file includes them
# by name (MK_FILES, at the end), so a missing one stops make instead of shrinking make test.
# Header dependencies come from the compiler (-MMD -MP, the .d files beside each output);
# packages come from tools/provision.sh.
CC      ?= cc
CXX     ?= g++
OPT     ?= -O3 -march=native
STD      = -std=c99
WARN     = -Wall -Wextra -pedantic
OMP      = -fopenmp
BUILD    = build
NVCC    := $(shell command -v nvcc 2>/dev/null)
# The toolkit's root (cuBLAS/cudart headers and libraries), for every CUDA rule here and
# in the .mk files; and the GPUs the real-toolkit builds carry code for (A100, H100/H200).
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CUDA_ARCHS = -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90
PROVISION = CC="$(CC)" tools/provision.sh

# Every compile writes a .d file (user headers only; -MP adds an empty rule per header,
# so a deleted header does not stop make), included at the end of this file. DEPS_C is
# for a compile to an object: the .d is named after the object and lists its headers as
# prerequisites of $@ (the object, or the program of a recipe that compiles several).
# DEPS_LINK is for a compile that also links: the .d is named after the program.
DEPS_C    = -MMD -MP -MT $@
DEPS_LINK = $(DEPS_C) -MF $@.d
# cudacpu-cc compiles a filtered copy of the .cu from a temporary directory, which its .d
# names as the first prerequisite: it is gone after the compile, so it is dropped (every
# rule names its .cu itself).
CUDACPU_DEPFIX = sed -i 's|[^ ]*/cudacpu-cc\.[^/ ]*/[0-9]*/[^/ ]*\.cpp||'

TEST_SRCS = tests/melora_impl.c $(wildcard tests/test_*.c)

# A recipe that fails leaves no half-made target behind to look up to date next time.
.DELETE_ON_ERROR:

.PHONY: all test clean criterion cxx-check toolchain cudacpu-test cuda-emu-test cuda-nvcc-test cuda-coverage

all: toolchain $(BUILD)/melora_tests

toolchain:
ifeq ($(NVCC),)
	@echo "✗ nvcc not found: CUDA targets are skipped"
else
	@echo "✓ nvcc: $(NVCC)"
endif

# Criterion comes from Debian (libcriterion-dev); installed when missing and we are root.
criterion:
	@$(PROVISION) criterion

$(BUILD):
	@mkdir -p $(BUILD)

# The test suite as one program from TEST_SRCS (plus extra sources), one object per source
# under an object directory of its own, so that each build's .d files say which headers
# each object read. $(1) program, $(2) object directory, $(3) compiler and flags (also
# given to the link: -fopenmp, -fsanitize, -m32), $(4) extra sources, $(5) libraries,
# $(6) order-only prerequisites of the objects. check.mk and portable.mk use it too.
define TEST_SUITE
$(1): $(patsubst tests/%.c,$(2)/%.o,$(TEST_SRCS) $(4))
	$(3) $$^ $(5) -o $$@
$(2)/%.o: tests/%.c | $(6)
	@mkdir -p $$(@D)
	$(3) $$(DEPS_C) -c $$< -o $$@
endef

# The test suite twice: with OpenMP and vector kernels, and without either (portable
# loops, one thread), so both builds of the library are checked.
$(eval $(call TEST_SUITE,$(BUILD)/melora_tests,$(BUILD)/obj/omp,$(CC) $(STD) -D_DEFAULT_SOURCE $(OPT) $(OMP) $(WARN) -I.,,-lcriterion -lm,criterion))
$(eval $(call TEST_SUITE,$(BUILD)/melora_tests_serial,$(BUILD)/obj/serial,$(CC) $(STD) -D_DEFAULT_SOURCE -DMELORA_NO_VECTOR $(OPT) $(WARN) -I.,,-lcriterion -lm,criterion))

# The README's usage example, extracted and compiled as it stands.
$(BUILD)/readme_example.c: README.md | $(BUILD)
	awk '/^```c example$$/{on=1;next} /^```/{on=0} on' README.md > $@
	@test -s $@ || { echo "README.md has no example block"; exit 1; }
$(BUILD)/readme_example: $(BUILD)/readme_example.c
	$(CC) $(STD) $(OPT) $(WARN) -Werror -I. $(DEPS_LINK) $< -lm -o $@
$(BUILD)/readme_example_bf16.c: README.md | $(BUILD)
	awk '/^```c example-bf16/{on=1;next} /^```/{on=0} on' README.md > $@
	@test -s $@ || { echo "README.md has no bf16 example block"; exit 1; }
$(BUILD)/readme_example_bf16: $(BUILD)/readme_example_bf16.c
	$(CC) $(STD) $(OPT) $(WARN) -Werror -I. $(DEPS_LINK) $< -lm -o $@

# The header must also be valid C++ (the CUDA file includes it).
cxx-check: $(BUILD)/melora_cxx.o
$(BUILD)/melora_cxx.o: tests/melora_impl.c | $(BUILD)
	$(CXX) -x c++ -std=c++11 $(OPT) $(OMP) -Wall -Wextra -I. $(DEPS_C) -c $< -o $@

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
# melora_cuda.cu through the emulator: $(call cudacpu_o,flags) in the recipe of an object
# whose first prerequisite is the .cu (the emulator headers come from the .d file).
cudacpu_o = $(CUDACPU_CC) $(1) -iquote . $(DEPS_C) -c $< -o $@ && $(CUDACPU_DEPFIX) $(@:.o=.d)

$(CUEMU)/melora_cuda.o: melora_cuda.cu | $(BUILD)
	@mkdir -p $(@D)
	$(CUDACPU_CC) -O0 -Wall -Wextra -Werror -DMELORA_CUDA_PROFILE -iquote . -fsyntax-only melora_cuda.cu
	$(call cudacpu_o,-O2 -g -Wall -Wextra -Werror)
$(CUEMU)/test_cuda.o: tests/cuda/test_cuda.cpp | $(BUILD) criterion
	@mkdir -p $(@D)
	$(CXX) -std=c++17 -O2 -g -Wall -Wextra -Werror -I. -Itests/cudacpu/include $(DEPS_C) -c $< -o $@
$(CUEMU)/impl.o: tests/melora_impl.c | $(BUILD)
	@mkdir -p $(@D)
	$(CC) $(STD) -O2 -I. $(DEPS_C) -c $< -o $@
$(CUEMU)/test_cuda: $(CUEMU)/melora_cuda.o $(CUEMU)/test_cuda.o $(CUEMU)/impl.o
	$(CXX) -pthread $^ -lcriterion -lm -o $@

$(CUEMU)/melora_cuda_asan.o: melora_cuda.cu | $(BUILD)
	@mkdir -p $(@D)
	$(call cudacpu_o,$(CUEMU_SAN) -DMELORA__GRID_Y_MAX=3u -DMELORA__GRID_X_MAX=5u)
$(CUEMU)/test_cuda_asan.o: tests/cuda/test_cuda.cpp | $(BUILD) criterion
	@mkdir -p $(@D)
	$(CXX) -std=c++17 $(CUEMU_SAN) -I. -Itests/cudacpu/include $(DEPS_C) -c $< -o $@
$(CUEMU)/impl_asan.o: tests/melora_impl.c | $(BUILD)
	@mkdir -p $(@D)
	$(CC) $(STD) $(CUEMU_SAN) -I. $(DEPS_C) -c $< -o $@
$(CUEMU)/test_cuda_asan: $(CUEMU)/melora_cuda_asan.o $(CUEMU)/test_cuda_asan.o $(CUEMU)/impl_asan.o
	$(CXX) -pthread $(CUEMU_SAN) $^ -lcriterion -lm -o $@

cuda-emu-test: $(CUEMU)/test_cuda $(CUEMU)/test_cuda_asan
	@! grep -nE 'cuda(Stream|Device)Synchronize|cudaMemcpy\(' melora_cuda.cu || \
	  { echo "melora_cuda.cu synchronises the host (see above): no entry point may"; exit 1; }
	./$(CUEMU)/test_cuda
	CUDACPU_REVERSE=1 ./$(CUEMU)/test_cuda
	CUDACPU_SHUFFLE=17 ./$(CUEMU)/test_cuda
	./$(CUEMU)/test_cuda_asan

# make cuda-coverage: line and branch coverage of melora_cuda.cu by the emulator run (gcov),
# then the branch figure without gcc's exception edges and the lines of the branches never
# taken (tests/cuda/branch_cov.py); everything is rebuilt each time (the counters start
# from zero).
cuda-coverage: | $(BUILD) criterion
	@rm -rf $(CUEMU)/cov && mkdir -p $(CUEMU)/cov
	$(CUDACPU_CC) -O0 -g --coverage -iquote . -c melora_cuda.cu -o $(CUEMU)/cov/melora_cuda.o
	$(CXX) -std=c++17 -O1 -I. -Itests/cudacpu/include -c tests/cuda/test_cuda.cpp -o $(CUEMU)/cov/test_cuda.o
	$(CC) $(STD) -O1 -I. -c tests/melora_impl.c -o $(CUEMU)/cov/impl.o
	$(CXX) -pthread --coverage $(CUEMU)/cov/melora_cuda.o $(CUEMU)/cov/test_cuda.o $(CUEMU)/cov/impl.o -lcriterion -lm -o $(CUEMU)/cov/test_cuda
	./$(CUEMU)/cov/test_cuda -j1 >/dev/null
	gcov -b -o $(CUEMU)/cov $(CUEMU)/cov/melora_cuda.o 2>/dev/null | grep -A4 "^File 'melora_cuda.cu'"
	@mkdir -p $(CUEMU)/cov/gcov && mv -f *.gcov $(CUEMU)/cov/gcov/ 2>/dev/null; echo "annotated source: $(CUEMU)/cov/gcov/melora_cuda.cu.gcov"
	@python3 tests/cuda/branch_cov.py $(CUEMU)/cov/gcov/melora_cuda.cu.gcov

# 2. With the real toolkit when nvcc exists: compile for sm_80 and sm_90 (one object with
#    code for both, $(CUDA_ARCHS)) with warnings as errors, link the same tests against
#    cuBLAS/cudart and run them: on a machine without a GPU every test reports itself
#    skipped; on an A100 or an H100/H200 the tests run that GPU's own code.
CUREAL      = $(BUILD)/cureal
$(CUREAL)/melora_cuda.o: melora_cuda.cu | $(BUILD)
	@mkdir -p $(@D)
	$(NVCC) -std=c++17 -I. $(CUDA_ARCHS) -Xcompiler -Wall,-Wextra,-Werror -Werror all-warnings $(DEPS_C) -c $< -o $@
$(CUREAL)/test_cuda.o: tests/cuda/test_cuda.cpp | $(BUILD) criterion
	@mkdir -p $(@D)
	$(CXX) -std=c++17 -O2 -Wall -Wextra -Werror -I. -I$(CUDA_HOME)/include $(DEPS_C) -c $< -o $@
$(CUREAL)/impl.o: tests/melora_impl.c | $(BUILD)
	@mkdir -p $(@D)
	$(CC) $(STD) -O2 -I. $(DEPS_C) -c $< -o $@
$(CUREAL)/test_cuda: $(CUREAL)/melora_cuda.o $(CUREAL)/test_cuda.o $(CUREAL)/impl.o
	$(CXX) $^ -L$(CUDA_HOME)/lib64 -lcublas -lcudart -lcriterion -lm -o $@

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
$(CUGPU)/melora_cuda.o: melora_cuda.cu | $(BUILD)
	@mkdir -p $(@D)
	$(NVCC) -std=c++17 -O3 -I. $(GPU_ARCH) $(DEPS_C) -c $< -o $@
$(CUGPU)/test_cuda.o: tests/cuda/test_cuda.cpp | $(BUILD)
	@mkdir -p $(@D)
	$(CXX) -std=c++17 -O2 -Wall -Wextra -I. -I$(CUDA_HOME)/include $(DEPS_C) -c $< -o $@
$(CUGPU)/impl.o: tests/melora_impl.c | $(BUILD)
	@mkdir -p $(@D)
	$(CC) $(STD) -O2 -I. $(DEPS_C) -c $< -o $@
$(CUGPU)/test_cuda: $(CUGPU)/melora_cuda.o $(CUGPU)/test_cuda.o $(CUGPU)/impl.o
	$(CXX) $^ -L$(CUDA_HOME)/lib64 -lcublas -lcudart -lcriterion -lm -o $@
$(CUGPU)/melora_cuda_prof.o: melora_cuda.cu | $(BUILD)
	@mkdir -p $(@D)
	$(NVCC) -std=c++17 -O3 -I. $(GPU_ARCH) -DMELORA_CUDA_PROFILE $(DEPS_C) -c $< -o $@
$(CUGPU)/bench_cuda.o: bench/bench_cuda.cpp | $(BUILD)
	@mkdir -p $(@D)
	$(CXX) -std=c++17 $(OPT) $(OMP) -Wall -Wextra -I. -I$(CUDA_HOME)/include -DMELORA_CUDA_PROFILE $(DEPS_C) -c $< -o $@
$(CUGPU)/bench_cuda: $(CUGPU)/bench_cuda.o $(CUGPU)/melora_cuda_prof.o
	$(CXX) $(OMP) $^ -L$(CUDA_HOME)/lib64 -lcublas -lcudart -lm -o $@
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

test: toolchain $(BUILD)/melora_tests $(BUILD)/melora_tests_serial $(BUILD)/readme_example $(BUILD)/readme_example_bf16 cxx-check
	./$(BUILD)/melora_tests
	./$(BUILD)/melora_tests_serial
	./$(BUILD)/readme_example
	./$(BUILD)/readme_example_bf16
	@$(MAKE) --no-print-directory -f docs/docs.mk docs-check
	@$(MAKE) --no-print-directory api-check
	@$(MAKE) --no-print-directory flags-check
	@$(MAKE) --no-print-directory bits
	@$(MAKE) --no-print-directory cudacpu-test
	@$(MAKE) --no-print-directory cuda-emu-test
	@$(MAKE) --no-print-directory cuda-nvcc-test
	@$(MAKE) --no-print-directory python-test

# Every rule file of the repository, by name: a missing one is an error. tools/*.mk hold
# the rules of the repository's tools; a target of make test must come from a file named in
# MK_FILES, never from one the wildcard happens to find.
MK_FILES = bench/bench.mk docs/docs.mk paper_repro/repro.mk paper_repro/calibration/calibration.mk \
           python/python.mk tests/bits.mk tests/check.mk tests/flags.mk tests/portable.mk \
           tools/api.mk
include $(MK_FILES)
include $(filter-out $(MK_FILES),$(wildcard tools/*.mk))

# The compiler's header lists (build/venv, pip's tree, is not searched).
-include $(shell find $(BUILD) -name venv -prune -o -name '*.d' -print 2>/dev/null)

clean:
	rm -rf $(BUILD)
	@if [ -f tests/cudacpu/Makefile ]; then $(MAKE) -C tests/cudacpu clean; fi
