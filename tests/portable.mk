# Portable builds (included by the top-level Makefile; a prerequisite of make check).
#   make portable   1. the compile matrix, warnings as errors: the implementation TU and the
#                      README example with gcc and clang at -std=c99, c11, gnu17 (-pedantic),
#                      g++ and clang++ at -std=c++11 and c++20 (-pedantic);
#                   2. -m32: the header compiled by gcc and clang for i686 without SSE (x87,
#                      portable loops), with -msse2 and with -march=native (vector kernels
#                      on a 32-bit ABI), then the whole test suite run twice in 32 bits at
#                      -O2: OpenMP + vector kernels (-march=native), and -DMELORA_NO_VECTOR
#                      on x87. Debian has no libcriterion-dev:i386, so the 32-bit suite links
#                      tests/crit32, a minimal Criterion-compatible runner.
# Needs gcc-multilib for step 2 (need "multilib" of tools/provision.sh): installed when
# missing and root, otherwise step 2 is skipped with a ✗. Everything is built under build/port/.
PORT_DIR    = $(BUILD)/port
PORT_GCC   ?= gcc
PORT_GXX   ?= g++
PORT_CLANG ?= $(shell command -v clang 2>/dev/null || command -v clang-14 2>/dev/null)
PORT_CLANGXX ?= $(shell command -v clang++ 2>/dev/null || command -v clang++-14 2>/dev/null)
PORT_WARN   = -Wall -Wextra -Werror
PORT_C_STDS = -std=c99 -std=c11 -std=gnu17
PORT_CXX_STDS = -std=c++11 -std=c++20
PORT32_FLAGS = -m32 $(STD) -D_DEFAULT_SOURCE -O2 $(WARN) -Werror -I. -Itests/crit32

.PHONY: portable portable-matrix portable-m32 multilib

$(PORT_DIR):
	@mkdir -p $(PORT_DIR)

# One compile per line of the matrix; the first failure stops with the compiler's message.
# The README example binds its structs with designated initialisers: C99, and C++ from
# C++20 on, so its C++ builds are C++20 only (the header itself is checked as C++11 too).
portable-matrix: $(BUILD)/readme_example.c $(BUILD)/readme_example_bf16.c | $(PORT_DIR)
	@set -e; o=$(PORT_DIR)/matrix.o; \
	run() { echo "  $$*"; "$$@" -o $$o; }; \
	for cc in $(PORT_GCC) $(PORT_CLANG); do \
	  for std in $(PORT_C_STDS); do \
	    run $$cc $$std -pedantic -O2 -march=native $(OMP) $(PORT_WARN) -I. -c tests/melora_impl.c; \
	    run $$cc $$std -pedantic -O2 $(PORT_WARN) -I. -c $(BUILD)/readme_example.c; \
	    run $$cc $$std -pedantic -O2 $(PORT_WARN) -I. -c $(BUILD)/readme_example_bf16.c; \
	  done; \
	done; \
	for cxx in $(PORT_GXX) $(PORT_CLANGXX); do \
	  for std in $(PORT_CXX_STDS); do \
	    run $$cxx -x c++ $$std -pedantic -O2 -march=native $(OMP) $(PORT_WARN) -I. -c tests/melora_impl.c; \
	    if [ "$$std" = -std=c++20 ]; then \
	      run $$cxx -x c++ $$std -pedantic -O2 $(PORT_WARN) -I. -c $(BUILD)/readme_example.c; \
	      run $$cxx -x c++ $$std -pedantic -O2 $(PORT_WARN) -I. -c $(BUILD)/readme_example_bf16.c; \
	    fi; \
	  done; \
	done; \
	rm -f $$o
	@if [ -z "$(PORT_CLANG)" ] || [ -z "$(PORT_CLANGXX)" ]; then \
	  echo "✗ clang/clang++ not found: the matrix ran with gcc/g++ only"; \
	else echo "✓ compile matrix: gcc, clang, g++, clang++ with -Werror"; fi

# gcc-multilib: 32-bit libc, libgcc and libgomp for gcc -m32 (clang -m32 uses them too).
multilib:
	@CC="$(PORT_GCC)" tools/provision.sh multilib || true

# The test suite twice (TEST_SUITE in the Makefile) with tests/crit32 for Criterion.
$(eval $(call TEST_SUITE,$(PORT_DIR)/tests32,$(PORT_DIR)/obj/m32,$(PORT_GCC) $(PORT32_FLAGS) -march=native $(OMP),tests/crit32/crit32.c,-lm,))
$(eval $(call TEST_SUITE,$(PORT_DIR)/tests32_serial,$(PORT_DIR)/obj/m32_serial,$(PORT_GCC) $(PORT32_FLAGS) -DMELORA_NO_VECTOR,tests/crit32/crit32.c,-lm,))
# The runner itself: a suite with one test of each outcome must report each and fail.
# (Two sources in one compile, one header between them: listed by hand.)
$(PORT_DIR)/crit32_self: tests/crit32/selftest.c tests/crit32/crit32.c tests/crit32/criterion/criterion.h | $(PORT_DIR)
	$(PORT_GCC) -m32 $(STD) -O2 $(WARN) -Werror -Itests/crit32 tests/crit32/selftest.c tests/crit32/crit32.c -o $@

portable-m32: multilib | $(PORT_DIR)
	@if ! printf 'int main(void) { return 0; }\n' | $(PORT_GCC) -m32 -x c - -o /dev/null >/dev/null 2>&1; then \
	  echo "✗ $(PORT_GCC) -m32 cannot link (apt-get install gcc-multilib, as root): the 32-bit builds are skipped"; \
	else \
	  $(MAKE) --no-print-directory portable-m32-run; \
	fi

.PHONY: portable-m32-run
portable-m32-run: $(PORT_DIR)/tests32 $(PORT_DIR)/tests32_serial $(PORT_DIR)/crit32_self
	@set -e; o=$(PORT_DIR)/m32.o; \
	run() { echo "  $$*"; "$$@" -o $$o; }; \
	for cc in $(PORT_GCC) $(PORT_CLANG); do \
	  for arch in "" -msse2 -march=native; do \
	    run $$cc -m32 $(STD) -pedantic -O2 $$arch $(PORT_WARN) -I. -c tests/melora_impl.c; \
	  done; \
	done; rm -f $$o
	@./$(PORT_DIR)/crit32_self > $(PORT_DIR)/crit32_self.out 2>&1 && \
	  { cat $(PORT_DIR)/crit32_self.out; echo "crit32: a failing suite exited 0"; exit 1; } || true
	@grep -qx '\[====\] Synthesis: Tested: 5 | Passing: 1 | Failing: 3 | Skipped: 1' $(PORT_DIR)/crit32_self.out || \
	  { cat $(PORT_DIR)/crit32_self.out; echo "crit32: wrong verdicts (above)"; exit 1; }
	@./$(PORT_DIR)/crit32_self --filter 'self/pass*' > $(PORT_DIR)/crit32_self.out 2>&1 || \
	  { cat $(PORT_DIR)/crit32_self.out; echo "crit32: --filter ran a failing test"; exit 1; }
	@echo "✓ crit32 runner: pass, fail, crash, timeout and skip reported; --filter selects"
	@echo "== -m32, OpenMP + vector kernels (-march=native), 2 threads"
	OMP_NUM_THREADS=2 ./$(PORT_DIR)/tests32
	@echo "== -m32, -DMELORA_NO_VECTOR, x87"
	./$(PORT_DIR)/tests32_serial
	@echo "✓ -m32: the header builds with gcc and clang (x87, SSE2, native) and the test suite passes"

portable: portable-matrix portable-m32
