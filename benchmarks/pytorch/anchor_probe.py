#!/usr/bin/python3
"""Why does one PyTorch process train at a third of the speed of the next? Fresh processes, measured.

Runs the plain PyTorch loop of `bench.py`'s lenet-bn-28/train/b256 case (SGD lr 1.0, data resident as
uint8, gather + forward + loss + backward + update) in many fresh processes, alternating the
configurations under test (flush-to-zero off/on, thread counts), and records in each process what
could explain a slow one:

- examples/s per window of --window steps (a process that settles in a slow mode shows it in every
  window; a disturbance shows in some windows only);
- denormal floats in the parameters, their gradients and the activations at the end (the suspected
  cause: denormal arithmetic costs ~100 cycles per operation on x86 without flush-to-zero);
- steal time of the virtual machine (/proc/stat), the load average before the run, and per thread of
  the process its CPU migrations and involuntary context switches (/proc/self/task/*/sched);
- the CPU each thread last ran on.

With --busy 0,1 each configuration also runs beside one busy-looping process (a neighbour taking
one core), to test the explanation that a second runnable process, not the data, makes the slow mode.

    /usr/bin/python3 benchmarks/pytorch/anchor_probe.py --processes 12 --threads 1,2 --json probe.json
    /usr/bin/python3 benchmarks/pytorch/anchor_probe.py --processes 4 --threads 1,2 --ftz 1 --busy 0,1
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _steal_ticks():
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return int(fields[8]) if len(fields) > 8 else 0


def _thread_stats():
    """{tid: {migrations, involuntary, cpu}} of this process's threads (where the kernel reports them)."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        s = {}
        try:
            with open(f"/proc/self/task/{tid}/sched") as f:
                for line in f:
                    if line.startswith("se.nr_migrations"):
                        s["migrations"] = int(line.split(":")[1])
                    elif line.startswith("nr_involuntary_switches"):
                        s["involuntary"] = int(line.split(":")[1])
            with open(f"/proc/self/task/{tid}/stat") as f:
                s["cpu"] = int(f.read().rsplit(")", 1)[1].split()[36])
        except (OSError, ValueError, IndexError):
            pass
        out[tid] = s
    return out


def _denormals(t):
    import torch
    a = t.detach().abs()
    return int(((a > 0) & (a < torch.finfo(torch.float32).tiny)).sum())


def child(a):
    """One process: the measurement, printed as one JSON line."""
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, HERE)
    import common
    import models

    torch.set_num_threads(a.child_threads)
    ftz = bool(a.child_ftz)
    if ftz and not torch.set_flush_denormal(True):
        print(json.dumps({"error": "torch.set_flush_denormal(True) is not supported on this CPU"}))
        return 1
    directory = common.find_data(a.data)
    images, labels = common.load_split(directory, "train")
    data = common.Resident(images, labels, "cpu")
    torch.manual_seed(a.seed)
    model = models.make_model("lenet-bn", 28)
    model.train()
    opt = common.make_optimizer("sgd", model.parameters(), 1.0)
    order = torch.randperm(data.count, generator=torch.Generator().manual_seed(a.seed))
    acts = {}
    for name, m in model.named_modules():
        if name:
            m.register_forward_hook(lambda mod, inp, out, name=name: acts.__setitem__(name, out))
    load = os.getloadavg()[0]
    steal0 = _steal_ticks()
    pos = 0
    rates = []
    t0 = time.perf_counter()
    start = t0
    for s in range(a.steps):
        if pos + 256 > data.count:
            pos = 0
        x, y = data.gather(order[pos:pos + 256], 28)
        pos += 256
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (s + 1) % a.window == 0:
            t1 = time.perf_counter()
            rates.append(a.window * 256 / (t1 - t0))
            t0 = t1
    seconds = time.perf_counter() - start
    hz = os.sysconf("SC_CLK_TCK")
    threads = _thread_stats()
    doc = {
        "ftz": ftz, "threads": a.child_threads, "steps": a.steps, "window_rates": [round(r, 1) for r in rates],
        "median_rate": statistics.median(rates), "seconds": seconds, "load_before": load,
        "steal_seconds": (_steal_ticks() - steal0) / hz,
        "denormal_params": sum(_denormals(p) for p in model.parameters()),
        "denormal_grads": sum(_denormals(p.grad) for p in model.parameters() if p.grad is not None),
        "denormal_activations": sum(_denormals(t) for t in acts.values()),
        "migrations": sum(t.get("migrations", 0) for t in threads.values()),
        "involuntary_switches": sum(t.get("involuntary", 0) for t in threads.values()),
        "thread_cpus": sorted(t.get("cpu", -1) for t in threads.values()),
        "os_threads": len(threads),
    }
    print(json.dumps(doc))
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--processes", type=int, default=12, help="fresh processes per configuration (default 12)")
    p.add_argument("--threads", default="2", help="comma-separated thread counts to try (default 2)")
    p.add_argument("--ftz", default="0,1", help="flush-to-zero settings to try: 0, 1 or 0,1 (default)")
    p.add_argument("--busy", default="0", help="busy-looping neighbour processes to run beside each measurement: "
                                                "comma-separated counts, e.g. 0,1 (default 0)")
    p.add_argument("--steps", type=int, default=240, help="training steps per process (default 240)")
    p.add_argument("--window", type=int, default=40, help="steps per rate window (default 40)")
    p.add_argument("--data", help="Fashion-MNIST directory")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--json", help="write every process's record here")
    p.add_argument("--child-threads", type=int, help=argparse.SUPPRESS)
    p.add_argument("--child-ftz", type=int, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child_threads is not None:
        return child(a)
    try:
        thread_counts = [int(t) for t in a.threads.split(",")]
        ftzs = [int(f) for f in a.ftz.split(",")]
        busies = [int(b) for b in a.busy.split(",")]
    except ValueError:
        p.error(f"--threads {a.threads!r} / --ftz {a.ftz!r} / --busy {a.busy!r}: expected comma-separated integers")
    if any(b < 0 for b in busies):
        p.error(f"--busy {a.busy}: counts must be 0 or more")
    if any(t < 1 for t in thread_counts) or any(f not in (0, 1) for f in ftzs):
        p.error("--threads must list positive counts and --ftz only 0 or 1")
    if a.processes < 1 or a.steps < a.window or a.window < 1:
        p.error("--processes and --window must be positive and --steps at least --window")
    configs = [(t, f, b) for t in thread_counts for f in ftzs for b in busies]
    records = []
    print(f"{'#':>3} {'thr':>3} {'ftz':>3} {'busy':>4} {'ex/s':>8} {'windows (ex/s)':<44} {'steal s':>7} {'migr':>5} {'invol':>6} "
          f"{'den.act':>8} {'den.grad':>8} {'load':>5}")
    for i in range(a.processes):
        for t, f, b in configs:   # interleaved, so that a slow period of the machine hits every configuration
            hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(b)]
            cmd = [sys.executable, os.path.abspath(__file__), "--child-threads", str(t), "--child-ftz", str(f),
                   "--steps", str(a.steps), "--window", str(a.window), "--seed", str(a.seed)]
            if a.data:
                cmd += ["--data", a.data]
            try:
                r = subprocess.run(cmd, capture_output=True, text=True)
            finally:
                for h in hogs:
                    h.kill()
                    h.wait()
            if r.returncode != 0:
                sys.exit(f"error: probe process failed ({r.returncode}): {r.stderr.strip() or r.stdout.strip()}")
            rec = json.loads(r.stdout.strip().splitlines()[-1])
            if "error" in rec:
                sys.exit("error: " + rec["error"])
            rec["process"] = i
            rec["busy_neighbours"] = b
            records.append(rec)
            w = " ".join(f"{x:.0f}" for x in rec["window_rates"])
            print(f"{i:>3} {t:>3} {f:>3} {b:>4} {rec['median_rate']:>8.0f} {w:<44} {rec['steal_seconds']:>7.2f} "
                  f"{rec['migrations']:>5} {rec['involuntary_switches']:>6} {rec['denormal_activations']:>8} "
                  f"{rec['denormal_grads']:>8} {rec['load_before']:>5.2f}", flush=True)
    print()
    print(f"{'thr':>3} {'ftz':>3} {'busy':>4} {'processes':>9} {'median ex/s':>11} {'min':>8} {'max':>8} {'max/min':>7}")
    for t, f, b in configs:
        rs = [r["median_rate"] for r in records
              if r["threads"] == t and r["ftz"] == bool(f) and r["busy_neighbours"] == b]
        print(f"{t:>3} {f:>3} {b:>4} {len(rs):>9} {statistics.median(rs):>11.0f} {min(rs):>8.0f} {max(rs):>8.0f} "
              f"{max(rs) / min(rs):>7.2f}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"schema": "normnet-anchor-probe/1", "command": " ".join(sys.argv),
                       "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "records": records}, fh, indent=1)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
