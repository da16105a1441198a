#!/usr/bin/perl
# cudacpu source filter: turns a plain CUDA file into C++ for the emulator.
#   perl cudacpu_filter.pl file.cu > file.cpp
# Rewrites (everything else is left untouched; line numbers are preserved and
# a #line directive keeps diagnostics, ASan and gdb on the original file):
#  1. K<<<cfg>>>(args)  ->  ::cudacpu::launcher(__FILE__, __LINE__, "K", K,
#                               ::cudacpu::make_cfg(cfg))(args)
#     K is an identifier, optionally ::-qualified, optionally followed by a
#     template argument list (nested <> allowed); cfg is 2 to 4 arguments.
#  2. extern __shared__ T name[];  ->  T *name = <dynamic shared memory>;
#  3. __shared__ T name[dims];  (one declarator) additionally gets a hidden
#     per-variable block stamp, so the variable is filled with 0xff bytes when
#     the first thread of each new block reaches the declaration.
#  4. `#pragma unroll [N]` becomes `#pragma GCC unroll N` (N given) or is
#     dropped (no N), so host compilers do not warn about an unknown pragma.
#  5. Prepends #include <cuda_runtime.h> (nvcc includes it implicitly).
# Not handled: <<< >>> inside string literals (they are rewritten too),
# launches through member access (obj.k<<<...>>>), `template` disambiguators.
use strict;
use warnings;

my $file = shift @ARGV or die "usage: cudacpu_filter.pl file.cu\n";
open(my $fh, '<', $file) or die "cudacpu_filter: cannot open $file: $!\n";
my $src = do { local $/; <$fh> };
close $fh;

# 1. kernel launches
$src =~ s{
    ( (?: :: \s* )? [A-Za-z_]\w* (?: \s* :: \s* [A-Za-z_]\w* )* (?: \s* (?&tpl) )? )
    ( \s* ) <<< ( .*? ) >>>
    (?(DEFINE) (?<tpl> < (?: [^<>;{}]++ | (?&tpl) )* > ) )
}{
    my ($k, $ws, $cfg) = ($1, $2, $3);
    (my $name = $k) =~ s/\s+/ /g;
    $name =~ s/(["\\])/\\$1/g;
    "::cudacpu::launcher(__FILE__, __LINE__, \"$name\", $k, ::cudacpu::make_cfg($cfg))$ws"
}gsex;

# 2. dynamic shared memory
$src =~ s{\bextern\s+__shared__\s+([^;{}]*?)\s*\b([A-Za-z_]\w*)\s*\[\s*\]\s*;}
         {$1 *$2 = static_cast<decltype($2)>(::cudacpu::dynamic_smem());}g;

# 3. static shared memory: poison once per block
$src =~ s{(\b__shared__\s+[^;{}=,]*?\b([A-Za-z_]\w*)\s*(?:\[[^\[\];{}]*\]\s*)*;)}
         {$1 static thread_local unsigned long long cudacpu_sg_$2; [[maybe_unused]] const bool cudacpu_sp_$2 = ::cudacpu::shared_first_touch((void *)&($2), sizeof($2), cudacpu_sg_$2);}g;

# 4. unroll pragmas
$src =~ s{^([ \t]*)#[ \t]*pragma[ \t]+unroll[ \t]*\(?[ \t]*(\d+)[ \t]*\)?[ \t]*$}{$1#pragma GCC unroll $2}mg;
$src =~ s{^([ \t]*)#[ \t]*pragma[ \t]+unroll\b[^\n]*$}{$1/* #pragma unroll */}mg;

(my $lf = $file) =~ s/(["\\])/\\$1/g;
print "#include <cuda_runtime.h>\n#line 1 \"$lf\"\n", $src;
