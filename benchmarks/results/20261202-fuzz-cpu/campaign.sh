#!/usr/bin/env bash
# The fuzzing campaign of NOTES.md: each reader's fuzz test fuzzed by Jazzer, one after another
# (never in parallel), each up to MAX_EXECUTIONS inputs or MAX_DURATION, whichever comes first.
# Run from the repository root; each log goes to $OUT/<Test>.log, one summary line per test to
# $OUT/summary.txt. New corpus entries go to .cifuzz-corpus/, failing inputs to the test's inputs folder.
#   benchmarks/results/20261202-fuzz-cpu/campaign.sh [TEST#METHOD ...]
set -u
cd "$(dirname "$0")/../../.."
OUT=${OUT:-/tmp/normnet-fuzz}
MAX_EXECUTIONS=${MAX_EXECUTIONS:-1000000}
MAX_DURATION=${MAX_DURATION:-40m}
mkdir -p "$OUT"
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=('IdxFuzzTest#idx' 'JsonFuzzTest#json' 'CsvImagesFuzzTest#csv'
                                 'SafeTensorsFuzzTest#safetensors' 'ImageFilesFuzzTest#image')
for t in "${tests[@]}"; do
    start=$(date +%s)
    JAZZER_FUZZ=1 mvn -B -o test -Dtest="$t" -Dsurefire.failIfNoSpecifiedTests=false -Dnormnet.kernels.skip=true \
        -Djazzer.max_executions="$MAX_EXECUTIONS" -Djazzer.max_duration="$MAX_DURATION" \
        "-Dnormnet.test.jvmArgs=-Xmx1g -Djava.io.tmpdir=/dev/shm" > "$OUT/${t%%#*}.log" 2>&1
    rc=$?
    # libFuzzer's last status line: "#N ... exec/s: R ..." and its closing "Done N runs in S second(s)"
    echo "$t exit=$rc seconds=$(( $(date +%s) - start )) $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$OUT/${t%%#*}.log" | tail -1)" \
        | tee -a "$OUT/summary.txt"
done
