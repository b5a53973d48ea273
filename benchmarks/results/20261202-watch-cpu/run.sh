#!/bin/bash
# The runs of this directory, from the repository root: bash benchmarks/results/20261202-watch-cpu/run.sh
# (NORMNET=path overrides ./normnet). Watch cost first (A B A B A B: LeNet-BN, 3 epochs, without and
# with --watch 50), then the 10-epoch watched runs with the presets' defaults, then the same pair with
# Xavier initialization, then the pictures.
set -eux
R=benchmarks/results/20261202-watch-cpu
C=$R/cost
mkdir -p $C
N="${NORMNET:-./normnet}"
for round in 1 2 3; do
  $N train --model lenet-bn --epochs 3 --history $C/off-$round.json > $C/off-$round.txt 2>&1
  $N train --model lenet-bn --epochs 3 --watch 50 --history $C/on-$round.json > $C/on-$round.txt 2>&1
done
$N train --model lenet-bn --watch 50 --history $R/lenet-bn.json > $R/lenet-bn.txt 2>&1
$N train --model lenet --lr 0.9 --watch 50 --history $R/lenet.json > $R/lenet.txt 2>&1
$N train --model lenet-bn --init xavier --watch 50 --history $R/lenet-bn-xavier.json > $R/lenet-bn-xavier.txt 2>&1
$N train --model lenet --lr 0.9 --init xavier --watch 50 --history $R/lenet-xavier.json > $R/lenet-xavier.txt 2>&1
$N plot --watch $R/lenet-bn.json $R/lenet.json --out $R/watch-sigmoid.png
$N plot --watch --layer Sigmoid-12 $R/lenet-bn.json $R/lenet.json --out $R/watch-sigmoid-fc.png
$N plot --watch $R/lenet-bn-xavier.json $R/lenet-xavier.json --out $R/watch-sigmoid-xavier.png
$N plot --watch --layer Sigmoid-12 $R/lenet-bn-xavier.json $R/lenet-xavier.json --out $R/watch-sigmoid-fc-xavier.png
