# Builds that the header must survive (included by the top-level Makefile; make test runs
# `make flags-check`). Everything is built under build/flags/.
#   flags-fastmath   the library TU (tests/melora_impl.c) built with -ffast-math and with
#                    -ffinite-math-only, by gcc and by clang when installed, linked with the
#                    bad-input tests built normally (so the tests' NaN and Inf inputs are
#                    real); the tests that feed non-finite scales, sigma, weight, eps and
#                    KL entries must still see MELORA_ERR_VALUE and untouched buffers
#   flags-alloc-pair MELORA_MALLOC without MELORA_FREE (and the reverse) must not compile,
#                    with the header's message
#   flags-static     MELORA_STATIC + MELORA_IMPLEMENTATION in two TUs of one program, gcc and
#                    clang, C and C++, -Wall -Wextra -pedantic -Werror: no unused-function
#                    warnings, no duplicate symbols
#   flags-cuda-fastmath  melora_cuda.cu built for the emulator (tests/cudacpu) with
#                    -ffast-math, its kernels included, linked with the CUDA tests built
#                    normally: the bad-argument tests must pass
#   flags-weverything  clang -Weverything -Werror on the implementation TU (OpenMP/vector
#                    and portable builds), less the groups below that the header keeps
FLAGS_DIR     = $(BUILD)/flags
FLAGS_CLANG  := $(shell command -v clang 2>/dev/null || command -v clang-14 2>/dev/null)
FLAGS_CLANGXX := $(shell command -v clang++ 2>/dev/null || command -v clang++-14 2>/dev/null)
FLAGS_TESTS   = tests/test_errors.c tests/test_edge_numeric.c tests/test_kl.c
# The overlap sweep is left out: it checks pointer ranges, which no float flag touches, and
# takes half a minute per build.
FLAGS_FILTER  = @(errors/!(every_function_rejects_overlaps)|edge/kl_zero_or_nonfinite_std_is_value_error|edge/sigma_nonpositive_is_value_error|kl/zero_std_is_an_error|kl/eq7_bad_entry_writes_nothing|kl/eq7_out_of_range_value)
FLAGS_MODES   = fast finite
FLAGS_fast    = -ffast-math
FLAGS_finite  = -ffinite-math-only
# gcc builds the OpenMP/vector library, clang the portable loops (its OpenMP runtime is a
# separate Debian package).
FLAGS_gcc_LIB   = $(OPT) $(OMP)
FLAGS_clang_LIB = $(OPT) -DMELORA_NO_VECTOR
FLAGS_COMPILERS = gcc $(if $(FLAGS_CLANG),clang)
FLAGS_CC_gcc    = $(CC)
FLAGS_CC_clang  = $(FLAGS_CLANG)
FLAGS_OBJS_gcc   = $(patsubst tests/%.c,$(FLAGS_DIR)/gcc/%.o,$(FLAGS_TESTS))
FLAGS_OBJS_clang = $(patsubst tests/%.c,$(FLAGS_DIR)/clang/%.o,$(FLAGS_TESTS))

.PHONY: flags-check flags-fastmath flags-alloc-pair flags-static flags-weverything flags-cuda-fastmath

$(FLAGS_DIR):
	@mkdir -p $(FLAGS_DIR)

# The tests' objects are built without the flag (their NaN and Inf constants stay real), once
# per compiler; the library object per compiler and mode. The link is plain: -ffast-math at
# link time adds crtfastmath's flush-to-zero, and the tests' denormal sigmas (a KL past
# double's range) would become zeros. $(1) compiler tag, $(2) mode.
define FLAGS_TESTS_RULE
$(FLAGS_DIR)/$(1)/%.o: tests/%.c | $(FLAGS_DIR) criterion
	@mkdir -p $(FLAGS_DIR)/$(1)
	$(FLAGS_CC_$(1)) $(STD) -D_DEFAULT_SOURCE -O2 $(WARN) -I. $$(DEPS_C) -c $$< -o $$@
endef
define FLAGS_FASTMATH_RULE
$(FLAGS_DIR)/impl_$(1)_$(2).o: tests/melora_impl.c | $(FLAGS_DIR)
	$(FLAGS_CC_$(1)) $(STD) -D_DEFAULT_SOURCE $(FLAGS_$(1)_LIB) $(FLAGS_$(2)) $(WARN) -I. $$(DEPS_C) -c $$< -o $$@
$(FLAGS_DIR)/tests_$(1)_$(2): $(FLAGS_OBJS_$(1)) $(FLAGS_DIR)/impl_$(1)_$(2).o
	$(FLAGS_CC_$(1)) $(if $(filter gcc,$(1)),$(OMP)) $$^ -lcriterion -lm -o $$@
endef
$(foreach c,$(FLAGS_COMPILERS),$(eval $(call FLAGS_TESTS_RULE,$(c))))
$(foreach c,$(FLAGS_COMPILERS),$(foreach m,$(FLAGS_MODES),$(eval $(call FLAGS_FASTMATH_RULE,$(c),$(m)))))

flags-fastmath: $(foreach c,$(FLAGS_COMPILERS),$(foreach m,$(FLAGS_MODES),$(FLAGS_DIR)/tests_$(c)_$(m)))
	@$(if $(FLAGS_CLANG),,echo "✗ clang not found: the -ffast-math build is checked with gcc only";)
	@for b in $^; do \
	  echo "== $$b --filter '$(FLAGS_FILTER)'"; \
	  ./$$b --filter '$(FLAGS_FILTER)' || exit 1; \
	done

flags-alloc-pair: | $(FLAGS_DIR)
	@for def in '-DMELORA_MALLOC(b)=malloc(b)' '-DMELORA_FREE(p)=free(p)'; do \
	  if $(CC) $(STD) "$$def" -I. -fsyntax-only -x c tests/melora_impl.c >$(FLAGS_DIR)/alloc_pair.log 2>&1; then \
	    echo "✗ melora.h compiles with only $$def"; exit 1; fi; \
	  grep -q 'define both MELORA_MALLOC and MELORA_FREE, or neither' $(FLAGS_DIR)/alloc_pair.log || \
	    { cat $(FLAGS_DIR)/alloc_pair.log; echo "✗ $$def: the compile failed without the header's message"; exit 1; }; \
	  echo "✓ $$def alone: #error as expected"; \
	done

FLAGS_STATIC_W = -Wall -Wextra -pedantic -Werror -DMELORA_STATIC -DMELORA_IMPLEMENTATION -I.
flags-static: | $(FLAGS_DIR)
	@set -e; for cc in "$(CC) -x c $(STD)" "$(CXX) -x c++ -std=c++11" \
	    $(if $(FLAGS_CLANG),"$(FLAGS_CLANG) -x c $(STD)") $(if $(FLAGS_CLANGXX),"$(FLAGS_CLANGXX) -x c++ -std=c++11"); do \
	  echo "== $$cc: two MELORA_STATIC translation units"; \
	  $$cc $(FLAGS_STATIC_W) -DFLAGS_TU=1 -c tests/flags_static.c -o $(FLAGS_DIR)/static1.o; \
	  $$cc $(FLAGS_STATIC_W) -DFLAGS_TU=2 -c tests/flags_static.c -o $(FLAGS_DIR)/static2.o; \
	  $${cc%% *} $(FLAGS_DIR)/static1.o $(FLAGS_DIR)/static2.o -lm -o $(FLAGS_DIR)/static; \
	  ./$(FLAGS_DIR)/static; \
	done

# Left on purpose: -Wsign-conversion (int loop indices and sizes, non-negative once the
# argument checks pass, widened to size_t in index arithmetic), -Wdouble-promotion (the
# KLs and naive references accumulate float inputs in double by design), -Wpadded,
# -Wswitch-enum (switches on melora_op end in a default), -Wimplicit-fallthrough (the one
# fall-through is commented; C has no portable attribute for it), and, for newer clang,
# -Wdeclaration-after-statement and -Wunsafe-buffer-usage.
FLAGS_WEV = -Weverything -Werror -Wno-sign-conversion -Wno-double-promotion -Wno-padded \
            -Wno-switch-enum -Wno-implicit-fallthrough -Wno-declaration-after-statement \
            -Wno-unknown-warning-option -Wno-unsafe-buffer-usage
# clang's OpenMP header comes with libomp-dev, which a machine may lack
FLAGS_CLANG_OMP := $(if $(FLAGS_CLANG),$(shell printf '\043include <omp.h>\n' | $(FLAGS_CLANG) -fopenmp -fsyntax-only -x c - 2>/dev/null && echo -fopenmp))
flags-weverything:
ifeq ($(FLAGS_CLANG),)
	@echo "✗ clang not found: the -Weverything build is skipped"
else
	$(FLAGS_CLANG) $(STD) -O2 $(FLAGS_CLANG_OMP) $(FLAGS_WEV) -I. -fsyntax-only tests/melora_impl.c
	$(FLAGS_CLANG) $(STD) -O2 -DMELORA_NO_VECTOR $(FLAGS_WEV) -I. -fsyntax-only tests/melora_impl.c
endif

FLAGS_CUDA_FILTER = cuda/@(bad_arguments|eq7_bad_input_writes_nothing)
$(FLAGS_DIR)/melora_cuda_fast.o: melora_cuda.cu | $(FLAGS_DIR)
	$(call cudacpu_o,-O2 -ffast-math -Wall -Wextra -Werror)
$(FLAGS_DIR)/test_cuda_fast: $(FLAGS_DIR)/melora_cuda_fast.o $(CUEMU)/test_cuda.o $(CUEMU)/impl.o
	$(CXX) -pthread $^ -lcriterion -lm -o $@
flags-cuda-fastmath: $(FLAGS_DIR)/test_cuda_fast
	./$< --filter '$(FLAGS_CUDA_FILTER)'

flags-check: flags-alloc-pair flags-static flags-weverything flags-fastmath flags-cuda-fastmath
