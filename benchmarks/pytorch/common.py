"""Shared pieces of the PyTorch reference scripts: data, optimizers, timing, machine facts, JSON.

Everything here mirrors what normnet does, so that the two sides measure the same work:
the same IDX files read into memory once (no DataLoader), the same batch assembly (gather by a
permuted index, divide by 255, bilinear resize with align_corners=False when the model wants
another size), and the same JSON schema as `normnet bench --json`. The models themselves are
in models.py.
"""

import ctypes
import ctypes.util
import datetime
import gzip
import json
import os
import platform
import socket
import statistics
import struct
import subprocess
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F

SCHEMA = "normnet-bench/1"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# ---------------------------------------------------------------- data

DATA_DIRS = ["data/FashionMNIST/raw", "/usr/share/datasets/fashion-mnist"]
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _open_idx(directory, stem):
    for name in (stem, stem + ".gz"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    return None


def find_data(explicit=None):
    """The Fashion-MNIST directory, in normnet's discovery order: --data, $NORMNET_DATA, ./data/FashionMNIST/raw, /usr/share/datasets/fashion-mnist."""
    candidates = []
    if explicit:
        candidates.append(explicit)
    if os.environ.get("NORMNET_DATA"):
        candidates.append(os.environ["NORMNET_DATA"])
    candidates += [os.path.join(REPO, DATA_DIRS[0]), DATA_DIRS[0], DATA_DIRS[1]]
    for d in candidates:
        if d and _open_idx(d, FILES["train"][0]) and _open_idx(d, FILES["test"][1]):
            return d
    if explicit:
        sys.exit(f"error: --data {explicit}: no Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz] ...) there")
    sys.exit("error: Fashion-MNIST not found in " + ", ".join(candidates) + "; pass --data DIR")


def read_idx(path):
    """An IDX file (raw or gzip) as a numpy uint8 array of its declared shape."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        sys.exit(f"error: {path}: not an unsigned-byte IDX file (magic {data[:4].hex()})")
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        sys.exit(f"error: {path}: {body.size} bytes of data for shape {dims}")
    return body.reshape(dims)


def load_split(directory, split):
    images = read_idx(_open_idx(directory, FILES[split][0]))
    labels = read_idx(_open_idx(directory, FILES[split][1]))
    if images.shape[0] != labels.shape[0]:
        sys.exit(f"error: {directory}: {images.shape[0]} {split} images but {labels.shape[0]} labels")
    return images, labels


class Resident:
    """A labelled image set kept on the device as uint8, gathered per batch like Backend.gatherBatch."""

    def __init__(self, images, labels, device):
        self.images = torch.from_numpy(images.copy()).to(device)  # (count, H, W) uint8
        self.labels = torch.from_numpy(labels.astype(np.int64)).to(device)  # (count)
        self.count = self.images.shape[0]

    def gather(self, idx, size):
        """x (B, 1, size, size) float32 in [0, 1], labels (B) int64."""
        x = self.images.index_select(0, idx).unsqueeze(1).float().div_(255.0)
        if size != x.shape[-1]:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return x, self.labels.index_select(0, idx)


# ---------------------------------------------------------------- optimizers


def make_optimizer(name, params, lr, momentum=0.0, capturable=False):
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, capturable=capturable)
    sys.exit(f"error: unknown optimizer {name!r} (sgd, adam)")


# ---------------------------------------------------------------- statistics and timing


def spread(values):
    """median, min, max, first and third quartile (linear interpolation, as numpy's default)."""
    v = sorted(values)
    q = np.percentile(np.array(v, dtype=np.float64), [25, 50, 75])
    return {"median": float(q[1]), "min": float(v[0]), "max": float(v[-1]),
            "q1": float(q[0]), "q3": float(q[2]), "runs": [float(x) for x in values]}


def calibrate(step, sync, target_s, warmup_s, max_steps=100000):
    """Warms up for warmup_s (at least 2 synchronized steps, up to 3 s more while steps still speed up), then
    returns how many steps take about target_s.

    A slow step is timed by the last warm-up step; fast ones by a doubling burst (as Timer.java).
    """
    start = time.perf_counter()
    n = 0
    best = float("inf")
    while True:
        t0 = time.perf_counter()
        step()
        sync()
        last = time.perf_counter() - t0
        best = min(best, last)
        n += 1
        elapsed = time.perf_counter() - start
        # past the minimum, keep warming while steps are still getting faster, up to 3 s more (as Timer.java)
        if n >= 2 and elapsed >= warmup_s and not (last > 1.25 * best and elapsed < warmup_s + 3.0):
            break
    per_step = last
    enough = min(0.2, target_s / 2)
    if last < enough:
        k = 2
        while True:
            t0 = time.perf_counter()
            for _ in range(k):
                step()
            sync()
            dt = time.perf_counter() - t0
            per_step = dt / k
            if dt >= enough or k >= 64:
                break
            k *= 2
    return max(1, min(max_steps, int(round(target_s / per_step))))


def timed_runs(step, sync, steps, repeats):
    """Seconds of each of `repeats` runs of `steps` steps."""
    out = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        out.append(time.perf_counter() - t0)
    return out


# ---------------------------------------------------------------- machine facts and JSON


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _load_average():
    """1, 5 and 15 minute load averages when the run starts (other work on the machine), or None."""
    try:
        return [float(x) for x in open("/proc/loadavg").read().split()[:3]]
    except (OSError, ValueError):
        return None


def _git_commit():
    try:
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _gpu():
    if not torch.cuda.is_available():
        return None
    driver = "unknown"
    try:
        with open("/proc/driver/nvidia/version") as f:
            first = f.readline()
            for word in first.split():
                if word[:1].isdigit() and "." in word:
                    driver = word
                    break
    except OSError:
        pass
    return {"name": torch.cuda.get_device_name(0), "driver": driver,
            "cuda": torch.version.cuda, "cudnn": str(torch.backends.cudnn.version())}


# ---------------------------------------------------------------- fp32 arithmetic on a GPU

def set_conv_tf32(allowed, backends=None):
    """Whether cuDNN may run float32 convolutions on the tensor cores in TF32 (inputs rounded to a
    10-bit mantissa, sums in fp32); matrix multiplications stay in full fp32, cuBLAS's default.
    PyTorch allows TF32 in cuDNN by default (torch.backends.cudnn.allow_tf32; since 2.9
    torch.backends.cudnn.conv.fp32_precision "tf32"), while normnet computes every product in fp32,
    so a reference that is to be compared with it turns TF32 off, and one that shows what PyTorch
    gives out of the box turns it on.

    Sets the legacy flags first, then, where this PyTorch has them (2.9 and later), the
    per-operator ones to the same values: convolutions, RNNs (PyTorch refuses a conv flag that
    differs from the RNN one) and matrix multiplications. On 2.9 and later a legacy getter
    (torch.backends.cudnn.allow_tf32, ...cuda.matmul.allow_tf32, read by PyTorch's own code and by
    libraries) raises when the legacy and the per-operator flags disagree, so setting only the new
    ones would leave that state behind; the legacy setters keep both in step, and their deprecation
    warning is silenced here. Nothing here reads a legacy getter where the new API exists. Returns
    what the flags read back: {"conv": "tf32" or "ieee", "matmul": "tf32" or "ieee"}."""
    b = backends or torch.backends
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b.cudnn.allow_tf32 = bool(allowed)
        b.cuda.matmul.allow_tf32 = False
    if getattr(getattr(b.cudnn, "conv", None), "fp32_precision", None) is not None:
        value = "tf32" if allowed else "ieee"
        b.cudnn.conv.fp32_precision = value
        if getattr(getattr(b.cudnn, "rnn", None), "fp32_precision", None) is not None:
            b.cudnn.rnn.fp32_precision = value
        b.cuda.matmul.fp32_precision = "ieee"
        return {"conv": b.cudnn.conv.fp32_precision, "matmul": b.cuda.matmul.fp32_precision}
    return {"conv": "tf32" if b.cudnn.allow_tf32 else "ieee", "matmul": "tf32" if b.cuda.matmul.allow_tf32 else "ieee"}


# ---------------------------------------------------------------- memory

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4


def keep_freed_memory():
    """glibc malloc keeps the memory PyTorch frees for its next allocations instead of giving it
    back to the kernel: no chunk is mapped on its own (M_MMAP_MAX 0) and the heap is never trimmed
    (M_TRIM_THRESHOLD at its largest). By default glibc maps every allocation above a threshold
    (128 KiB, raised up to 32 MiB as such chunks are freed) on its own and unmaps it when freed, and
    trims the heap's free top; an activation of a step then lands on fresh pages every step, and
    each page faults when first written. On the 2-core development VMs that fault is dear: LeNet-BN
    inference at batch 1000 ran 5,062-5,600 examples/s by default and 21,663-26,086 with freed memory
    kept, with 748,528-1,200,480 page faults per process against 72,055-83,949
    (benchmarks/pytorch/malloc_probe.sh; benchmarks/notes/honest-anchor.md). PyTorch's performance
    tuning guide recommends another allocator (jemalloc, tcmalloc) for the same reason; this is the
    equivalent with glibc alone. Returns None when it is set, else why not (no glibc)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return f"no glibc mallopt in the C library ({name})"
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    if mallopt(M_MMAP_MAX, 0) != 1 or mallopt(M_TRIM_THRESHOLD, 2**31 - 1) != 1:
        return "mallopt refused M_MMAP_MAX 0 or M_TRIM_THRESHOLD 2^31-1"
    return None


def header(implementation, settings):
    """The machine/run header shared with `normnet bench --json`."""
    return {
        "schema": SCHEMA,
        "implementation": implementation,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git_commit": _git_commit(),
        "machine": {"hostname": socket.gethostname(), "os": f"{platform.system()} {platform.release()}",
                    "cores": os.cpu_count(), "cpu_model": _cpu_model(), "load_average": _load_average()},
        "gpu": _gpu(),
        "runtime": {"python": platform.python_version(), "torch": torch.__version__},
        "threads": torch.get_num_threads(),
        "settings": settings,
    }


def write_json(path, doc):
    """Writes doc to path whole or not at all (a temporary file beside it, then renamed over it), so
    that a run killed between two writes leaves the last complete file."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def cuda_usable():
    return torch.cuda.is_available()

