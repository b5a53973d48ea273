#!/bin/sh
# emulate.sh SOURCE BINARY [G++ FLAGS...]: builds CUDA C++ for the CPU emulation in cuda_emu.h.
# Used by KernelEmulationTest (kernels_test.cpp, which includes src/main/cuda/normnet.cu) and by
# the kernel lab's `make emu-check` (benchmarks/cuda/*.cu, which include src/main/cuda files).
#
# The source is preprocessed with cuda_emu.h included first, so every file it includes is seen
# once, in one translation unit; then the two constructs C++ lacks are rewritten:
#   kernel<<<grid, block[, smem]>>>(args)  ->  emu::launch(emu::Config(grid, block[, smem]), kernel, args)
#   extern __shared__ T name[];            ->  T* name = (T*) emu::dynamic_shared();
# (a launch must sit on one line up to `>>>(`, with no `>` in its configuration), and the result
# is compiled with g++. Extra flags (-I DIR, -O2, -g) go to both g++ steps.
set -eu
src=$1
out=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
cxx=${CXX:-g++}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
base=$(basename "$src")
base=${base%.*}
"$cxx" -std=c++20 -E -x c++ -include "$here/cuda_emu.h" "$@" "$src" -o "$tmp/$base.ii"
# cuda_emu.h turns __shared__ into `static`, so a dynamic shared array reads `extern static` here.
sed -e 's/\([A-Za-z_][A-Za-z0-9_]*\(<[^<>]*>\)\{0,1\}\)<<<\([^>]*\)>>>(/emu::launch(emu::Config(\3), \1, /' \
    -e 's/extern static \([A-Za-z_][A-Za-z0-9_]*\) \([A-Za-z_][A-Za-z0-9_]*\)\[\];/\1* \2 = (\1*) emu::dynamic_shared();/' \
    "$tmp/$base.ii" > "$tmp/$base.emu.ii"
if grep -n -e '<<<' -e 'extern static' "$tmp/$base.emu.ii" >&2; then
    echo "emulate.sh: a launch or a dynamic shared array in $src (or a file it includes) was not rewritten" \
         "(kernel name and <<< must be on one line, the configuration without '>')" >&2
    exit 1
fi
"$cxx" -std=c++20 -O1 -ffp-contract=off -Wno-unknown-pragmas "$@" "$tmp/$base.emu.ii" -o "$out"
