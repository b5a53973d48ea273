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
# Each kernel's resources as ptxas compiles it for sm_90 (the H100 and H200): registers, static
# shared memory, and the most threads a block may have, the smallest of 1024, its
# __launch_bounds__ (.maxntid in the PTX) and what its registers allow (CUDA's occupancy
# calculator: a warp's registers are allocated in units of 256, a block has at most 65,536).
# Also its stack frame (local memory a thread uses; register spills go there). Written to
# OUT_DIR/kernel-resources.txt ("name registers static-shared-bytes max-threads local-bytes" per
# line, read by the tests' launch recorder) and, one K(name, registers, shared, max threads, local)
# per kernel, into the driver, which answers cuFuncGetAttribute with them and refuses a launch
# above them as the device does.
nvcc=${NVCC:-/usr/local/cuda/bin/nvcc}
if [ ! -x "$nvcc" ]; then
    nvcc=$(command -v nvcc || true)
fi
if [ -z "$nvcc" ] || [ ! -x "$nvcc" ]; then
    echo "emulated-driver.sh: no nvcc (set NVCC=PATH) to read the kernels' registers and shared memory from ptxas" >&2
    exit 1
fi
ptxas=$(dirname "$nvcc")/ptxas
"$nvcc" -ptx -O3 -std=c++17 --fmad=false -arch=compute_90 -o "$tmp/normnet.ptx" "$cuda/normnet.cu"
"$ptxas" -arch=sm_90 -O3 -v "$tmp/normnet.ptx" -o "$tmp/normnet.cubin" 2> "$tmp/ptxas.log"
awk '/\.entry[ \t]/ { name = $0; sub(/.*\.entry[ \t]+/, "", name); sub(/\(.*/, "", name); print name, 0; next }
     /^\.maxntid/ { line = $0; sub(/^\.maxntid[ \t]*/, "", line); n = split(line, d, /[ ,\t]+/); t = 1;
                    for (i = 1; i <= n; i++) if (d[i] != "") t *= d[i];
                    print name, t }' "$tmp/normnet.ptx" > "$tmp/maxntid"
awk 'NR == FNR { bound[$1] = $2; next }
     /Compiling entry function/ { name = $0; sub(/.*function .\047?/, "", name); sub(/\047.*/, "", name); local = 0; next }
     /bytes stack frame/ && name != "" { local = $0; sub(/^[ \t]*/, "", local); sub(/ bytes stack frame.*/, "", local); next }
     /Compile time/ { name = ""; next }
     /Used [0-9]+ registers/ && name != "" {
         regs = $0; sub(/.*Used /, "", regs); sub(/ registers.*/, "", regs);
         smem = 0; if ($0 ~ /bytes smem/) { smem = $0; sub(/ bytes smem.*/, "", smem); sub(/.*, /, "", smem) }
         perWarp = int((regs * 32 + 255) / 256) * 256;
         max = int(65536 / perWarp) * 32; if (max > 1024) max = 1024;
         if (bound[name] > 0 && bound[name] < max) max = bound[name];
         print name, regs, smem, max, local; name = "" }' "$tmp/maxntid" "$tmp/ptxas.log" | sort > "$tmp/kernel-resources.txt"
sed 's/^\([A-Za-z0-9_]*\) \([0-9]*\) \([0-9]*\) \([0-9]*\) \([0-9]*\)$/K(\1, \2, \3, \4, \5)/' "$tmp/kernel-resources.txt" > "$tmp/emulated_kernels.inc"
found=$(grep -c '^K([A-Za-z0-9_]*, [0-9]*, [0-9]*, [0-9]*, [0-9]*)$' "$tmp/emulated_kernels.inc" || true)
declared=$(grep -h '^NN_KERNEL ' "$cuda"/*.cu | wc -l)
if [ "$found" -eq 0 ] || [ "$found" -ne "$declared" ]; then
    echo "emulated-driver.sh: ptxas reported the resources of $found kernels, but $cuda declares $declared" \
         "with NN_KERNEL (its log: $tmp/ptxas.log)" >&2
    trap - EXIT
    exit 1
fi
sh "$here/emulate.sh" "$here/emulated_driver.cpp" "$out/libcuda.so.1.tmp" -I"$cuda" -I"$tmp" -O2 -fPIC -shared "$@"
mv "$out/libcuda.so.1.tmp" "$out/libcuda.so.1"
cp "$tmp/kernel-resources.txt" "$out/kernel-resources.txt"
