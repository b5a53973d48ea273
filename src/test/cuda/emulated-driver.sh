#!/bin/sh
# emulated-driver.sh OUT_DIR [G++ FLAGS...]: builds OUT_DIR/libcuda.so.1, the CPU emulation of the CUDA driver
# (emulated_driver.cpp, running every kernel of src/main/cuda through cuda_emu.h). A JVM started
# with LD_LIBRARY_PATH=OUT_DIR loads it through JCuda in place of the NVIDIA driver.
set -eu
out=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
cuda=$(cd "$here/../../main/cuda" && pwd)
cxx=${CXX:-g++}
if ! command -v "$cxx" >/dev/null 2>&1; then
    echo "emulated-driver.sh: no C++ compiler ($cxx) to build the emulated CUDA driver;" \
         "install g++ (nvcc needs it too) or build with -Dnormnet.emulation.skip=true" >&2
    exit 1
fi
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# One K(name) per kernel: every NN_KERNEL of the sources (cuModuleGetFunction finds them by name).
grep -ho '^NN_KERNEL void \(__launch_bounds__([0-9, ]*) \)\{0,1\}[A-Za-z0-9_]*' "$cuda"/*.cu | sed 's/^.* \([A-Za-z0-9_]*\)$/K(\1)/' > "$tmp/emulated_kernels.inc"
found=$(wc -l < "$tmp/emulated_kernels.inc")
declared=$(grep -h '^NN_KERNEL ' "$cuda"/*.cu | wc -l)
if [ "$found" -eq 0 ] || [ "$found" -ne "$declared" ]; then
    echo "emulated-driver.sh: found the names of $found of the $declared NN_KERNEL declarations under $cuda" \
         "(each must read 'NN_KERNEL void [__launch_bounds__(...) ]name(' on one line)" >&2
    exit 1
fi
sh "$here/emulate.sh" "$here/emulated_driver.cpp" "$out/libcuda.so.1.tmp" -I"$cuda" -I"$tmp" -O2 -fPIC -shared "$@"
mv "$out/libcuda.so.1.tmp" "$out/libcuda.so.1"
