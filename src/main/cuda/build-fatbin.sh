#!/usr/bin/env bash
# Compiles the kernels into one fatbin: SASS for sm_80, sm_86, sm_89, sm_90 and PTX for
# compute_90 (JIT-compiled by the driver on newer GPUs). Run by the Maven build (profile
# "kernels") when nvcc exists; also writes normnet.kernels (every kernel's parameter types) beside it; skips the work when the fatbin is newer than every source.
#   usage: build-fatbin.sh NVCC SOURCE_DIR OUTPUT_FATBIN
set -euo pipefail
nvcc=$1
src=$2
out=$3
if [ ! -x "$nvcc" ]; then
    echo "build-fatbin.sh: nvcc not found at $nvcc (set -Dnormnet.nvcc=PATH, or -Dnormnet.kernels.skip=true)" >&2
    exit 1
fi
if [ -f "$out" ] && [ -z "$(find "$src" \( -name '*.cu' -o -name '*.cuh' -o -name '*.sh' \) -newer "$out" -print -quit)" ]; then
    echo "build-fatbin.sh: $out is up to date"
    exit 0
fi
mkdir -p "$(dirname "$out")"
started=$SECONDS
# --fmad=false: a multiply and an add are never contracted into one fma unless the source says fmaf,
# so the same expression gives the same bits in every kernel that holds it (a fused batch norm and
# the separate ops it replaces), and the host emulator (-ffp-contract=off) computes what the GPU does.
"$nvcc" -fatbin -O3 -std=c++17 --fmad=false --threads 2 \
    -gencode arch=compute_80,code=sm_80 \
    -gencode arch=compute_86,code=sm_86 \
    -gencode arch=compute_89,code=sm_89 \
    -gencode arch=compute_90,code=sm_90 \
    -gencode arch=compute_90,code=compute_90 \
    -o "$out.tmp" "$src/normnet.cu"
# The kernels' parameter lists, one line per kernel ("name u64 u64 u32 f32 ..."), read from the
# PTX: CudaBackend checks every launch's arguments against them.
"$nvcc" -ptx -O3 -std=c++17 --fmad=false -arch=compute_90 -o "$out.ptx" "$src/normnet.cu"
# With --fmad=false every float multiply, add and subtract in the PTX carries .rn, which forbids
# fusing it into an fma; one without (mul.f32, add.f64, ...) may be contracted by ptxas. Checked
# before anything is written beside the old fatbin.
if grep -qE '\b(mul|add|sub)(\.ftz)?\.f(32|64)\b' "$out.ptx"; then
    echo "build-fatbin.sh: the PTX has float arithmetic the compiler may contract into fma (was --fmad=false dropped?):" >&2
    grep -m 5 -nE '\b(mul|add|sub)(\.ftz)?\.f(32|64)\b' "$out.ptx" >&2 || true
    rm -f "$out.ptx" "$out.tmp"
    exit 1
fi
awk '/\.entry[ \t]/ { name = $0; sub(/.*\.entry[ \t]+/, "", name); sub(/\(.*/, "", name); sig = name; inside = 1; next }
     inside && /\.param/ { for (i = 1; i <= NF; i++) if ($i ~ /^\.[usbf](8|16|32|64)$/) { sig = sig " " substr($i, 2); break } }
     inside && /^\)/ { print sig; inside = 0 }' "$out.ptx" | sort > "${out%.fatbin}.kernels"
rm -f "$out.ptx"
mv "$out.tmp" "$out"
echo "build-fatbin.sh: built $out ($(stat -c %s "$out") bytes) in $((SECONDS - started)) s with $("$nvcc" --version | tail -1)"
