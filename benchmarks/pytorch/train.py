#!/usr/bin/python3
"""PyTorch reference for `normnet train`: the same model and training settings, the same history JSON.

d2l-style training on Fashion-MNIST held in memory as tensors (no DataLoader): each epoch a
seeded permutation, batches of --batch with the last smaller batch kept, softmax cross-entropy,
SGD (momentum) or Adam, an optional StepLR stepped after each epoch, then eval-mode accuracy on
the test set. The model comes from models.py with the options `normnet train` takes (--resize,
--pool, --act, --init). The history file has the keys `normnet train --history` writes:
{"device", "settings", "history": [{"epoch", "train_loss", "train_acc", "test_acc",
"examples_per_sec", "seconds"}]}.

    /usr/bin/python3 benchmarks/pytorch/train.py --model lenet-bn --optimizer sgd --lr 1.0 --epochs 10 \\
        --seed 0 --history h.json
"""

import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F

import common
import safetensors_file
import models


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="lenet-bn", choices=models.NAMES)
    p.add_argument("--data")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=1.0)
    p.add_argument("--optimizer", default="sgd", choices=["sgd", "adam"])
    p.add_argument("--momentum", type=float, default=0.0)
    p.add_argument("--step-size", type=int)
    p.add_argument("--gamma", type=float)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resize", type=int, default=28, help="resize images to PX x PX (bilinear) before the model")
    p.add_argument("--pool", default="avg", choices=models.POOLS, help="pooling of the LeNet models")
    p.add_argument("--act", choices=models.ACTIVATIONS,
                   help="activation (default sigmoid for the LeNets, relu for the MLPs)")
    p.add_argument("--init", default="default", choices=models.INITS, help="PyTorch's default or Xavier uniform")
    p.add_argument("--limit", type=int, help="train on the first N training images")
    p.add_argument("--test-limit", type=int, help="evaluate on the first N test images")
    p.add_argument("--eval-batch", type=int, default=1000)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--flush-denormal", action="store_true",
                   help="torch.set_flush_denormal(True): denormal floats read and written as zero")
    p.add_argument("--keep-freed-memory", action="store_true",
                   help="glibc malloc keeps freed memory for the next allocations (see common.keep_freed_memory)")
    p.add_argument("--history", help="write the history JSON here")
    p.add_argument("--save", help="write the trained state_dict here as safetensors (PyTorch's names, no metadata)")
    a = p.parse_args(argv)
    for name in ("epochs", "batch", "eval_batch", "resize"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be positive")
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
    if a.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda: torch.cuda is not available on this machine", file=sys.stderr)
        return 2
    # in fp32 as normnet trains: cuDNN's convolutions would round to TF32 by default
    precision = common.set_conv_tf32(False) if a.device == "cuda" else None
    torch.manual_seed(a.seed)
    try:
        model = models.make_model(a.model, a.resize, a.pool, a.act, a.init).to(a.device)
    except ValueError as e:
        p.error(str(e))
    directory = common.find_data(a.data)
    tr_x, tr_y = common.load_split(directory, "train")
    te_x, te_y = common.load_split(directory, "test")
    if a.limit:
        tr_x, tr_y = tr_x[:a.limit], tr_y[:a.limit]
    if a.test_limit:
        te_x, te_y = te_x[:a.test_limit], te_y[:a.test_limit]
    train = common.Resident(tr_x, tr_y, a.device)
    test = common.Resident(te_x, te_y, a.device)
    opt = common.make_optimizer(a.optimizer, model.parameters(), a.lr, a.momentum)
    sched = None
    if a.step_size:
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=a.step_size, gamma=a.gamma if a.gamma is not None else 0.1)
    gen = torch.Generator(device="cpu")
    history = []
    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        gen.manual_seed(a.seed * 1000003 + epoch)
        order = torch.randperm(train.count, generator=gen).to(a.device)
        loss_sum = torch.zeros((), device=a.device)
        correct = torch.zeros((), dtype=torch.int64, device=a.device)
        for start in range(0, train.count, a.batch):
            x, y = train.gather(order[start:start + a.batch], a.resize)
            out = model(x)
            loss = F.cross_entropy(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * y.shape[0]
            correct += (out.argmax(1) == y).sum()
        train_loss = loss_sum.item() / train.count
        train_acc = correct.item() / train.count
        train_seconds = time.perf_counter() - t0
        model.eval()
        hits = 0
        with torch.no_grad():
            ident = torch.arange(test.count, device=a.device)
            for start in range(0, test.count, a.eval_batch):
                x, y = test.gather(ident[start:start + a.eval_batch], a.resize)
                hits += (model(x).argmax(1) == y).sum().item()
        test_acc = hits / test.count
        if sched is not None:
            sched.step()
        seconds = time.perf_counter() - t0
        rec = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc, "test_acc": test_acc,
               "examples_per_sec": train.count / train_seconds, "seconds": seconds}
        history.append(rec)
        print(f"epoch {epoch:3d}  loss {train_loss:.4f}  train acc {train_acc:.4f}  test acc {test_acc:.4f}  "
              f"{rec['examples_per_sec']:.0f} examples/s  {seconds:.1f} s", flush=True)
    settings = {k: v for k, v in vars(a).items() if k not in ("history", "data", "save")}
    if precision is not None:
        settings["fp32_precision"] = precision
    doc = {"device": f"pytorch {torch.__version__} {a.device}" + (f": {torch.get_num_threads()} threads" if a.device == "cpu" else ""),
           "settings": settings, "history": history}
    if a.history:
        with open(a.history, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    if a.save:
        safetensors_file.write(a.save, model.state_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main())
