"""Hugging Face transformers models built from tiny configs (no download): the models, inputs and losses of a
fine-tuning script.

Each forward returns a ``ModelOutput`` whose ``logits`` the checks read. The batches are padded token sequences
with an ``attention_mask`` (lengths ``LENGTHS``); weights come from the config's own init under a fixed seed.
transformers is an optional dependency, imported when a factory runs.
"""

from __future__ import annotations

import importlib

import torch

from support.model_check.losses import SequenceCrossEntropyLoss
from support.tensors import generator, seeded_init
from tests.model_corpus.losses import PAD_LABEL
from tests.model_corpus.torchvision_cpu import torchvision_importable

N = 8
VOCAB, PAD_TOKEN = 64, 0
LENGTHS = (12, 11, 9, 8, 7, 5, 4, 3)  # 59 real tokens of 8 x 12 positions
CLASSES = 3
HIDDEN, LAYERS, HEADS, FFN = 32, 2, 2, 64


def transformers():
    """The transformers package (imported on first use: it imports torchvision where that is installed)."""
    torchvision_importable()
    return importlib.import_module("transformers")


def _adamw(lr: float):
    return lambda params: torch.optim.AdamW(params, lr=lr, weight_decay=0.01)


def padded_ids(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """input_ids (N, T) of lengths LENGTHS, right-padded with PAD_TOKEN, and their attention_mask."""
    g = generator(seed)
    length = max(LENGTHS)
    mask = (torch.arange(length)[None, :] < torch.tensor(LENGTHS)[:, None]).long()
    ids = torch.where(mask.bool(), torch.randint(1, VOCAB, (N, length), generator=g), PAD_TOKEN)
    return ids, mask


def bert_classifier() -> dict:
    """BertForSequenceClassification (2 layers, hidden 32): input_ids, attention_mask and token_type_ids (a
    second segment in the last 3 real tokens of each sequence)."""
    hf = transformers()
    config = hf.BertConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=FFN,
        max_position_embeddings=32,
        type_vocab_size=2,
        num_labels=CLASSES,
        pad_token_id=PAD_TOKEN,
    )
    with seeded_init(21):
        model = hf.BertForSequenceClassification(config)
    ids, mask = padded_ids(121)
    positions = torch.arange(ids.shape[1])[None, :]
    token_types = ((positions >= torch.tensor(LENGTHS)[:, None] - 3) & mask.bool()).long()
    labels = torch.randint(0, CLASSES, (N,), generator=generator(221))
    return {
        "model": model,
        "inputs": {"input_ids": ids, "attention_mask": mask, "token_type_ids": token_types},
        "targets": labels,
        "loss": torch.nn.CrossEntropyLoss(),
        "optimizer": _adamw(3e-3),
        "name": "hf-bert-classifier",
    }


def distilbert_classifier() -> dict:
    """DistilBertForSequenceClassification (2 layers, dim 32): input_ids and attention_mask."""
    hf = transformers()
    config = hf.DistilBertConfig(
        vocab_size=VOCAB,
        dim=HIDDEN,
        n_layers=LAYERS,
        n_heads=HEADS,
        hidden_dim=FFN,
        max_position_embeddings=32,
        num_labels=CLASSES,
        pad_token_id=PAD_TOKEN,
    )
    with seeded_init(22):
        model = hf.DistilBertForSequenceClassification(config)
    ids, mask = padded_ids(122)
    labels = torch.randint(0, CLASSES, (N,), generator=generator(222))
    return {
        "model": model,
        "inputs": {"input_ids": ids, "attention_mask": mask},
        "targets": labels,
        "loss": torch.nn.CrossEntropyLoss(),
        "optimizer": _adamw(3e-3),
        "name": "hf-distilbert-classifier",
    }


def gpt2_causal_lm() -> dict:
    """GPT2LMHeadModel (2 layers, n_embd 32) as a causal LM over right-padded sequences: logits (N, T, V), labels
    = input_ids with -100 at the padding, scored with the next-token shift by SequenceCrossEntropyLoss(shift=1)."""
    hf = transformers()
    config = hf.GPT2Config(
        vocab_size=VOCAB,
        n_positions=32,
        n_embd=HIDDEN,
        n_layer=LAYERS,
        n_head=HEADS,
        bos_token_id=1,
        eos_token_id=1,
        pad_token_id=PAD_TOKEN,
    )
    with seeded_init(23):
        model = hf.GPT2LMHeadModel(config)
    ids, mask = padded_ids(123)
    labels = ids.masked_fill(mask == 0, PAD_LABEL)
    return {
        "model": model,
        "inputs": {"input_ids": ids, "attention_mask": mask},
        "targets": labels,
        "loss": SequenceCrossEntropyLoss(shift=1, ignore_index=PAD_LABEL),
        "optimizer": _adamw(3e-3),
        "n_classes": VOCAB,
        "name": "hf-gpt2-causal-lm",
    }


__all__ = ["bert_classifier", "distilbert_classifier", "gpt2_causal_lm", "padded_ids", "transformers"]
