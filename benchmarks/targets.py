#!/usr/bin/python3
"""The GPU speed targets, met or not, from one run's bench files (as bin/gpu-check writes them).

    /usr/bin/python3 benchmarks/targets.py --normnet bench-normnet.json --pytorch bench-pytorch.json \
        [--normnet-kernels kernels-normnet.json --pytorch-kernels kernels-pytorch.json] [--out targets.md] [--json F]

Targets (both sides in fp32, on the same GPU, in the same run):
  1. LeNet-BN 28x28 training, batch 256: normnet at least 10x PyTorch eager
  2. the same: normnet at least 1.5x PyTorch CUDA-graphed
  3. LeNet-BN 224x224 training, batch 128: normnet at least 1.0x PyTorch (cuDNN)
  4. batch norm forward (training) + backward at N=256, C=16, 106x106: normnet's time at most PyTorch's
normnet is taken at its faster mode (eager or CUDA graph: `train --device cuda` replays a graph);
PyTorch in the mode each target names, and for 3 at its faster mode. A target whose cases are not
in the files is "not measured"; a case from a file written by a run stopped early still counts.
Prints a Markdown table; the exit status is 0 whatever the verdicts, 2 (with one line naming the
option, the file and the fault) for a file that is not a bench file of its kind.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402

TARGETS = [
    ("LeNet-BN 28x28 training, batch 256: at least 10x PyTorch eager", "lenet-bn-28/train/b256/cuda", "eager", 10.0),
    ("LeNet-BN 28x28 training, batch 256: at least 1.5x PyTorch CUDA-graphed", "lenet-bn-28/train/b256/cuda", "graph", 1.5),
    ("LeNet-BN 224x224 training, batch 128: at least 1.0x PyTorch (cuDNN)", "lenet-bn-224/train/b128/cuda", "best", 1.0),
]
BN_TARGET = "Batch norm forward + backward at N=256, C=16, 106x106: at most PyTorch's time"
BN_OP, BN_SHAPE, BN_DIRECTIONS = "bn2-224", "256x16x106x106", ("forward_train", "backward")


def load(path, what, kind):
    """A bench file of `kind` ("throughput" or "kernels") written by the implementation the option
    names (--normnet...: normnet), every field the targets read checked first (compare.problem);
    compare.BadInput names the option, the file and the fault."""
    if path is None:
        return None
    try:
        doc = compare.read(path, kind)
    except compare.BadInput as e:
        raise compare.BadInput(f"{what} {e}")
    impl = what[2:].split("-")[0]
    if doc["implementation"] != impl:
        raise compare.BadInput(f"{what} {path}: written by {doc['implementation']}, not {impl}")
    return doc


def rate(doc, cid):
    """Median examples/s of a case, or None."""
    for c in (doc or {}).get("cases", []):
        if c.get("id") == cid:
            return c["examples_per_sec"]["median"]
    return None


def faster(doc, base):
    """(examples/s, mode) of the faster of a case's eager and graphed runs, or (None, None)."""
    runs = [(r, m) for r, m in ((rate(doc, base), "eager"), (rate(doc, base + "/graph"), "graph")) if r is not None]
    return max(runs) if runs else (None, None)


def bn_ms(doc):
    """Forward (training) plus backward milliseconds of the large batch norm on the GPU, or None."""
    found = {}
    for dev in (doc or {}).get("devices", []):
        if dev.get("device") != "cuda":
            continue
        for k in dev.get("kernels", []):
            if k.get("op") == BN_OP and k.get("shape") == BN_SHAPE and k.get("direction") in BN_DIRECTIONS:
                found[k["direction"]] = k["ms"]["median"]
    return sum(found.values()) if len(found) == len(BN_DIRECTIONS) else None


def evaluate(normnet, pytorch, normnet_kernels, pytorch_kernels):
    rows = []
    for name, base, mode, need in TARGETS:
        ours, our_mode = faster(normnet, base)
        if mode == "best":
            theirs, their_mode = faster(pytorch, base)
        else:
            their_mode = mode
            theirs = rate(pytorch, base + ("/graph" if mode == "graph" else ""))
        row = {"target": name, "need": need, "normnet": ours, "normnet_mode": our_mode, "pytorch": theirs,
               "pytorch_mode": their_mode, "unit": "examples/s"}
        if ours is None or theirs is None:
            row.update(ratio=None, verdict="not measured")
        else:
            row.update(ratio=ours / theirs, verdict="met" if ours / theirs >= need else "not met")
        rows.append(row)
    ours, theirs = bn_ms(normnet_kernels), bn_ms(pytorch_kernels)
    row = {"target": BN_TARGET, "need": 1.0, "normnet": ours, "normnet_mode": None, "pytorch": theirs,
           "pytorch_mode": None, "unit": "ms"}
    if ours is None or theirs is None:
        row.update(ratio=None, verdict="not measured")
    else:
        row.update(ratio=theirs / ours, verdict="met" if ours <= theirs else "not met")
    rows.append(row)
    return rows


def markdown(rows, gpu):
    out = [f"GPU speed targets{' on ' + gpu if gpu else ''} (fp32 on both sides; ratio: normnet's speed over PyTorch's)",
           "", "| target | normnet | PyTorch | ratio | verdict |", "|---|---:|---:|---:|---|"]

    def fig(v, unit, mode):
        if v is None:
            return "-"
        text = f"{v:,.3f} ms" if unit == "ms" else f"{v:,.0f}"
        return text + (f" ({mode})" if mode else "")
    for r in rows:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        out.append(f"| {r['target']} | {fig(r['normnet'], r['unit'], r['normnet_mode'])} | "
                   f"{fig(r['pytorch'], r['unit'], r['pytorch_mode'])} | {ratio} | {r['verdict']} |")
    return "\n".join(out) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--normnet", help="normnet bench --json file")
    p.add_argument("--pytorch", help="pytorch/bench.py --json file")
    p.add_argument("--normnet-kernels", help="normnet bench --kernels --json file")
    p.add_argument("--pytorch-kernels", help="pytorch/kernels.py --json file")
    p.add_argument("--out", help="write the Markdown table here too")
    p.add_argument("--json", help="write the rows as JSON here")
    a = p.parse_args(argv)
    try:
        docs = [load(a.normnet, "--normnet", "throughput"), load(a.pytorch, "--pytorch", "throughput"),
                load(a.normnet_kernels, "--normnet-kernels", "kernels"),
                load(a.pytorch_kernels, "--pytorch-kernels", "kernels")]
    except compare.BadInput as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rows = evaluate(*docs)
    gpu = next((d["gpu"].get("name") for d in docs if d and isinstance(d.get("gpu"), dict) and d["gpu"].get("name")), None)
    text = markdown(rows, gpu)
    print(text, end="")
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"schema": "normnet-targets/1", "gpu": gpu, "targets": rows}, f, indent=1)
            f.write("\n")
    met = sum(r["verdict"] == "met" for r in rows)
    measured = sum(r["verdict"] != "not measured" for r in rows)
    print(f"{met} of {len(rows)} targets met, {measured} measured", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
