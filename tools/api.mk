# api-check: one description of the API. tools/api.py reads melora.h's public part and
# checks that the generated ctypes binding (python/melora/_api.py), melora_cuda.h (one
# twin per compute function, differences only as listed in tools/api.py), the README's
# API tables and tests/api_calls.h agree with it, and that no call takes more than ten
# parameters. Any python3, standard library only. After changing melora.h:
#     python3 tools/api.py gen      (rewrites python/melora/_api.py)
#     python3 tools/api.py readme   (prints the README's API tables, to paste)
# api-check-selftest first plants one mistake at a time in copies of the tree and fails
# unless each is reported, so that a check that accepts everything cannot go unnoticed.

.PHONY: api-check api-check-selftest

api-check: api-check-selftest
	python3 tools/api.py check

api-check-selftest:
	@python3 tools/api.py selftest
