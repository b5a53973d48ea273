#!/usr/bin/python3
"""How a model file and its folded copy (normnet fold) differ in their results on the test set.

    /usr/bin/python3 benchmarks/fold/compare.py PREDICT_A.json PREDICT_B.json EVAL_A.json EVAL_B.json

PREDICT_*.json: `normnet predict MODEL t10k-images-idx3-ubyte.gz --top 1 --json` (every test image);
EVAL_*.json: `normnet eval MODEL --json FILE`. Prints the number of test images whose predicted
class differs, the largest difference of the top-1 probability, and both accuracies and losses.
"""

import json
import sys


def main(pa, pb, ea, eb):
    a = [p["top"][0] for p in json.load(open(pa))["predictions"]]
    b = [p["top"][0] for p in json.load(open(pb))["predictions"]]
    if len(a) != len(b):
        sys.exit(f"error: {pa} has {len(a)} predictions, {pb} {len(b)}")
    differ = [i for i in range(len(a)) if a[i]["index"] != b[i]["index"]]
    dp = max(abs(x["probability"] - y["probability"]) for x, y in zip(a, b))
    print(f"test images: {len(a)}; predicted classes that differ: {len(differ)}"
          + (f" (images {differ[:20]})" if differ else ""))
    print(f"largest difference of the top-1 probability: {dp:.3e}")
    ja, jb = json.load(open(ea)), json.load(open(eb))
    print(f"eval: unfolded test_acc {ja['test_acc']:.4f} test_loss {ja['test_loss']:.10f}; "
          f"folded test_acc {jb['test_acc']:.4f} test_loss {jb['test_loss']:.10f}; "
          f"confusion matrices {'equal' if ja['confusion'] == jb['confusion'] else 'differ'}")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
