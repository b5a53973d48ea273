#!/usr/bin/python3
"""Ratios normnet / PyTorch per case from bench JSON files, each file one fresh process.

Throughput files: a process settles in a mode (one PyTorch process may run at a third of the speed
of the next: benchmarks/notes/honest-anchor.md), so each side is taken at its best, as a careful
user would run it. Per implementation and case: the median examples/s of each process (each file),
grouped by the thread count the process ran with; the best thread count is the one whose best
process is fastest; that best process's median is the side's figure, and the spread over that
thread count's processes (min, median, max) is shown beside it. The ratio is best over best; the
"typical" ratio divides the medians over processes, and the "worst-case" ratio is normnet's slowest
process over PyTorch's fastest.

Kernel files (`kind: kernels`): for each device, op, direction and shape, the median over rounds
of each side's median milliseconds per call and the speed ratio (PyTorch time / normnet time).

A ratio above 1 means normnet is faster.

PyTorch's GPU cases run in fp32 (TF32 off for cuDNN's convolutions), as normnet computes; a PyTorch
case whose id ends in /tf32 (bench.py --tf32 also) ran with PyTorch's default, TF32 convolutions,
and is set against normnet's case of the same id without the suffix, in a row of its own. A file
written by a run stopped early ("complete": false) is used for the cases it holds, and named.

    /usr/bin/python3 benchmarks/compare.py results/x/normnet-*.json results/x/pytorch-*.json [--json summary.json]
"""

import argparse
import datetime
import json
import math
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


TF32 = "/tf32"


class BadInput(Exception):
    """Input the script cannot use; the message is one line (the caller exits 2 with it)."""


def positive(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def problem(doc, kind=None):
    """What makes doc unusable as a bench file (of `kind`, "kernels" or throughput, when given), or None.
    Checks every field the scripts read: the header's objects, each case's id and positive finite
    examples_per_sec.median, each kernel's op, direction, shape and ms.median."""
    if not isinstance(doc, dict) or not isinstance(doc.get("implementation"), str):
        return "not a bench result (no \"implementation\")"
    for key in ("machine", "settings", "runtime", "gpu"):
        if doc.get(key) is not None and not isinstance(doc[key], dict):
            return f"\"{key}\" is not an object"
    is_kernels = doc.get("kind", "throughput") == "kernels"
    if kind is not None and is_kernels != (kind == "kernels"):
        return f"a {'kernel' if is_kernels else 'throughput'} file where a {kind} file was expected"
    if is_kernels:
        if not isinstance(doc.get("devices"), list):
            return "no \"devices\" list"
        for d in doc["devices"]:
            if not isinstance(d, dict) or not isinstance(d.get("device"), str) or not isinstance(d.get("kernels", []), list):
                return f"a device without a name or a \"kernels\" list: {json.dumps(d)[:120]}"
            for k in d.get("kernels", []):
                if not isinstance(k, dict) or not all(isinstance(k.get(f), str) for f in ("op", "direction", "shape")) \
                        or not isinstance(k.get("ms"), dict) or not positive(k["ms"].get("median")):
                    return f"a kernel without op, direction, shape and a positive ms.median: {json.dumps(k)[:120]}"
        return None
    if not isinstance(doc.get("cases"), list):
        return "no \"cases\" list"
    for c in doc["cases"]:
        if not isinstance(c, dict) or not isinstance(c.get("id"), str) or not isinstance(c.get("examples_per_sec"), dict) \
                or not positive(c["examples_per_sec"].get("median")):
            return f"a case without an id and a positive examples_per_sec.median: {json.dumps(c)[:120]}"
    return None


def read(path, kind=None):
    """A bench file, checked (see problem); BadInput names the file and the fault."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise BadInput(f"{path}: {e}")
    why = problem(doc, kind)
    if why is not None:
        raise BadInput(f"{path}: {why}")
    return doc


def case_threads(doc, case):
    """The thread count a case ran with: the case's own (pytorch/bench.py with several counts) or the file's."""
    t = case.get("threads", doc.get("threads"))
    return int(t) if isinstance(t, (int, float)) else 0


def summarize(docs):
    """{implementation: [docs]}, {(impl, id): {threads: [median per process]}} and the case ids in order."""
    by_impl = {}
    medians = {}
    order = []
    for d in docs:
        impl = d["implementation"]
        by_impl.setdefault(impl, []).append(d)
        for c in d["cases"]:
            if c["id"] not in order:
                order.append(c["id"])
            medians.setdefault((impl, c["id"]), {}).setdefault(case_threads(d, c), []).append(
                c["examples_per_sec"]["median"])
    return by_impl, medians, order


def best_of(per_threads):
    """(threads, best process median, [process medians at that thread count]) of the fastest thread count."""
    threads = max(per_threads, key=lambda t: (max(per_threads[t]), -t))
    runs = per_threads[threads]
    return threads, max(runs), runs


def side(per_threads):
    threads, best, runs = best_of(per_threads)
    return {"best": best, "threads": threads, "processes": len(runs), "min": min(runs),
            "median": statistics.median(runs), "max": max(runs), "process_medians": runs,
            "by_threads": {str(t): max(v) for t, v in sorted(per_threads.items())}}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+")
    p.add_argument("--json", help="write the summary here")
    p.add_argument("--command", help="the command that produced the files (recorded in the summary)")
    p.add_argument("--best-dir", help="write best-normnet.json and best-pytorch.json here: bench files holding, "
                                      "per case, the entry of the side's best process (for normnet plot)")
    a = p.parse_args(argv)
    try:
        return run(a)
    except BadInput as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def run(a):
    docs = [read(f) for f in a.files]
    kinds = {d.get("kind", "throughput") for d in docs}
    if "kernels" in kinds and len(kinds) > 1:
        raise BadInput("cannot compare throughput and kernel files together")
    if kinds == {"kernels"}:
        return compare_kernels(docs, a)
    by_impl, medians, order = summarize(docs)
    if "normnet" not in by_impl or "pytorch" not in by_impl:
        raise BadInput("need bench files of both normnet and pytorch, got: " + ", ".join(sorted(by_impl)))
    rows = []
    print(f"{'case':<34} {'normnet best':>12} {'thr':>3} {'processes min-max':>19} {'pytorch best':>12} {'thr':>3} "
          f"{'processes min-max':>19} {'ratio':>6} {'typical':>7} {'worst':>6}")
    incomplete = [f for f, d in zip(a.files, docs) if d.get("complete") is False]
    for f in incomplete:
        print(f"note: {f}: written by a run stopped early; its cases so far are used", file=sys.stderr)
    for cid in order:
        tf32 = cid.endswith(TF32)
        a_runs = medians.get(("normnet", cid[:-len(TF32)] if tf32 else cid))
        b_runs = medians.get(("pytorch", cid))
        if not a_runs or not b_runs:
            continue
        n, t = side(a_runs), side(b_runs)
        row = {"id": cid, "normnet": n["best"], "pytorch": t["best"], "ratio": n["best"] / t["best"],
               "ratio_typical": n["median"] / t["median"], "ratio_worst": n["min"] / t["best"],
               "normnet_side": n, "pytorch_side": t}
        if tf32:
            row["pytorch_tf32"] = True
        rows.append(row)
        print(f"{cid:<34} {n['best']:>12.1f} {n['threads']:>3} {n['min']:>9.0f}-{n['max']:<9.0f} "
              f"{t['best']:>12.1f} {t['threads']:>3} {t['min']:>9.0f}-{t['max']:<9.0f} "
              f"{row['ratio']:>5.2f}x {row['ratio_typical']:>6.2f}x {row['ratio_worst']:>5.2f}x")
    if not rows:
        raise BadInput("the normnet and pytorch files have no case id in common")
    first = by_impl["normnet"][0]
    loads = [((d.get("machine") or {}).get("load_average") or [None])[0] for d in docs]
    loads = [x for x in loads if isinstance(x, (int, float))]
    def pytorch_setting(name):
        """The values one setting took over PyTorch's throughput processes, sorted (one value when all agree)."""
        return sorted({bool((d.get("settings") or {}).get(name)) for d in by_impl["pytorch"]
                       if d.get("kind", "throughput") == "throughput"})

    summary = {
        "schema": "normnet-side-by-side/2",
        "date": first.get("date"),
        "finished": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": first.get("machine"),
        "gpu": first.get("gpu"),
        "threads": {"normnet": sorted({case_threads(d, c) for d in by_impl["normnet"] for c in d["cases"]}),
                    "pytorch": sorted({case_threads(d, c) for d in by_impl["pytorch"] for c in d["cases"]})},
        "git_commit": first.get("git_commit"),
        "java": (first.get("runtime") or {}).get("java"),
        "torch": (by_impl["pytorch"][0].get("runtime") or {}).get("torch"),
        "processes": {"normnet": len(by_impl["normnet"]), "pytorch": len(by_impl["pytorch"])},
        "flush_denormal": pytorch_setting("flush_denormal"),
        "keep_freed_memory": pytorch_setting("keep_freed_memory"),
        "max_load_average": max(loads) if loads else None,
        "settings": first.get("settings"),
        "command": a.command,
        "files": [os.path.relpath(os.path.abspath(f), ROOT) for f in a.files],
        "incomplete_files": [os.path.relpath(os.path.abspath(f), ROOT) for f in incomplete],
        "cases": rows,
    }
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summary, f, indent=1)
            f.write("\n")
        print(f"wrote {a.json}")
    if a.best_dir:
        for impl in ("normnet", "pytorch"):
            path = os.path.join(a.best_dir, f"best-{impl}.json")
            with open(path, "w") as f:
                json.dump(best_file(by_impl[impl], [r["id"] for r in rows]), f, indent=1)
                f.write("\n")
    return 0


def best_file(docs, ids):
    """A bench file of one implementation's throughput cases in `ids`, each the entry of its fastest process."""
    best = {}
    head = None
    for d in docs:
        if d.get("kind", "throughput") != "throughput":
            continue
        head = head or d
        for c in d["cases"]:
            if c["id"] in ids and (c["id"] not in best or c["examples_per_sec"]["median"]
                                   > best[c["id"]]["examples_per_sec"]["median"]):
                best[c["id"]] = dict(c, threads=case_threads(d, c), file_date=d.get("date"))
    if head is None:
        return {"schema": "normnet-bench/1", "implementation": docs[0]["implementation"], "cases": []}
    out = {k: v for k, v in head.items() if k != "cases"}
    out["best_of_processes"] = True     # derived from the process files; readme_table.py lists it with them
    out["cases"] = [best[i] for i in ids if i in best]
    return out


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
        raise BadInput("need kernel files of both normnet and pytorch, got: " + ", ".join(sorted(impls)))
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
        raise BadInput("the normnet and pytorch kernel files have no kernel in common")
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
