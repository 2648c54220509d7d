"""A GPT-2-style causal language model from Hugging Face ``transformers``, built from a config (no download), trained
on a right-padded batch: ``labels`` are the ``input_ids`` with -100 at the padding, as transformers' causal-LM loss
takes them. The logits are (N, T, V) and the model predicts token t + 1 from position t:
``SequenceCrossEntropyLoss(shift=1)`` is that loss with the reductions the checks need.

    pytest spec/part6_your_model --model=examples.gpt2_lm:make

Needs ``transformers`` (the project's dev extra installs it).
"""

from __future__ import annotations

import torch

from support.model_check.losses import SequenceCrossEntropyLoss

BATCH, LENGTH, VOCAB, PAD = 4, 12, 200, 0


def make():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=VOCAB,
        n_positions=32,
        n_embd=64,
        n_layer=2,
        n_head=4,
        pad_token_id=PAD,
        bos_token_id=VOCAB - 1,
        eos_token_id=VOCAB - 1,
    )
    model = GPT2LMHeadModel(config)
    g = torch.Generator().manual_seed(1)
    lengths = torch.tensor([LENGTH, LENGTH - 3, LENGTH - 5, LENGTH - 1])
    mask = (torch.arange(LENGTH)[None, :] < lengths[:, None]).long()
    ids = torch.randint(1, VOCAB, (BATCH, LENGTH), generator=g) * mask
    labels = ids.masked_fill(mask == 0, -100)
    return {
        "model": model,
        "inputs": {"input_ids": ids, "attention_mask": mask},
        "targets": labels,
        "loss": SequenceCrossEntropyLoss(shift=1, ignore_index=-100),
        "optimizer": lambda params: torch.optim.AdamW(params, lr=3e-4),
        "name": "gpt2-lm",
    }
