#!/usr/bin/env bash
# normnet and PyTorch throughput on the same machine, each side at its best: several fresh processes
# per side and thread count, in turn (normnet, PyTorch, normnet, ...), then per case each side's best
# thread count and best process, the spread over processes, the ratio normnet / PyTorch, a summary
# JSON and a bar chart. PyTorch runs with flush-to-zero (torch.set_flush_denormal) and with glibc
# malloc keeping freed memory (--keep-freed-memory: its default gives every large activation fresh,
# faulting pages each step, which cost PyTorch's inference three quarters of its speed on the 2-core
# development VMs; benchmarks/notes/honest-anchor.md). On the CPU an end-to-end case runs beside
# the step rates: one training epoch plus the test evaluation, `normnet train` against
# benchmarks/pytorch/train.py (benchmarks/end_to_end.py).
#
#   benchmarks/side_by_side.sh [--quick] [--kernels] [--rounds N] [--device cpu|cuda|all] [--threads N]
#                              [--thread-counts LIST] [--no-e2e] [--only REGEX] [--out DIR]
#
#   --quick          short timed runs (0.3 s, 3 repeats) and a short end-to-end epoch (15,360 images)
#   --kernels        per-kernel timings (normnet bench --kernels, pytorch/kernels.py) instead, one thread
#                    count (--threads); with --quick on the CPU without the large shape
#   --rounds         fresh processes per side and thread count (default 5)
#   --device         cpu, cuda or all usable devices (default all)
#   --threads        the CPU threads available to each side (default: all cores)
#   --thread-counts  comma-separated thread counts to try, each side taken at its best
#                    (default: 1 and --threads, and --threads/2 from 4 threads up)
#   --no-e2e         skip the end-to-end case
#   --only           regular expression on case ids, passed to both
#   --out            result directory (default benchmarks/results/DATE-HOST-DEVICE)
#
# Run it on an otherwise idle machine: a second busy process on one of two cores slows PyTorch's
# two-thread runs threefold (benchmarks/notes/honest-anchor.md); before each process it warns when
# other tasks are runnable, and each result file records the load average.
#
# Environment: PYTHON (default /usr/bin/python3), NORMNET (default ./normnet in the repository).
set -euo pipefail

ROOT="$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-/usr/bin/python3}"
NORMNET="${NORMNET:-$ROOT/normnet}"

die() { printf 'side_by_side: %s\n' "$*" >&2; exit 2; }

quick=0
kernels=0
rounds=5
device=all
threads="$(nproc)"
counts=""
e2e=1
only=""
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --kernels) kernels=1 ;;
        --rounds) [ $# -ge 2 ] || die "--rounds needs a value"; rounds="$2"; shift ;;
        --device) [ $# -ge 2 ] || die "--device needs a value"; device="$2"; shift ;;
        --threads) [ $# -ge 2 ] || die "--threads needs a value"; threads="$2"; shift ;;
        --thread-counts) [ $# -ge 2 ] || die "--thread-counts needs a value"; counts="$2"; shift ;;
        --no-e2e) e2e=0 ;;
        --only) [ $# -ge 2 ] || die "--only needs a value"; only="$2"; shift ;;
        --out) [ $# -ge 2 ] || die "--out needs a value"; out="$2"; shift ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
case "$rounds" in ''|*[!0-9]*|0) die "--rounds $rounds: expected a positive integer" ;; esac
case "$threads" in ''|*[!0-9]*|0) die "--threads $threads: expected a positive integer" ;; esac
case "$device" in cpu|cuda|all) ;; *) die "--device $device: expected cpu, cuda or all" ;; esac
if [ -z "$counts" ]; then
    counts="1"
    [ "$threads" -ge 4 ] && counts="$counts,$(( threads / 2 ))"
    [ "$threads" -gt 1 ] && counts="$counts,$threads"
fi
case "$counts" in *[!0-9,]*|,*|*,|*,,*) die "--thread-counts $counts: expected comma-separated positive integers" ;; esac
IFS=, read -r -a thread_counts <<< "$counts"
for t in "${thread_counts[@]}"; do
    [ "$t" -ge 1 ] 2>/dev/null || die "--thread-counts $counts: expected comma-separated positive integers"
done
[ "$kernels" = 1 ] && thread_counts=("$threads")
[ "$kernels" = 1 ] || [ "$device" = cuda ] && e2e=0
[ -x "$PYTHON" ] || die "$PYTHON not found (set PYTHON to a python3 with torch)"
"$PYTHON" -c 'import torch' 2>/dev/null || die "$PYTHON cannot import torch"

large=()
if [ "$quick" = 1 ] && [ "$device" = cpu ]; then
    if [ "$kernels" = 1 ]; then
        large=(--no-large)          # the N=256, 106x106 shapes take seconds per call on a CPU
    fi
fi
kind=""
[ "$kernels" = 1 ] && kind="-kernels"
if [ -z "$out" ]; then
    suffix=""
    [ "$quick" = 1 ] && suffix="-quick"
    out="$ROOT/benchmarks/results/$(date -u +%Y%m%d-%H%M)-$(hostname -s)-$device$kind$suffix"
fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"

common=(--device "$device")
[ "$quick" = 1 ] && common+=(--quick)
[ -n "$only" ] && common+=(--only "$only")
common+=("${large[@]}")
if [ "$kernels" = 1 ]; then
    normnet_cmd=("$NORMNET" bench --kernels)
    pytorch_cmd=("$PYTHON" benchmarks/pytorch/kernels.py)
else
    normnet_cmd=("$NORMNET" bench)
    pytorch_cmd=("$PYTHON" benchmarks/pytorch/bench.py --flush-denormal --keep-freed-memory)
fi
e2e_cmd=("$PYTHON" benchmarks/end_to_end.py)
[ "$quick" = 1 ] && e2e_cmd+=(--quick)

# Other work on the machine: the fewest runnable tasks in five looks over a second, less the one
# looking (/proc/loadavg's fourth field). The load average itself would mostly show this script's
# own previous process.
others() {
    local best=999 i r
    for i in 1 2 3 4 5; do
        r="$(cut -d' ' -f4 /proc/loadavg 2>/dev/null | cut -d/ -f1)"
        [ -n "$r" ] && [ "$r" -lt "$best" ] && best="$r"
        sleep 0.2
    done
    echo $(( best > 0 ? best - 1 : 0 ))
}
quiet_check() {
    local n
    n="$(others)"
    if [ "$n" -gt 0 ]; then
        echo "side by side: $n other runnable task(s) before this process: other work is running, and PyTorch's multi-threaded rates collapse under it" >&2
    fi
}

cd "$ROOT"
echo "side by side: $rounds rounds, thread counts ${thread_counts[*]}, ${common[*]}, results in $out" >&2
start=$(date +%s)
files=()
for r in $(seq 1 "$rounds"); do
    for t in "${thread_counts[@]}"; do
        echo "== round $r/$rounds, $t thread(s): normnet" >&2
        quiet_check
        f="$out/normnet$kind-t$t-r$r"
        "${normnet_cmd[@]}" "${common[@]}" --threads "$t" --json "$f.json" > "$f.txt"
        files+=("$f.json")
        echo "== round $r/$rounds, $t thread(s): pytorch" >&2
        quiet_check
        f="$out/pytorch$kind-t$t-r$r"
        "${pytorch_cmd[@]}" "${common[@]}" --threads "$t" --json "$f.json" > "$f.txt"
        files+=("$f.json")
        if [ "$e2e" = 1 ]; then
            for impl in normnet pytorch; do
                echo "== round $r/$rounds, $t thread(s): end to end, $impl" >&2
                quiet_check
                f="$out/e2e-$impl-t$t-r$r"
                "${e2e_cmd[@]}" --implementation "$impl" --threads "$t" --json "$f.json" > "$f.txt"
                files+=("$f.json")
            done
        fi
    done
done
echo "== $(( $(date +%s) - start )) s" >&2

cmd="benchmarks/side_by_side.sh"
[ "$kernels" = 1 ] && cmd+=" --kernels"
cmd+=" --rounds $rounds --device $device --threads $threads"
[ "$kernels" = 0 ] && cmd+=" --thread-counts $(IFS=,; echo "${thread_counts[*]}")"
[ "$quick" = 1 ] && cmd+=" --quick"
[ "$e2e" = 0 ] && [ "$kernels" = 0 ] && [ "$device" != cuda ] && cmd+=" --no-e2e"
[ -n "$only" ] && cmd+=" --only '$only'"
if [ "$kernels" = 1 ]; then
    "$PYTHON" benchmarks/compare.py "${files[@]}" --json "$out/side_by_side$kind.json" --command "$cmd" | tee "$out/side_by_side$kind.txt"
else
    "$PYTHON" benchmarks/compare.py "${files[@]}" --json "$out/side_by_side.json" --command "$cmd" --best-dir "$out" \
        | tee "$out/side_by_side.txt"
    "$NORMNET" plot "$out/best-normnet.json" "$out/best-pytorch.json" --out "$out/side_by_side.png"
fi
