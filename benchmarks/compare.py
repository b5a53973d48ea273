#!/usr/bin/python3
"""Ratios normnet / PyTorch per case from bench JSON files (several rounds of each).

Throughput files: for each case id present in both implementations, the median over rounds of
each side's median examples/sec, the ratio of the two, and the spread of the per-round ratios
(round i of normnet over round i of PyTorch, the runs that were closest in time).

Kernel files (`kind: kernels`): for each device, op, direction and shape, the median over rounds
of each side's median milliseconds per call and the speed ratio (PyTorch time / normnet time).

A ratio above 1 means normnet is faster.

    /usr/bin/python3 benchmarks/compare.py results/x/normnet-r*.json results/x/pytorch-r*.json [--json summary.json]
"""

import argparse
import datetime
import json
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(path):
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"error: {path}: {e}")
    if ("cases" not in doc and "devices" not in doc) or "implementation" not in doc:
        sys.exit(f"error: {path}: not a bench result (no \"cases\" or \"devices\", or no \"implementation\")")
    return doc


def summarize(docs):
    """{implementation: [round docs]} and {(impl, id): [median per round]} in round order."""
    by_impl = {}
    medians = {}
    order = []
    for d in docs:
        impl = d["implementation"]
        by_impl.setdefault(impl, []).append(d)
        for c in d["cases"]:
            key = (impl, c["id"])
            if c["id"] not in order:
                order.append(c["id"])
            medians.setdefault(key, []).append(c["examples_per_sec"]["median"])
    return by_impl, medians, order


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+")
    p.add_argument("--json", help="write the summary here")
    p.add_argument("--command", help="the command that produced the files (recorded in the summary)")
    a = p.parse_args(argv)
    docs = [load(f) for f in a.files]
    kinds = {d.get("kind", "throughput") for d in docs}
    if len(kinds) > 1:
        sys.exit("error: cannot compare throughput and kernel files together")
    if kinds == {"kernels"}:
        return compare_kernels(docs, a)
    by_impl, medians, order = summarize(docs)
    if "normnet" not in by_impl or "pytorch" not in by_impl:
        sys.exit("error: need bench files of both normnet and pytorch, got: " + ", ".join(sorted(by_impl)))
    rows = []
    print(f"{'case':<34} {'normnet ex/s':>13} {'pytorch ex/s':>13} {'ratio':>7} {'per-round ratios':>18}")
    for cid in order:
        a_runs = medians.get(("normnet", cid))
        b_runs = medians.get(("pytorch", cid))
        if not a_runs or not b_runs:
            continue
        a_med = statistics.median(a_runs)
        b_med = statistics.median(b_runs)
        per_round = [x / y for x, y in zip(a_runs, b_runs)]
        row = {"id": cid, "normnet": a_med, "pytorch": b_med, "ratio": a_med / b_med,
               "ratio_min": min(per_round), "ratio_max": max(per_round),
               "normnet_rounds": a_runs, "pytorch_rounds": b_runs}
        rows.append(row)
        print(f"{cid:<34} {a_med:>13.1f} {b_med:>13.1f} {row['ratio']:>6.2f}x {min(per_round):>8.2f}-{max(per_round):<8.2f}")
    if not rows:
        sys.exit("error: the normnet and pytorch files have no case id in common")
    first = by_impl["normnet"][0]
    summary = {
        "schema": "normnet-side-by-side/1",
        "date": first.get("date"),
        "finished": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": first.get("machine"),
        "gpu": first.get("gpu"),
        "threads": {"normnet": first.get("threads"), "pytorch": by_impl["pytorch"][0].get("threads")},
        "git_commit": first.get("git_commit"),
        "java": (first.get("runtime") or {}).get("java"),
        "torch": (by_impl["pytorch"][0].get("runtime") or {}).get("torch"),
        "rounds": min(len(by_impl["normnet"]), len(by_impl["pytorch"])),
        "settings": first.get("settings"),
        "command": a.command,
        "files": [os.path.relpath(os.path.abspath(f), ROOT) for f in a.files],
        "cases": rows,
    }
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summary, f, indent=1)
            f.write("\n")
        print(f"wrote {a.json}")
    return 0


def compare_kernels(docs, a):
    ms = {}
    order = []
    impls = set()
    for d in docs:
        impls.add(d["implementation"])
        for dev in d.get("devices", []):
            for k in dev.get("kernels", []):
                key = (dev["device"], k["op"], k["direction"], k["shape"])
                if key not in order:
                    order.append(key)
                ms.setdefault((d["implementation"],) + key, []).append(k["ms"]["median"])
    if impls != {"normnet", "pytorch"}:
        sys.exit("error: need kernel files of both normnet and pytorch, got: " + ", ".join(sorted(impls)))
    rows = []
    print(f"{'device':<6} {'op':<22} {'direction':<16} {'shape':<34} {'normnet ms':>11} {'pytorch ms':>11} {'ratio':>7}")
    for key in order:
        x = ms.get(("normnet",) + key)
        y = ms.get(("pytorch",) + key)
        if not x or not y:
            continue
        nx, ny = statistics.median(x), statistics.median(y)
        rows.append({"device": key[0], "op": key[1], "direction": key[2], "shape": key[3],
                     "normnet_ms": nx, "pytorch_ms": ny, "ratio": ny / nx})
        print(f"{key[0]:<6} {key[1]:<22} {key[2]:<16} {key[3]:<34} {nx:>11.4f} {ny:>11.4f} {ny / nx:>6.2f}x")
    if not rows:
        sys.exit("error: the normnet and pytorch kernel files have no kernel in common")
    first = next(d for d in docs if d["implementation"] == "normnet")
    summary = {"schema": "normnet-kernels-side-by-side/1", "date": first.get("date"), "machine": first.get("machine"),
               "gpu": first.get("gpu"), "git_commit": first.get("git_commit"), "command": a.command,
               "files": [os.path.relpath(os.path.abspath(f), ROOT) for f in a.files], "kernels": rows}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summary, f, indent=1)
            f.write("\n")
        print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
