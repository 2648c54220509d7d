"""The corpus catalog is consistent with the checks and its factories keep the model-under-test contract; the numbers
its notes cite (token counts, loss terms, the coupled pair of the view bug) are derived here from the batches."""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch
import torch.nn.functional as F

from support.model_check.checks import CHECKS
from support.model_check.subject import OPTIONAL, REQUIRED
from tests.model_corpus import broken, catalog, handwritten, losses, torchvision_cpu

ENTRIES = catalog.HEALTHY + catalog.BROKEN


def test_catalog_names_the_checks_and_its_ids_are_unique():
    assert catalog.CHECK_NAMES == tuple(CHECKS)
    assert len({e.id for e in ENTRIES}) == len(ENTRIES)
    healthy = {m.id for m in catalog.HEALTHY}
    for m in catalog.HEALTHY:
        assert set(m.not_applicable) <= set(CHECKS), m.id
        for note in m.notes:
            assert note.checks and set(note.checks) <= set(CHECKS), f"{m.id}: {note.about}"
    for b in catalog.BROKEN:
        assert b.base in healthy and b.check in CHECKS and b.words, b.id
        assert set(b.also_fail) <= set(CHECKS) - {b.check}, b.id


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_factories_keep_the_contract_and_repeat_themselves(entry):
    if not entry.available:
        pytest.skip(f"{entry.requires} (optional) is not installed")
    losses.use_stand_in()  # support.model_check.losses.SequenceCrossEntropyLoss where it exists
    state = torch.random.get_rng_state()
    first, second = entry.factory(), entry.factory()
    assert torch.equal(torch.random.get_rng_state(), state), "a factory must leave the global RNG alone"
    assert set(REQUIRED) <= set(first) <= set(REQUIRED) | set(OPTIONAL)
    assert first["name"] == entry.id
    for a, b in zip(first["model"].state_dict().values(), second["model"].state_dict().values()):
        assert torch.equal(a, b)
    assert torch.equal(first["targets"], second["targets"])


def test_the_padded_batches_hold_the_token_counts_the_notes_cite():
    # LENGTHS sum to 12 + 11 + 9 + 8 + 7 + 5 + 4 + 3 = 59 of 8 x 12 = 96 positions
    targets = handwritten.padded_tagger()["targets"]
    assert targets.numel() == 96 and int((targets != losses.PAD_LABEL).sum()) == 59
    out = torch.randn(*targets.shape, 7, generator=torch.Generator().manual_seed(0))
    terms = losses.masked_token_cross_entropy(out, targets, reduction="none")
    # the healthy loss divides the sum by the 59 real tokens, the broken one by all 96 positions
    assert losses.masked_token_cross_entropy(out, targets).item() == pytest.approx(terms.sum().item() / 59)
    assert broken.masked_mean_over_padding()["loss"](out, targets).item() == pytest.approx(terms.sum().item() / 96)


def test_the_causal_lm_batch_has_the_51_next_token_labels_its_note_cites():
    pytest.importorskip("transformers", reason="transformers (optional) is not installed")
    from tests.model_corpus import hf

    losses.use_stand_in()
    labels = hf.gpt2_causal_lm()["targets"]
    # 59 real tokens; the first of each of the 8 sequences is no one's next token: 59 - 8 = 51
    assert int((labels[:, 1:] != losses.PAD_LABEL).sum()) == 51


def test_the_stand_in_sequence_loss_scores_the_next_token():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 5, 4, generator=g, dtype=torch.float64)
    targets = torch.tensor([[0, 1, 2, 3, -100], [1, 1, -100, -100, -100], [3, 2, 1, 0, 2]])
    loss = losses.StandInSequenceCrossEntropyLoss(shift=1)
    # by hand: position t's logits against the label at t + 1, over the labels that are not -100 (3 + 1 + 4 = 8)
    pairs = [(i, t) for i in range(3) for t in range(4) if targets[i, t + 1] != -100]
    by_hand = [F.cross_entropy(logits[i, t][None], targets[i, t + 1][None]) for i, t in pairs]
    assert len(pairs) == 8
    assert loss(logits, targets).item() == pytest.approx(sum(v.item() for v in by_hand) / 8, rel=1e-12)
    loss.reduction = "none"
    assert loss(logits, targets).shape == (3, 4)


def test_the_view_bug_couples_sample_0_with_sample_1():
    # x.view(T, N, F) of a (N, T, F) batch: the LSTM's sample 0 at step t reads sample (t * N) // T, which is 1 at
    # t = 2 for N = 8, T = 10; the transposed original reads only its own sample
    fields = broken.view_instead_of_transpose()
    x = fields["inputs"].clone().requires_grad_(True)
    fields["model"].eval()(x)[0].sum().backward()
    assert x.grad[1].abs().sum() > 0
    healthy = handwritten.lstm_sequence_first()
    x = healthy["inputs"].clone().requires_grad_(True)
    healthy["model"].eval()(x)[0].sum().backward()
    assert x.grad[1:].abs().sum() == 0


def test_label_smoothing_floors_the_loss_at_the_entropy_of_the_smoothed_targets():
    # smoothing 0.1 over C = 10 classes puts 0.9 + 0.1/10 = 0.91 on the label and 0.01 on each other class
    eps, c = 0.1, 10
    on, off = 1 - eps + eps / c, eps / c
    entropy = -(on * math.log(on) + (c - 1) * off * math.log(off))
    assert entropy == pytest.approx(0.500, abs=5e-4)
    assert math.log(c) / entropy < 10  # a loss starting at ln C cannot fall 10-fold
    fields = handwritten.label_smoothing()
    best = torch.full((8, c), math.log(off))  # log of the smoothed targets: the loss's minimum
    best[torch.arange(8), fields["targets"]] = math.log(on)
    assert fields["loss"](best, fields["targets"]).item() == pytest.approx(entropy, rel=1e-5)


def test_the_torchvision_shim_imports_torchvision_where_it_is_installed():
    assert torchvision_cpu.torchvision_importable() == (importlib.util.find_spec("torchvision") is not None)
