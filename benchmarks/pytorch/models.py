"""The reference models in PyTorch: the one definition the golden files and the reference scripts use.

Each model is an nn.Sequential with the layers in the order normnet's Models builds them, so that
state_dict names match normnet's (`0.weight`, `1.running_mean`, `9.weight`, ...):

    lenet-bn (d2l 7.5):  0 Conv2d(1, 6, 5)  1 BatchNorm2d(6)   2 act  3 pool(2, 2)
                         4 Conv2d(6, 16, 5) 5 BatchNorm2d(16)  6 act  7 pool(2, 2)  8 Flatten
                         9 Linear(16*s*s, 120) 10 BatchNorm1d(120) 11 act
                        12 Linear(120, 84)     13 BatchNorm1d(84)  14 act  15 Linear(84, 10)
    lenet:               the same without the batch norm layers (first convolution unpadded)
    mlp-bn:              0 Flatten 1 Linear(size*size, 32) 2 BatchNorm1d(32) 3 act
                         4 Linear(32, 32) 5 BatchNorm1d(32) 6 act 7 Linear(32, 10)
    mlp:                 the same without the batch norm layers
    lenet-bn-folded,     lenet-bn and mlp-bn with their batch norm folded into the layer before it
    mlp-bn-folded:       (normnet fold, torch.nn.utils.fusion.fuse_conv_bn_eval / fuse_linear_bn_eval):
                         nn.Identity() where each BatchNorm was, as torch.ao.quantization.fuse_modules
                         leaves it, so the other layers keep their indices and state_dict names
                         (0.weight, 0.bias, 4.weight, ...; no 1.*, 5.*, 10.*, 13.*)

act is Sigmoid for the LeNets and ReLU for the MLPs unless asked otherwise; pool is AvgPool2d or
MaxPool2d. The input is (1, size, size); the first Linear's input follows it: s = 4 at 28
(16*4*4 = 256), 5 at 32, 53 at 224 (44944). Weights start from PyTorch's default initialization,
drawn layer by layer as the constructors run (the golden files depend on that order), or from
Xavier uniform (nn.init.xavier_uniform_ on every Conv2d and Linear weight, biases left as they are).
"""

import torch.nn as nn

NAMES = ("lenet-bn", "lenet", "mlp-bn", "mlp")
FOLDED_NAMES = ("lenet-bn-folded", "mlp-bn-folded")   # for inference only (eval.py), never trained
POOLS = ("avg", "max")
ACTIVATIONS = ("sigmoid", "relu")
INITS = ("default", "xavier")


def _choice(what, value, valid):
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")
    return value


def _activation(name):
    return nn.Sigmoid() if _choice("activation", name, ACTIVATIONS) == "sigmoid" else nn.ReLU()


def lenet(bn=True, size=28, pool="avg", activation="sigmoid", folded=False):
    """LeNet (d2l 7.5), with batch norm after every convolution and hidden Linear when bn (an
    nn.Identity in its place when folded)."""
    pool_layer = nn.AvgPool2d if _choice("pool", pool, POOLS) == "avg" else nn.MaxPool2d
    s = ((size - 4) // 2 - 4) // 2
    if s < 1:
        raise ValueError(f"LeNet needs inputs of at least 16x16, not {size}x{size}")

    def norm(layer):
        return [nn.Identity() if folded else layer] if bn else []

    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5), *norm(nn.BatchNorm2d(6)), _activation(activation),
        pool_layer(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), *norm(nn.BatchNorm2d(16)), _activation(activation),
        pool_layer(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * s * s, 120), *norm(nn.BatchNorm1d(120)), _activation(activation),
        nn.Linear(120, 84), *norm(nn.BatchNorm1d(84)), _activation(activation),
        nn.Linear(84, 10))


def mlp(bn=True, size=28, activation="relu", folded=False):
    """size*size -> 32 -> 32 -> 10, with BatchNorm1d after each hidden Linear when bn (an nn.Identity
    in its place when folded)."""

    def norm(layer):
        return [nn.Identity() if folded else layer] if bn else []

    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(size * size, 32), *norm(nn.BatchNorm1d(32)), _activation(activation),
        nn.Linear(32, 32), *norm(nn.BatchNorm1d(32)), _activation(activation),
        nn.Linear(32, 10))


def fold(model):
    """A copy of `model` (an nn.Sequential in eval mode) with each BatchNorm that directly follows a
    Conv2d or Linear fused into it by PyTorch's own torch.nn.utils.fusion, and an nn.Identity in its
    place: the PyTorch counterpart of `normnet fold`."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval
    layers = list(model)
    for i in range(1, len(layers)):
        if isinstance(layers[i], (nn.BatchNorm1d, nn.BatchNorm2d)):
            if isinstance(layers[i - 1], nn.Conv2d):
                layers[i - 1], layers[i] = fuse_conv_bn_eval(layers[i - 1], layers[i]), nn.Identity()
            elif isinstance(layers[i - 1], nn.Linear):
                layers[i - 1], layers[i] = fuse_linear_bn_eval(layers[i - 1], layers[i]), nn.Identity()
    return nn.Sequential(*layers).eval()


def make_model(name, size=28, pool="avg", activation=None, init="default"):
    """A reference model by normnet's name (lenet-bn, lenet, mlp-bn, mlp, lenet-bn-folded, mlp-bn-folded)
    and options, as `normnet train` takes them (--resize, --pool, --act, --init); activation None is the
    model's own. A folded preset is the architecture of a normnet file with "folded": true."""
    _choice("model", name, NAMES + FOLDED_NAMES)
    _choice("init", init, INITS)
    folded = name.endswith("-folded")
    bn = name.endswith("-bn") or folded
    if name.startswith("lenet"):
        model = lenet(bn, size, pool, activation or "sigmoid", folded)
    else:
        model = mlp(bn, size, activation or "relu", folded)
    if init == "xavier":
        for m in model:
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
    return model
