"""torchvision classification models built with random init (no download) on small images.

torchvision is an optional dependency; ``torchvision_cpu`` makes its models importable beside a torch its C
extension cannot load into.
"""

from __future__ import annotations

import torch
from torch import nn

from support.tensors import generator, seeded_init
from tests.model_corpus.torchvision_cpu import torchvision_importable

N = 8
CLASSES = 10


def create(name: str, seed: int, **kwargs) -> nn.Module:
    torchvision_importable()
    import torchvision

    with seeded_init(seed):
        return getattr(torchvision.models, name)(weights=None, num_classes=CLASSES, **kwargs)


def _images(seed: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = generator(seed)
    return torch.randn(N, 3, size, size, generator=g), torch.randint(0, CLASSES, (N,), generator=g)


def resnet18() -> dict:
    """resnet18(zero_init_residual=True) on 32x32 images: the last BatchNorm weight of each BasicBlock is 0 (the
    "Bag of Tricks" init PyTorch's reference training scripts use), 11.2M parameters."""
    x, y = _images(141, 32)
    return {
        "model": create("resnet18", 41, zero_init_residual=True),
        "inputs": x,
        "targets": y,
        "loss": nn.CrossEntropyLoss(),
        "optimizer": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
        "name": "tv-resnet18",
    }


def mobilenet_v3_small() -> dict:
    """mobilenet_v3_small on 64x64 images: hard-swish, squeeze-excitation, dropout 0.2 before the classifier."""
    x, y = _images(142, 64)
    return {
        "model": create("mobilenet_v3_small", 42),
        "inputs": x,
        "targets": y,
        "loss": nn.CrossEntropyLoss(),
        "optimizer": lambda p: torch.optim.AdamW(p, lr=3e-3),
        "name": "tv-mobilenet-v3-small",
    }


def efficientnet_b0() -> dict:
    """efficientnet_b0 on 64x64 images: MBConv blocks with squeeze-excitation and stochastic depth."""
    x, y = _images(143, 64)
    return {
        "model": create("efficientnet_b0", 43),
        "inputs": x,
        "targets": y,
        "loss": nn.CrossEntropyLoss(),
        "optimizer": lambda p: torch.optim.AdamW(p, lr=3e-3),
        "name": "tv-efficientnet-b0",
    }


__all__ = ["create", "efficientnet_b0", "mobilenet_v3_small", "resnet18"]
