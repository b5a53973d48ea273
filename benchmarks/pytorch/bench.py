#!/usr/bin/python3
"""PyTorch reference for `normnet bench`: training and inference throughput, same cases, same JSON.

Training is measured as full steps (gather + forward + loss + backward + update) on data kept on
the device; inference as gather + eval-mode forward + loss and accuracy sums, without gradients.
On a GPU every case runs eager and captured as a CUDA graph (torch.cuda.graph), in fp32 as normnet
computes: cuDNN's convolutions with TF32 off (PyTorch's default lets them round their inputs to
TF32 on the tensor cores). `--tf32 also` adds, after all the others, the convolutional models' GPU
training cases again with PyTorch's default, as ids ending in /tf32. With --json the file is rewritten
after every case ("complete": false until the last), so a run stopped early keeps what it measured.

    /usr/bin/python3 benchmarks/pytorch/bench.py --device cpu --threads 2 --json out.json [--quick]
"""

import argparse
import re
import sys

import torch
import torch.nn.functional as F

import common
import models

# (model, input size, mode, batch, devices): the same list as dev.normnet.bench.BenchCases
CASES = [
    ("lenet-bn", 28, "train", 64, ("cpu", "cuda")),
    ("lenet-bn", 28, "train", 256, ("cpu", "cuda")),
    ("lenet-bn", 28, "train", 1024, ("cpu", "cuda")),
    ("lenet-bn", 28, "infer", 1000, ("cpu", "cuda")),
    ("lenet-bn", 224, "train", 32, ("cpu",)),
    ("lenet-bn", 224, "infer", 32, ("cpu",)),
    ("lenet-bn", 224, "train", 128, ("cuda",)),
    ("lenet-bn", 224, "infer", 128, ("cuda",)),
    ("mlp-bn", 28, "train", 32, ("cpu", "cuda")),
    ("mlp-bn", 28, "train", 256, ("cpu", "cuda")),
    ("mlp-bn", 28, "infer", 1000, ("cpu", "cuda")),
]

# the optimizer each model's training step uses: that of the sgd recipe for LeNet-BN, of mlp-adam for MLP-BN
OPTIMIZER = {"lenet-bn": ("sgd", 1.0), "mlp-bn": ("adam", 0.01)}


# the models with convolutions, whose GPU training cases `--tf32 also` runs a second time with TF32 allowed
CONV_MODELS = ("lenet-bn",)


def case_id(model, size, mode, batch, device, graph, tf32=False):
    return f"{model}-{size}/{mode}/b{batch}/{device}" + ("/graph" if graph else "") + ("/tf32" if tf32 else "")


class Stepper:
    """One benchmark case: a model, its optimizer, resident data and a step function."""

    def __init__(self, data, model_name, size, mode, batch, device, graph, seed):
        torch.manual_seed(seed)
        self.data = data
        self.size = size
        self.batch = batch
        self.device = device
        self.model = models.make_model(model_name, size).to(device)
        self.train = mode == "train"
        self.model.train(self.train)
        opt_name, lr = OPTIMIZER[model_name]
        self.opt = common.make_optimizer(opt_name, self.model.parameters(), lr,
                                         capturable=graph) if self.train else None
        gen = torch.Generator(device="cpu").manual_seed(seed)
        self.order = torch.randperm(data.count, generator=gen).to(device)
        self.pos = 0
        self.loss_sum = torch.zeros((), device=device)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)
        self.graph = None
        if graph:
            self._capture()

    def _next_slice(self):
        if self.pos + self.batch > self.data.count:
            self.pos = 0
        idx = self.order[self.pos:self.pos + self.batch]
        self.pos += self.batch
        return idx

    def _body(self, idx, zero_grad=True):
        x, y = self.data.gather(idx, self.size)
        if self.train:
            out = self.model(x)
            loss = F.cross_entropy(out, y)
            if zero_grad:
                self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.loss_sum += loss.detach() * self.batch
        else:
            with torch.no_grad():
                out = self.model(x)
                self.loss_sum += F.cross_entropy(out, y, reduction="sum")
        self.correct += (out.argmax(1) == y).sum()

    def _capture(self):
        self.static_idx = self._next_slice().clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                self._body(self.static_idx)
        torch.cuda.current_stream().wait_stream(side)
        # as PyTorch's whole-network capture example: gradients set to None before the capture
        # are allocated from the graph's pool inside it and overwritten by every replay
        self.graph = torch.cuda.CUDAGraph()
        if self.opt is not None:
            self.opt.zero_grad(set_to_none=True)
        with torch.cuda.graph(self.graph):
            self._body(self.static_idx, zero_grad=False)

    def step(self):
        if self.graph is None:
            self._body(self._next_slice())
        else:
            self.static_idx.copy_(self._next_slice())
            self.graph.replay()

    def sync(self):
        if self.device == "cuda":
            torch.cuda.synchronize()


def run_case(data, model, size, mode, batch, device, graph, settings, seed, tf32=False):
    """Times one case; on a GPU with cuDNN's convolutions in TF32 when tf32, else in fp32."""
    precision = common.set_conv_tf32(tf32) if device == "cuda" else None
    s = Stepper(data, model, size, mode, batch, device, graph, seed)
    steps = common.calibrate(s.step, s.sync, settings["target_seconds"], settings["warmup_seconds"])
    seconds = common.timed_runs(s.step, s.sync, steps, settings["repeats"])
    eps = [steps * batch / t for t in seconds]
    opt = OPTIMIZER[model] if mode == "train" else None
    row = {
        "id": case_id(model, size, mode, batch, device, graph, tf32),
        "model": model, "input": size, "mode": mode, "batch": batch, "device": device, "graph": graph,
        "optimizer": None if opt is None else f"{opt[0]} lr {opt[1]}",
        "steps_per_run": steps, "repeats": len(seconds),
        "seconds": common.spread(seconds),
        "examples_per_sec": common.spread(eps),
    }
    if precision is not None:
        row["fp32_precision"] = precision
    return row


def plan(devices, tf32, pattern):
    """The (model, size, mode, batch, device, graph, tf32) cases to run, in order: every case, then
    with tf32 "also" the convolutional models' GPU training cases again with TF32 allowed."""
    todo = []
    for device in devices:
        for model, size, mode, batch, where in CASES:
            if device in where:
                for graph in ([False, True] if device == "cuda" else [False]):
                    todo.append((model, size, mode, batch, device, graph, False))
    if tf32 == "also":
        todo += [c[:6] + (True,) for c in todo if c[4] == "cuda" and c[0] in CONV_MODELS and c[2] == "train"]
    return [c for c in todo if not pattern or pattern.search(case_id(*c))]


def add_speedups(cases):
    """GPU/CPU speed-up: a CUDA case's median over the CPU case of the same model, input and mode."""
    cpu = {}
    for c in cases:
        if c["device"] == "cpu":
            cpu.setdefault((c["model"], c["input"], c["mode"]), c)
            cpu[(c["model"], c["input"], c["mode"], c["batch"])] = c
    for c in cases:
        if c["device"] == "cuda":
            ref = cpu.get((c["model"], c["input"], c["mode"], c["batch"])) or cpu.get((c["model"], c["input"], c["mode"]))
            if ref is not None:
                c["speedup_vs_cpu"] = c["examples_per_sec"]["median"] / ref["examples_per_sec"]["median"]
                c["speedup_reference"] = ref["id"]


def print_table(doc):
    print(f"{'case':<34} {'steps':>6} {'examples/s (median)':>20} {'min':>10} {'max':>10} {'vs cpu':>7}")
    for c in doc["cases"]:
        e = c["examples_per_sec"]
        sp = f"{c['speedup_vs_cpu']:.1f}x" if "speedup_vs_cpu" in c else ""
        print(f"{c['id']:<34} {c['steps_per_run']:>6} {e['median']:>20.1f} {e['min']:>10.1f} {e['max']:>10.1f} {sp:>7}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="all", choices=["cpu", "cuda", "all"])
    p.add_argument("--threads", type=int, default=0, help="CPU threads (torch.set_num_threads); 0 keeps PyTorch's default")
    p.add_argument("--quick", action="store_true", help="shorter runs and fewer repeats")
    p.add_argument("--flush-denormal", action="store_true",
                   help="torch.set_flush_denormal(True): denormal floats read and written as zero, as a careful user "
                        "would set it (benchmarks/side_by_side.sh passes it)")
    p.add_argument("--keep-freed-memory", action="store_true",
                   help="glibc malloc keeps freed memory for the next allocations (no per-allocation mappings, no "
                        "trimming), as a careful user would configure the allocator (benchmarks/side_by_side.sh "
                        "passes it; see common.keep_freed_memory)")
    p.add_argument("--repeats", type=int, help="timed runs per case (default 5, quick 3)")
    p.add_argument("--seconds", type=float, help="target seconds per timed run (default 1.0, quick 0.3)")
    p.add_argument("--only", help="regular expression: run only the cases whose id matches")
    p.add_argument("--data", help="directory with the Fashion-MNIST IDX files")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--tf32", choices=["off", "also"], default="off",
                   help="off (default): cuDNN's convolutions in fp32, as normnet computes; also: then the "
                        "convolutional models' GPU training cases again with PyTorch's default, TF32 allowed (ids end in /tf32)")
    p.add_argument("--json", help="write the results to this file (rewritten after every case)")
    a = p.parse_args(argv)
    if a.threads < 0:
        p.error(f"--threads {a.threads}: must be 0 (default) or positive")
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.flush_denormal and not torch.set_flush_denormal(True):
        print("error: --flush-denormal: this CPU does not support flushing denormals", file=sys.stderr)
        return 2
    if a.keep_freed_memory:
        why = common.keep_freed_memory()
        if why is not None:
            print(f"error: --keep-freed-memory: {why}", file=sys.stderr)
            return 2
    if a.device == "cuda" and not common.cuda_usable():
        print("error: --device cuda: torch.cuda is not available on this machine", file=sys.stderr)
        return 2
    devices = ["cpu", "cuda"] if a.device == "all" else [a.device]
    if "cuda" in devices and not common.cuda_usable():
        print("cuda: skipped (torch.cuda is not available)", file=sys.stderr)
        devices.remove("cuda")
    settings = {
        "quick": a.quick,
        "repeats": a.repeats or (3 if a.quick else 5),
        "target_seconds": a.seconds or (0.3 if a.quick else 1.0),
        "warmup_seconds": 1.0 if a.quick else 2.0,
        "seed": a.seed,
        "flush_denormal": a.flush_denormal,
        "keep_freed_memory": a.keep_freed_memory,
        "tf32": a.tf32,
    }
    if settings["repeats"] < 1 or settings["target_seconds"] <= 0:
        p.error("--repeats and --seconds must be positive")
    pattern = re.compile(a.only) if a.only else None
    directory = common.find_data(a.data)
    images, labels = common.load_split(directory, "train")
    doc = common.header("pytorch", settings)
    doc["data"] = directory
    doc["complete"] = False
    doc["cases"] = []
    resident = {}
    for model, size, mode, batch, device, graph, tf32 in plan(devices, a.tf32, pattern):
        if device not in resident:
            resident[device] = common.Resident(images, labels, device)
        c = run_case(resident[device], model, size, mode, batch, device, graph, settings, a.seed, tf32)
        print(f"  {c['id']}: {c['examples_per_sec']['median']:.1f} examples/s", file=sys.stderr, flush=True)
        doc["cases"].append(c)
        if a.json:
            common.write_json(a.json, doc)
    add_speedups(doc["cases"])
    print_table(doc)
    doc["complete"] = True
    if a.json:
        common.write_json(a.json, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
