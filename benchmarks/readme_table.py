#!/usr/bin/python3
"""Prints the README's benchmark tables (markdown) from the committed results.

Reads every JSON file under benchmarks/results/ (or the directories given) and prints, newest
first within each kind:
  - side-by-side summaries (benchmarks/side_by_side.sh): normnet and PyTorch examples/s and their ratio;
  - normnet bench throughput files (normnet bench --json) that are not part of a side-by-side run;
  - per-kernel side-by-side summaries (benchmarks/side_by_side.sh --kernels);
  - per-kernel files (normnet bench --kernels --json) not part of one, one table per device;
  - accuracy parity summaries (benchmarks/parity/parity.py), recipes under their current names.
Every table names the machine and the date of its figures and the command that reproduces them.

    /usr/bin/python3 benchmarks/readme_table.py [DIR ...]
"""

import glob
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks", "parity"))
from parity import FORMER_NAMES  # noqa: E402


def machine_of(doc):
    m = doc.get("machine") or {}
    parts = []
    if m.get("cpu_model"):
        parts.append(f"{m['cpu_model']} ({m.get('cores', '?')} cores)")
    elif m.get("hostname"):
        parts.append(f"{m['hostname']} ({m.get('cores', '?')} cores)")
    gpu = doc.get("gpu")
    if gpu:
        parts.append(f"{gpu.get('name')} (driver {gpu.get('driver', '?')})")
    return ", ".join(parts) or "unknown machine"


def load_of(doc):
    la = (doc.get("machine") or {}).get("load_average")
    return f"; load average at the start {la[0]:.1f}" if la else ""


def notes_of(path):
    """A pointer to NOTES.md beside a result file or in its parent directory (conditions of the run)."""
    for d in (os.path.dirname(path), os.path.dirname(os.path.dirname(path))):
        n = os.path.join(d, "NOTES.md")
        if os.path.exists(n):
            return f" Conditions of this run: `{rel(n)}`."
    return ""


def when(doc):
    d = doc.get("date") or ""
    return d.replace("T", " ").replace("Z", " UTC") if d else "unknown date"


def fmt(x):
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def rel(path):
    return os.path.relpath(path, ROOT)


def load_all(dirs):
    docs = []
    for d in dirs:
        for path in sorted(glob.glob(os.path.join(d, "**", "*.json"), recursive=True)):
            try:
                with open(path) as f:
                    doc = json.load(f)
            except (OSError, ValueError) as e:
                print(f"warning: {rel(path)}: {e}", file=sys.stderr)
                continue
            if isinstance(doc, dict):
                docs.append((path, doc))
    return docs


def side_by_side_table(path, doc, out):
    if doc.get("schema") == "normnet-side-by-side/2":
        return side_by_side_table_2(path, doc, out)
    out.append(f"#### normnet vs PyTorch {doc.get('torch', '')}: examples/s, median of {doc.get('rounds')} rounds "
               f"(A B A B ...)\n")
    out.append(f"Machine: {machine_of(doc)}; threads: normnet {doc['threads'].get('normnet')}, "
               f"PyTorch {doc['threads'].get('pytorch')}; Java {doc.get('java')}; "
               f"commit {str(doc.get('git_commit', '?'))[:12]}; measured {when(doc)}{load_of(doc)}.\n")
    out.append("| Case | normnet | PyTorch | normnet / PyTorch (per-round range) |")
    out.append("|---|---:|---:|---:|")
    for c in doc["cases"]:
        out.append(f"| `{c['id']}` | {fmt(c['normnet'])} | {fmt(c['pytorch'])} | "
                   f"{c['ratio']:.2f}x ({c['ratio_min']:.2f}-{c['ratio_max']:.2f}) |")
    out.append("")
    out.append(f"Reproduce: `{doc.get('command') or 'benchmarks/side_by_side.sh'}` "
               f"(results: `{rel(os.path.dirname(path))}/`).{notes_of(path)}\n")


def side_by_side_table_2(path, doc, out):
    p = doc.get("processes") or {}
    out.append(f"#### normnet vs PyTorch {doc.get('torch', '')}: examples/s, each side's best process at its best "
               f"thread count ({p.get('normnet')} normnet and {p.get('pytorch')} PyTorch processes)\n")
    def said(values, on, off, mixed):
        return on if values == [True] else off if values == [False] else mixed

    ftz = said(doc.get("flush_denormal"), "on", "off", "mixed")
    keep = doc.get("keep_freed_memory")    # absent from files made before the setting existed
    kept = "" if keep is None else said(keep, ", freed memory kept (glibc malloc)", ", glibc malloc's defaults",
                                        ", glibc malloc mixed")
    out.append(f"Machine: {machine_of(doc)}; thread counts tried: normnet {doc['threads'].get('normnet')}, "
               f"PyTorch {doc['threads'].get('pytorch')}; PyTorch flush-to-zero {ftz}{kept}; Java {doc.get('java')}; "
               f"commit {str(doc.get('git_commit', '?'))[:12]}; measured {when(doc)}; highest load average before a "
               f"process {doc.get('max_load_average')}.\n")
    out.append("| Case | normnet best (threads) | its processes | PyTorch best (threads) | its processes | ratio | "
               "typical | worst |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for c in doc["cases"]:
        n, t = c["normnet_side"], c["pytorch_side"]
        out.append(f"| `{c['id']}` | {fmt(n['best'])} ({n['threads']}) | {fmt(n['min'])}-{fmt(n['max'])} | "
                   f"{fmt(t['best'])} ({t['threads']}) | {fmt(t['min'])}-{fmt(t['max'])} | {c['ratio']:.2f}x | "
                   f"{c['ratio_typical']:.2f}x | {c['ratio_worst']:.2f}x |")
    out.append("")
    tf32 = " Ids ending in /tf32: PyTorch with its default TF32 convolutions (the others are fp32 on both sides)." \
        if any(c.get("pytorch_tf32") for c in doc["cases"]) else ""
    out.append("ratio: best over best; typical: median process over median process; worst: normnet's slowest "
               f"process over PyTorch's fastest.{tf32}\n")
    out.append(f"Reproduce: `{doc.get('command') or 'benchmarks/side_by_side.sh'}` "
               f"(results: `{rel(os.path.dirname(path))}/`).{notes_of(path)}\n")


def bench_table(path, doc, out):
    settings = doc.get("settings") or {}
    out.append(f"#### `normnet bench`: examples/s (median of {settings.get('repeats')} runs of about "
               f"{settings.get('target_seconds')} s)\n")
    backends = doc.get("backends") or {}
    out.append(f"Machine: {machine_of(doc)}; backends: {'; '.join(backends.values()) or '?'}; "
               f"Java {(doc.get('runtime') or {}).get('java')}; commit {str(doc.get('git_commit', '?'))[:12]}; "
               f"measured {when(doc)}{load_of(doc)}.\n")
    out.append("| Case | examples/s | min-max | GPU/CPU |")
    out.append("|---|---:|---:|---:|")
    for c in doc["cases"]:
        e = c["examples_per_sec"]
        sp = f"{c['speedup_vs_cpu']:.1f}x" if c.get("speedup_vs_cpu") else ""
        out.append(f"| `{c['id']}` | {fmt(e['median'])} | {fmt(e['min'])}-{fmt(e['max'])} | {sp} |")
    out.append("")
    flags = ["--device", ",".join(sorted({c["device"] for c in doc["cases"]})).replace("cpu,cuda", "all")]
    if settings.get("quick"):
        flags.append("--quick")
    if settings.get("only"):
        flags += ["--only", f"'{settings['only']}'"]
    if doc.get("threads"):
        flags += ["--threads", str(doc["threads"])]
    out.append(f"Reproduce: `./normnet bench {' '.join(flags)} --json FILE` (result: `{rel(path)}`).{notes_of(path)}\n")


def kernel_tables(path, doc, out):
    for d in doc.get("devices", []):
        lim = d.get("limits") or {}
        out.append(f"#### Per-kernel timings, {doc.get('implementation')} on {d.get('backend')}\n")
        out.append(f"Machine: {machine_of(doc)}; measured {when(doc)}. Limits measured on the same device: "
                   f"copy {lim.get('copy_gb_per_s', 0):.1f} GB/s ({lim.get('copy_method')}), "
                   f"GEMM {lim.get('gemm_gflop_per_s', 0):.1f} GFLOP/s ({lim.get('gemm_method')}).\n")
        out.append("| Op | Direction | Shape | ms | GB/s | GFLOP/s | of copy | of GEMM |")
        out.append("|---|---|---|---:|---:|---:|---:|---:|")
        for k in d.get("kernels", []):
            out.append(f"| {k['op']} | {k['direction']} | {k['shape']} | {k['ms']['median']:.4g} | "
                       f"{k['gb_per_s']:.3g} | {k['gflop_per_s']:.3g} | {100 * k['fraction_of_copy_bandwidth']:.1f}% | "
                       f"{100 * k['fraction_of_gemm']:.1f}% |")
        out.append("")
        cmd = ("./normnet bench --kernels" if doc.get("implementation") == "normnet"
               else "/usr/bin/python3 benchmarks/pytorch/kernels.py")
        out.append(f"Reproduce: `{cmd} --device {d.get('device')} --json FILE` (result: `{rel(path)}`).\n")


def kernel_side_by_side_table(path, doc, out):
    out.append("#### Per-kernel time, normnet vs PyTorch (ms per call, median over rounds; ratio = PyTorch time / normnet time)\n")
    out.append(f"Machine: {machine_of(doc)}; commit {str(doc.get('git_commit', '?'))[:12]}; measured {when(doc)}.\n")
    out.append("| Device | Op | Direction | Shape | normnet ms | PyTorch ms | ratio |")
    out.append("|---|---|---|---|---:|---:|---:|")
    for k in doc["kernels"]:
        out.append(f"| {k['device']} | {k['op']} | {k['direction']} | {k['shape']} | {k['normnet_ms']:.4g} | "
                   f"{k['pytorch_ms']:.4g} | {k['ratio']:.2f}x |")
    out.append("")
    out.append(f"Reproduce: `{doc.get('command') or 'benchmarks/side_by_side.sh --kernels'}` "
               f"(results: `{rel(os.path.dirname(path))}/`).{notes_of(path)}\n")


def parity_table(path, doc, out):
    short = " (shortened run: not the final figures)" if doc.get("shortened") else ""
    out.append(f"#### Final test accuracy, normnet vs PyTorch, seeds {doc.get('seeds')}{short}\n")
    out.append(f"Machine: {machine_of(doc)}; device {doc.get('device')}, {doc.get('threads')} threads; "
               f"measured {when(doc)}; the run took {doc.get('seconds', 0) / 60:.0f} min.\n")
    out.append("| Recipe | Epochs | normnet (mean +- std) | PyTorch (mean +- std) | Difference |")
    out.append("|---|---:|---:|---:|---:|")
    for name, r in doc.get("recipes", {}).items():
        cells = []
        for impl in ("normnet", "pytorch"):
            s = r.get(impl)
            cells.append(f"{s['mean']:.4f} +- {s['std']:.4f}" if s else "-")
        diff = (f"{r['normnet']['mean'] - r['pytorch']['mean']:+.4f}" if r.get("normnet") and r.get("pytorch") else "")
        out.append(f"| {FORMER_NAMES.get(name, name)} | {r.get('epochs')} | {cells[0]} | {cells[1]} | {diff} |")
    out.append("")
    out.append(f"Reproduce: `/usr/bin/python3 {doc.get('command', 'benchmarks/parity/parity.py')}`.{notes_of(path)}\n")


def main(argv):
    if any(arg in ("-h", "--help") for arg in argv):
        print(__doc__.strip())
        return 0
    dirs = argv or [os.path.join(ROOT, "benchmarks", "results")]
    docs = load_all(dirs)
    newest = lambda item: item[1].get("date") or item[1].get("finished") or ""
    side = sorted([x for x in docs if x[1].get("schema") in ("normnet-side-by-side/1", "normnet-side-by-side/2")],
                  key=newest, reverse=True)
    kside = sorted([x for x in docs if x[1].get("schema") == "normnet-kernels-side-by-side/1"], key=newest, reverse=True)
    in_side = {os.path.abspath(os.path.join(ROOT, f)) if not os.path.isabs(f) else f
               for _, d in side + kside for f in d.get("files", [])}
    bench = sorted([x for x in docs if x[1].get("schema") == "normnet-bench/1" and x[1].get("implementation") == "normnet"
                    and x[1].get("kind", "throughput") == "throughput" and "cases" in x[1]
                    and not x[1].get("best_of_processes")
                    and os.path.abspath(x[0]) not in in_side], key=newest, reverse=True)
    kernels = sorted([x for x in docs if x[1].get("schema") == "normnet-bench/1" and x[1].get("kind") == "kernels"
                      and os.path.abspath(x[0]) not in in_side], key=newest, reverse=True)
    parity = sorted([x for x in docs if x[1].get("schema") == "normnet-parity/1"], key=newest, reverse=True)
    if not (side or kside or bench or kernels or parity):
        print("error: no result files under " + ", ".join(rel(d) for d in dirs), file=sys.stderr)
        return 1
    out = []
    for path, doc in bench:
        bench_table(path, doc, out)
    for path, doc in side:
        side_by_side_table(path, doc, out)
    for path, doc in kside:
        kernel_side_by_side_table(path, doc, out)
    for path, doc in kernels:
        kernel_tables(path, doc, out)
    for path, doc in parity:
        parity_table(path, doc, out)
    print("\n".join(out).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
