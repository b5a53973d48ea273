#!/usr/bin/env python3
"""Writes the golden files the Java parity tests check normnet against.

Regenerate (from the repository root, with PyTorch and NumPy installed):

    /usr/bin/python3 src/test/python/make_golden.py

Output: src/test/resources/golden/<case>/<name>.npy, one float32 little-endian C-order array per
file (integers such as labels, strides and num_batches_tracked are stored as exact float32 values),
plus src/test/resources/golden/README.md listing the cases and files.

How the numbers are made:
  * Inputs and initial parameters are drawn in float32 from torch.manual_seed(SEED) (one seed per
    case, so adding a case does not change the others). The model cases use the first images of
    the Fashion-MNIST training set (pixel / 255) when /usr/share/datasets/fashion-mnist holds it,
    else seeded uniform values in [0, 1]; the README records which.
  * Every reference output is then computed in float64 by PyTorch from those float32 inputs and
    rounded once to float32, so the files hold the exact answer to float32 precision, not one
    float32 implementation's rounding.
  * The script recomputes every output in float32 with PyTorch and prints the largest difference
    from the float64 reference under the rule the Java tests apply,
        err = max |got - ref| / max(max |ref|, 1e-30)   (one number per tensor),
    so that the tolerance the tests use (1e-5) is shown to be met by a float32 implementation.
    A reference that is zero by construction (the gradient of a bias followed by batch norm,
    which the batch norm's mean subtraction cancels) is stored as 0 and measured against the
    largest gradient of its case.
  * The model cases build LeNet-BN and MLP-BN with benchmarks/pytorch/models.py, the definitions
    the PyTorch reference scripts train and time, so the golden files check the same models.
  * torch.set_num_threads(1) and torch.use_deterministic_algorithms(True): the same run gives the
    same bits.
"""

import gzip
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "benchmarks", "pytorch"))
import models  # noqa: E402  the reference models, shared with the benchmark scripts
OUT = os.path.join(ROOT, "src", "test", "resources", "golden")
FASHION = "/usr/share/datasets/fashion-mnist"
TOLERANCE = 1e-5

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

README_CASES = []   # (case, description, [(file, shape)])
SELF_CHECK = []     # (case, name, err) for the float32-vs-float64 report


def rel_err(got, ref, zero_scale=0.0):
    """max |got - ref| / max |ref|; an all-zero ref is measured against zero_scale instead."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if ref.size == 0:
        return 0.0
    scale = float(np.max(np.abs(ref)))
    if scale == 0.0:
        scale = zero_scale
    return float(np.max(np.abs(got - ref))) / max(scale, 1e-30)


class Case:
    """Collects the arrays of one case and writes them as .npy files."""

    def __init__(self, name, description):
        self.name = name
        self.description = description
        self.files = []
        self.dir = os.path.join(OUT, name)
        os.makedirs(self.dir, exist_ok=True)

    def put(self, name, value):
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        arr = np.ascontiguousarray(np.asarray(value, dtype=np.float64).astype("<f4"))
        if arr.ndim == 0:
            arr = arr.reshape(1)
        np.save(os.path.join(self.dir, name + ".npy"), arr, allow_pickle=False)
        self.files.append((name + ".npy", tuple(arr.shape)))
        return arr

    def check(self, name, got32, ref64, zero_scale=0.0):
        """Records how far a float32 PyTorch computation lands from the float64 reference
        (an all-zero reference is measured against zero_scale, as the Java tests do)."""
        if isinstance(got32, torch.Tensor):
            got32 = got32.detach().cpu().numpy()
        if isinstance(ref64, torch.Tensor):
            ref64 = ref64.detach().cpu().numpy()
        SELF_CHECK.append((self.name, name, rel_err(got32, ref64, zero_scale)))

    def done(self):
        README_CASES.append((self.name, self.description, self.files))


def f32(value):
    """The float32 value nearest to value, as a Python float. Hyperparameters go through this:
    normnet receives them as float32, so the float64 reference must use exactly those values
    (0.999 and float32(0.999) differ by 1.3e-8, which moves 1 - beta2 by 1.3e-5 relative)."""
    return float(np.float32(value))


def leaf(t, dtype):
    """A fresh copy of t in dtype that records gradients (never t itself, even when dtype matches)."""
    return t.detach().to(dtype, copy=True).requires_grad_()


# ------------------------------------------------------------------------------------ ops

def conv_case(name, description, seed, n, c, h, w, k, r, s, stride, pad):
    torch.manual_seed(seed)
    x = torch.randn(n, c, h, w)
    wt = torch.randn(k, c, r, s) * (1.0 / (c * r * s) ** 0.5)
    b = torch.randn(k) * 0.1
    p = (h + 2 * pad - r) // stride + 1
    q = (w + 2 * pad - s) // stride + 1
    dy = torch.randn(n, k, p, q)
    case = Case(name, description)
    case.put("spec", [stride, pad])
    case.put("x", x)
    case.put("w", wt)
    case.put("b", b)
    case.put("dy", dy)
    for dtype in (torch.float64, torch.float32):
        xx = leaf(x, dtype)
        ww = leaf(wt, dtype)
        bb = leaf(b, dtype)
        y = F.conv2d(xx, ww, bb, stride=stride, padding=pad)
        y.backward(dy.to(dtype))
        if dtype == torch.float64:
            ref = {"y": y, "dx": xx.grad, "dw": ww.grad, "db": bb.grad}
            for key, val in ref.items():
                case.put(key, val)
        else:
            for key, val in {"y": y, "dx": xx.grad, "dw": ww.grad, "db": bb.grad}.items():
                case.check(key, val, ref[key])
    case.done()


def batchnorm_case(name, description, seed, shape):
    torch.manual_seed(seed)
    ch = shape[1]
    # A mean far from zero and unequal scales per channel: catches E[x^2] - E[x]^2.
    x = torch.randn(*shape) * (0.5 + torch.rand(ch)).view(1, ch, *([1] * (len(shape) - 2))) + 3.0
    gamma = 1.0 + 0.5 * torch.randn(ch)
    beta = 0.5 * torch.randn(ch)
    running_mean = 0.2 * torch.randn(ch)
    running_var = 0.5 + torch.rand(ch)
    dy = torch.randn(*shape)
    momentum, eps = f32(0.1), f32(1e-5)
    case = Case(name, description)
    case.put("hyper", [momentum, eps])
    for key, val in [("x", x), ("gamma", gamma), ("beta", beta), ("running_mean", running_mean),
                     ("running_var", running_var), ("dy", dy)]:
        case.put(key, val)
    ref = {}
    for dtype in (torch.float64, torch.float32):
        xx = leaf(x, dtype)
        g = leaf(gamma, dtype)
        bt = leaf(beta, dtype)
        rm = running_mean.to(dtype).clone()
        rv = running_var.to(dtype).clone()
        y = F.batch_norm(xx, rm, rv, g, bt, training=True, momentum=momentum, eps=eps)
        y.backward(dy.to(dtype))
        dims = [0] + list(range(2, len(shape)))
        with torch.no_grad():
            mean = xx.mean(dim=dims)
            var = xx.var(dim=dims, unbiased=False)
            invstd = 1.0 / torch.sqrt(var + eps)
            y_eval = F.batch_norm(xx, running_mean.to(dtype), running_var.to(dtype), g, bt,
                                  training=False, eps=eps)
        out = {"y": y, "save_mean": mean, "save_invstd": invstd, "running_mean_after": rm,
               "running_var_after": rv, "dx": xx.grad, "dgamma": g.grad, "dbeta": bt.grad,
               "y_eval": y_eval}
        if dtype == torch.float64:
            ref = out
            for key, val in out.items():
                case.put(key, val)
        else:
            for key, val in out.items():
                case.check(key, val, ref[key])
    case.done()


def pool_case(name, description, seed, kind, shape, kernel, stride, pad, integers):
    torch.manual_seed(seed)
    if integers:
        x = torch.randint(0, 3, shape).to(torch.float32)   # many ties inside each window
    else:
        x = torch.randn(*shape)
    n, c, h, w = shape
    p = (h + 2 * pad - kernel) // stride + 1
    q = (w + 2 * pad - kernel) // stride + 1
    dy = torch.randn(n, c, p, q)
    case = Case(name, description)
    case.put("spec", [kernel, stride, pad])
    case.put("x", x)
    case.put("dy", dy)
    ref = {}
    for dtype in (torch.float64, torch.float32):
        xx = leaf(x, dtype)
        if kind == "avg":
            y = F.avg_pool2d(xx, kernel, stride, pad, ceil_mode=False, count_include_pad=True)
        else:
            y = F.max_pool2d(xx, kernel, stride, pad, ceil_mode=False)
        y.backward(dy.to(dtype))
        out = {"y": y, "dx": xx.grad}
        if dtype == torch.float64:
            ref = out
            for key, val in out.items():
                case.put(key, val)
        else:
            for key, val in out.items():
                case.check(key, val, ref[key])
    if kind == "max":
        check_first_max_rule(x.numpy().astype(np.float64), dy.numpy().astype(np.float64),
                             ref["dx"].detach().numpy(), kernel, stride, pad)
    case.done()


def check_first_max_rule(x, dy, dx, kernel, stride, pad):
    """Asserts that PyTorch routed each window's gradient to its first maximum in row-major order,
    the rule the Backend contract states; with ties in x this pins the convention down."""
    n, c, h, w = x.shape
    _, _, p, q = dy.shape
    expect = np.zeros_like(x)
    for i in range(n):
        for j in range(c):
            for a in range(p):
                for b in range(q):
                    best, where = -np.inf, None
                    for u in range(a * stride - pad, a * stride - pad + kernel):
                        for v in range(b * stride - pad, b * stride - pad + kernel):
                            if 0 <= u < h and 0 <= v < w and x[i, j, u, v] > best:
                                best, where = x[i, j, u, v], (u, v)
                    expect[i, j, where[0], where[1]] += dy[i, j, a, b]
    if np.max(np.abs(expect - dx)) > 1e-12:
        sys.exit("max pool: PyTorch does not follow the first-maximum rule on this input")


def linear_case(name, description, seed, n, i, o):
    torch.manual_seed(seed)
    x = torch.randn(n, i)
    w = torch.randn(o, i) * (1.0 / i ** 0.5)
    b = torch.randn(o) * 0.1
    dy = torch.randn(n, o)
    case = Case(name, description)
    for key, val in [("x", x), ("w", w), ("b", b), ("dy", dy)]:
        case.put(key, val)
    ref = {}
    for dtype in (torch.float64, torch.float32):
        xx = leaf(x, dtype)
        ww = leaf(w, dtype)
        bb = leaf(b, dtype)
        y = F.linear(xx, ww, bb)
        y.backward(dy.to(dtype))
        out = {"y": y, "dx": xx.grad, "dw": ww.grad, "db": bb.grad}
        if dtype == torch.float64:
            ref = out
            for key, val in out.items():
                case.put(key, val)
        else:
            for key, val in out.items():
                case.check(key, val, ref[key])
    case.done()


def activation_case(name, description, seed, fn):
    torch.manual_seed(seed)
    x = torch.randn(4, 3, 5, 5) * 4.0
    x[0, 0, 0, :] = torch.tensor([0.0, -0.0, 20.0, -20.0, 1e-8])   # zeros, saturation, tiny
    dy = torch.randn(4, 3, 5, 5)
    case = Case(name, description)
    case.put("x", x)
    case.put("dy", dy)
    ref = {}
    for dtype in (torch.float64, torch.float32):
        xx = leaf(x, dtype)
        y = fn(xx)
        y.backward(dy.to(dtype))
        out = {"y": y, "dx": xx.grad}
        if dtype == torch.float64:
            ref = out
            for key, val in out.items():
                case.put(key, val)
        else:
            for key, val in out.items():
                case.check(key, val, ref[key])
    case.done()


def cross_entropy_case(name, description, seed):
    torch.manual_seed(seed)
    n, k = 7, 10
    logits = torch.randn(n, k) * 3.0
    logits[1] += 100.0                      # needs log-sum-exp: exp(100) overflows float32
    logits[2] = torch.tensor([1.0, 5.0, 5.0, 0.0, 5.0, -1.0, 2.0, 3.0, 0.5, 5.0])   # arg-max tie
    labels = torch.randint(0, k, (n,))
    labels[2] = 2                            # ties with class 1 first: not counted as correct
    labels[3] = int(torch.argmax(logits[3]))  # at least one row right
    case = Case(name, description)
    case.put("logits", logits)
    case.put("labels", labels)
    ref = {}
    for dtype in (torch.float64, torch.float32):
        z = leaf(logits, dtype)
        loss = F.cross_entropy(z, labels, reduction="mean")
        loss.backward()
        with torch.no_grad():
            loss_sum = F.cross_entropy(z, labels, reduction="sum")
        out = {"loss": loss, "loss_sum": loss_sum, "dlogits": z.grad}
        if dtype == torch.float64:
            ref = out
            for key, val in out.items():
                case.put(key, val)
        else:
            for key, val in out.items():
                case.check(key, val, ref[key])
    first_argmax = np.argmax(logits.numpy(), axis=1)   # NumPy returns the first maximum
    case.put("correct", [int(np.sum(first_argmax == labels.numpy()))])
    case.done()


def optimizer_case(name, description, seed, make, hyper):
    hyper = [f32(h) for h in hyper]
    torch.manual_seed(seed)
    size = 13
    p0 = torch.randn(size)
    grads = torch.randn(3, size)
    case = Case(name, description)
    case.put("hyper", hyper)
    case.put("params0", p0)
    case.put("grads", grads)
    ref = {}
    for dtype in (torch.float64, torch.float32):
        p = nn.Parameter(p0.to(dtype).clone())
        opt = make([p], *hyper)
        after = []
        for t in range(3):
            p.grad = grads[t].to(dtype).clone()
            opt.step()
            after.append(p.detach().clone())
        out = {"params": torch.stack(after)}
        state = opt.state[p]
        for key in ("momentum_buffer", "exp_avg", "exp_avg_sq"):
            if key in state and state[key] is not None:
                out[key] = state[key]
        if dtype == torch.float64:
            ref = out
            for key, val in out.items():
                case.put(key, val)
        else:
            for key, val in out.items():
                case.check(key, val, ref[key])
    case.done()


def gather_case(name, description, seed, sizes):
    """Backend.gatherBatch: pixels / 255 (torchvision's ToTensor), then bilinear resize as
    F.interpolate(align_corners=False) when the batch is larger than the stored images."""
    count, batch, start = 6, 3, 2
    pixels, labels, source = fashion_bytes(count, seed, "t10k")
    order = [4, 1, 5, 0, 3, 2]                      # order[start : start + batch] = 5, 0, 3
    picked = pixels[order[start:start + batch]]
    case = Case(name, description + "; images: " + source)
    case.put("pixels", pixels)                      # (count, 28, 28) as exact integers
    case.put("labels", labels)
    case.put("order", order)
    case.put("cursor", [start])
    case.put("batch_labels", labels[order[start:start + batch]])
    for size in sizes:
        x64 = torch.from_numpy(picked.astype(np.float64) / 255.0).unsqueeze(1)
        x32 = torch.from_numpy(picked.astype(np.float32)).unsqueeze(1) / 255.0
        if size != pixels.shape[1]:
            x64 = F.interpolate(x64, size=(size, size), mode="bilinear", align_corners=False)
            x32 = F.interpolate(x32, size=(size, size), mode="bilinear", align_corners=False)
        case.put("x_%d" % size, x64)
        case.check("x_%d" % size, x32, x64)
    case.done()


def fashion_bytes(count, seed, split):
    """The first `count` Fashion-MNIST images of a split as uint8 (count, 28, 28) and labels, or seeded random."""
    images = os.path.join(FASHION, split + "-images-idx3-ubyte.gz")
    labels = os.path.join(FASHION, split + "-labels-idx1-ubyte.gz")
    if os.path.exists(images) and os.path.exists(labels):
        with gzip.open(images, "rb") as f:
            raw = f.read(16 + count * 28 * 28)
        with gzip.open(labels, "rb") as f:
            lab = f.read(8 + count)
        pixels = np.frombuffer(raw[16:], dtype=np.uint8).reshape(count, 28, 28)
        return pixels, np.frombuffer(lab[8:], dtype=np.uint8), \
            "the first %d Fashion-MNIST %s images" % (count, "test" if split == "t10k" else "training")
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, size=count, dtype=np.uint8), "seeded random bytes (Fashion-MNIST not found)")


# ------------------------------------------------------------------------------------ models

def fashion_batch(count, seed):
    """The first `count` Fashion-MNIST training images (pixel / 255) and labels, or seeded random."""
    images = os.path.join(FASHION, "train-images-idx3-ubyte.gz")
    labels = os.path.join(FASHION, "train-labels-idx1-ubyte.gz")
    if os.path.exists(images) and os.path.exists(labels):
        with gzip.open(images, "rb") as f:
            raw = f.read(16 + count * 28 * 28)
        with gzip.open(labels, "rb") as f:
            lab = f.read(8 + count)
        pixels = np.frombuffer(raw[16:], dtype=np.uint8).reshape(count, 1, 28, 28)
        x = torch.from_numpy(pixels.astype(np.float32) / np.float32(255.0))
        y = torch.from_numpy(np.frombuffer(lab[8:], dtype=np.uint8).astype(np.int64))
        return x, y, "the first %d Fashion-MNIST training images (pixel / 255) and labels" % count
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(count, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (count,), generator=gen)
    return x, y, "seeded uniform [0, 1) images (Fashion-MNIST not found) and random labels"


def model_case(name, description, seed, factory, batch, steps, lr, momentum, weight_decay):
    lr, momentum, weight_decay = f32(lr), f32(momentum), f32(weight_decay)
    torch.manual_seed(seed)
    model32 = factory()                      # PyTorch's default initialization, float32
    init = {k: v.detach().clone() for k, v in model32.state_dict().items()}
    x, labels, source = fashion_batch(batch, seed)
    case = Case(name, description + "; input: " + source)
    case.put("hyper", [lr, momentum, weight_decay, steps])
    case.put("x", x)
    case.put("labels", labels)
    for key, val in init.items():
        case.put("init." + key, val)

    layers = list(model32)
    zero_by_construction = {"%d.bias" % i for i in range(len(layers) - 1)
                            if isinstance(layers[i], (nn.Conv2d, nn.Linear))
                            and isinstance(layers[i + 1], (nn.BatchNorm1d, nn.BatchNorm2d))}
    ref = {}
    for dtype in (torch.float64, torch.float32):
        model = factory()
        model.load_state_dict(init)
        model.to(dtype)
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
        model.train()
        losses, grads = [], {}
        for step in range(steps):
            opt.zero_grad()
            loss = F.cross_entropy(model(x.to(dtype)), labels)
            loss.backward()
            losses.append(loss.item())
            if step == 0:
                grads = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
            opt.step()
        model.eval()
        with torch.no_grad():
            logits = model(x.to(dtype))
        out = {"losses": torch.tensor(losses, dtype=torch.float64), "eval_logits": logits}
        grad_scale = max(float(g.abs().max()) for g in grads.values())
        for key, val in grads.items():
            if key in zero_by_construction:
                # The batch norm after this layer subtracts the batch mean of its input, so the
                # loss does not depend on this bias: its gradient is exactly 0 (float64 leaves
                # round-off near 1e-17, float32 near 1e-9). Stored as 0; the tests check it
                # against the scale of the case's other gradients.
                if float(val.abs().max()) > (1e-12 if dtype == torch.float64 else 1e-5) * grad_scale:
                    sys.exit("%s: gradient of %s is not zero: %g" % (name, key, float(val.abs().max())))
                if dtype == torch.float64:
                    val = torch.zeros_like(val)
            out["grad." + key] = val
        for key, val in model.state_dict().items():
            out["final." + key] = val
        if dtype == torch.float64:
            ref = out
            for key, val in out.items():
                case.put(key, val)
        else:
            grad_scale64 = max(float(ref[k].abs().max()) for k in ref if k.startswith("grad."))
            for key, val in out.items():
                fallback = grad_scale64 if key.startswith("grad.") else 0.0
                case.check(key, val.to(torch.float64), ref[key], fallback)
    case.done()


# ------------------------------------------------------------------------------------ main

def write_readme():
    lines = [
        "# Golden files",
        "",
        "Written by `src/test/python/make_golden.py`; regenerate with",
        "",
        "    /usr/bin/python3 src/test/python/make_golden.py",
        "",
        "Every file is a NumPy `.npy` array, `<f4` (float32 little-endian), C order. Integers",
        "(labels, strides, counts, num_batches_tracked) are exact float32 values. Inputs are seeded",
        "float32 draws; every output is PyTorch's float64 result from those inputs, rounded once to",
        "float32. Hyperparameters (hyper.npy: learning rate, momentum, eps, ...) are float32 values",
        "and the float64 reference uses exactly those values, as normnet receives them.",
        "The parity tests (`src/test/java/dev/normnet/parity/`) accept a tensor when",
        "`max |got - ref| <= %g * max |ref|`; a reference that is zero by construction (the" % TOLERANCE,
        "gradient of a bias followed by batch norm) is measured against the largest gradient of its",
        "case instead.",
        "",
        "Made with PyTorch %s, NumPy %s." % (torch.__version__, np.__version__),
        "",
    ]
    for name, description, files in README_CASES:
        lines.append("## %s" % name)
        lines.append("")
        lines.append(description + ".")
        lines.append("")
        lines.append("| file | shape |")
        lines.append("| --- | --- |")
        for f, shape in files:
            lines.append("| %s | %s |" % (f, "(" + ", ".join(str(d) for d in shape) + ")"))
        lines.append("")
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write("\n".join(lines))


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)

    conv_case("conv_s1_p2", "Conv2d as LeNet's first layer (1 -> 6 channels, 5x5, stride 1, padding 2) on "
              "x (2, 1, 12, 12), w (6, 1, 5, 5); spec = (stride, pad); outputs y, dx, dw, db for the upstream "
              "gradient dy", 101, 2, 1, 12, 12, 6, 5, 5, 1, 2)
    conv_case("conv_s1_p0", "Conv2d as LeNet's second layer: x (2, 6, 10, 10), w (16, 6, 5, 5), stride 1, "
              "padding 0", 102, 2, 6, 10, 10, 16, 5, 5, 1, 0)
    conv_case("conv_s2_p1", "Conv2d with stride 2, padding 1, odd non-square input and kernel: x (3, 3, 9, 7), "
              "w (4, 3, 3, 5)", 103, 3, 3, 9, 7, 4, 3, 5, 2, 1)

    batchnorm_case("batchnorm_2d", "Batch norm over (N, C) = (8, 5), training mode, momentum 0.1, eps 1e-5 "
                   "(hyper = (momentum, eps)); running_* are the statistics before the step, *_after after it; "
                   "y_eval is eval mode with the running statistics before the step", 201, (8, 5))
    batchnorm_case("batchnorm_4d", "Batch norm over (N, C, H, W) = (4, 3, 5, 6), per channel over N*H*W; "
                   "files as batchnorm_2d", 202, (4, 3, 5, 6))

    pool_case("avgpool_k2_s2", "Average pooling, kernel 2, stride 2 (LeNet): x (2, 3, 8, 8); "
              "spec = (kernel, stride, pad)", 301, "avg", (2, 3, 8, 8), 2, 2, 0, False)
    pool_case("avgpool_k3_s2_p1", "Average pooling, kernel 3, stride 2, padding 1 (overlapping windows, "
              "padded zeros counted in the divisor): x (2, 2, 7, 9)", 302, "avg", (2, 2, 7, 9), 3, 2, 1, False)
    pool_case("maxpool_k2_s2_ties", "Max pooling, kernel 2, stride 2, on integers in {0, 1, 2} (ties in most "
              "windows: the gradient goes to the first maximum in row-major order): x (2, 3, 8, 8)",
              303, "max", (2, 3, 8, 8), 2, 2, 0, True)
    pool_case("maxpool_k3_s2_p1_ties", "Max pooling, kernel 3, stride 2, padding 1 (overlapping windows, "
              "padding never wins) on integers in {0, 1, 2}: x (2, 2, 7, 9)", 304, "max", (2, 2, 7, 9), 3, 2, 1, True)
    pool_case("maxpool_k3_s2_p1", "Max pooling, kernel 3, stride 2, padding 1 on normal values: x (2, 2, 7, 9)",
              305, "max", (2, 2, 7, 9), 3, 2, 1, False)

    linear_case("linear", "Linear y = x w^T + b: x (4, 7), w (5, 7), b (5); dx, dw, db for dy (4, 5)",
                401, 4, 7, 5)
    activation_case("sigmoid", "Sigmoid on x (4, 3, 5, 5) including 0, -0, +-20 and 1e-8; dx for dy",
                    501, torch.sigmoid)
    activation_case("relu", "ReLU on x (4, 3, 5, 5) including 0 and -0 (gradient 0 there); dx for dy",
                    502, torch.relu)
    cross_entropy_case("cross_entropy", "Softmax cross-entropy over logits (7, 10) and labels (7): loss is "
                       "the mean, loss_sum the sum, dlogits the gradient of the mean, correct the number of "
                       "rows whose first arg-max is the label; row 1 is offset by 100 (log-sum-exp), row 2 "
                       "has a three-way arg-max tie", 601)
    optimizer_case("sgd_momentum", "SGD, lr 0.1, momentum 0.9, weight decay 0.01, 3 steps on 13 values: "
                   "hyper = (lr, momentum, weight_decay); grads[t] is the gradient given at step t, params[t] "
                   "the values after it; momentum_buffer after step 3", 701,
                   lambda ps, lr, mom, wd: torch.optim.SGD(ps, lr=lr, momentum=mom, weight_decay=wd),
                   [0.1, 0.9, 0.01])
    optimizer_case("sgd_plain", "SGD, lr 0.1, no momentum, weight decay 0.01, 3 steps; files as sgd_momentum",
                   702, lambda ps, lr, mom, wd: torch.optim.SGD(ps, lr=lr, momentum=mom, weight_decay=wd),
                   [0.1, 0.0, 0.01])
    optimizer_case("adam", "Adam, lr 0.01, betas (0.9, 0.999), eps 1e-8, weight decay 0.01, 3 steps: "
                   "hyper = (lr, beta1, beta2, eps, weight_decay); exp_avg and exp_avg_sq after step 3", 703,
                   lambda ps, lr, b1, b2, eps, wd: torch.optim.Adam(ps, lr=lr, betas=(b1, b2), eps=eps,
                                                                    weight_decay=wd),
                   [0.01, 0.9, 0.999, 1e-8, 0.01])

    gather_case("gather_batch", "gatherBatch: 6 stored images (pixels as exact integers), order (6), "
                "cursor (1) = 2, a batch of 3 read from order[2:5]: x_28 = pixels / 255 (3, 1, 28, 28), x_32 the "
                "same resized to 32x32 (bilinear, half-pixel centres: F.interpolate align_corners=False), "
                "batch_labels their labels; the cursor advances to 5", 901, (28, 32))

    model_case("lenet_bn", "LeNet-BN (d2l 7.5) as nn.Sequential, PyTorch default init from seed 801, "
               "3 training steps of SGD (hyper = (lr 0.1, momentum 0.9, weight decay 1e-4, steps 3)) on one "
               "batch x (8, 1, 28, 28): init.* is the state_dict before, losses the loss of each step "
               "(before its update), grad.* the parameter gradients of step 1, final.* the state_dict after "
               "step 3 (num_batches_tracked = 3), eval_logits the eval-mode output of the final model on x",
               801, lambda: models.make_model("lenet-bn"), 8, 3, 0.1, 0.9, 1e-4)
    model_case("mlp_bn", "MLP-BN (Flatten, 784->32 BN1d ReLU, 32->32 BN1d ReLU, 32->10), seed 802; "
               "files as lenet_bn", 802, lambda: models.make_model("mlp-bn"), 8, 3, 0.1, 0.9, 1e-4)

    write_readme()

    worst = 0.0
    print("float32 PyTorch against the float64 reference (max |d| / max |ref|):")
    for case, name, err in SELF_CHECK:
        worst = max(worst, err)
        flag = "" if err <= TOLERANCE else "   > tolerance"
        print("  %-24s %-28s %.2e%s" % (case, name, err, flag))
    print("worst %.2e (tolerance %.0e)" % (worst, TOLERANCE))
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print("wrote %d cases, %d bytes under %s" % (len(README_CASES), total, OUT))


if __name__ == "__main__":
    main()
