# Reliability checks (included by the top-level Makefile).
#   make check   the whole test suite built with ASan + UBSan (OpenMP/vector build and the
#                serial portable-loop build), then the suite under valgrind memcheck
#   make fuzz    libFuzzer over the public API for FUZZ_SECONDS (default 60), shared by the
#                plain, OpenMP and CUDA-emulator harnesses
#   make fuzz-cov  line/function coverage of melora.h reached by the fuzz corpus
#   make fuzz-cov-cuda  the same for melora_cuda.cu and the CUDA harness's corpus
# Everything is built under build/check/.
CHECK_DIR    = $(BUILD)/check
SAN_CC      ?= $(CC)
SAN_FLAGS    = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g
SAN_ENV      = ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1 \
               UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# valgrind's VEX decoder has no AVX-512, so the valgrind builds target AVX2 (x86-64-v3)
# instead of -march=native; elsewhere the compiler's default target.
VG_ARCH     := $(if $(filter x86_64,$(shell uname -m)),-march=x86-64-v3,)
VG_OPT       = -O2 -g $(VG_ARCH)
VALGRIND_FLAGS = --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
                 --show-leak-kinds=definite,indirect --trace-children=yes
# Under valgrind (~50x slower) the statistical tests (millions of draws, no code paths of
# their own), the 17 million strided float-to-half narrowings (scalar arithmetic on
# registers, no buffer) and the > 2^31-element forward are left out, and so are the
# half-precision model comparisons of BLoB, Flipout and Me-LoRA and of the naive
# references (their double-precision models are 6 of the suite's 9 native seconds; the
# same passes run under valgrind in half/fast_vs_naive, half/fast_lora_vs_model and the
# thread test, and all of them under ASan); every other test runs.
VG_EXCLUDE   = sampling/*|rng/stream_statistics|rng/independent_streams|kl/exact_kl_matches_monte_carlo|edge_large/*|half/narrowing_strided_floats|half/fast_blob_vs_model|half/fast_flipout_vs_model|half/fast_melora_vs_model|half/naive_*_vs_model
VG_FILTER    = !($(VG_EXCLUDE))
# The serial build differs from the vector one only in its kernels, so its valgrind run
# leaves out, besides VG_FILTER's, the suites whose code is the same in both builds
# (argument and overlap checks, counting, presets, the paper's counts, the RNG and draw
# offsets, allocation failures, size limits, fork, the calibration statistics): the
# vector build's valgrind run and both ASan runs still cover them. Each test is its own
# process, ~2 s under valgrind even when it does little.
VG_SERIAL_ONLY_IN_VECTOR = errors/*|counting/*|presets/*|paper_counts/*|rng/*|draw_noise/*|alloc/*|size_limits/*|fork/*|calibration_metrics/*|calibration_stats/*
VG_FILTER_SERIAL = !($(VG_SERIAL_ONLY_IN_VECTOR)|$(VG_EXCLUDE))
FUZZ_CC     ?= $(shell command -v clang 2>/dev/null || command -v clang-14 2>/dev/null || echo clang)
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   = -g $(OPT) -std=gnu99 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
               -fno-omit-frame-pointer -Wall -Wextra -I.
FUZZ_SRCS    = tests/fuzz/fuzz_api.c tests/fuzz/fuzz_main.c
LLVM_PROFDATA ?= $(shell command -v llvm-profdata-14 2>/dev/null || command -v llvm-profdata 2>/dev/null)
LLVM_COV     ?= $(shell command -v llvm-cov-14 2>/dev/null || command -v llvm-cov 2>/dev/null)

.PHONY: check check-asan check-valgrind fuzz fuzz-cov fuzz-cov-cuda fuzz-seeds fuzz-omp-deps fuzz-tools

$(CHECK_DIR):
	@mkdir -p $(CHECK_DIR)

# The test suite four times (TEST_SUITE in the Makefile), objects under build/check/obj/.
$(eval $(call TEST_SUITE,$(CHECK_DIR)/tests_asan,$(CHECK_DIR)/obj/asan,$(SAN_CC) $(STD) -D_DEFAULT_SOURCE $(OPT) $(OMP) $(WARN) $(SAN_FLAGS) -I.,,-lcriterion -lm,criterion))
$(eval $(call TEST_SUITE,$(CHECK_DIR)/tests_asan_serial,$(CHECK_DIR)/obj/asan_serial,$(SAN_CC) $(STD) -D_DEFAULT_SOURCE -DMELORA_NO_VECTOR $(OPT) $(WARN) $(SAN_FLAGS) -I.,,-lcriterion -lm,criterion))
$(eval $(call TEST_SUITE,$(CHECK_DIR)/tests_vg,$(CHECK_DIR)/obj/vg,$(CC) $(STD) -D_DEFAULT_SOURCE $(VG_OPT) $(OMP) $(WARN) -I.,,-lcriterion -lm,criterion))
$(eval $(call TEST_SUITE,$(CHECK_DIR)/tests_vg_serial,$(CHECK_DIR)/obj/vg_serial,$(CC) $(STD) -D_DEFAULT_SOURCE -DMELORA_NO_VECTOR $(VG_OPT) $(WARN) -I.,,-lcriterion -lm,criterion))

check-asan: $(CHECK_DIR)/tests_asan $(CHECK_DIR)/tests_asan_serial
	@echo "== ASan+UBSan: OpenMP + vector kernels (2 threads)"
	$(SAN_ENV) OMP_NUM_THREADS=2 ./$(CHECK_DIR)/tests_asan
	@echo "== ASan+UBSan: serial build, portable loops"
	$(SAN_ENV) ./$(CHECK_DIR)/tests_asan_serial

# Criterion runs each test in a forked child: every process writes its own valgrind log,
# and the run fails when any log reports an error (a child's exit status alone does not
# reach the runner's verdict).
check-valgrind: $(CHECK_DIR)/tests_vg $(CHECK_DIR)/tests_vg_serial
	@$(PROVISION) valgrind
	@for b in tests_vg tests_vg_serial; do \
	  d=$(CHECK_DIR)/vg-$$b; rm -rf $$d; mkdir -p $$d; \
	  f='$(VG_FILTER)'; [ $$b = tests_vg_serial ] && f='$(VG_FILTER_SERIAL)'; \
	  echo "== valgrind memcheck: $$b --filter '$$f'"; \
	  OMP_NUM_THREADS=2 valgrind $(VALGRIND_FLAGS) --log-file=$$d/%p.log \
	    ./$(CHECK_DIR)/$$b -j1 --filter "$$f" || { cat $$d/*.log; exit 1; }; \
	  bad=$$(grep -L 'ERROR SUMMARY: 0 errors' $$d/*.log); \
	  if [ -n "$$bad" ]; then cat $$bad; echo "valgrind reported errors: $$bad"; exit 1; fi; \
	  echo "   $$(ls $$d | wc -l) processes, all with 0 errors"; \
	done

check: portable check-asan check-valgrind
	@echo "make check: ASan+UBSan and valgrind clean"

# ------------------------------------------------------------------------------ fuzz --
# fuzz_api.c is compiled twice (vector kernels / portable loops) into one fuzzer. The seed
# corpus is tests/fuzz/seeds.txt, one input per line in base64, unpacked into
# build/check/fuzz-seed; new inputs go to build/check/fuzz-corpus.
# libFuzzer is clang's and its runtime's (need "fuzzer"): installed when missing and root.
fuzz-tools:
	@CLANG="$(FUZZ_CC)" $(PROVISION) fuzzer
$(CHECK_DIR)/fuzz_vec.o: tests/fuzz/fuzz_api.c | $(CHECK_DIR) fuzz-tools
	$(FUZZ_CC) $(FUZZ_FLAGS) -DFUZZ_ENTRY=fuzz_vec $(DEPS_C) -c $< -o $@
$(CHECK_DIR)/fuzz_port.o: tests/fuzz/fuzz_api.c | $(CHECK_DIR) fuzz-tools
	$(FUZZ_CC) $(FUZZ_FLAGS) -DFUZZ_ENTRY=fuzz_port -DMELORA_NO_VECTOR $(DEPS_C) -c $< -o $@
$(CHECK_DIR)/fuzz_api: $(CHECK_DIR)/fuzz_vec.o $(CHECK_DIR)/fuzz_port.o tests/fuzz/fuzz_main.c
	$(FUZZ_CC) $(FUZZ_FLAGS) $^ -lm -o $@

# The same harness with OpenMP (the threaded loops, vector and portable builds), run with
# two threads. clang's OpenMP runtime is libomp (need "libomp"): installed when missing
# and we are root, otherwise this build is skipped with a message.
FUZZ_OMP_PROBE = printf '\043include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n' | \
                 $(FUZZ_CC) -fopenmp -x c - -o $(CHECK_DIR)/omp-probe >/dev/null 2>&1
fuzz-omp-deps: | $(CHECK_DIR)
	@CLANG="$(FUZZ_CC)" $(PROVISION) libomp || true
$(CHECK_DIR)/fuzz_omp_vec.o: tests/fuzz/fuzz_api.c | $(CHECK_DIR) fuzz-tools
	$(FUZZ_CC) $(FUZZ_FLAGS) -fopenmp -DFUZZ_ENTRY=fuzz_vec $(DEPS_C) -c $< -o $@
$(CHECK_DIR)/fuzz_omp_port.o: tests/fuzz/fuzz_api.c | $(CHECK_DIR) fuzz-tools
	$(FUZZ_CC) $(FUZZ_FLAGS) -fopenmp -DFUZZ_ENTRY=fuzz_port -DMELORA_NO_VECTOR $(DEPS_C) -c $< -o $@
$(CHECK_DIR)/fuzz_api_omp: $(CHECK_DIR)/fuzz_omp_vec.o $(CHECK_DIR)/fuzz_omp_port.o tests/fuzz/fuzz_main.c
	$(FUZZ_CC) $(FUZZ_FLAGS) -fopenmp $^ -lm -o $@

# The harness over melora_cuda.h: melora_cuda.cu through the emulator (tests/cudacpu/cudacpu-cc
# with clang++), with the emulator's tiny grid caps so the kernels' loops past gridDim run;
# melora.h's implementation beside it. Its seeds are tests/fuzz/seeds_cuda.txt.
FUZZ_CXX    ?= $(shell command -v clang++ 2>/dev/null || command -v clang++-14 2>/dev/null || echo clang++)
FUZZ_CU_SAN  = -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CUDACPU = CXX="$(FUZZ_CXX)" tests/cudacpu/cudacpu-cc
$(CHECK_DIR)/fuzz_cuda_lib.o: melora_cuda.cu | $(CHECK_DIR) fuzz-tools
	$(FUZZ_CUDACPU) $(FUZZ_CU_SAN) -DMELORA__GRID_Y_MAX=3u -DMELORA__GRID_X_MAX=5u \
	  -iquote . $(DEPS_C) -c $< -o $@ && $(CUDACPU_DEPFIX) $(@:.o=.d)
$(CHECK_DIR)/fuzz_cuda_impl.o: tests/melora_impl.c | $(CHECK_DIR) fuzz-tools
	$(FUZZ_CC) $(STD) $(FUZZ_CU_SAN) -I. $(DEPS_C) -c $< -o $@
$(CHECK_DIR)/fuzz_cuda.o: tests/fuzz/fuzz_cuda.cpp | $(CHECK_DIR) fuzz-tools
	$(FUZZ_CXX) -std=c++17 $(FUZZ_CU_SAN) -Wall -Wextra -I. -Itests/cudacpu/include $(DEPS_C) -c $< -o $@
$(CHECK_DIR)/fuzz_cuda: $(CHECK_DIR)/fuzz_cuda.o $(CHECK_DIR)/fuzz_cuda_lib.o $(CHECK_DIR)/fuzz_cuda_impl.o
	$(FUZZ_CXX) -pthread -fsanitize=fuzzer,address,undefined $^ -lm -o $@

$(CHECK_DIR)/fuzz-seed: tests/fuzz/seeds.txt | $(CHECK_DIR)
	@rm -rf $@ && mkdir -p $@ && i=0 && while read -r line; do \
	  i=$$((i + 1)); printf '%s' "$$line" | base64 -d > $@/seed-$$i || exit 1; done < $<
	@echo "unpacked $$(ls $@ | wc -l) seed inputs into $@"
$(CHECK_DIR)/fuzz-cuda-seed: tests/fuzz/seeds_cuda.txt | $(CHECK_DIR)
	@rm -rf $@ && mkdir -p $@ && i=0 && while read -r line; do \
	  i=$$((i + 1)); printf '%s' "$$line" | base64 -d > $@/seed-$$i || exit 1; done < $<
	@echo "unpacked $$(ls $@ | wc -l) seed inputs into $@"

# FUZZ_SECONDS is shared: half to fuzz_api, a quarter each to the OpenMP build and the
# CUDA harness (the OpenMP build's quarter goes to fuzz_api when libomp is missing).
# UBSan aborts (rather than exits) so that libFuzzer saves the input that triggered it.
FUZZ_ENV     = UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
FUZZ_RUN     = -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix=$(CHECK_DIR)/
FUZZ_T_Q     = $$(( $(FUZZ_SECONDS) / 4 > 0 ? $(FUZZ_SECONDS) / 4 : 1 ))
fuzz: $(CHECK_DIR)/fuzz_api $(CHECK_DIR)/fuzz-seed fuzz-omp-deps $(CHECK_DIR)/fuzz_cuda $(CHECK_DIR)/fuzz-cuda-seed
	@mkdir -p $(CHECK_DIR)/fuzz-corpus
	@t_q=$(FUZZ_T_Q); t_omp=$$t_q; t_api=$$(( $(FUZZ_SECONDS) - 2 * t_q > 0 ? $(FUZZ_SECONDS) - 2 * t_q : 1 )); \
	if $(FUZZ_OMP_PROBE); then \
	  $(MAKE) --no-print-directory $(CHECK_DIR)/fuzz_api_omp || exit 1; \
	else \
	  echo "✗ clang -fopenmp does not link (libomp-14-dev missing, not root): the OpenMP fuzz build is skipped"; \
	  t_api=$$((t_api + t_omp)); t_omp=0; \
	fi; \
	echo "== fuzz_api (vector and portable builds) for $$t_api s"; \
	$(FUZZ_ENV) ./$(CHECK_DIR)/fuzz_api -max_total_time=$$t_api $(FUZZ_RUN) \
	  $(CHECK_DIR)/fuzz-corpus $(CHECK_DIR)/fuzz-seed || exit 1; \
	if [ $$t_omp -gt 0 ]; then \
	  echo "== fuzz_api_omp (OpenMP, 2 threads) for $$t_omp s"; \
	  $(FUZZ_ENV) OMP_NUM_THREADS=2 ./$(CHECK_DIR)/fuzz_api_omp -max_total_time=$$t_omp $(FUZZ_RUN) \
	    $(CHECK_DIR)/fuzz-corpus $(CHECK_DIR)/fuzz-seed || exit 1; \
	fi; \
	mkdir -p $(CHECK_DIR)/fuzz-cuda-corpus; \
	echo "== fuzz_cuda (melora_cuda.h through the emulator) for $$t_q s"; \
	$(FUZZ_ENV) ./$(CHECK_DIR)/fuzz_cuda -max_total_time=$$t_q $(FUZZ_RUN) \
	  $(CHECK_DIR)/fuzz-cuda-corpus $(CHECK_DIR)/fuzz-cuda-seed

# Refresh tests/fuzz/seeds.txt and seeds_cuda.txt: the inputs of seed + corpus that add
# edge coverage.
fuzz-seeds: $(CHECK_DIR)/fuzz_api $(CHECK_DIR)/fuzz-seed $(CHECK_DIR)/fuzz_cuda $(CHECK_DIR)/fuzz-cuda-seed
	@rm -rf $(CHECK_DIR)/fuzz-merged && mkdir -p $(CHECK_DIR)/fuzz-merged $(CHECK_DIR)/fuzz-corpus
	./$(CHECK_DIR)/fuzz_api -merge=1 -use_counters=0 -use_value_profile=0 $(CHECK_DIR)/fuzz-merged \
	  $(CHECK_DIR)/fuzz-seed $(CHECK_DIR)/fuzz-corpus 2>&1 | tail -1
	@for f in $(CHECK_DIR)/fuzz-merged/*; do base64 -w0 $$f; echo; done | LC_ALL=C sort > tests/fuzz/seeds.txt
	@echo "tests/fuzz/seeds.txt: $$(wc -l < tests/fuzz/seeds.txt) inputs"
	@rm -rf $(CHECK_DIR)/fuzz-merged && mkdir -p $(CHECK_DIR)/fuzz-merged $(CHECK_DIR)/fuzz-cuda-corpus
	./$(CHECK_DIR)/fuzz_cuda -merge=1 -use_counters=0 -use_value_profile=0 $(CHECK_DIR)/fuzz-merged \
	  $(CHECK_DIR)/fuzz-cuda-seed $(CHECK_DIR)/fuzz-cuda-corpus 2>&1 | tail -1
	@for f in $(CHECK_DIR)/fuzz-merged/*; do base64 -w0 $$f; echo; done | LC_ALL=C sort > tests/fuzz/seeds_cuda.txt
	@echo "tests/fuzz/seeds_cuda.txt: $$(wc -l < tests/fuzz/seeds_cuda.txt) inputs"

# Coverage of melora.h by the seed corpus plus whatever make fuzz added.
$(CHECK_DIR)/fuzz_cov: $(FUZZ_SRCS) | $(CHECK_DIR) fuzz-tools
	$(FUZZ_CC) -g -O0 -std=gnu99 -fprofile-instr-generate -fcoverage-mapping -I. -DFUZZ_ENTRY=fuzz_vec $(DEPS_C) -c tests/fuzz/fuzz_api.c -o $(CHECK_DIR)/fuzz_cov_vec.o
	$(FUZZ_CC) -g -O0 -std=gnu99 -fprofile-instr-generate -fcoverage-mapping -I. -DFUZZ_ENTRY=fuzz_port -DMELORA_NO_VECTOR $(DEPS_C) -c tests/fuzz/fuzz_api.c -o $(CHECK_DIR)/fuzz_cov_port.o
	$(FUZZ_CC) -g -O0 -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping $(CHECK_DIR)/fuzz_cov_vec.o $(CHECK_DIR)/fuzz_cov_port.o tests/fuzz/fuzz_main.c -lm -o $@
fuzz-cov: $(CHECK_DIR)/fuzz_cov $(CHECK_DIR)/fuzz-seed
	@mkdir -p $(CHECK_DIR)/fuzz-corpus
	LLVM_PROFILE_FILE=$(CHECK_DIR)/fuzz.profraw ./$(CHECK_DIR)/fuzz_cov -runs=0 $(CHECK_DIR)/fuzz-corpus $(CHECK_DIR)/fuzz-seed >/dev/null 2>&1
	$(LLVM_PROFDATA) merge -sparse $(CHECK_DIR)/fuzz.profraw -o $(CHECK_DIR)/fuzz.profdata
	$(LLVM_COV) report $(CHECK_DIR)/fuzz_cov -instr-profile=$(CHECK_DIR)/fuzz.profdata melora.h

# Coverage of melora_cuda.cu by the CUDA harness's seeds plus its corpus, built as the
# harness is (tiny grid caps). cudacpu-cc compiles a filtered copy (same line numbers)
# under a temporary name: the report's melora_cuda.cpp row is melora_cuda.cu.
COV_CU = $(CHECK_DIR)/cov-cuda
$(CHECK_DIR)/fuzz_cuda_cov: tests/fuzz/fuzz_cuda.cpp melora_cuda.cu tests/melora_impl.c | $(CHECK_DIR) fuzz-tools
	@mkdir -p $(COV_CU)
	$(FUZZ_CUDACPU) -g -O0 -fprofile-instr-generate -fcoverage-mapping -iquote . $(DEPS_C) \
	  -DMELORA__GRID_Y_MAX=3u -DMELORA__GRID_X_MAX=5u -c melora_cuda.cu -o $(COV_CU)/melora_cuda.o
	$(CUDACPU_DEPFIX) $(COV_CU)/melora_cuda.d
	$(FUZZ_CXX) -std=c++17 -g -O0 -I. -Itests/cudacpu/include $(DEPS_C) -c tests/fuzz/fuzz_cuda.cpp -o $(COV_CU)/fuzz_cuda.o
	$(FUZZ_CC) $(STD) -g -O0 -I. $(DEPS_C) -c tests/melora_impl.c -o $(COV_CU)/impl.o
	$(FUZZ_CXX) -pthread -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping $(COV_CU)/melora_cuda.o \
	  $(COV_CU)/fuzz_cuda.o $(COV_CU)/impl.o -lm -o $@
fuzz-cov-cuda: $(CHECK_DIR)/fuzz_cuda_cov $(CHECK_DIR)/fuzz-cuda-seed
	@mkdir -p $(CHECK_DIR)/fuzz-cuda-corpus
	LLVM_PROFILE_FILE=$(COV_CU)/fuzz.profraw ./$(CHECK_DIR)/fuzz_cuda_cov -runs=0 $(CHECK_DIR)/fuzz-cuda-corpus $(CHECK_DIR)/fuzz-cuda-seed >/dev/null 2>&1
	$(LLVM_PROFDATA) merge -sparse $(COV_CU)/fuzz.profraw -o $(COV_CU)/fuzz.profdata
	@$(LLVM_COV) report $(CHECK_DIR)/fuzz_cuda_cov -instr-profile=$(COV_CU)/fuzz.profdata | \
	  grep -E '^Filename|melora_cuda\.cpp' | sed 's|^[^ ]*melora_cuda\.cpp|melora_cuda.cu|'
