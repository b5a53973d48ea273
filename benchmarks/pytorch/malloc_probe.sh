#!/bin/bash
# PyTorch's CPU throughput with glibc malloc's defaults against --keep-freed-memory (freed memory
# kept in the process: benchmarks/pytorch/common.py, keep_freed_memory), fresh processes alternating,
# with the page faults of each process (/usr/bin/time's minor faults):
#
#   benchmarks/pytorch/malloc_probe.sh [ROUNDS] [ONLY] [THREADS] >> probe.txt
#
# ONLY is bench.py's --only (default 'lenet-bn-28/infer|lenet-bn-28/train/b256'). Needs GNU time
# (Debian's `time` package) and Debian's PyTorch (/usr/bin/python3, or PYTHON).
set -euo pipefail
ROOT="$(cd -P "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-/usr/bin/python3}"
rounds="${1:-3}"
only="${2:-lenet-bn-28/infer|lenet-bn-28/train/b256}"
threads="${3:-2}"
[ -x /usr/bin/time ] || { echo "malloc_probe: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
cd "$ROOT"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(hostname), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# bench.py --flush-denormal --device cpu --threads $threads --only '$only' [--keep-freed-memory]; examples/s per case (the process's median), page faults"
for r in $(seq 1 "$rounds"); do
    for mode in default keep; do
        extra=()
        [ "$mode" = keep ] && extra=(--keep-freed-memory)
        /usr/bin/time -o "$tmp/time" -f '%R' "$PYTHON" benchmarks/pytorch/bench.py --flush-denormal --device cpu \
            --threads "$threads" --only "$only" "${extra[@]}" --json "$tmp/b.json" > /dev/null 2> "$tmp/err" \
            || { cat "$tmp/err" >&2; exit 1; }
        rates="$("$PYTHON" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print("  ".join("%s %.0f" % (c["id"], c["examples_per_sec"]["median"]) for c in d["cases"]))' "$tmp/b.json")"
        printf 'round %d %-8s %s  page faults %s\n' "$r" "$mode" "$rates" "$(tail -1 "$tmp/time")"
    done
done
