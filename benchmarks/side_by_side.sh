#!/usr/bin/env bash
# normnet and PyTorch throughput on the same machine, in turn (A B A B ...), then the ratio
# normnet / PyTorch per case, a summary JSON and a bar chart.
#
#   benchmarks/side_by_side.sh [--quick] [--kernels] [--rounds N] [--device cpu|cuda|all] [--threads N]
#                              [--only REGEX] [--out DIR]
#
#   --quick    short timed runs (0.3 s, 3 repeats): a few minutes on a 2-core CPU
#   --kernels  per-kernel timings (normnet bench --kernels, pytorch/kernels.py) instead;
#              with --quick on the CPU without the large shape
#   --rounds   rounds of A B (default 3)
#   --device   cpu, cuda or all usable devices (default all)
#   --threads  CPU threads for both (default: all cores; torch.set_num_threads gets the same)
#   --only     regular expression on case ids, passed to both
#   --out      result directory (default benchmarks/results/DATE-HOST-DEVICE)
#
# Environment: PYTHON (default /usr/bin/python3), NORMNET (default ./normnet in the repository).
set -euo pipefail

ROOT="$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-/usr/bin/python3}"
NORMNET="${NORMNET:-$ROOT/normnet}"

die() { printf 'side_by_side: %s\n' "$*" >&2; exit 2; }

quick=0
kernels=0
rounds=3
device=all
threads="$(nproc)"
only=""
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --kernels) kernels=1 ;;
        --rounds) [ $# -ge 2 ] || die "--rounds needs a value"; rounds="$2"; shift ;;
        --device) [ $# -ge 2 ] || die "--device needs a value"; device="$2"; shift ;;
        --threads) [ $# -ge 2 ] || die "--threads needs a value"; threads="$2"; shift ;;
        --only) [ $# -ge 2 ] || die "--only needs a value"; only="$2"; shift ;;
        --out) [ $# -ge 2 ] || die "--out needs a value"; out="$2"; shift ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
case "$rounds" in ''|*[!0-9]*|0) die "--rounds $rounds: expected a positive integer" ;; esac
case "$threads" in ''|*[!0-9]*|0) die "--threads $threads: expected a positive integer" ;; esac
case "$device" in cpu|cuda|all) ;; *) die "--device $device: expected cpu, cuda or all" ;; esac
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
    out="$ROOT/benchmarks/results/$(date -u +%Y%m%d-%H%M)-$(hostname -s)-$device$kind$([ "$quick" = 1 ] && echo -quick)"
fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"

common=(--device "$device" --threads "$threads")
[ "$quick" = 1 ] && common+=(--quick)
[ -n "$only" ] && common+=(--only "$only")
common+=("${large[@]}")
if [ "$kernels" = 1 ]; then
    normnet_cmd=("$NORMNET" bench --kernels)
    pytorch_cmd=("$PYTHON" benchmarks/pytorch/kernels.py)
else
    normnet_cmd=("$NORMNET" bench)
    pytorch_cmd=("$PYTHON" benchmarks/pytorch/bench.py)
fi

cd "$ROOT"
echo "side by side: $rounds rounds, ${common[*]}, results in $out" >&2
start=$(date +%s)
for r in $(seq 1 "$rounds"); do
    echo "== round $r/$rounds: normnet" >&2
    "${normnet_cmd[@]}" "${common[@]}" --json "$out/normnet$kind-r$r.json" > "$out/normnet$kind-r$r.txt"
    echo "== round $r/$rounds: pytorch" >&2
    "${pytorch_cmd[@]}" "${common[@]}" --json "$out/pytorch$kind-r$r.json" > "$out/pytorch$kind-r$r.txt"
done
echo "== $(( $(date +%s) - start )) s" >&2

files=()
for r in $(seq 1 "$rounds"); do files+=("$out/normnet$kind-r$r.json" "$out/pytorch$kind-r$r.json"); done
cmd="benchmarks/side_by_side.sh"
[ "$kernels" = 1 ] && cmd+=" --kernels"
cmd+=" --rounds $rounds --device $device --threads $threads"
[ "$quick" = 1 ] && cmd+=" --quick"
[ -n "$only" ] && cmd+=" --only '$only'"
"$PYTHON" benchmarks/compare.py "${files[@]}" --json "$out/side_by_side$kind.json" --command "$cmd" | tee "$out/side_by_side$kind.txt"
if [ "$kernels" = 0 ]; then
    "$NORMNET" plot "${files[@]}" --out "$out/side_by_side.png"
fi
