#!/bin/sh
# Prints the compiler flags that link OpenBLAS for the bench's peer, or nothing when it is
# missing. Prefers OpenBLAS's OpenMP build (one libgomp pool shared with melora), then the
# default libopenblas.
arch=$(${CC:-cc} -print-multiarch 2>/dev/null)
for inc in /usr/include/$arch/openblas-pthread /usr/include/$arch/openblas-openmp /usr/include/openblas /usr/include; do
  [ -f "$inc/cblas.h" ] && grep -q openblas_get_corename "$inc/cblas.h" 2>/dev/null && break
  inc=
done
[ -n "$inc" ] || exit 0
omp=/usr/lib/$arch/openblas-openmp/libopenblas.so.0
if [ -f "$omp" ]; then
  echo "-DMLB_HAVE_OPENBLAS -DMLB_OPENBLAS_OPENMP -I$inc $omp -Wl,-rpath,$(dirname "$omp")"
elif printf 'int main(void){return 0;}\n' | ${CC:-cc} -x c - -lopenblas -o /dev/null 2>/dev/null; then
  echo "-DMLB_HAVE_OPENBLAS -I$inc -lopenblas"
fi
