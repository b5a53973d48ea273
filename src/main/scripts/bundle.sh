#!/usr/bin/env bash
# Builds dist/normnet-bundle-linux-x86_64.tar.xz: everything needed to run normnet on a Linux
# x86-64 machine that has an NVIDIA driver but no JDK.
#
#   runtime/            a jlink image (java.base, java.logging, jdk.unsupported, java.management, jdk.incubator.vector,
#                       plus the modules jdeps finds in the jars)
#   lib/                normnet's jar and its runtime dependencies; the JCuda natives jar keeps
#                       only libJCudaDriver and libJCudaRuntime for linux-x86_64
#   bin/normnet         the command line (dev.normnet.cli.Main)
#   with --with-tests:
#   test-classes/       the compiled tests and their resources
#   test-lib/           test dependencies and the JUnit console launcher
#   bin/run-gpu-tests   runs the tests tagged "gpu", a skip failing (extra arguments go to the launcher)
#   with --gpu-check (implies --with-tests), dist/normnet-gpu-check-linux-x86_64.tar.xz and the same
#   tree unpacked beside it, dist/normnet-gpu-check-linux-x86_64/, ready to travel:
#   data/               Fashion-MNIST's four files, unpacked from the .gz files in $NORMNET_DATA or
#                       /usr/share/datasets/fashion-mnist
#   test-lib/           as with --with-tests, less the fuzzing engine (jazzer-*.jar; no GPU test fuzzes)
#   benchmarks/         compare.py and pytorch/*.py: the PyTorch reference and the side-by-side table;
#                       ncu_summary.py: the profile step's table of time by kernel;
#                       targets.py: the speed targets, met or not
#   lab/                the kernel lab (benchmarks/cuda) built for sm_90 with nvcc, libstdc++ linked
#                       in, gemm without cuBLAS; run.sh and README.md (left out, with a warning, when
#                       there is no nvcc)
#   bin/gpu-check       the whole GPU check in one call (src/main/scripts/gpu-check.sh)
#
#   --no-archive: only the directory (target/bundle/NAME; with --gpu-check also dist/NAME), no .tar.xz
#
# usage: src/main/scripts/bundle.sh [--with-tests] [--gpu-check] [--skip-build] [--no-archive]
set -euo pipefail
cd "$(dirname "$0")/../../.."
root=$PWD

with_tests=false
gpu_check=false
build=true
archive=true
for arg in "$@"; do
    case "$arg" in
        --with-tests) with_tests=true ;;
        --gpu-check) gpu_check=true; with_tests=true ;;
        --skip-build) build=false ;;
        --no-archive) archive=false ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) echo "bundle.sh: unknown argument $arg (expected --with-tests, --gpu-check, --skip-build, --no-archive)" >&2; exit 2 ;;
    esac
done

junit_console_version=1.10.2
name=normnet-bundle-linux-x86_64
limit_mib=40
if $gpu_check; then
    name=normnet-gpu-check-linux-x86_64
    limit_mib=60
    fashion=
    for dir in "${NORMNET_DATA:-}" "$root/data/FashionMNIST/raw" /usr/share/datasets/fashion-mnist; do
        if [ -n "$dir" ] && [ -f "$dir/train-images-idx3-ubyte.gz" ] && [ -f "$dir/train-labels-idx1-ubyte.gz" ] \
            && [ -f "$dir/t10k-images-idx3-ubyte.gz" ] && [ -f "$dir/t10k-labels-idx1-ubyte.gz" ]; then
            fashion=$dir
            break
        fi
    done
    if [ -z "$fashion" ]; then
        echo "bundle.sh: --gpu-check needs Fashion-MNIST's four .gz files in \$NORMNET_DATA, data/FashionMNIST/raw or" \
            "/usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist)" >&2
        exit 2
    fi
fi
stage=$root/target/bundle/$name
out=$root/dist/$name.tar.xz

if $build; then
    # package also copies the tests' dependencies to target/test-lib and the JUnit console launcher to target/
    mvn -B -q package -DskipTests
fi
if $with_tests && [ ! -d "$root/target/test-classes" ]; then
    echo "bundle.sh: no target/test-classes; run without --skip-build" >&2
    exit 1
fi
jar=$(ls "$root"/target/normnet-*.jar | grep -v -- '-sources\|-tests' | head -1)
[ -f "$jar" ] || { echo "bundle.sh: no target/normnet-*.jar; run without --skip-build" >&2; exit 1; }
[ -d "$root/target/lib" ] || { echo "bundle.sh: no target/lib (runtime dependencies)" >&2; exit 1; }
if [ ! -f "$root/target/classes/dev/normnet/backend/cuda/normnet.fatbin" ]; then
    echo "bundle.sh: warning: the jar has no CUDA kernels (the build had no nvcc)" >&2
fi

rm -rf "$stage"
mkdir -p "$stage/lib" "$stage/bin" "$root/dist"

# jars: normnet and its runtime dependencies, the natives jar reduced to the two driver-API libraries
cp "$jar" "$stage/lib/"
for dep in "$root"/target/lib/*.jar; do
    case "$(basename "$dep")" in
        jcuda-natives-*-linux-x86_64.jar)
            tmp=$(mktemp -d)
            (cd "$tmp" && jar xf "$dep")
            find "$tmp/lib" -type f ! -name 'libJCudaDriver-*-linux-x86_64.so' ! -name 'libJCudaRuntime-*-linux-x86_64.so' -delete
            jar --create --file "$stage/lib/$(basename "$dep")" -C "$tmp" .
            rm -rf "$tmp"
            ;;
        *) cp "$dep" "$stage/lib/" ;;
    esac
done

# the Java runtime
# jdk.incubator.vector: the fast CPU path (VectorCpuBackend)
modules=java.base,java.logging,jdk.unsupported,java.management,jdk.incubator.vector
# Modular jars among the inputs (progressbar requires org.jline.terminal) need the jars they
# require on a module path; jdeps then warns of split packages on stdout, so only its last line
# (the module list) is kept.
found=$(jdeps --multi-release 17 --print-module-deps --ignore-missing-deps --module-path "$stage/lib" \
    -cp "$stage/lib/*" "$stage"/lib/*.jar | tail -n 1)
if $with_tests; then
    found="$found,$(jdeps --multi-release 17 --print-module-deps --ignore-missing-deps \
        -cp "$root/target/test-lib/*:$stage/lib/*" "$root/target/test-classes")"
fi
modules=$(echo "$modules,$found" | tr ',' '\n' | grep -v '^$' | sort -u | paste -sd, -)
echo "bundle.sh: jlink --add-modules $modules"
jlink --add-modules "$modules" --strip-debug --no-header-files --no-man-pages --compress=0 --output "$stage/runtime"

cat > "$stage/bin/normnet" <<'SH'
#!/bin/sh
# normnet's command line on the bundled Java runtime.
here=$(cd "$(dirname "$0")/.." && pwd)
# The heap starts small and grows only as GC time asks (as ./normnet does; benchmarks/notes/cpu-round-two.md).
exec "$here/runtime/bin/java" --add-modules jdk.incubator.vector -XX:+UseParallelGC -XX:MaxRAMPercentage=70 \
    -Xms32m -XX:GCTimeRatio=4 -XX:MaxHeapFreeRatio=30 -XX:MinHeapFreeRatio=10 -Djava.awt.headless=true ${NORMNET_JAVA_OPTS:-} -cp "$here/lib/*" dev.normnet.cli.Main "$@"
SH
chmod +x "$stage/bin/normnet"

if $with_tests; then
    mkdir -p "$stage/test-lib"
    cp -r "$root/target/test-classes" "$stage/test-classes"
    # the console launcher jar already holds JUnit (platform, Jupiter), opentest4j and apiguardian
    for dep in "$root"/target/test-lib/*.jar; do
        case "$(basename "$dep")" in
            junit-*|opentest4j-*|apiguardian-*) ;;
            # the fuzzing engine (19 MB): the GPU check runs only the tests tagged gpu, none of which fuzz
            jazzer-[0-9]*.jar) $gpu_check || cp "$dep" "$stage/test-lib/" ;;
            *) [ -f "$stage/lib/$(basename "$dep")" ] || cp "$dep" "$stage/test-lib/" ;;
        esac
    done
    console=junit-platform-console-standalone-$junit_console_version.jar
    if [ ! -f "$root/target/$console" ]; then
        echo "bundle.sh: no target/$console (mvn package copies it); run without --skip-build" >&2
        exit 1
    fi
    cp "$root/target/$console" "$stage/test-lib/"
    cat > "$stage/bin/run-gpu-tests" <<SH
#!/bin/sh
# Runs normnet's tests tagged "gpu" (CUDA backend against the CPU reference) on the bundled runtime.
# A GPU test that skips (no usable GPU) fails here, since NORMNET_REQUIRE_GPU defaults to 1; set
# NORMNET_REQUIRE_GPU=0 to let them skip.
# Extra arguments go to the JUnit console launcher, e.g. --include-tag gpu --exclude-tag slow, or
# replace the selection: bin/run-gpu-tests --select-class dev.normnet.backend.cuda.CudaBackendTest
here=\$(cd "\$(dirname "\$0")/.." && pwd)
cd "\$here"
export NORMNET_REQUIRE_GPU=\${NORMNET_REQUIRE_GPU:-1}
# The launcher does not expand "dir/*": list the jars.
cp="\$here/test-classes"
for j in "\$here"/lib/*.jar "\$here"/test-lib/*.jar; do
    case "\$j" in
        */$console) ;;
        *) cp="\$cp:\$j" ;;
    esac
done
if [ \$# -eq 0 ]; then
    set -- --scan-class-path="\$here/test-classes" --include-tag gpu
fi
exec "\$here/runtime/bin/java" --add-modules jdk.incubator.vector \${NORMNET_JAVA_OPTS:-} -jar "\$here/test-lib/$console" execute \\
    --class-path "\$cp" --details tree "\$@"
SH
    chmod +x "$stage/bin/run-gpu-tests"
fi

if $gpu_check; then
    mkdir -p "$stage/data" "$stage/benchmarks/pytorch"
    # Unpacked: xz packs the raw files into 26.4 MB where the .gz files stay 30.9 MB.
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
        gzip -dc "$fashion/$f.gz" > "$stage/data/$f"
    done
    cp "$root/benchmarks/compare.py" "$root/benchmarks/ncu_summary.py" "$root/benchmarks/targets.py" "$stage/benchmarks/"
    cp "$root"/benchmarks/pytorch/*.py "$stage/benchmarks/pytorch/"
    # The kernel lab: every version of every op checked and timed on the GPU (gpu-check's lab step).
    nvcc=${NVCC:-${CUDA_HOME:-/usr/local/cuda}/bin/nvcc}
    command -v "$nvcc" > /dev/null 2>&1 || nvcc=$(command -v nvcc || true)
    if [ -n "$nvcc" ] && [ -x "$nvcc" ]; then
        mkdir -p "$stage/lab"
        echo "bundle.sh: building the kernel lab with $nvcc"
        make -s -C "$root/benchmarks/cuda" bundle NVCC="$nvcc" DEST="$stage/lab"
        cp "$root/benchmarks/cuda/run.sh" "$root/benchmarks/cuda/README.md" "$stage/lab/"
    else
        echo "bundle.sh: warning: no nvcc, so the GPU check has no kernel lab (set NVCC or CUDA_HOME)" >&2
    fi
    cp "$root/src/main/scripts/gpu-check.sh" "$stage/bin/gpu-check"
    chmod +x "$stage/bin/gpu-check"
fi

if $archive; then
    tar -C "$root/target/bundle" -cf - "$name" | xz -6 -T2 > "$out.tmp"
    mv "$out.tmp" "$out"
    size=$(stat -c %s "$out")
    echo "bundle.sh: $out $((size / 1024 / 1024)) MiB ($size bytes)"
    if [ "$size" -gt $((limit_mib * 1024 * 1024)) ]; then
        echo "bundle.sh: the bundle is over $limit_mib MiB" >&2
        exit 1
    fi
else
    rm -f "$out"  # an archive of an earlier build would not match the directory
    echo "bundle.sh: $stage (no archive)"
fi
if $gpu_check; then
    rm -rf "$root/dist/$name"
    cp -a "$stage" "$root/dist/$name"
    echo "bundle.sh: $root/dist/$name (the same, unpacked): run bin/gpu-check there"
fi
