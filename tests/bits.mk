# make bits: the same bits from C and C++ builds of melora.h (included by the Makefile).
# tests/bits.c, which hashes every output of every compute function on three shapes
# (r = 5, 20, 64), is built by gcc -std=c99 (no contraction by default), gcc -std=gnu11
# with OpenMP and g++ -std=c++17 (both contract by default), clang -std=c99 and clang++
# -std=c++17 (contraction within expressions), all at $(OPT); and again, portable loops
# (MELORA_NO_VECTOR), by gcc, g++ and clang. Within each group every line must agree.
# Documented exceptions, not built here: clang with an explicit -ffp-contract=fast,
# -ffast-math builds, other target flags (another vector width) and nvcc device code.
BITS_DIR     = $(BUILD)/bits
BITS_CLANG  := $(shell command -v clang 2>/dev/null || command -v clang-14 2>/dev/null)
BITS_CLANGXX := $(shell command -v clang++ 2>/dev/null || command -v clang++-14 2>/dev/null)
BITS_DEPS    = tests/bits.c | $(BUILD)
BITS_VEC     = gcc-c99 gcc-gnu11-omp gxx-cxx17 $(if $(BITS_CLANG),clang-c99) $(if $(BITS_CLANGXX),clangxx-cxx17)
BITS_PORT    = gcc-c99-port gxx-cxx11-port $(if $(BITS_CLANG),clang-c99-port)

.PHONY: bits
$(BITS_DIR)/gcc-c99: $(BITS_DEPS)
	@mkdir -p $(BITS_DIR)
	$(CC) -std=c99 $(OPT) $(WARN) -I. $(DEPS_LINK) $< -lm -o $@
$(BITS_DIR)/gcc-gnu11-omp: $(BITS_DEPS)
	@mkdir -p $(BITS_DIR)
	$(CC) -std=gnu11 $(OPT) $(OMP) $(WARN) -I. $(DEPS_LINK) $< -lm -o $@
$(BITS_DIR)/gxx-cxx17: $(BITS_DEPS)
	@mkdir -p $(BITS_DIR)
	$(CXX) -x c++ -std=c++17 $(OPT) -Wall -Wextra -I. $(DEPS_LINK) $< -lm -o $@
$(BITS_DIR)/clang-c99: $(BITS_DEPS)
	@mkdir -p $(BITS_DIR)
	$(BITS_CLANG) -std=c99 $(OPT) $(WARN) -I. $(DEPS_LINK) $< -lm -o $@
$(BITS_DIR)/clangxx-cxx17: $(BITS_DEPS)
	@mkdir -p $(BITS_DIR)
	$(BITS_CLANGXX) -x c++ -std=c++17 $(OPT) -Wall -Wextra -I. $(DEPS_LINK) $< -lm -o $@
$(BITS_DIR)/gcc-c99-port: $(BITS_DEPS)
	@mkdir -p $(BITS_DIR)
	$(CC) -std=c99 -DMELORA_NO_VECTOR $(OPT) $(WARN) -I. $(DEPS_LINK) $< -lm -o $@
$(BITS_DIR)/gxx-cxx11-port: $(BITS_DEPS)
	@mkdir -p $(BITS_DIR)
	$(CXX) -x c++ -std=c++11 -DMELORA_NO_VECTOR $(OPT) -Wall -Wextra -I. $(DEPS_LINK) $< -lm -o $@
$(BITS_DIR)/clang-c99-port: $(BITS_DEPS)
	@mkdir -p $(BITS_DIR)
	$(BITS_CLANG) -std=c99 -DMELORA_NO_VECTOR $(OPT) $(WARN) -I. $(DEPS_LINK) $< -lm -o $@

bits: $(addprefix $(BITS_DIR)/,$(BITS_VEC) $(BITS_PORT))
	@$(if $(BITS_CLANG),,echo "✗ clang not found: the C/C++ bit comparison runs without clang";) \
	fail=0; \
	for group in "$(BITS_VEC)" "$(BITS_PORT)"; do \
	  first=; \
	  for b in $$group; do \
	    ./$(BITS_DIR)/$$b > $(BITS_DIR)/$$b.txt || { echo "✗ $$b failed to run"; fail=1; continue; }; \
	    if [ -z "$$first" ]; then first=$$b; continue; fi; \
	    if ! cmp -s $(BITS_DIR)/$$first.txt $(BITS_DIR)/$$b.txt; then \
	      echo "✗ $$b differs from $$first:"; diff $(BITS_DIR)/$$first.txt $(BITS_DIR)/$$b.txt | head -20; fail=1; \
	    fi; \
	  done; \
	  [ $$fail = 0 ] && echo "✓ same bits ($$(wc -l < $(BITS_DIR)/$$first.txt) outputs hashed): $$group"; \
	done; \
	exit $$fail

# make same-bits [BASE=commit]: the refactoring check. tests/same_bits.c hashes every
# output of every compute function over shapes that reach every code path; it is built
# against the working tree's melora.h and against BASE's (default HEAD; any commit with the
# v0.2 calls, ace641a or later), vector and MELORA_NO_VECTOR, and the outputs must match
# line for line. Not part of make test: it compares two versions, not a version with truth.
BASE ?= HEAD
SB_DIR = $(BUILD)/same_bits
.PHONY: same-bits
same-bits: | $(BUILD)
	@mkdir -p $(SB_DIR)/base
	@git show $(BASE):melora.h > $(SB_DIR)/base/melora.h
	@set -e; for v in vec port; do \
	  f=""; [ $$v = port ] && f=-DMELORA_NO_VECTOR; [ $$v = vec ] && f="-fopenmp"; \
	  $(CC) -std=c99 -O2 $$f -I. tests/same_bits.c -lm -o $(SB_DIR)/new_$$v; \
	  $(CC) -std=c99 -O2 $$f -I$(SB_DIR)/base tests/same_bits.c -lm -o $(SB_DIR)/base_$$v; \
	  ./$(SB_DIR)/new_$$v > $(SB_DIR)/new_$$v.txt; ./$(SB_DIR)/base_$$v > $(SB_DIR)/base_$$v.txt; \
	  if cmp -s $(SB_DIR)/new_$$v.txt $(SB_DIR)/base_$$v.txt; then \
	    echo "✓ same-bits ($$v): $$(wc -l < $(SB_DIR)/new_$$v.txt) outputs equal to $(BASE)'s"; \
	  else diff $(SB_DIR)/base_$$v.txt $(SB_DIR)/new_$$v.txt | head -20; \
	    echo "✗ same-bits ($$v): outputs differ from $(BASE)'s"; exit 1; fi; \
	done
