#!/usr/bin/env python3
"""Writes and checks the safetensors golden files: PyTorch to normnet, and normnet to PyTorch.

Regenerate (from the repository root, with PyTorch and NumPy installed; no safetensors package is
needed, the format is written and read here by hand):

    /usr/bin/python3 src/test/python/make_safetensors.py

PyTorch to normnet: for lenet-bn and mlp-bn, a model from benchmarks/pytorch/models.py is seeded,
trained for three SGD steps in train mode on seeded inputs (so that the running statistics and
num_batches_tracked are not their initial values), and its state_dict() is written, with no
metadata, exactly as safetensors.torch.save_file writes it (tensors sorted by dtype size then name,
num_batches_tracked as I64):
    src/test/resources/safetensors/pytorch_<model>.safetensors
and, beside it, 16 seeded inputs and the model's eval-mode logits computed in float64 from the
float32 weights (rounded once to float32):
    src/test/resources/safetensors/pytorch_<model>_io.safetensors   (inputs, logits)
ModelFileTest loads the first with the model named and compares its logits with the second.
The same model with its batch norm folded by PyTorch's own torch.nn.utils.fusion (fuse_conv_bn_eval,
fuse_linear_bn_eval; models.fold puts an nn.Identity where each batch norm was), its state_dict:
    src/test/resources/safetensors/pytorch_<model>-folded.safetensors
ModelFileTest folds the first file with normnet and compares the tensors with these, and loads
this one as the folded model and compares its logits with the unfolded model's above.

normnet to PyTorch: ModelFileTest writes normnet_<model>.safetensors (a seeded normnet model whose
batch-norm statistics were moved by training steps) and checks that it equals the committed file
byte for byte. This script loads each committed normnet file into the PyTorch model with
load_state_dict(strict=True), checks the dtypes (F32, num_batches_tracked I64), and writes the
float64 eval logits on the same 16 inputs:
    src/test/resources/safetensors/normnet_<model>_logits.safetensors   (logits)
ModelFileTest compares normnet's own eval logits of the file with those. The same for the folded
file ModelFileTest writes (normnet's fold of normnet_<model>.safetensors, "folded": true in its
metadata), loaded with strict=True into the folded preset (models.make_model("<model>-folded")):
    src/test/resources/safetensors/normnet_<model>-folded_logits.safetensors   (logits)
"""

import json
import os
import sys

import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "benchmarks", "pytorch"))
import models  # noqa: E402
from safetensors_file import read as read_safetensors, write as write_safetensors  # noqa: E402

OUT = os.path.join(ROOT, "src", "test", "resources", "safetensors")
CASES = {"lenet-bn": 101, "mlp-bn": 102}
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

def inputs(seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(16, 1, 28, 28, generator=gen)


def eval_logits64(model, x):
    m64 = model.double().eval()
    with torch.no_grad():
        y = m64(x.double()).float()
    model.float()
    return y


def pytorch_to_normnet(name, seed):
    torch.manual_seed(seed)
    model = models.make_model(name)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model.train()
    for _ in range(3):
        x = torch.rand(32, 1, 28, 28)
        y = torch.randint(0, 10, (32,))
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    path = os.path.join(OUT, f"pytorch_{name}.safetensors")
    write_safetensors(path, model.state_dict())
    x = inputs(seed + 1000)
    write_safetensors(os.path.join(OUT, f"pytorch_{name}_io.safetensors"),
                      {"inputs": x, "logits": eval_logits64(model, x)}, sort=False)
    loaded, _ = read_safetensors(path)
    assert set(loaded) == set(model.state_dict()), "round trip of the writer"
    print(f"wrote {os.path.relpath(path, ROOT)} ({len(loaded)} tensors)")
    folded_path = os.path.join(OUT, f"pytorch_{name}-folded.safetensors")
    write_safetensors(folded_path, models.fold(model.eval()).state_dict())
    print(f"wrote {os.path.relpath(folded_path, ROOT)} (folded by torch.nn.utils.fusion)")


def normnet_to_pytorch(name, seed, folded=False):
    stem = f"normnet_{name}" + ("-folded" if folded else "")
    path = os.path.join(OUT, f"{stem}.safetensors")
    if not os.path.exists(path):
        print(f"{os.path.relpath(path, ROOT)} is missing: run ModelFileTest with -Dnormnet.golden.write=true first")
        return
    tensors, meta = read_safetensors(path)
    spec = json.loads(meta["normnet"])
    assert meta.get("format") == "pt" and spec["model"] == name and spec.get("folded", False) == folded, meta
    for key, t in tensors.items():
        want = torch.int64 if key.endswith("num_batches_tracked") else torch.float32
        assert t.dtype == want, f"{key}: {t.dtype}, expected {want}"
    model = models.make_model(name + ("-folded" if folded else ""), size=spec["resize"], pool=spec["pool"], activation=spec["act"])
    model.load_state_dict(tensors, strict=True)
    x = inputs(seed + 1000)
    write_safetensors(os.path.join(OUT, f"{stem}_logits.safetensors"), {"logits": eval_logits64(model, x)}, sort=False)
    print(f"loaded {os.path.relpath(path, ROOT)} into PyTorch (strict); wrote its logits")


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, seed in CASES.items():
        pytorch_to_normnet(name, seed)
        normnet_to_pytorch(name, seed)
        normnet_to_pytorch(name, seed, folded=True)


if __name__ == "__main__":
    main()
