#!/usr/bin/python3
"""PyTorch reference for `normnet bench --kernels`: the same ops at the same shapes, same JSON keys.

On a GPU the convolution and batch-norm calls go to cuDNN and the GEMMs to cuBLAS, the anchors
normnet's hand-written kernels are measured against, in fp32 as normnet computes (TF32 off for
cuDNN's convolutions, which PyTorch allows by default; the device entry records the setting). Backward passes are timed alone: the
forward graph is built once and torch.autograd.grad is called with retain_graph=True, asking only
for the gradients the op direction produces (dx alone for backward_data, dw and db alone for
backward_filter). Bytes and flops are counted exactly as dev.normnet.bench.KernelBench counts them.
The limits are a device-to-device copy of 256 MB (128 MB on the CPU) and torch.mm (cuBLAS on a
GPU) at n = 4096 (1024 on the CPU). The JSON file is written whole after every kernel ("complete":
false until the last), so a run stopped early keeps what it measured.

    /usr/bin/python3 benchmarks/pytorch/kernels.py --device cuda --json kernels-pytorch.json
"""

import argparse
import re
import sys

import torch
import torch.nn.functional as F

import common
import models


class Kernels:
    def __init__(self, device):
        self.device = device
        self.gen = torch.Generator(device="cpu").manual_seed(7)
        self.list = []

    def rand(self, *shape, lo=-1.0, hi=1.0, grad=False):
        t = (torch.rand(*shape, generator=self.gen) * (hi - lo) + lo).to(self.device)
        return t.requires_grad_(grad)

    def add(self, op, direction, shape, nbytes, flops, call):
        self.list.append({"op": op, "direction": direction, "shape": shape, "bytes": float(nbytes),
                          "flops": float(flops), "call": call})

    @staticmethod
    def dims(shape):
        return "x".join(str(d) for d in shape)

    # ------------------------------------------------------------ ops, as KernelBench.java

    def gather(self, n, side):
        count = 60000
        images = torch.randint(0, 256, (count, side, side), dtype=torch.uint8, generator=self.gen).to(self.device)
        labels = torch.randint(0, 10, (count,), generator=self.gen).to(self.device)
        order = ((torch.arange(count, dtype=torch.int64) * 7919) % count).to(self.device)
        px = n * side * side

        def call():
            idx = order[:n]
            x = images.index_select(0, idx).unsqueeze(1).float().div_(255.0)
            y = labels.index_select(0, idx)
            return x, y
        self.add("gather", "forward", self.dims((n, 1, side, side)), px + 4 * px + 4 * n + 4 * n, px, call)

    def conv(self, name, n, c, h, k, r, backward_data):
        p = h - r + 1
        x = self.rand(n, c, h, h)
        w = self.rand(k, c, r, r, lo=-0.2, hi=0.2)
        b = self.rand(k, lo=-0.2, hi=0.2)
        dy = self.rand(n, k, p, p)
        mac = n * k * p * p * c * r * r
        ex, ew, ey = x.numel(), w.numel(), dy.numel()
        shape = f"{self.dims(x.shape)}->{self.dims(dy.shape)} k{r}"
        self.add(name, "forward", shape, 4 * (ex + ew + k + ey), 2 * mac + ey, lambda: F.conv2d(x, w, b))
        if backward_data:
            xg = x.detach().clone().requires_grad_(True)
            yd = F.conv2d(xg, w, b)
            self.add(name, "backward_data", shape, 4 * (ey + ew + ex), 2 * mac,
                     lambda: torch.autograd.grad(yd, (xg,), dy, retain_graph=True))
        wg = w.detach().clone().requires_grad_(True)
        bg = b.detach().clone().requires_grad_(True)
        yf = F.conv2d(x, wg, bg)
        self.add(name, "backward_filter", shape, 4 * (ex + ey + ew + k), 2 * mac + ey,
                 lambda: torch.autograd.grad(yf, (wg, bg), dy, retain_graph=True))

    def batch_norm(self, name, n, c, h, w, evaluation):
        shape = (n, c) if h == 1 and w == 1 else (n, c, h, w)
        x = self.rand(*shape, lo=-2, hi=2)
        dy = self.rand(*shape)
        gamma = self.rand(c, lo=0.5, hi=1.5)
        beta = self.rand(c, lo=-0.5, hi=0.5)
        rm = torch.zeros(c, device=self.device)
        rv = torch.ones(c, device=self.device)
        e = x.numel()
        s = self.dims(shape)
        self.add(name, "forward_train", s, 4 * (2 * e + 8 * c), 8 * e,
                 lambda: F.batch_norm(x, rm, rv, gamma, beta, training=True, momentum=0.1, eps=1e-5))
        if evaluation:
            self.add(name, "forward_eval", s, 4 * (2 * e + 4 * c), 2 * e,
                     lambda: F.batch_norm(x, rm, rv, gamma, beta, training=False, eps=1e-5))
        xg = x.detach().clone().requires_grad_(True)
        gg = gamma.detach().clone().requires_grad_(True)
        bg = beta.detach().clone().requires_grad_(True)
        y = F.batch_norm(xg, rm.clone(), rv.clone(), gg, bg, training=True, momentum=0.1, eps=1e-5)
        self.add(name, "backward", s, 4 * (3 * e + 5 * c), 12 * e,
                 lambda: torch.autograd.grad(y, (xg, gg, bg), dy, retain_graph=True))

    def sigmoid(self, name, shape):
        x = self.rand(*shape, lo=-4, hi=4)
        y = torch.sigmoid(x)
        dy = self.rand(*shape)
        e = x.numel()
        s = self.dims(shape)
        self.add(name, "forward", s, 8 * e, 4 * e, lambda: torch.sigmoid(x))
        self.add(name, "backward", s, 12 * e, 3 * e, lambda: torch.ops.aten.sigmoid_backward(dy, y))

    def avg_pool(self, name, n, c, h):
        p = h // 2
        x = self.rand(n, c, h, h)
        dy = self.rand(n, c, p, p)
        ex, ey = x.numel(), dy.numel()
        s = f"{self.dims(x.shape)}->{self.dims(dy.shape)}"
        self.add(name, "forward", s, 4 * (ex + ey), 4 * ey, lambda: F.avg_pool2d(x, 2, 2))
        self.add(name, "backward", s, 4 * (ey + ex), ex,
                 lambda: torch.ops.aten.avg_pool2d_backward(dy, x, [2, 2], [2, 2], [0, 0], False, True, None))

    def block(self, name, n, c, h, w, pool):
        """Batch norm, Sigmoid and (pool) 2x2 average pooling in turn, as KernelBench.block times normnet's fused ops."""
        shape = (n, c) if h == 1 and w == 1 else (n, c, h, w)
        x = self.rand(*shape, lo=-2, hi=2)
        gamma = self.rand(c, lo=0.5, hi=1.5)
        beta = self.rand(c, lo=-0.5, hi=0.5)
        rm = torch.zeros(c, device=self.device)
        rv = torch.ones(c, device=self.device)
        pshape = (n, c, h // 2, w // 2) if pool else shape
        d_out = self.rand(*pshape)
        e = x.numel()
        ep = d_out.numel() if pool else 0
        s = self.dims(shape) + (f"->{self.dims(pshape)}" if pool else "")

        def forward(x_, gamma_, beta_, training):
            y = torch.sigmoid(F.batch_norm(x_, rm, rv, gamma_, beta_, training=training, momentum=0.1, eps=1e-5))
            return F.avg_pool2d(y, 2, 2) if pool else y
        self.add(name, "forward_train", s, 4 * (3 * e + ep + 8 * c), 12 * e + 4 * ep, lambda: forward(x, gamma, beta, True))
        self.add(name, "forward_eval", s, 4 * (2 * e + ep + 4 * c), 6 * e + 4 * ep, lambda: forward(x, gamma, beta, False))
        xg = x.detach().clone().requires_grad_(True)
        gg = gamma.detach().clone().requires_grad_(True)
        bg = beta.detach().clone().requires_grad_(True)
        out = forward(xg, gg, bg, True)
        self.add(name, "backward", s, 4 * (3 * e + ep + 5 * c), 15 * e + ep,
                 lambda: torch.autograd.grad(out, (xg, gg, bg), d_out, retain_graph=True))

    def linear(self, name, n, i, o):
        x = self.rand(n, i)
        w = self.rand(o, i, lo=-0.1, hi=0.1)
        b = self.rand(o, lo=-0.1, hi=0.1)
        dy = self.rand(n, o)
        mac = n * i * o
        ex, ew, ey = x.numel(), w.numel(), dy.numel()
        s = f"{n}x{i}->{n}x{o}"
        self.add(name, "forward", s, 4 * (ex + ew + o + ey), 2 * mac + ey, lambda: F.linear(x, w, b))
        self.add(name, "backward_data", s, 4 * (ey + ew + ex), 2 * mac, lambda: torch.mm(dy, w))
        self.add(name, "backward_weight", s, 4 * (ex + ey + ew + o), 2 * mac + ey,
                 lambda: (torch.mm(dy.t(), x), dy.sum(0)))
        self.add(name, "backward", s, 4 * (ex + ey + ew + ex + ew + o), 4 * mac + ey,
                 lambda: (torch.mm(dy, w), torch.mm(dy.t(), x), dy.sum(0)))

    def softmax_cross_entropy(self, n, k):
        logits = self.rand(n, k, lo=-3, hi=3, grad=True)
        labels = torch.randint(0, k, (n,), generator=self.gen).to(self.device)
        e = logits.numel()

        def call():
            loss = F.cross_entropy(logits, labels)
            return torch.autograd.grad(loss, (logits,))
        self.add("softmax_cross_entropy", "forward_backward", f"{n}x{k}", 4 * (2 * e + n + 2), 6 * e, call)

    def optimizers(self, count):
        def make(kind):
            p = self.rand(count, lo=-0.1, hi=0.1, grad=True)
            p.grad = self.rand(count, lo=-1e-3, hi=1e-3)
            if kind == "sgd":
                return torch.optim.SGD([p], lr=1e-3)
            if kind == "sgd_momentum":
                return torch.optim.SGD([p], lr=1e-3, momentum=0.9)
            return torch.optim.Adam([p], lr=1e-6)
        e = count
        for kind, nbytes, flops in (("sgd", 12 * e, 2 * e), ("sgd_momentum", 20 * e, 4 * e), ("adam", 28 * e, 14 * e)):
            opt = make(kind)
            self.add(kind, "update", str(count), nbytes, flops, opt.step)

    def build(self, n, large, lenet_parameters):
        self.gather(n, 28)
        self.conv("conv1", n, 1, 28, 6, 5, False)
        self.batch_norm("bn1", n, 6, 24, 24, True)
        self.sigmoid("sigmoid1", (n, 6, 24, 24))
        self.avg_pool("pool1", n, 6, 24)
        self.block("bn1+sigmoid1+pool1", n, 6, 24, 24, True)
        self.conv("conv2", n, 6, 12, 16, 5, True)
        self.batch_norm("bn2", n, 16, 8, 8, False)
        self.sigmoid("sigmoid2", (n, 16, 8, 8))
        self.avg_pool("pool2", n, 16, 8)
        self.block("bn2+sigmoid2+pool2", n, 16, 8, 8, True)
        self.linear("linear1", n, 256, 120)
        self.batch_norm("bn3", n, 120, 1, 1, False)
        self.sigmoid("sigmoid3", (n, 120))
        self.block("bn3+sigmoid3", n, 120, 1, 1, False)
        self.linear("linear2", n, 120, 84)
        self.batch_norm("bn4", n, 84, 1, 1, False)
        self.linear("linear3", n, 84, 10)
        self.softmax_cross_entropy(n, 10)
        self.optimizers(lenet_parameters)
        if large:
            self.conv("conv2-224", 256, 6, 110, 16, 5, True)
            self.batch_norm("bn2-224", 256, 16, 106, 106, True)
            self.sigmoid("sigmoid2-224", (256, 16, 106, 106))
            self.avg_pool("pool2-224", 256, 16, 106)
            self.block("bn2-224+sigmoid2-224+pool2-224", 256, 16, 106, 106, True)
        return self.list


def limits(device, repeats):
    sync = (lambda: torch.cuda.synchronize()) if device == "cuda" else (lambda: None)
    n = (64 << 20) if device == "cuda" else (32 << 20)
    src = torch.ones(n, device=device)
    dst = torch.empty_like(src)
    best_copy = 0.0
    import time
    dst.copy_(src)
    sync()
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(5):
            dst.copy_(src)
        sync()
        best_copy = max(best_copy, 5 * 2 * 4 * n / (time.perf_counter() - t0) / 1e9)
    del src, dst
    g = 4096 if device == "cuda" else 1024
    a = torch.rand(g, g, device=device)
    b = torch.rand(g, g, device=device)
    torch.mm(a, b)
    sync()
    best_gemm = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(3):
            torch.mm(a, b)
        sync()
        best_gemm = max(best_gemm, 3 * 2 * g ** 3 / (time.perf_counter() - t0) / 1e9)
    return {"copy_gb_per_s": best_copy, "copy_method": f"torch copy_ of {4 * n >> 20} MB",
            "gemm_gflop_per_s": best_gemm, "gemm_method": f"torch.mm {g} x {g} x {g}" + (" (cuBLAS)" if device == "cuda" else "")}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="all", choices=["cpu", "cuda", "all"])
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeats", type=int)
    p.add_argument("--seconds", type=float)
    p.add_argument("--only", help="regular expression on 'op/direction shape'")
    p.add_argument("--no-large", action="store_true", help="skip the large shape (N=256, C=16, H=W=106)")
    p.add_argument("--json")
    a = p.parse_args(argv)
    if a.threads < 0:
        p.error("--threads must be positive")
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.device == "cuda" and not common.cuda_usable():
        print("error: --device cuda: torch.cuda is not available on this machine", file=sys.stderr)
        return 2
    devices = ["cpu", "cuda"] if a.device == "all" else [a.device]
    if "cuda" in devices and not common.cuda_usable():
        print("cuda: skipped (torch.cuda is not available)", file=sys.stderr)
        devices.remove("cuda")
    settings = {"quick": a.quick, "repeats": a.repeats or (3 if a.quick else 5),
                "target_seconds": a.seconds or (0.3 if a.quick else 1.0), "warmup_seconds": 1.0 if a.quick else 2.0}
    pattern = re.compile(a.only) if a.only else None
    lenet_parameters = sum(t.numel() for t in models.make_model("lenet-bn").parameters())
    doc = common.header("pytorch", settings)
    doc["kind"] = "kernels"
    doc["complete"] = False
    doc["devices"] = []
    torch.set_grad_enabled(True)
    for device in devices:
        sync = (lambda: torch.cuda.synchronize()) if device == "cuda" else (lambda: None)
        precision = common.set_conv_tf32(False) if device == "cuda" else None
        lim = limits(device, settings["repeats"])
        print(f"{device}: copy {lim['copy_gb_per_s']:.1f} GB/s, GEMM {lim['gemm_gflop_per_s']:.1f} GFLOP/s", file=sys.stderr)
        rows = []
        entry = {"device": device, "backend": f"torch {torch.__version__} {device}", "limits": lim, "kernels": rows}
        if precision is not None:
            entry["fp32_precision"] = precision
        doc["devices"].append(entry)
        for k in Kernels(device).build(256, not a.no_large, lenet_parameters):
            kid = f"{k['op']}/{k['direction']} {k['shape']}"
            if pattern and not pattern.search(kid):
                continue
            call = k["call"]
            steps = common.calibrate(call, sync, settings["target_seconds"], settings["warmup_seconds"])
            secs = common.timed_runs(call, sync, steps, settings["repeats"])
            ms = common.spread([1e3 * s / steps for s in secs])
            t = ms["median"] / 1e3
            row = {key: k[key] for key in ("op", "direction", "shape")}
            row.update({"calls_per_run": steps, "ms": ms, "bytes": k["bytes"], "flops": k["flops"],
                        "gb_per_s": k["bytes"] / t / 1e9, "gflop_per_s": k["flops"] / t / 1e9})
            row["fraction_of_copy_bandwidth"] = row["gb_per_s"] / lim["copy_gb_per_s"]
            row["fraction_of_gemm"] = row["gflop_per_s"] / lim["gemm_gflop_per_s"]
            rows.append(row)
            print(f"  {kid:<44} {ms['median']:9.4f} ms {row['gb_per_s']:8.2f} GB/s {row['gflop_per_s']:8.2f} GFLOP/s",
                  file=sys.stderr, flush=True)
            if a.json:  # the whole file after every kernel: a run stopped early keeps what it measured
                common.write_json(a.json, doc)
    doc["complete"] = True
    if a.json:
        common.write_json(a.json, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
