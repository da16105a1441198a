#!/usr/bin/env python3
"""Branch coverage of one annotated source (a `gcov -b -c` .gcov file), with and without
the exception edges, as gcovr counts them (--exclude-throw-branches).

gcc gives every call that may throw an exception edge, marked "(throw)"; melora_cuda.cu
never throws, so those edges are never taken, and the figure without them is the one
that says which branches the tests reach. A template's instantiations are listed
separately under each line; as gcovr does, branch i of a line is one branch, taken if any
instantiation took it.

usage: branch_cov.py FILE.gcov    prints both figures and the untaken branches' lines.
"""
import re
import sys

LINE = re.compile(r"^\s*(?:[0-9]+\*?|-|#####|=====):\s*([0-9]+):")
# "taken N" with gcov -c, "taken N%" without (gcov prints 0% only for a count of 0)
BRANCH = re.compile(r"^branch\s+([0-9]+)\s+(never executed|taken ([0-9]+)%?)(.*)$")


def parse(path):
    """{(line, branch): [taken, throw]}"""
    branches = {}
    line = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for text in f:
            m = LINE.match(text)
            if m:
                line = int(m.group(1))
                continue
            m = BRANCH.match(text)
            if not m or line == 0:
                continue
            key = (line, int(m.group(1)))
            b = branches.setdefault(key, [False, False])
            b[0] = b[0] or (m.group(3) is not None and int(m.group(3)) > 0)
            b[1] = b[1] or "(throw)" in m.group(4)
    return branches


def ranges(lines):
    out, i = [], 0
    while i < len(lines):
        j = i
        while j + 1 < len(lines) and lines[j + 1] == lines[j] + 1:
            j += 1
        out.append(str(lines[i]) if i == j else "%d-%d" % (lines[i], lines[j]))
        i = j + 1
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    b = parse(sys.argv[1])
    if not b:
        sys.exit("branch_cov.py: no branches in %s" % sys.argv[1])
    total = len(b)
    taken = sum(1 for v in b.values() if v[0])
    plain = {k: v for k, v in b.items() if not v[1]}
    ptaken = sum(1 for v in plain.values() if v[0])
    throws = total - len(plain)
    print("branches (merged over instantiations): %d, taken %d: %.2f%%" % (total, taken, 100.0 * taken / total))
    print("without the %d exception edges: %d, taken %d: %.2f%%" %
          (throws, len(plain), ptaken, 100.0 * ptaken / max(len(plain), 1)))
    left = sorted({k[0] for k, v in plain.items() if not v[0]})
    print("untaken non-exception branches: %d, on %d lines: %s" %
          (len(plain) - ptaken, len(left), " ".join(ranges(left)) or "none"))


if __name__ == "__main__":
    main()
