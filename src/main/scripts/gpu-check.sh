#!/usr/bin/env bash
# The whole GPU check in one call, from the GPU-check bundle (./normnet bundle --gpu-check), on a
# machine with an NVIDIA driver and nothing else: no JDK, no Maven, no network.
#
#   bin/gpu-check [--out DIR] [--quick] [--dry-run]
#
#   1 info       device, driver, CUDA version, glibc, libstdc++, normnet's probe
#   2 tests      the GPU tests (tagged gpu) with NORMNET_REQUIRE_GPU=1: a skip is a failure
#   3 sanitizer  compute-sanitizer memcheck, racecheck, synccheck over a short GPU training run
#                (each at most 60 s), when compute-sanitizer is on the PATH (a sandbox where it
#                answers "Device not supported" is noted, not failed)
#   4 profile    where a captured LeNet-BN training step's time goes: Nsight Compute's duration of
#                every kernel of two replayed steps (batch 256), summed by kernel (profile.md),
#                when ncu is on the PATH; a profiler that cannot run here is noted, not failed
#   5 train      LeNet-BN, 2 epochs, on the GPU twice and on the CPU with two seeds: the GPU repeat
#                bitwise equal (model file and history), the GPU's test accuracy within the CPU
#                runs' spread (their range widened by max(range, 0.005) on each side)
#   6 bench      normnet bench --device all --quick, the GPU's cases first (and LeNet-BN 28 train
#                b256 again with --no-fuse),
#                and PyTorch's bench.py on the same GPU (eager and CUDA-graphed; fp32, and LeNet-BN
#                training again with PyTorch's default TF32 convolutions) when python3 imports torch there,
#                side by side; the GPU's fp32 GEMM ceiling through cuBLAS
#                (TF32 off) and its copy bandwidth, through PyTorch; both sides' batch norm at
#                256x16x106x106 (bench --kernels, kernels.py); the speed targets, met or not
#                (benchmarks/targets.py: targets.md, also at the end of summary.md)
#   7 lab        the kernel lab (lab/run.sh -k): every version of every op checked against its
#                reference and timed, in the time the budget has left (lab.log); "skipped" when the
#                bundle was built without nvcc
#   8 summary    DIR/summary.md: one row per step, rewritten after every step (a check stopped
#                from outside keeps what it found); every log and JSON file lies beside it
#
#   --out DIR   where the results go (default: ./gpu-check-DATE)
#   --quick     less data (10,000 training, 2,000 test images), memcheck only, bench on cuda only,
#               5 timed launches per lab version instead of 20
#   --dry-run   for a machine without a GPU: every step runs up to its GPU part and reports
#               "no GPU"; exit 0 only if every part that needs no GPU worked
#
# Each step runs under a share of an 8-minute budget (GPU_CHECK_SECONDS, default 450 s); a step
# stopped by its share is "timed out", which fails only the tests and the train step. Every command
# that could hang (nvidia-smi, the probe) has a time limit too.
# Exit status: 1 when a step failed (with --dry-run: a host part), 0 otherwise (a step that timed
# out, was skipped or passed), 2 for a bad argument.
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
out=""
quick=0
dry=0
while [ $# -gt 0 ]; do
    case "$1" in
        --out) [ $# -ge 2 ] || { echo "gpu-check: --out needs a directory" >&2; exit 2; }; out=$2; shift ;;
        --quick) quick=1 ;;
        --dry-run) dry=1 ;;
        -h|--help) awk 'NR > 1 { if (!/^#/) exit; print }' "$0"; exit 0 ;;
        *) echo "gpu-check: unknown argument $1 (expected --out DIR, --quick, --dry-run)" >&2; exit 2 ;;
    esac
    shift
done
out=${out:-$PWD/gpu-check-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$out" || { echo "gpu-check: cannot create $out" >&2; exit 2; }
out=$(cd "$out" && pwd)

java=$here/runtime/bin/java
normnet=$here/bin/normnet
data=$here/data
budget=${GPU_CHECK_SECONDS:-450}
# The JVMs' largest heap: 70% of the memory the kernel reports, but at least 16 GiB. The JVM sizes it
# once, at start, from MemTotal, and a microVM whose memory grows as it is used reports far less at
# first than it can give (the 224x224 GPU tests hold arrays of 300-600 MB). NORMNET_JAVA_OPTS, when
# set, is used as it is.
if [ -z "${NORMNET_JAVA_OPTS:-}" ]; then
    mem_kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo 2>/dev/null)
    heap_mb=$(( ${mem_kb:-0} * 70 / 100 / 1024 ))
    [ "$heap_mb" -lt 16384 ] && heap_mb=16384
    export NORMNET_JAVA_OPTS="-Xmx${heap_mb}m"
fi
started=$SECONDS
rows=()
failed=0

left() { echo $((budget - (SECONDS - started))); }

# row STEP RESULT NOTE: one line of the summary table; a result starting with FAIL fails the check.
# DIR/summary.md is rewritten after every row, so a check stopped from outside keeps its rows.
row() {
    rows+=("| $1 | $2 | $3 |")
    case "$2" in FAIL*) failed=1 ;; esac
    printf 'gpu-check: %-9s %s: %s\n' "$1" "$2" "$3"
    write_summary
}

# write_summary: DIR/summary.md from the rows so far and, once written, the speed targets' table.
write_summary() {
    {
        echo "# normnet GPU check"
        echo
        [ -f "$out/info.txt" ] && grep -E '^(date|host|gpu|cuda|glibc):' "$out/info.txt" | sed 's/^/- /'
        echo "- probe: ${probe_line:-}"
        echo "- mode: $([ "$dry" = 1 ] && echo 'dry run (no GPU parts)' || echo 'GPU')$([ "$quick" = 1 ] && echo ', quick'), $((SECONDS - started)) s of a $budget s budget"
        echo
        echo "| step | result | notes |"
        echo "| --- | --- | --- |"
        [ "${#rows[@]}" -gt 0 ] && printf '%s\n' "${rows[@]}"
        if [ -s "$out/targets.md" ]; then
            echo
            cat "$out/targets.md"
        fi
    } > "$out/summary.md"
}
# stopped from outside: the step under way gets the signal too (timeout passes it on to its command),
# and the summary says so
child=""
on_stop() {
    [ -n "$child" ] && kill -TERM "$child" 2> /dev/null
    row stopped "FAIL: gpu-check was stopped from outside" "after $((SECONDS - started)) s"
    exit 1
}
trap on_stop TERM INT HUP

# logged NAME SECONDS COMMAND...: runs COMMAND with a time limit (stdin /dev/null), output to
# DIR/NAME.log; its status, 124 when the limit stopped it (also when timeout had to follow its TERM
# with a KILL, which timeout reports as 137). After a timeout the log ends with the processes still
# on the GPU, so that one a profiler kept alive does not skew the later steps unseen.
logged() {
    local name=$1 limit=$2 remaining began status
    shift 2
    remaining=$(left)
    [ "$limit" -gt "$remaining" ] && limit=$remaining   # no step runs past the budget
    if [ "$limit" -lt 5 ]; then
        echo "no time left in the budget" > "$out/$name.log"
        return 124
    fi
    began=$SECONDS
    # in the background and waited for, so that a TERM to this script is handled at once (bash runs
    # a trap only between commands, and wait is one it interrupts); the trap passes it on to timeout
    timeout --kill-after=10 "$limit" "$@" < /dev/null > "$out/$name.log" 2>&1 &
    child=$!
    wait "$child"
    status=$?
    child=""
    if [ "$status" = 137 ] && [ $((SECONDS - began)) -ge "$limit" ]; then
        status=124
    fi
    if [ "$status" = 124 ]; then
        echo "gpu-check: stopped after its $limit s" >> "$out/$name.log"
        if [ "$gpu" = 1 ]; then
            echo "processes on the GPU now:" >> "$out/$name.log"
            timeout 20 nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv >> "$out/$name.log" 2>&1
        fi
    fi
    return "$status"
}

# test_acc FILE: the last epoch's test accuracy in a normnet history file.
test_acc() {
    tr -d ' \n' < "$1" | grep -o '"test_acc":[0-9.eE+-]*' | tail -n 1 | cut -d: -f2
}

gpu=0
if [ "$dry" = 0 ] && command -v nvidia-smi >/dev/null 2>&1 && timeout 60 nvidia-smi -L > /dev/null 2>&1; then
    gpu=1
fi
no_gpu() {  # the result for a GPU part that cannot run here
    if [ "$dry" = 1 ]; then echo "no GPU"; else echo "FAIL: no GPU"; fi
}

# ---------------------------------------------------------------- 1 info
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host: $(uname -srm)"
    echo "glibc: $(getconf GNU_LIBC_VERSION 2>/dev/null || echo unknown)"
    echo "libstdc++: $(ldconfig -p 2>/dev/null | grep -m1 'libstdc++.so.6 ' | sed 's/.*=> //' || true)"
    echo "libcuda: $(ldconfig -p 2>/dev/null | grep -m1 'libcuda.so.1 ' | sed 's/.*=> //' || true)"
    echo "LD_LIBRARY_PATH: ${LD_LIBRARY_PATH:-}"
    echo "memory: $(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null) reported at start; NORMNET_JAVA_OPTS: $NORMNET_JAVA_OPTS"
    echo "user: $(id -un 2>/dev/null || id -u)"
    echo "PATH: $PATH"
    echo "compute-sanitizer: $(command -v compute-sanitizer || echo 'not on the PATH')"
    echo "ncu: $(command -v ncu || echo 'not on the PATH')"
    echo "python3: $(command -v python3 || echo 'not on the PATH') $(timeout 30 python3 --version 2>&1 || true)"
    echo "loopback: $(cat /sys/class/net/lo/operstate 2>/dev/null || echo unknown) (the sanitizer and the profiler talk to their target through it)"
    if [ "$gpu" = 1 ]; then
        echo "gpu: $(timeout 60 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n 1)"
        echo "cuda: $(timeout 60 nvidia-smi | sed -n 's/.*CUDA Version: *\([0-9.]*\).*/\1/p' | head -n 1)"
    else
        echo "gpu: none (no nvidia-smi answering$([ "$dry" = 1 ] && echo ', or --dry-run'))"
    fi
} > "$out/info.txt" 2>&1
timeout --kill-after=10 120 "$java" --add-modules jdk.incubator.vector -cp "$here/test-classes:$here/lib/*" \
    dev.normnet.GpuCheckProbe < /dev/null > "$out/probe.txt" 2>&1
probe=$?
cat "$out/probe.txt" >> "$out/info.txt"
probe_line=$(grep -m1 '^cuda probe:' "$out/probe.txt" | cut -d' ' -f3- )
if [ "$probe" != 0 ] && [ "$probe" != 3 ]; then
    row info "FAIL: the probe did not run (exit $probe)" "see probe.txt"
elif [ "$gpu" = 1 ] && [ "$probe" = 3 ]; then
    row info "FAIL: CUDA unusable" "$probe_line"
elif [ "$gpu" = 1 ]; then
    row info pass "$(grep -m1 '^gpu:' "$out/info.txt" | cut -d' ' -f2-); $probe_line"
else
    row info "$(no_gpu)" "host part passed: runtime, probe ($probe_line)"
fi

# ---------------------------------------------------------------- 2 tests
tests_limit=$(( $(left) * 45 / 100 ))
if [ "$gpu" = 1 ]; then
    NORMNET_REQUIRE_GPU=1 logged tests "$tests_limit" "$here/bin/run-gpu-tests" --disable-ansi-colors \
        --scan-class-path="$here/test-classes" --include-tag gpu --reports-dir="$out/junit"
    status=$?
    summary=$(grep -E 'tests (successful|failed|aborted)' "$out/tests.log" | sed 's/[][]//g; s/  */ /g; s/^ //; s/ $//' \
        | paste -sd, - | sed 's/,/, /g')
    if [ "$status" = 0 ]; then row tests pass "$summary"; elif [ "$status" = 124 ]; then row tests "FAIL: timed out" "$summary; see tests.log"
    else row tests "FAIL (exit $status)" "$summary; see tests.log"; fi
else
    # Host part: the bundled runtime and launcher find and start every GPU test class (which skip here).
    NORMNET_REQUIRE_GPU=0 logged tests "$tests_limit" "$here/bin/run-gpu-tests" --disable-ansi-colors \
        --scan-class-path="$here/test-classes" --include-tag gpu
    status=$?
    found=$(grep -E 'containers found' "$out/tests.log" | grep -oE '[0-9]+' | head -n 1)
    classes=$(grep -oE 'Cuda[A-Za-z]*Test' "$out/tests.log" | sort -u | wc -l)
    if [ "$status" = 0 ] && [ "${found:-0}" -ge 4 ] && [ "$classes" -ge 4 ]; then
        row tests "$(no_gpu)" "host part passed: $classes GPU test classes found and started"
    else
        row tests "FAIL: the launcher did not run the GPU tests (exit $status, ${found:-0} containers)" "see tests.log"
    fi
fi

# ---------------------------------------------------------------- 3 sanitizer
small=(--data "$data" --epochs 1 --limit 1024 --test-limit 256 --batch 256)
if ! command -v compute-sanitizer > /dev/null 2>&1; then
    if [ "$gpu" = 1 ]; then row sanitizer "skipped" "compute-sanitizer is not on the PATH"
    else row sanitizer "$(no_gpu)" "compute-sanitizer is not on the PATH"; fi
elif [ "$gpu" = 0 ]; then
    row sanitizer "$(no_gpu)" "compute-sanitizer found: $(command -v compute-sanitizer)"
else
    tools=(memcheck racecheck synccheck)
    [ "$quick" = 1 ] && tools=(memcheck)
    notes=()
    for tool in "${tools[@]}"; do
        # a fifth of what is left, at most 60 s, so that the steps after it keep their time; the
        # JVM makes its first CUDA call seconds after it starts (the default wait is 10 s)
        limit=$(( $(left) * 20 / 100 ))
        [ "$limit" -gt 60 ] && limit=60
        logged "sanitizer-$tool" "$limit" compute-sanitizer --tool "$tool" --target-processes all --launch-timeout 120 \
            --error-exitcode 99 "$normnet" train --device cuda "${small[@]}"
        status=$?
        # Under some sandboxes (gVisor) compute-sanitizer refuses the device before running anything:
        # that says nothing about normnet, so it is reported, not failed.
        if [ "$status" != 0 ] && grep -q 'Device not supported' "$out/sanitizer-$tool.log"; then
            notes+=("$tool: compute-sanitizer does not support this device here (see sanitizer-$tool.log)")
            continue
        fi
        case $status in
            0) notes+=("$tool clean") ;;
            124) notes+=("$tool timed out") ;;
            *) notes+=("FAIL $tool exit $status"); ;;
        esac
    done
    note=$(IFS=';'; echo "${notes[*]}")
    case "$note" in
        *FAIL*) row sanitizer "FAIL" "$note" ;;
        *clean*"timed out"*|*"timed out"*clean*) row sanitizer "pass (partial)" "$note" ;;
        *clean*) row sanitizer pass "$note" ;;
        *"timed out"*) row sanitizer "timed out" "$note" ;;
        *) row sanitizer skipped "$note" ;;
    esac
fi

# ---------------------------------------------------------------- 4 profile
# 16 training steps of 256 (the first eager, the second captured, the rest replayed), then an
# evaluation; ncu times launches 281 to 336: two replayed steps of 28 kernels, well after the
# capture (the eager step and the capture launch other kernels too, so the window may start a
# few launches into a step; the per-kernel sums over 56 launches are what matter).
profiled=(--data "$data" --epochs 1 --limit 4096 --test-limit 256 --batch 256)
if ! command -v ncu > /dev/null 2>&1; then
    if [ "$gpu" = 1 ]; then row profile skipped "ncu is not on the PATH"
    else row profile "$(no_gpu)" "ncu is not on the PATH"; fi
elif [ "$gpu" = 0 ]; then
    row profile "$(no_gpu)" "ncu found: $(command -v ncu)"
else
    # 12% of what is left, at least 60 s (a JVM, the data and 16 steps under the profiler), at most 120
    limit=$(( $(left) * 12 / 100 ))
    [ "$limit" -lt 60 ] && limit=60
    [ "$limit" -gt 120 ] && limit=120
    logged profile "$limit" ncu --config-file off --clock-control none --target-processes all --metrics gpu__time_duration.sum \
        --launch-skip 280 --launch-count 56 --csv --log-file "$out/profile.csv" \
        "$normnet" train --device cuda "${profiled[@]}"
    status=$?
    if [ "$status" = 0 ] && python3 "$here/benchmarks/ncu_summary.py" "$out/profile.csv" --steps 2 \
            --out "$out/profile.md" > /dev/null 2>> "$out/profile.log"; then
        top=$(sed -n '3,5p' "$out/profile.md" | cut -d'|' -f2 | xargs | tr ' ' ',')
        all=$(tail -n 1 "$out/profile.md" | cut -d'|' -f4 | xargs)
        row profile pass "${all} us of kernel time per replayed step; heaviest: ${top}; see profile.md"
    elif [ "$status" = 124 ]; then
        row profile "timed out" "after $limit s; see profile.log and profile.csv"
    else
        # ncu cannot read the counters in some sandboxes (gVisor: LibraryNotLoaded); the training run
        # itself is checked by the tests and the train step, so this is noted, not failed. ncu's own
        # messages go to profile.csv (--log-file), the program's to profile.log.
        why=$(grep -m1 '==ERROR==' "$out/profile.csv" 2>/dev/null | cut -c1-200)
        row profile skipped "ncu or its summary did not finish (exit $status)${why:+: $why}; see profile.csv and profile.log"
    fi
fi

# ---------------------------------------------------------------- 5 train
if [ "$quick" = 1 ]; then size=(--limit 10000 --test-limit 2000); else size=(); fi
train_args=(--model lenet-bn --data "$data" --epochs 2 --batch 256 "${size[@]}")
if [ "$gpu" = 0 ]; then
    # Host part: one short CPU run, and the history parsed as the comparison needs it.
    logged train-cpu "$(( $(left) / 3 ))" "$normnet" train --device cpu --model lenet-bn --data "$data" --epochs 1 \
        --limit 512 --test-limit 256 --batch 256 --seed 1 --history "$out/train-cpu.json" --save "$out/train-cpu.safetensors"
    status=$?
    acc=$( [ -f "$out/train-cpu.json" ] && test_acc "$out/train-cpu.json")
    if [ "$status" = 0 ] && [ -n "$acc" ]; then
        row train "$(no_gpu)" "host part passed: a CPU run (1 epoch, 512 images), test accuracy $acc"
    else
        row train "FAIL: the CPU run failed (exit $status)" "see train-cpu.log"
    fi
else
    ok=1
    for run in gpu-a gpu-b cpu-1 cpu-2; do
        case $run in gpu-*) dev=cuda seed=1 ;; cpu-1) dev=cpu seed=1 ;; cpu-2) dev=cpu seed=2 ;; esac
        limit=$(( $(left) * 25 / 100 ))
        logged "train-$run" "$limit" "$normnet" train --device "$dev" --seed "$seed" "${train_args[@]}" \
            --history "$out/train-$run.json" --save "$out/train-$run.safetensors" || ok=0
    done
    if [ "$ok" = 0 ]; then
        row train "FAIL: a run failed or timed out" "see train-*.log"
    else
        same=no
        cmp -s "$out/train-gpu-a.safetensors" "$out/train-gpu-b.safetensors" \
            && [ "$(tr -d ' \n' < "$out/train-gpu-a.json" | grep -o '"train_loss":[^,]*,"train_acc":[^,]*,"test_acc":[^,}]*')" \
                 = "$(tr -d ' \n' < "$out/train-gpu-b.json" | grep -o '"train_loss":[^,]*,"train_acc":[^,]*,"test_acc":[^,}]*')" ] \
            && same=yes
        g=$(test_acc "$out/train-gpu-a.json")
        c1=$(test_acc "$out/train-cpu-1.json")
        c2=$(test_acc "$out/train-cpu-2.json")
        within=$(awk -v g="$g" -v a="$c1" -v b="$c2" 'BEGIN {
            lo = a < b ? a : b; hi = a < b ? b : a; w = hi - lo; if (w < 0.005) w = 0.005;
            print (g >= lo - w && g <= hi + w) ? "yes" : "no" }')
        note="GPU test accuracy $g, CPU $c1 and $c2; GPU repeat bitwise equal: $same"
        if [ "$same" = yes ] && [ "$within" = yes ]; then row train pass "$note"; else row train FAIL "$note"; fi
    fi
fi

# ---------------------------------------------------------------- 6 bench
if [ "$gpu" = 0 ]; then
    # Host part: bench starts and writes JSON (one CPU case); where python3 has torch, PyTorch's
    # script runs the same case with the GPU run's options and the two are set side by side.
    logged bench-normnet "$(( $(left) / 2 ))" "$normnet" bench --device cpu --quick --repeats 1 --seconds 0.1 \
        --only 'mlp-bn.*infer' --data "$data" --json "$out/bench-normnet.json"
    status=$?
    torch=$(python3 -c 'import torch; print(torch.__version__)' 2>/dev/null || echo "")
    if [ -n "$torch" ]; then
        logged bench-pytorch 60 python3 "$here/benchmarks/pytorch/bench.py" --device cpu --quick --repeats 1 \
            --seconds 0.1 --only 'mlp-bn.*infer' --tf32 also --data "$data" --json "$out/bench-pytorch.json" || status=$?
        python3 "$here/benchmarks/compare.py" "$out/bench-normnet.json" "$out/bench-pytorch.json" \
            --json "$out/bench-compare.json" > "$out/bench-compare.txt" 2>&1 || status=$?
    fi
    # and the speed targets' table, every target "not measured" without GPU cases
    tnote="no python3 here, so no targets table"
    if command -v python3 > /dev/null 2>&1; then
        python3 "$here/benchmarks/targets.py" --normnet "$out/bench-normnet.json" --out "$out/targets.md" \
            --json "$out/targets.json" > /dev/null 2> "$out/targets.log" || status=$?
        tnote="targets table written"
    fi
    if [ "$status" = 0 ] && [ -s "$out/bench-normnet.json" ]; then
        row bench "$(no_gpu)" "host part passed: normnet bench (one CPU case)$([ -n "$torch" ] && echo "; PyTorch $torch: the same case, side by side"); $tnote"
    else
        row bench "FAIL: bench did not run (exit $status)" "see bench-normnet.log"
    fi
else
    devices=all
    [ "$quick" = 1 ] && devices=cuda
    logged bench-normnet "$(( $(left) * 60 / 100 ))" "$normnet" bench --device "$devices" --quick --data "$data" \
        --json "$out/bench-normnet.json"
    status=$?
    note="normnet bench exit $status$([ "$status" = 124 ] && echo ' (its time share ran out: the cases it measured are in bench-normnet.json)')"
    # What running each Sigmoid and average pooling inside the batch norm before it saves (12
    # launches per LeNet-BN step): the same case with them run on their own.
    logged bench-unfused 60 "$normnet" bench --device cuda --quick --no-fuse --only '^lenet-bn-28/train/b256/' \
        --data "$data" --json "$out/bench-unfused.json" && note="$note; LeNet-BN b256 unfused in bench-unfused.json"
    if [ -s "$out/bench-unfused.json" ] && [ -s "$out/bench-normnet.json" ]; then
        gain=$(python3 -c '
import json, sys
fused, unfused = (json.load(open(p))["cases"] for p in sys.argv[1:3])
rate = {c["id"]: c["examples_per_sec"]["median"] for c in unfused}
print(", ".join("%s %.2fx" % (c["id"], c["examples_per_sec"]["median"] / rate[c["id"]]) for c in fused if c["id"] in rate))
' "$out/bench-normnet.json" "$out/bench-unfused.json" 2>/dev/null)
        [ -n "$gain" ] && note="$note (fused over unfused: $gain)"
    fi
    if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' > /dev/null 2>&1; then
        # The ceilings to measure fractions of peak against: cuBLAS fp32 (no TF32) and a device-to-device copy.
        logged ceilings 60 python3 -c '
import json, sys, torch
sys.path.insert(0, sys.argv[2])
import common
common.set_conv_tf32(False)
n = 8192
a, b = torch.randn(n, n, device="cuda"), torch.randn(n, n, device="cuda")
for _ in range(3): a @ b
s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
s.record(); [a @ b for _ in range(10)]; e.record(); torch.cuda.synchronize()
gemm = 2 * n ** 3 * 10 / (s.elapsed_time(e) / 1e3) / 1e12
x = torch.empty(1 << 30, dtype=torch.uint8, device="cuda").random_(); y = torch.empty_like(x)
for _ in range(3): y.copy_(x)
s.record(); [y.copy_(x) for _ in range(10)]; e.record(); torch.cuda.synchronize()
copy = 2 * x.numel() * 10 / (s.elapsed_time(e) / 1e3) / 1e9
result = {"device": torch.cuda.get_device_name(), "cublas_fp32_tflops": round(gemm, 2), "copy_gb_per_s": round(copy, 1)}
common.write_json(sys.argv[1], result)
print(json.dumps(result))
' "$out/ceilings.json" "$here/benchmarks/pytorch" && note="$note; ceilings (cuBLAS fp32, copy) in ceilings.json"
        # The batch-norm target's shape (N=256, C=16, 106x106), forward and backward, on each side.
        logged kernels-normnet "$(( $(left) * 15 / 100 ))" "$normnet" bench --kernels --device cuda --quick \
            --only '^bn2-224/' --json "$out/kernels-normnet.json"
        logged kernels-pytorch "$(( $(left) * 15 / 100 ))" python3 "$here/benchmarks/pytorch/kernels.py" --device cuda \
            --quick --only '^bn2-224/' --json "$out/kernels-pytorch.json"
        # fp32 on both sides (cuDNN's convolutions with TF32 off), then LeNet-BN's training cases again with
        # PyTorch's default TF32 convolutions (ids ending in /tf32)
        logged bench-pytorch "$(( $(left) * 70 / 100 ))" python3 "$here/benchmarks/pytorch/bench.py" --device cuda --quick \
            --tf32 also --data "$data" --json "$out/bench-pytorch.json"
        pstatus=$?
        note="$note; PyTorch bench exit $pstatus"
        # Both write their file after every case: a side stopped by its time limit still has its
        # first cases to set side by side.
        if [ -s "$out/bench-normnet.json" ] && [ -s "$out/bench-pytorch.json" ]; then
            python3 "$here/benchmarks/compare.py" "$out/bench-normnet.json" "$out/bench-pytorch.json" \
                --json "$out/bench-compare.json" > "$out/bench-compare.txt" 2>&1 && note="$note; side by side in bench-compare.txt"
        fi
    else
        note="$note; no PyTorch with CUDA here"
    fi
    targets_args=()
    for f in normnet:bench-normnet pytorch:bench-pytorch normnet-kernels:kernels-normnet pytorch-kernels:kernels-pytorch; do
        [ -s "$out/${f#*:}.json" ] && targets_args+=("--${f%%:*}" "$out/${f#*:}.json")
    done
    if python3 "$here/benchmarks/targets.py" ${targets_args[@]+"${targets_args[@]}"} --out "$out/targets.md" --json "$out/targets.json" \
            > /dev/null 2> "$out/targets.log"; then
        note="$note; speed targets: $(tail -n 1 "$out/targets.log") (targets.md)"
    fi
    if [ "$status" = 0 ]; then row bench pass "$note"; elif [ "$status" = 124 ]; then row bench "timed out" "$note"
    else row bench FAIL "$note"; fi
fi

# ---------------------------------------------------------------- 7 lab
lab=$here/lab
if [ ! -x "$lab/run.sh" ]; then
    row lab skipped "this bundle has no kernel lab (built without nvcc)"
elif [ "$gpu" = 0 ]; then
    # Host part: every lab binary loads and answers --versions (no CUDA call before that).
    if "$lab/run.sh" -l > "$out/lab.log" 2>&1; then
        row lab "$(no_gpu)" "host part passed: the lab binaries start, $(wc -l < "$out/lab.log") versions to run"
    else
        row lab "FAIL: the lab binaries do not start" "see lab.log"
    fi
else
    repeats=20
    [ "$quick" = 1 ] && repeats=5
    LAB_REPEATS=$repeats logged lab "$(( $(left) - 10 ))" "$lab/run.sh" -k
    status=$?
    runs=$(grep -c '^==== ' "$out/lab.log")
    case $status in
        0) row lab pass "$runs versions checked and timed ($repeats launches each); see lab.log" ;;
        124) row lab "timed out" "$runs versions started before the budget ran out; see lab.log" ;;
        *) row lab "FAIL" "$(grep -m1 '^run.sh: ' "$out/lab.log" || echo "exit $status"); see lab.log" ;;
    esac
fi

# ---------------------------------------------------------------- 8 summary
write_summary
cat "$out/summary.md"
echo "gpu-check: results in $out"
exit "$failed"
