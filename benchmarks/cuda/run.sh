#!/bin/sh
# run.sh [-k | -l] [OP...]: runs every version of every op (or of the ops named) on the GPU, checks
# and timings. Build first with `make all`.
#   -k   keep going after a version fails; list the failures at the end (exit 1 if any)
#   -l   list the runs ("OP VERSION [eval]", one per line) and exit; needs no GPU
# Without -k it stops at the first failure.
#   ./run.sh 2>&1 | tee lab-$(hostname)-$(date +%Y%m%d).txt
set -eu
cd "$(dirname "$0")"
keep_going=0
list=0
case "${1:-}" in
    -k) keep_going=1; shift ;;
    -l) list=1; shift ;;
esac
ops=${*:-"conv2d_forward conv2d_backward_data conv2d_backward_filter batchnorm_forward batchnorm_backward pool softmax_ce gemm"}

# runs: one line per run, "OP VERSION [eval]" (each binary answers --versions without a GPU)
runs() {
    for op in $ops; do
        [ -x "./$op" ] || { echo "run.sh: ./$op is not built (make $op)" >&2; exit 1; }
        modes="train"
        [ "$op" = batchnorm_forward ] && modes="train eval"
        for mode in $modes; do
            extra=""
            [ "$mode" = eval ] && extra="eval"
            n=$("./$op" --versions $extra)
            v=1
            while [ "$v" -le "$n" ]; do
                echo "$op $v${extra:+ $extra}"
                v=$((v + 1))
            done
        done
    done
}

all=$(runs)
if [ "$list" = 1 ]; then
    echo "$all"
    exit 0
fi
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv,noheader 2>/dev/null || true
failures=""
count=0
while read -r op v extra; do
    echo "==== $op $v${extra:+ $extra}"
    count=$((count + 1))
    if ! "./$op" "$v" $extra < /dev/null; then
        [ "$keep_going" = 1 ] || { echo "run.sh: $op version $v${extra:+ $extra} failed" >&2; exit 1; }
        failures="$failures $op:$v${extra:+:$extra}"
    fi
done <<RUNS
$all
RUNS
if [ -n "$failures" ]; then
    echo "run.sh: $count runs, failed:$failures"
    exit 1
fi
echo "run.sh: all ops, all versions passed ($count runs)"
