#!/usr/bin/python3
"""Accuracy parity: the recipes of the d2l batch-norm chapter and its re-tellings, trained by normnet
and by PyTorch, several seeds each.

Recipes, each named by what it trains:
  sgd                   LeNet-BN, SGD lr 1.0, batch 256, 10 epochs
  sgd-momentum-steplr   LeNet-BN, SGD momentum 0.9 lr 0.5, StepLR(2, 0.9), batch 256, 20 epochs
  adam-steplr           LeNet-BN, Adam lr 0.01, StepLR(2, 0.9), batch 256, 20 epochs
  mlp-adam              MLP-BN (ReLU), Adam lr 0.01, batch 32, 10 epochs
--recipes also takes the former names momentum and adam.

For every recipe and seed it runs `normnet train ... --history` and benchmarks/pytorch/train.py
with the same arguments, then prints the mean, standard deviation and range of the final test
accuracy side by side, and writes everything (with each run's wall time) to a JSON file. It also
prints what the full run would cost on this machine, from the epochs it timed.

    /usr/bin/python3 benchmarks/parity/parity.py                      # full: 4 recipes x 3 seeds x 2, tens of minutes to hours on a CPU
    /usr/bin/python3 benchmarks/parity/parity.py --epochs 1 --seeds 1 --limit 6000   # a check that it works
"""

import argparse
import datetime
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

RECIPES = {
    "sgd": {"model": "lenet-bn", "act": "sigmoid", "optimizer": "sgd", "lr": 1.0, "batch": 256, "epochs": 10},
    "sgd-momentum-steplr": {"model": "lenet-bn", "act": "sigmoid", "optimizer": "sgd", "lr": 0.5, "momentum": 0.9,
                            "step_size": 2, "gamma": 0.9, "batch": 256, "epochs": 20},
    "adam-steplr": {"model": "lenet-bn", "act": "sigmoid", "optimizer": "adam", "lr": 0.01, "step_size": 2,
                    "gamma": 0.9, "batch": 256, "epochs": 20},
    "mlp-adam": {"model": "mlp-bn", "act": "relu", "optimizer": "adam", "lr": 0.01, "batch": 32, "epochs": 10},
}
# names the recipes had before they were named by what they train (results made then keep them)
FORMER_NAMES = {"momentum": "sgd-momentum-steplr", "adam": "adam-steplr"}


def recipe_args(r, epochs, seed, device, threads, limit, test_limit):
    a = ["--model", r["model"], "--act", r["act"], "--optimizer", r["optimizer"], "--lr", str(r["lr"]),
         "--batch", str(r["batch"]), "--epochs", str(epochs), "--seed", str(seed), "--device", device]
    if "momentum" in r:
        a += ["--momentum", str(r["momentum"])]
    if "step_size" in r:
        a += ["--step-size", str(r["step_size"]), "--gamma", str(r["gamma"])]
    if threads:
        a += ["--threads", str(threads)]
    if limit:
        a += ["--limit", str(limit)]
    if test_limit:
        a += ["--test-limit", str(test_limit)]
    return a


def recipe_names(text):
    """The recipes a comma-separated list names, in its order, former names taken as the current ones."""
    names = []
    for r in (r.strip() for r in text.split(",")):
        if r and FORMER_NAMES.get(r, r) not in RECIPES:
            raise ValueError(f"unknown recipe {r!r}; valid: {', '.join(RECIPES)}")
        if r and FORMER_NAMES.get(r, r) not in names:
            names.append(FORMER_NAMES.get(r, r))
    return names


def recorded_run(out, name, impl, seed):
    """The history and timing files of a run already in out, under the recipe's name or a former one, or None."""
    for n in [name] + [f for f, new in FORMER_NAMES.items() if new == name]:
        hist, timing = (os.path.join(out, f"{n}-{impl}-s{seed}{ext}") for ext in (".json", ".seconds"))
        if os.path.exists(hist) and os.path.exists(timing):
            return hist, timing
    return None


def run(cmd, log):
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        with open(log) as f:
            tail = f.read()[-2000:]
        sys.exit(f"error: {' '.join(cmd)} exited with {proc.returncode}; log {log}:\n{tail}")
    return seconds


def spread(values):
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "values": values}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipes", default=",".join(RECIPES),
                   help="comma-separated subset of " + ", ".join(RECIPES) + " (or the former names "
                        + ", ".join(FORMER_NAMES) + ")")
    p.add_argument("--seeds", default="3", help="a count N (seeds 0..N-1) or a comma-separated list")
    p.add_argument("--epochs", type=int, help="override every recipe's epochs (shortened runs)")
    p.add_argument("--limit", type=int, help="train on the first N images (shortened runs)")
    p.add_argument("--test-limit", type=int, help="test on the first N images")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--python", default=os.environ.get("PYTHON", "/usr/bin/python3"))
    p.add_argument("--normnet", default=os.environ.get("NORMNET", os.path.join(ROOT, "normnet")))
    p.add_argument("--only", choices=["normnet", "pytorch"], help="run one implementation only")
    p.add_argument("--reuse", action="store_true",
                   help="take a run whose history is already in --out instead of training again (to combine "
                        "runs made separately, e.g. one --only normnet and one --only pytorch side by side)")
    p.add_argument("--out", help="directory for the histories, logs and parity.json "
                                 "(default benchmarks/results/DATE-HOST-parity)")
    a = p.parse_args(argv)
    try:
        recipes = recipe_names(a.recipes)
    except ValueError as e:
        p.error(f"--recipes: {e}")
    try:
        seeds = list(range(int(a.seeds))) if "," not in a.seeds else [int(s) for s in a.seeds.split(",")]
    except ValueError:
        p.error(f"--seeds {a.seeds}: expected a count or a comma-separated list of integers")
    if not seeds:
        p.error("--seeds: at least one seed")
    if a.epochs is not None and a.epochs < 1:
        p.error("--epochs must be positive")
    out = a.out or os.path.join(ROOT, "benchmarks", "results",
                                datetime.datetime.utcnow().strftime("%Y%m%d-%H%M") + "-" + socket.gethostname().split(".")[0] + "-parity")
    os.makedirs(out, exist_ok=True)
    impls = [a.only] if a.only else ["normnet", "pytorch"]
    results = {}
    started = time.perf_counter()
    for name in recipes:
        r = RECIPES[name]
        epochs = a.epochs or r["epochs"]
        for impl in impls:
            for seed in seeds:
                tag = f"{name}-{impl}-s{seed}"
                hist = os.path.join(out, tag + ".json")
                args = recipe_args(r, epochs, seed, a.device, a.threads, a.limit, a.test_limit)
                if impl == "normnet":
                    cmd = [a.normnet, "train"] + args + ["--history", hist]
                else:
                    cmd = [a.python, os.path.join(ROOT, "benchmarks", "pytorch", "train.py")] + args + ["--history", hist]
                timing = os.path.join(out, tag + ".seconds")
                recorded = recorded_run(out, name, impl, seed) if a.reuse else None
                if recorded:
                    hist, timing = recorded
                    print(f"== {tag}: reusing {hist}", file=sys.stderr, flush=True)
                    with open(timing) as f:
                        seconds = float(f.read())
                else:
                    print(f"== {tag}: {' '.join(cmd)}", file=sys.stderr, flush=True)
                    seconds = run(cmd, os.path.join(out, tag + ".log"))
                    with open(timing, "w") as f:
                        f.write(f"{seconds:.3f}\n")
                with open(hist) as f:
                    h = json.load(f)["history"]
                if len(h) != epochs:
                    sys.exit(f"error: {hist}: {len(h)} epochs recorded, expected {epochs}")
                # cost model of this run: start-up, then per epoch a training pass and a test pass
                n_train = min(a.limit or 60000, 60000)
                n_test = min(a.test_limit or 10000, 10000)
                train_s = sum(n_train / e["examples_per_sec"] for e in h)
                eval_s = max(0.0, sum(e["seconds"] for e in h) - train_s)
                startup_s = max(0.0, seconds - sum(e["seconds"] for e in h))
                full_s = startup_s + RECIPES[name]["epochs"] * (train_s / epochs * 60000 / n_train
                                                                 + eval_s / epochs * 10000 / n_test)
                results.setdefault(name, {}).setdefault(impl, []).append(
                    {"seed": seed, "final_test_acc": h[-1]["test_acc"], "final_train_loss": h[-1]["train_loss"],
                     "seconds": seconds, "startup_seconds": startup_s, "train_seconds": train_s, "eval_seconds": eval_s,
                     "full_recipe_estimate_seconds": full_s, "epochs": epochs, "history": os.path.relpath(hist, ROOT)})
                print(f"   test acc {h[-1]['test_acc']:.4f}  ({seconds:.0f} s)", file=sys.stderr, flush=True)
    total = time.perf_counter() - started

    print(f"\n{'recipe':<19} {'epochs':>6} {'normnet test acc':>24} {'pytorch test acc':>24} {'diff':>8}")
    summary = {}
    full_estimate = 0.0
    for name in recipes:
        row = {}
        cells = []
        for impl in ("normnet", "pytorch"):
            runs = results.get(name, {}).get(impl)
            if not runs:
                cells.append("-")
                continue
            s = spread([x["final_test_acc"] for x in runs])
            s["seconds_per_run"] = statistics.fmean(x["seconds"] for x in runs)
            row[impl] = s
            cells.append(f"{s['mean']:.4f} +- {s['std']:.4f}")
            # full cost: each run's start-up plus its per-epoch train and test time scaled to the
            # recipe's epochs and the full data, times 3 seeds
            full_estimate += 3 * statistics.fmean(x["full_recipe_estimate_seconds"] for x in runs)
        diff = f"{row['normnet']['mean'] - row['pytorch']['mean']:+.4f}" if len(row) == 2 else ""
        epochs = a.epochs or RECIPES[name]["epochs"]
        print(f"{name:<19} {epochs:>6} {cells[0]:>24} {cells[1] if len(cells) > 1 else '-':>24} {diff:>8}")
        summary[name] = {"recipe": RECIPES[name], "epochs": epochs, **row}
    print(f"\nthis run: {total / 60:.1f} min; the full run (all epochs, 60000 images, 3 seeds, "
          f"{' and '.join(impls)}) would take about {full_estimate / 60:.0f} min here "
          f"(start-up once per run; training and test passes scaled linearly to all epochs and images)")
    doc = {
        "schema": "normnet-parity/1",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"hostname": socket.gethostname(), "os": f"{platform.system()} {platform.release()}",
                    "cores": os.cpu_count()},
        "device": a.device, "threads": a.threads, "seeds": seeds, "limit": a.limit, "test_limit": a.test_limit,
        "shortened": bool(a.epochs or a.limit or a.test_limit or len(seeds) < 3),
        "command": " ".join(["benchmarks/parity/parity.py"] + (argv if argv is not None else sys.argv[1:])),
        "seconds": total, "full_run_estimate_seconds": full_estimate,
        "recipes": summary, "runs": results,
    }
    # training curves of the first seed, normnet beside PyTorch, one picture per recipe
    for name in recipes:
        hists = [os.path.join(ROOT, results[name][impl][0]["history"]) for impl in impls if results.get(name, {}).get(impl)]
        png = os.path.join(out, f"{name}-curves.png")
        proc = subprocess.run([a.normnet, "plot"] + hists + ["--out", png, "--title",
                               f"{name}: seed {seeds[0]}, " + " vs ".join(impls)], cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"warning: plotting {name}: {proc.stderr.strip()}", file=sys.stderr)
        else:
            doc["recipes"][name]["curves"] = os.path.relpath(png, ROOT)
    path = os.path.join(out, "parity.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
