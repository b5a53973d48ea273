#!/usr/bin/env python3
"""Checks that the lab's copies of the mainline kernels are still the mainline's code.

For every kernel the lab copies from src/main/cuda, compares the two definitions from the
parameter list to the closing brace, with comments and whitespace removed (the lab renames a
kernel when it sits beside simpler versions, and drops extern "C"). Also checks that the
#defines both files use agree, and that the version the mainline's comment gives a kernel
("// conv2d_forward v2: ...") is the one the lab's header names. Exits 1 on any difference.

usage: sync_check.py [MAINLINE_CUDA_DIR]   (default: ../../src/main/cuda from this file)
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# lab file -> [(lab name, mainline file, mainline name)]
COPIES = {
    "conv2d_forward.cu": [("conv2d_forward_kernel2", "conv2d.cu", "conv2d_forward")],
    "conv2d_backward_data.cu": [("conv2d_backward_data_kernel2", "conv2d.cu", "conv2d_backward_data")],
    "conv2d_backward_filter.cu": [
        ("conv2d_backward_filter_partial_kernel2", "conv2d.cu", "conv2d_backward_filter_partial"),
        ("partials_merge", "reduce.cu", "partials_merge"),
        ("partials_merge_serial", "reduce.cu", "partials_merge_serial"),
    ],
    "batchnorm_forward.cu": [
        ("bn_index", "batchnorm.cu", "bn_index"),
        ("bn_chan_merge", "batchnorm.cu", "bn_chan_merge"),
        ("batchnorm_stats_partial", "batchnorm.cu", "batchnorm_stats_partial"),
        ("batchnorm_stats_finalize", "batchnorm.cu", "batchnorm_stats_finalize"),
        ("batchnorm_normalize", "batchnorm.cu", "batchnorm_normalize"),
        ("batchnorm_forward_eval_kernel1", "batchnorm.cu", "batchnorm_forward_eval"),
    ],
    "batchnorm_backward.cu": [
        ("bn_index", "batchnorm.cu", "bn_index"),
        ("batchnorm_backward_partial", "batchnorm.cu", "batchnorm_backward_partial"),
        ("batchnorm_backward_finalize", "batchnorm.cu", "batchnorm_backward_finalize"),
        ("batchnorm_backward_dx", "batchnorm.cu", "batchnorm_backward_dx"),
    ],
    "pool.cu": [
        ("pool_cover", "pool.cu", "pool_cover"),
        ("pool_argmax", "pool.cu", "pool_argmax"),
        ("avg_pool2d_forward", "pool.cu", "avg_pool2d_forward"),
        ("avg_pool2d_backward", "pool.cu", "avg_pool2d_backward"),
        ("max_pool2d_forward", "pool.cu", "max_pool2d_forward"),
        ("max_pool2d_backward", "pool.cu", "max_pool2d_backward"),
    ],
    "softmax_ce.cu": [
        ("softmax_ce_rows", "softmax_ce.cu", "softmax_ce_rows"),
        ("softmax_ce_accumulate", "softmax_ce.cu", "softmax_ce_accumulate"),
    ],
    "gemm.cu": [
        ("sgemm_strided", "gemm.cu", "sgemm_strided"),
        ("column_sum", "gemm.cu", "column_sum"),
        ("partials_merge", "reduce.cu", "partials_merge"),
        ("partials_merge_serial", "reduce.cu", "partials_merge_serial"),
    ],
    "common.h": [
        ("nn_block_sum", "common.cuh", "nn_block_sum"),
        ("nn_block_sum_d", "common.cuh", "nn_block_sum_d"),
    ],
}


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def definition(text, name, path):
    """The definition of function `name` from its parameter list to its closing brace, normalized."""
    code = strip_comments(text)
    m = re.search(r"(?:__global__|__device__|NN_KERNEL)[^;{}]*?\b" + re.escape(name) + r"\s*\(", code)
    if m is None:
        raise LookupError(f"{path}: no definition of {name}")
    start = m.end() - 1
    brace = code.index("{", start)
    depth = 0
    for i in range(brace, len(code)):
        if code[i] == "{":
            depth += 1
        elif code[i] == "}":
            depth -= 1
            if depth == 0:
                return " ".join(code[start:i + 1].split())
    raise LookupError(f"{path}: unbalanced braces in {name}")


def defines(text):
    return dict(re.findall(r"^#define\s+(\w+)\s+(\S+)\s*$", strip_comments(text), flags=re.M))


def mainline_version(text, name):
    m = re.search(r"//\s*" + re.escape(name) + r"\s+(v\d+)\b", text)
    return m.group(1) if m else None


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "src", "main", "cuda")
    if not os.path.isdir(src):
        print(f"sync_check: no mainline kernels at {src}", file=sys.stderr)
        return 1
    failures = 0
    for lab_file, copies in COPIES.items():
        lab_text = open(os.path.join(HERE, lab_file)).read()
        lab_defines = defines(lab_text)
        for lab_name, main_file, main_name in copies:
            main_path = os.path.join(src, main_file)
            main_text = open(main_path).read()
            try:
                ours = definition(lab_text, lab_name, lab_file)
                theirs = definition(main_text, main_name, main_path)
            except LookupError as e:
                print(f"DIFFERS  {e}")
                failures += 1
                continue
            if ours != theirs:
                i = next((k for k in range(min(len(ours), len(theirs))) if ours[k] != theirs[k]), None)
                where = "" if i is None else f" near: lab '...{ours[max(0, i - 40):i + 40]}...'"
                print(f"DIFFERS  {lab_file}:{lab_name} vs {main_file}:{main_name}{where}")
                failures += 1
                continue
            version = mainline_version(main_text, main_name)
            if version is not None and lab_file != "common.h" and f"{main_name} {version}" not in lab_text:
                print(f"VERSION  {lab_file} does not name '{main_name} {version}' (the mainline's comment)")
                failures += 1
                continue
            for key, value in defines(main_text).items():
                if key in lab_defines and lab_defines[key] != value:
                    print(f"DEFINE   {lab_file}: #define {key} {lab_defines[key]}, mainline {main_file}: {value}")
                    failures += 1
            print(f"same     {lab_file}:{lab_name} = {main_file}:{main_name}" + (f" ({version})" if version else ""))
    if failures:
        print(f"sync_check: {failures} difference(s): copy the mainline kernels into the lab again", file=sys.stderr)
        return 1
    print("sync_check: every copied kernel matches the mainline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
