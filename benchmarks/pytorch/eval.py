#!/usr/bin/env python3
"""PyTorch's evaluation of a normnet model file, to set beside `normnet eval`.

    /usr/bin/python3 benchmarks/pytorch/eval.py MODEL.safetensors [--data DIR] [--json FILE]

Reads the safetensors file by hand (no safetensors package needed), builds the model its normnet
metadata names (models.make_model with its pool, activation and input side; a file that `normnet
fold` wrote, marked "folded": true, gets the folded preset, with nn.Identity where each batch norm
was), loads the tensors with load_state_dict(strict=True), and runs it in eval mode in float32
over the Fashion-MNIST test set, batches of 256, the images prepared as normnet prepares them
(common.Resident: divide by 255, bilinear resize when the model's side is not 28). Prints the mean cross-entropy
(F.cross_entropy), the accuracy (argmax), the accuracy of each class and the confusion matrix
(rows: true class, columns: predicted), as `normnet eval` does; --json writes the same keys as
`normnet eval --json`.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import models  # noqa: E402
import safetensors_file  # noqa: E402

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--data")
    p.add_argument("--json")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--model", dest="preset", choices=models.NAMES + models.FOLDED_NAMES,
                   help="the model, for a file without normnet metadata (a PyTorch state_dict); defaults as normnet's")
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    tensors, meta = safetensors_file.read(args.model)
    if "normnet" in meta:
        spec = json.loads(meta["normnet"])
    elif args.preset:
        spec = {"model": args.preset, "resize": 28, "pool": "avg", "act": None, "classes": None}
    else:
        sys.exit(f"error: {args.model}: no normnet metadata naming the model; name it with --model")
    preset = spec["model"] + ("-folded" if spec.get("folded") else "")
    model = models.make_model(preset, size=spec["resize"], pool=spec["pool"], activation=spec["act"])
    model.load_state_dict(tensors, strict=True)
    model.eval()
    classes = spec.get("classes") or [str(i) for i in range(10)]

    images, labels = common.load_split(common.find_data(args.data), "test")
    data = common.Resident(images, labels, "cpu")
    k = len(classes)
    confusion = np.zeros((k, k), dtype=np.int64)
    loss_sum = 0.0
    with torch.no_grad():
        for start in range(0, data.count, args.batch):
            idx = torch.arange(start, min(start + args.batch, data.count))
            x, y = data.gather(idx, spec["resize"])
            logits = model(x)
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            pred = logits.argmax(dim=1)
            np.add.at(confusion, (y.numpy(), pred.numpy()), 1)
    n = int(confusion.sum())
    correct = int(np.trace(confusion))
    print(f"pytorch {torch.__version__}: {preset} from {args.model}, {n} test images")
    print(f"test loss {loss_sum / n:.4f}, accuracy {correct / n:.4f} ({correct} of {n})")
    per_class = {}
    for i, name in enumerate(classes):
        total = int(confusion[i].sum())
        per_class[name] = confusion[i, i] / total if total else None
        print(f"{i} {name:<12} {confusion[i, i] / total if total else float('nan'):.4f} {confusion[i, i]:6d} {total:6d}")
    print("confusion matrix (rows: true class, columns: predicted class)")
    for i in range(k):
        print(" ".join(f"{v:4d}" for v in confusion[i]))
    if args.json:
        doc = {"model": spec["model"], "file": args.model, "implementation": f"pytorch {torch.__version__}",
               "examples": n, "test_loss": loss_sum / n, "test_acc": correct / n, "per_class": per_class,
               "classes": classes, "confusion": confusion.tolist()}
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
