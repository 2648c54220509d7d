"""The model checks on models written by others (tests/model_corpus): no false alarm, no crash and the right notes on
every healthy model, and every broken variant caught with its cause named; the corpus itself keeps the factory
contract, and the numbers its notes cite (token counts, loss terms, the coupled pair of the view bug) are derived
here from its batches.

The notes a healthy model must get are derived from its structure where they can be: the parameters a zero-initialised
layer blocks at init are those of the same residual branch registered before it (``blocked_at_init``); the
parameters the loss does not depend on are named below with the reason, per model.
"""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch
from torch import nn

from support.errors import SpecInputError
from support.model_check.runner import CHECKS, run_check
from support.model_check.subject import OPTIONAL, REQUIRED
from support.model_check.validation import load_subject
from support.pytest_plugin.profiles import profile_name
from support.tensors import generator
from tests.model_corpus import broken, catalog, handwritten, losses, torchvision_cpu

# The slowest corpus model (4M parameters, stochastic depth: its zero-gradient diagnosis looks at 8 random draws,
# ~12 s on one core) runs under the thorough profile only.
THOROUGH_ONLY = {"tv-efficientnet-b0"}


def _no_effect(model_id: str, model: nn.Module) -> set[str] | None:
    """The parameters the loss of ``model_id`` cannot depend on, by the model's structure (None: not checked)."""
    names = [n for n, _ in model.named_parameters()]
    if model_id in ("hf-bert-classifier", "hf-distilbert-classifier"):
        # attention's key bias adds q . b_k to every score of a query; softmax over the keys ignores it
        return {n for n in names if n.endswith(("attention.self.key.bias", "attention.k_lin.bias"))}
    if model_id == "bn-cnn-conv-bias":
        return {"features.0.bias", "features.3.bias"}  # conv biases right before a train-mode BatchNorm
    if model_id == "tv-mobilenet-v3-small":
        # each InvertedResidual ends in a projection conv + BatchNorm with no activation; its BatchNorm bias adds a
        # constant per channel that goes (through skips, which add it linearly) only into 1x1 convs followed by
        # BatchNorm, which cancel it: the last BatchNorm bias of each of the 11 blocks
        return {f"features.{i}.block.{len(model.features[i].block) - 1}.1.bias" for i in range(1, 12)}
    if model_id == "timm-test-efficientnet":
        # the linear-bottleneck blocks whose output feeds a 1x1 conv + BatchNorm: blocks 3.0 and 4.0 start with one
        # (conv_pw), and conv_head follows 4.0; 1.0's output feeds a 3x3 conv, whose zero padding breaks the cancel
        return {"blocks.2.0.bn2.bias", "blocks.3.0.bn3.bias", "blocks.4.0.bn3.bias"}
    return set()


def blocked_at_init(model: nn.Module) -> set[str]:
    """Parameters a zero-initialised layer blocks at init: in every module whose children include one with an
    all-zero weight that is not its first child (the last norm or layer of a residual branch), the parameters of the
    children registered before it."""
    found: set[str] = set()
    for prefix, module in model.named_modules():
        children = list(module.named_children())
        for i, (_, child) in enumerate(children):
            weight = getattr(child, "weight", None)
            if i > 0 and isinstance(weight, torch.Tensor) and weight.numel() and not weight.any():
                for earlier, mod in children[:i]:
                    found |= {f"{prefix}.{earlier}.{n}".lstrip(".") for n, p in mod.named_parameters()}
    return found


def _note_names(note) -> str:
    return note.en if note is not None else ""


@pytest.mark.parametrize("entry", catalog.HEALTHY, ids=lambda e: e.id)
def test_no_false_alarm_no_crash_and_the_right_notes_on_a_healthy_model(entry, request):
    if not entry.available:
        pytest.skip(f"{entry.requires} (optional) is not installed or does not import")
    if entry.id in THOROUGH_ONLY and profile_name(request.config) != "thorough":
        pytest.skip("the slowest corpus model runs under the thorough profile only")
    subject = load_subject(entry.factory_spec)
    results = {check: run_check(check, subject) for check in CHECKS}
    for check, result in results.items():
        allowed = ("pass", "n/a") if check in entry.not_applicable else ("pass",)
        assert result.outcome.value in allowed, f"{entry.id}: {check}: {result.outcome.value}: {result.message.en}"
    no_effect = _no_effect(entry.id, subject.model)
    blocked = blocked_at_init(subject.model)
    for check in catalog.GRADIENT_CHECKS:
        result = results[check]
        got_none = result.numbers["parameters the loss does not depend on"][0]
        got_blocked = result.numbers["parameters with zero gradient at init only"][0]
        if entry.id == "tv-efficientnet-b0":  # stochastic depth: the non-residual blocks at least
            assert got_none >= 7, f"{entry.id}: {check}: {_note_names(result.note)}"
        else:
            assert got_none == len(no_effect), f"{entry.id}: {check}: {_note_names(result.note)}"
        assert got_blocked == len(blocked), f"{entry.id}: {check}: {sorted(blocked)} / {_note_names(result.note)}"
        for name in sorted(no_effect | blocked)[:3]:
            assert name in _note_names(result.note) or got_none + got_blocked > 8, f"{entry.id}: {check}: {name}"
    # a note elsewhere only where the subject's optimizer is too slow to memorise the batch (the checker says so)
    for check, result in results.items():
        if check not in catalog.GRADIENT_CHECKS and result.note is not None:
            assert check == "can-overfit-one-batch" and "does not fit the batch within" in result.note.en, check


def test_a_tagger_whose_output_length_follows_the_batch_is_not_failed_for_it():
    # pad_packed_sequence without total_length: healthy, and its batch axis is dim 0 (the probe counts rows only),
    # but one sample's output is shorter than the batch's, so per-sample gradients cannot be formed: could not run
    subject = load_subject("tests.model_corpus.handwritten:packed_tagger_without_total_length")
    results = {check: run_check(check, subject) for check in CHECKS}
    per_sample = results.pop("per-sample-gradients-add-up")
    assert per_sample.outcome.value == "could not run" and "total_length" in per_sample.message.en, per_sample.message
    for check, result in results.items():
        assert result.outcome.value in ("pass", "n/a"), f"{check}: {result.outcome.value}: {result.message.en}"


@pytest.mark.parametrize("variant", catalog.BROKEN, ids=lambda e: e.id)
def test_each_broken_variant_is_caught_and_its_cause_named(variant):
    if not variant.available:
        pytest.skip(f"{variant.requires} (optional) is not installed or does not import")
    if variant.check == catalog.VALIDATION:
        with pytest.raises(SpecInputError) as info:
            load_subject(variant.factory_spec)
        assert all(w in str(info.value) for w in variant.words), str(info.value)
        return
    subject = load_subject(variant.factory_spec)
    for check in (variant.check, *variant.also_fail):
        result = run_check(check, subject)
        assert result.outcome.value == "fail", f"{variant.id}: {check}: {result.message.en}"
    message = run_check(variant.check, subject).message.en
    assert all(w in message for w in variant.words), message


def test_the_derivations_of_the_notes_find_what_they_describe():
    # blocked_at_init: a residual branch x + bn2(conv2(relu(bn1(conv1(x))))) with bn2's weight 0
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(2, 2, 3, bias=False), nn.BatchNorm2d(2)
            self.conv2, self.bn2 = nn.Conv2d(2, 2, 3, bias=False), nn.BatchNorm2d(2)
            nn.init.zeros_(self.bn2.weight)

    assert blocked_at_init(nn.Sequential(Block())) == {"0.conv1.weight", "0.bn1.weight", "0.bn1.bias", "0.conv2.weight"}
    assert blocked_at_init(nn.Sequential(nn.Linear(2, 2), nn.ReLU())) == set()


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
        assert b.base in healthy and (b.check in CHECKS or b.check == catalog.VALIDATION) and b.words, b.id
        assert set(b.also_fail) <= set(CHECKS) - {b.check}, b.id


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_factories_keep_the_contract_and_repeat_themselves(entry):
    if not entry.available:
        pytest.skip(f"{entry.requires} (optional) is not installed")
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
    out = torch.randn(*targets.shape, 7, generator=generator(0))
    terms = losses.masked_token_cross_entropy(out, targets, reduction="none")
    # the healthy loss divides the sum by the 59 real tokens, the broken one by all 96 positions
    assert losses.masked_token_cross_entropy(out, targets).item() == pytest.approx(terms.sum().item() / 59)
    assert broken.masked_mean_over_padding()["loss"](out, targets).item() == pytest.approx(terms.sum().item() / 96)


def test_the_causal_lm_batch_has_the_51_next_token_labels_its_note_cites():
    pytest.importorskip("transformers", reason="transformers (optional) is not installed")
    from tests.model_corpus import hf

    labels = hf.gpt2_causal_lm()["targets"]
    # 59 real tokens; the first of each of the 8 sequences is no one's next token: 59 - 8 = 51
    assert int((labels[:, 1:] != losses.PAD_LABEL).sum()) == 51


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


@pytest.mark.parametrize(
    ("spec", "needs"),
    [
        ("examples.tiny_classifier:make", None),
        ("examples.bert_classifier:make", "transformers"),
        ("examples.gpt2_lm:make", "transformers"),
    ],
)
def test_the_examples_pass_every_check(spec, needs):
    if needs is not None and importlib.util.find_spec(needs) is None:
        pytest.skip(f"{needs} (optional) is not installed")
    subject = load_subject(spec)
    for check in CHECKS:
        result = run_check(check, subject)
        assert result.outcome.value == "pass", f"{spec}: {check}: {result.message.en}"
