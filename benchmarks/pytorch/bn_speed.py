#!/usr/bin/python3
"""PyTorch's nn.BatchNorm2d / nn.BatchNorm1d at given shapes, for `normnet experiment bn-speed`.

For each shape (N,C,H,W as "256x6x24x24", or N,C as "256x120") and device (the CPU, and CUDA when
torch.cuda is available: cuDNN there), times the training-mode forward pass (no autograd graph
recorded, as normnet's forward) and the backward pass alone (the forward graph built once, then
torch.autograd.grad for dx, dgamma and dbeta with retain_graph=True), with the timing protocol of
normnet's Timer (common.calibrate and common.timed_runs). Prints one JSON document on stdout:

    {"implementation": "pytorch", "torch": "1.13.0", "threads": 2,
     "cases": [{"shape": "256x6x24x24", "device": "cpu", "direction": "forward_train",
                "module": "BatchNorm2d", "ms": {"median": ..., "min": ..., ...}}, ...]}

    /usr/bin/python3 benchmarks/pytorch/bn_speed.py --shapes 256x6x24x24,256x120 --threads 2

Exit status 3 (with one line on stderr) when torch cannot be imported.
"""

import argparse
import json
import sys

try:
    import torch
    import common
except ImportError as e:   # torch itself, or numpy which common needs
    print(f"no PyTorch: {e}", file=sys.stderr)
    sys.exit(3)


def parse_shape(text):
    dims = tuple(int(d) for d in text.split("x"))
    if len(dims) not in (2, 4) or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"shape {text!r}: expected NxC or NxCxHxW with positive sizes")
    return dims


def cases(shape, device, gen):
    c = shape[1]
    module = (torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d)(c).to(device).train()
    with torch.no_grad():
        module.weight.copy_(torch.rand(c, generator=gen) + 0.5)
        module.bias.copy_(torch.rand(c, generator=gen) - 0.5)
    x = (torch.rand(*shape, generator=gen) * 4 - 2).to(device)
    dy = (torch.rand(*shape, generator=gen) * 2 - 1).to(device)

    def forward():
        with torch.no_grad():
            return module(x)

    xg = x.detach().clone().requires_grad_(True)
    y = module(xg)

    def backward():
        return torch.autograd.grad(y, (xg, module.weight, module.bias), dy, retain_graph=True)

    return type(module).__name__, [("forward_train", forward), ("backward", backward)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shapes", required=True, help="comma-separated NxC or NxCxHxW")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--warmup", type=float, default=0.5, help="seconds of warm-up per case")
    p.add_argument("--seconds", type=float, default=0.5, help="target seconds of one timed run")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--no-cuda", action="store_true", help="time the CPU only")
    a = p.parse_args(argv)
    shapes = [parse_shape(s) for s in a.shapes.split(",")]
    if a.threads < 0 or a.repeats < 1 or a.seconds <= 0 or a.warmup < 0:
        p.error("--threads, --warmup must be >= 0; --seconds, --repeats > 0")
    if a.threads:
        torch.set_num_threads(a.threads)
    devices = ["cpu"] + (["cuda"] if not a.no_cuda and torch.cuda.is_available() else [])
    gen = torch.Generator(device="cpu").manual_seed(7)
    out = []
    for device in devices:
        sync = (lambda: torch.cuda.synchronize()) if device == "cuda" else (lambda: None)
        for shape in shapes:
            module, calls = cases(shape, device, gen)
            for direction, call in calls:
                steps = common.calibrate(call, sync, a.seconds, a.warmup)
                secs = common.timed_runs(call, sync, steps, a.repeats)
                out.append({"shape": "x".join(str(d) for d in shape), "device": device, "direction": direction,
                            "module": module, "ms": common.spread([1e3 * s / steps for s in secs])})
    gpu = torch.cuda.get_device_name(0) if "cuda" in devices else None
    json.dump({"implementation": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(),
               "gpu": gpu, "cases": out}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
