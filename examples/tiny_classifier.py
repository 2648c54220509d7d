"""A user's model as ``--model`` expects it: a factory returning the model, one batch, the loss (and optionally
the optimizer, n_classes, name, frozen).

    pytest spec/part6_your_model --model=examples.tiny_classifier:make
"""

import torch
from torch import nn


def make():
    g = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 5))
    return {
        "model": model,
        "inputs": torch.randn(16, 20, generator=g),  # one batch, batch-first
        "targets": torch.randint(0, 5, (16,), generator=g),
        "loss": nn.CrossEntropyLoss(),
        # "optimizer": lambda params: torch.optim.Adam(params, lr=1e-3),  # default: SGD(lr=0.01, momentum=0.9)
        "name": "tiny-classifier",
    }
