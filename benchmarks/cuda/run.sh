#!/bin/sh
# run.sh [OP...]: runs every version of every op (or of the ops named) on the GPU, checks and
# timings, and stops at the first failure. Build first with `make all`.
#   ./run.sh 2>&1 | tee lab-$(hostname)-$(date +%Y%m%d).txt
set -eu
cd "$(dirname "$0")"
ops=${*:-"conv2d_forward conv2d_backward_data conv2d_backward_filter batchnorm_forward batchnorm_backward pool softmax_ce gemm"}
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv,noheader 2>/dev/null || true
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
            echo "==== $op $v $extra"
            "./$op" "$v" $extra
            v=$((v + 1))
        done
    done
done
echo "run.sh: all ops, all versions passed"
