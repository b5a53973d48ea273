#!/usr/bin/python3
"""End to end: one training epoch of LeNet-BN on Fashion-MNIST plus the test evaluation, from the command line.

Runs, in a fresh process, either `./normnet train` or `benchmarks/pytorch/train.py` (the same model,
SGD lr 1.0, batch 256, seed 0, one epoch, test evaluation; PyTorch with --flush-denormal and
--keep-freed-memory) and writes a bench file (schema normnet-bench/1, as `normnet bench --json`, with
`kind: end-to-end`) with two cases:

- `lenet-bn-28/epoch+eval/b256/cpu`: training examples per second of the epoch's wall time, the
  test evaluation included (the history file's `seconds`): what the steady loop and the evaluation
  cost together, with whatever the first epoch pays (JIT compilation, first touches of memory);
- `lenet-bn-28/command/b256/cpu`: training examples per second of the whole command's wall time:
  start-up, data loading, any warm-up, the epoch and the evaluation.

Each file is one process, so that benchmarks/compare.py takes each side at its best over several.

    /usr/bin/python3 benchmarks/end_to_end.py --implementation normnet --threads 2 --json e2e.json [--quick]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "pytorch"))
import common  # noqa: E402

QUICK_LIMIT = 15360     # 60 batches of 256
QUICK_TEST_LIMIT = 2000


def command(impl, threads, history, quick, python, normnet):
    args = ["--epochs", "1", "--batch", "256", "--lr", "1.0", "--optimizer", "sgd", "--seed", "0",
            "--history", history]
    if quick:
        args += ["--limit", str(QUICK_LIMIT), "--test-limit", str(QUICK_TEST_LIMIT)]
    if impl == "normnet":
        return [normnet, "train", "--model", "lenet-bn", "--device", "cpu", "--threads", str(threads)] + args
    return [python, os.path.join(HERE, "pytorch", "train.py"), "--model", "lenet-bn", "--device", "cpu",
            "--threads", str(threads), "--flush-denormal", "--keep-freed-memory"] + args


def spread_of(x):
    return {"median": x, "min": x, "max": x, "q1": x, "q3": x, "runs": [x]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--implementation", required=True, choices=["normnet", "pytorch"])
    p.add_argument("--threads", type=int, required=True, help="CPU threads of the training process")
    p.add_argument("--quick", action="store_true",
                   help=f"train on the first {QUICK_LIMIT} images and evaluate on {QUICK_TEST_LIMIT}")
    p.add_argument("--json", required=True, help="write the bench file here")
    p.add_argument("--python", default=os.environ.get("PYTHON", "/usr/bin/python3"))
    p.add_argument("--normnet", default=os.environ.get("NORMNET", os.path.join(ROOT, "normnet")))
    a = p.parse_args(argv)
    if a.threads < 1:
        p.error(f"--threads {a.threads}: must be positive")
    with tempfile.TemporaryDirectory(prefix="normnet-e2e-") as tmp:
        history = os.path.join(tmp, "history.json")
        cmd = command(a.implementation, a.threads, history, a.quick, a.python, a.normnet)
        doc = common.header(a.implementation, {"quick": a.quick, "command": " ".join(cmd),
                                               "flush_denormal": a.implementation == "pytorch",
                                               "keep_freed_memory": a.implementation == "pytorch"})
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            sys.exit(f"error: {' '.join(cmd)} exited with {r.returncode}: {(r.stderr or r.stdout).strip()[-2000:]}")
        try:
            with open(history) as f:
                h = json.load(f)
            epoch = h["history"][0]
            seconds = float(epoch["seconds"])
        except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
            sys.exit(f"error: {history}: no epoch record in the history the command wrote ({e})")
    count = QUICK_LIMIT if a.quick else 60000
    doc["kind"] = "end-to-end"
    doc["threads"] = a.threads
    if a.implementation == "normnet":
        doc["runtime"] = {"command": "normnet train", "device": h.get("device")}
    doc["output"] = r.stdout.strip().splitlines()
    doc["cases"] = []
    for case, secs in (("epoch+eval", seconds), ("command", wall)):
        doc["cases"].append({
            "id": f"lenet-bn-28/{case}/b256/cpu", "model": "lenet-bn", "input": 28, "mode": "train", "batch": 256,
            "device": "cpu", "graph": False, "optimizer": "sgd lr 1.0", "steps_per_run": (count + 255) // 256,
            "repeats": 1, "seconds": spread_of(secs), "examples_per_sec": spread_of(count / secs),
            "test_acc": epoch.get("test_acc"), "train_loss": epoch.get("train_loss"),
            "epoch_examples_per_sec": epoch.get("examples_per_sec")})
    with open(a.json, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"{a.implementation} ({a.threads} threads): epoch + evaluation {seconds:.2f} s, command {wall:.2f} s, "
          f"test accuracy {epoch.get('test_acc')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
