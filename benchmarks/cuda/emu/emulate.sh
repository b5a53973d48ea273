#!/bin/sh
# emulate.sh SOURCE.cu BINARY: builds a lab file for the CPU emulation in emu/cuda_emu.h.
# Rewrites the two constructs C++ lacks (triple-chevron launches, extern __shared__ arrays),
# then compiles with g++ with the emulation header included first.
set -eu
src=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$(dirname "$src")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -e 's/\([A-Za-z_][A-Za-z0-9_]*\(<[^<>]*>\)\{0,1\}\)<<<\([^>]*\)>>>(/emu::launch(emu::Config(\3), \1, /' \
    -e 's/extern __shared__ \([A-Za-z_][A-Za-z0-9_]*\) \([A-Za-z_][A-Za-z0-9_]*\)\[\];/\1* \2 = (\1*) emu::dynamic_shared();/' \
    "$src" > "$tmp/$(basename "$src" .cu).cpp"
if grep -n '<<<' "$tmp/$(basename "$src" .cu).cpp"; then
    echo "emulate.sh: a launch in $src was not rewritten (kernel name and <<< must be on one line, config without '>')" >&2
    exit 1
fi
${CXX:-g++} -std=c++17 -O2 -g -Wno-unknown-pragmas -include "$here/cuda_emu.h" -I"$srcdir" \
    "$tmp/$(basename "$src" .cu).cpp" -o "$out"
