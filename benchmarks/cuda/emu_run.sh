#!/bin/sh
# emu_run.sh BINARY [ARGS...]: runs every version of an emulated lab binary twice, threads of a
# block in normal and in reverse order (EMU_REVERSE=1), and stops at the first failure.
set -eu
bin=$1
shift
n=$("$bin" --versions "$@")
v=1
while [ "$v" -le "$n" ]; do
    "$bin" "$v" "$@" > /dev/null || { echo "FAILED: $bin $v $*" >&2; "$bin" "$v" "$@" 2>&1 | tail -20 >&2; exit 1; }
    EMU_REVERSE=1 "$bin" "$v" "$@" > /dev/null || { echo "FAILED (reverse thread order): $bin $v $*" >&2; exit 1; }
    echo "  version $v: all checks passed (both thread orders)"
    v=$((v + 1))
done
