"""A BERT-style sentence classifier from Hugging Face ``transformers``, built from a config (no download), as people
fine-tune one: a dict batch of ``input_ids`` / ``token_type_ids`` / ``attention_mask`` with right padding, the model's
``SequenceClassifierOutput`` (its ``logits`` are used), CrossEntropyLoss, and AdamW at a fine-tuning learning rate with
no weight decay on biases and LayerNorm weights.

    pytest spec/part6_your_model --model=examples.bert_classifier:make

Needs ``transformers`` (the project's dev extra installs it). Two layers of width 64 keep it quick on a CPU; a real
BERT-base differs only in size.
"""

from __future__ import annotations

import torch
from torch import nn

BATCH, LENGTH, CLASSES, VOCAB = 8, 16, 3, 500


def no_decay_groups(model: nn.Module, weight_decay: float = 0.01) -> list[dict]:
    """The usual fine-tuning split: weight decay on weight matrices, none on biases and LayerNorm weights."""
    decay, rest = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (rest if name.endswith("bias") or "LayerNorm" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def make():
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=64,
        num_labels=CLASSES,
    )
    model = BertForSequenceClassification(config)
    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(LENGTH // 2, LENGTH + 1, (BATCH,), generator=g)
    lengths[0] = LENGTH
    mask = (torch.arange(LENGTH)[None, :] < lengths[:, None]).long()
    ids = torch.randint(5, VOCAB, (BATCH, LENGTH), generator=g) * mask  # 0 is the [PAD] id
    return {
        "model": model,
        "inputs": {"input_ids": ids, "token_type_ids": torch.zeros_like(ids), "attention_mask": mask},
        "targets": torch.randint(0, CLASSES, (BATCH,), generator=g),
        "loss": nn.CrossEntropyLoss(),
        "optimizer": lambda params: torch.optim.AdamW(no_decay_groups(model), lr=5e-5),
        "name": "bert-classifier",
    }
