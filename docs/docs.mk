# docs-check: the README and docs/ link only to files that exist in the repository (and
# to headings that exist in them), and no file points outside the repository
# (docs/check_docs.pl says what exactly). `make test` runs it through
# `$(MAKE) -f docs/docs.mk docs-check`, so it needs no other makefile; perl only.
# docs-check-selftest runs the checker on small trees that must fail, and on one that
# must pass, so that a checker that accepts everything cannot go unnoticed.

DOCS_CHECK_TMP ?= build/docs-check

.PHONY: docs-check docs-check-selftest

docs-check: docs-check-selftest
	@perl docs/check_docs.pl . && echo "docs-check: ✓ links in README.md and docs/ resolve, nothing points outside the repository"

# One case per line: a file name, its text; each case is a fresh tree with a README.md
# that links to docs/a.md, and docs/a.md with a heading "Real section".
docs-check-selftest:
	@set -e; t=$(DOCS_CHECK_TMP); rm -rf $$t; \
	mk() { rm -rf $$t/$$1; mkdir -p $$t/$$1/docs; \
	       printf '# Top\n\nSee [a](docs/a.md) and [its section](docs/a.md#real-section).\n' > $$t/$$1/README.md; \
	       printf '# A\n\n## Real section\n\nBack to [the README](../README.md#top).\n' > $$t/$$1/docs/a.md; }; \
	expect() { if perl docs/check_docs.pl $$t/$$1 > $$t/$$1.out; then got=0; else got=1; fi; \
	           if [ $$got != $$2 ]; then echo "docs-check-selftest: ✗ case $$1: exit $$got, expected $$2"; cat $$t/$$1.out; exit 1; fi; }; \
	mk clean; expect clean 0; \
	mk missing; printf 'A [dangling link](docs/nothing.md).\n' >> $$t/missing/README.md; expect missing 1; \
	mk anchor; printf 'A [wrong section](a.md#no-such-section).\n' >> $$t/anchor/docs/a.md; expect anchor 1; \
	mk outside; printf 'A [file beside the tree](../../x.md).\n' >> $$t/outside/docs/a.md; touch $$t/x.md; expect outside 1; \
	mk shared; printf 'see %s/DESIGN.md\n' "..$$(printf /shared)" > $$t/shared/notes.txt; expect shared 1; \
	mk code; printf 'Not a link: `[x](nowhere.md)`.\n\n```\n[y](nowhere.md)\n```\n' >> $$t/code/README.md; expect code 0; \
	rm -rf $$t; echo "docs-check-selftest: ✓ the checker rejects dangling links, unknown anchors, links out of the tree and outside paths"
