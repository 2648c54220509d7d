"""timm's test configurations (``test_*``: the architectures at a few hundred thousand parameters), built from
their configs with a fixed seed, no download; timm's own init (zero_init_last, layer scale) as it ships.

timm is an optional dependency (it imports torchvision, made importable by ``torchvision_cpu`` where needed).
"""

from __future__ import annotations

import torch
from torch import nn

from support.tensors import generator, seeded_init
from tests.model_corpus.torchvision_cpu import torchvision_importable

N = 8
CLASSES = 5


def create(name: str, seed: int, **kwargs) -> nn.Module:
    torchvision_importable()  # timm imports torchvision
    import timm

    with seeded_init(seed):
        return timm.create_model(name, pretrained=False, num_classes=CLASSES, **kwargs)


def _images(seed: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = generator(seed)
    return torch.randn(N, 3, size, size, generator=g), torch.randint(0, CLASSES, (N,), generator=g)


def _adamw(lr: float):
    return lambda params: torch.optim.AdamW(params, lr=lr, weight_decay=0.05)


def resnet() -> dict:
    """timm's test_resnet (a deep stem, BasicBlocks and a Bottleneck, avg-pool downsampling) at 64x64: timm's
    ResNet zero-initialises the last BatchNorm weight of each block (zero_init_last=True), so each residual branch
    starts at 0."""
    x, y = _images(131, 64)
    return {
        "model": create("test_resnet", 31),
        "inputs": x,
        "targets": y,
        "loss": nn.CrossEntropyLoss(),
        "optimizer": _adamw(3e-3),
        "name": "timm-test-resnet",
    }


def convnext() -> dict:
    """timm's test_convnext at 64x64: each block's output is scaled by a learnable gamma initialised to 1e-6
    (ls_init_value, timm's default for ConvNeXt)."""
    x, y = _images(132, 64)
    model = create("test_convnext", 32, ls_init_value=1e-6)
    return {
        "model": model,
        "inputs": x,
        "targets": y,
        "loss": nn.CrossEntropyLoss(),
        "optimizer": _adamw(3e-3),
        "name": "timm-test-convnext",
    }


def vit() -> dict:
    """timm's test_vit (6 blocks, width 64) on 32x32 images in 8x8 patches, class-token pooling."""
    x, y = _images(133, 32)
    model = create("test_vit", 33, img_size=32, patch_size=8)
    return {
        "model": model,
        "inputs": x,
        "targets": y,
        "loss": nn.CrossEntropyLoss(),
        "optimizer": _adamw(1e-3),
        "name": "timm-test-vit",
    }


def efficientnet() -> dict:
    """timm's test_efficientnet (depthwise-separable and inverted-residual blocks with squeeze-excitation) at
    64x64."""
    x, y = _images(134, 64)
    return {
        "model": create("test_efficientnet", 34),
        "inputs": x,
        "targets": y,
        "loss": nn.CrossEntropyLoss(),
        "optimizer": _adamw(3e-3),
        "name": "timm-test-efficientnet",
    }


__all__ = ["convnext", "create", "efficientnet", "resnet", "vit"]
