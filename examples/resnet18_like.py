"""A ResNet-18-sized CNN for 32x32 images (the CIFAR variant of He et al. 2016: a 3x3 stem without max-pooling,
then 4 stages of 2 BasicBlocks with 64, 128, 256, 512 channels; 11.2M parameters), written out here because
torchvision is not a dependency. ``make()`` returns a batch of 8 random images with 10-class labels, for
``--model=examples.resnet18_like:make`` and bench/model_check_time.py."""

from __future__ import annotations

import torch
from torch import nn

BATCH, CLASSES, SIZE = 8, 10, 32


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, classes: int = CLASSES, width: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        stages, c_in = [], width
        for i, c_out in enumerate((width, 2 * width, 4 * width, 8 * width)):
            stages.append(nn.Sequential(BasicBlock(c_in, c_out, 1 if i == 0 else 2), BasicBlock(c_out, c_out, 1)))
            c_in = c_out
        self.layers = nn.Sequential(*stages)
        self.fc = nn.Linear(c_in, classes)

    def forward(self, x):
        out = self.layers(torch.relu(self.bn1(self.conv1(x))))
        return self.fc(out.mean(dim=(2, 3)))


def make(width: int = 64) -> dict:
    """ResNet-18 (width 64: 11.2M parameters), 8 random 32x32 RGB images, 10 random labels, Adam."""
    g = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = ResNet18(width=width)
    return {
        "model": model,
        "inputs": torch.randn(BATCH, 3, SIZE, SIZE, generator=g),
        "targets": torch.randint(0, CLASSES, (BATCH,), generator=g),
        "loss": nn.CrossEntropyLoss(),
        "optimizer": lambda params: torch.optim.Adam(params, lr=1e-3),
        "name": "resnet18-like" if width == 64 else f"resnet18-like-w{width}",
    }
