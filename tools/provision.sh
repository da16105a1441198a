#!/bin/sh
# tools/provision.sh NEED...: the one place that knows which Debian packages each part of
# the build needs. For every NEED it probes the machine (the probe, not the package list,
# decides: a tool installed some other way counts); when something is missing and we are
# root it installs the NEED's packages quietly, otherwise it prints the exact command.
# One line per NEED: "✓ need" or "✗ need ...". Exit status 0 when every NEED is met
# afterwards, 1 otherwise (callers that can do without a NEED add `|| true`), 2 on an
# unknown NEED. The probes use $CC (default cc), $CLANG (clang, else clang-14) and
# $PYTHON (/usr/bin/python3, else python3), as the makefiles pass them.
#
#   criterion      libcriterion-dev               the test suites (Criterion)
#   zlib           zlib1g-dev                     the calibration experiment reads .gz files
#   fashion-mnist  dataset-fashion-mnist          the calibration experiment's data
#   gnuplot        gnuplot-nox                    the bench plots and reliability diagrams
#   openblas       libopenblas-dev libopenblas0-openmp   the bench's six-sgemm peer
#   torch          python3-torch python3-numpy    the PyTorch bridge's tests
#   venv           python3-venv                   build/venv for the Hugging Face tests
#   multilib       gcc-multilib                   the -m32 builds of make portable
#   valgrind       valgrind                       make check's memcheck run
#   fuzzer         clang libclang-rt-14-dev       libFuzzer (make fuzz)
#   libomp         libomp-14-dev                  clang -fopenmp (the OpenMP fuzz build)
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
CC=${CC:-cc}
CLANG=${CLANG:-$(command -v clang 2>/dev/null || command -v clang-14 2>/dev/null || echo clang)}
PYTHON=${PYTHON:-$(test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/melora-provision.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

packages() {
  case "$1" in
    criterion) echo libcriterion-dev ;;
    zlib) echo zlib1g-dev ;;
    fashion-mnist) echo dataset-fashion-mnist ;;
    gnuplot) echo gnuplot-nox ;;
    openblas) echo libopenblas-dev libopenblas0-openmp ;;
    torch) echo python3-torch python3-numpy ;;
    venv) echo python3-venv ;;
    multilib) echo gcc-multilib ;;
    valgrind) echo valgrind ;;
    fuzzer) echo clang libclang-rt-14-dev ;;
    libomp) echo libomp-14-dev ;;
    *) return 1 ;;
  esac
}

has_header() { printf '#include <%s>\n' "$1" | $CC -E -x c - >/dev/null 2>&1; }

present() {
  case "$1" in
    criterion) has_header criterion/criterion.h ;;
    zlib) has_header zlib.h ;;
    fashion-mnist) dpkg -s dataset-fashion-mnist >/dev/null 2>&1 ;;
    gnuplot) command -v gnuplot >/dev/null 2>&1 ;;
    # the bench links OpenBLAS's OpenMP build (one libgomp pool shared with melora)
    openblas) [ -n "$(CC=$CC "$root/bench/openblas-flags.sh")" ] &&
                [ -d "/usr/lib/$($CC -print-multiarch 2>/dev/null)/openblas-openmp" ] ;;
    torch) "$PYTHON" -c 'import torch, numpy' >/dev/null 2>&1 ;;
    # Debian ships venv without ensurepip (that is python3-venv): venv cannot install pip
    venv) "$PYTHON" -c 'import ensurepip' >/dev/null 2>&1 ;;
    multilib) printf 'int main(void) { return 0; }\n' | $CC -m32 -x c - -o "$tmp/m32" >/dev/null 2>&1 ;;
    valgrind) command -v valgrind >/dev/null 2>&1 ;;
    fuzzer) printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' |
              "$CLANG" -fsanitize=fuzzer,address,undefined -x c - -o "$tmp/fuzz" >/dev/null 2>&1 ;;
    libomp) printf '#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n' |
              "$CLANG" -fopenmp -x c - -o "$tmp/omp" >/dev/null 2>&1 ;;
  esac
}

missing=
for need in "$@"; do
  packages "$need" >/dev/null || { echo "provision.sh: unknown need '$need' (see the list in $0)" >&2; exit 2; }
  present "$need" || missing="$missing $need"
done
for need in "$@"; do
  case " $missing " in *" $need "*) ;; *) echo "✓ $need" ;; esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  for need in $missing; do
    echo "✗ $need is missing: run 'sudo apt-get install -y $(packages "$need")'"
  done
  [ "$(id -u)" = 0 ] && echo "✗ apt-get not found: install the packages above by other means"
  exit 1
fi

# Root: two of these may run at once under make -j; the lock keeps apt-get to one, and
# the probes run again behind it (the other one may have installed the package). The lock
# is on this script itself (read-only), so no lock file is written anywhere.
exec 9<"$0"
flock 9 2>/dev/null || true
still=
for need in $missing; do present "$need" || still="$still $need"; done
if [ -n "$still" ]; then
  pkgs=
  for need in $still; do pkgs="$pkgs $(packages "$need")"; done
  pkgs=${pkgs# }
  echo "installing $pkgs"
  # shellcheck disable=SC2086 # one word per package
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs; } >"$tmp/apt.log" 2>&1 ||
    { tail -5 "$tmp/apt.log"; echo "✗ apt-get install -y $pkgs failed (above)"; }
fi
rc=0
for need in $missing; do
  if present "$need"; then echo "✓ $need (installed $(packages "$need"))"
  else echo "✗ $need: still missing after 'apt-get install -y $(packages "$need")'"; rc=1; fi
done
exit $rc
