# melora: make test | make bench | make repro | make clean
# Each area keeps its own rules in a .mk file beside its sources (bench/bench.mk,
# paper_repro/repro.mk, tests/check.mk); this file includes whichever exist.
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

.PHONY: all test clean criterion cxx-check toolchain cudacpu-test

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

test: toolchain $(BUILD)/melora_tests $(BUILD)/melora_tests_serial $(BUILD)/readme_example cxx-check
	./$(BUILD)/melora_tests
	./$(BUILD)/melora_tests_serial
	./$(BUILD)/readme_example
	@$(MAKE) --no-print-directory cudacpu-test

-include $(wildcard bench/*.mk paper_repro/*.mk tests/*.mk)

clean:
	rm -rf $(BUILD)
	@if [ -f tests/cudacpu/Makefile ]; then $(MAKE) -C tests/cudacpu clean; fi
