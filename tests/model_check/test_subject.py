"""The factory contract (support.model_check.subject): load_subject and validate turn bad input into one clear
SpecInputError; forwards that return a Hugging Face style ModelOutput or dict, dict inputs with an attention mask,
class-last sequence logits (SequenceCrossEntropyLoss) and the batch-axis probe."""

from __future__ import annotations

import textwrap
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from support.errors import SpecInputError
from support.model_check import references
from support.model_check.losses import SequenceCrossEntropyLoss
from support.model_check.runner import CHECKS, run_check
from support.model_check.subject import ModelUnderTest
from support.model_check.validation import load_subject, validate
from support.tensors import generator
from tests.model_check.models import CLASSES, FEATURES, N, _seeded

# ================================================================ load_subject: bad input is one clear error
FACTORY_SRC = """
import torch
from torch import nn

def _batch(n=4):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, generator=g), torch.randint(0, 2, (n,), generator=g)

def make():
    x, y = _batch()
    return {"model": nn.Linear(3, 2), "inputs": x, "targets": y, "loss": nn.CrossEntropyLoss(), "name": "tiny"}

class Made:
    def __init__(self):
        self.model = nn.Linear(3, 2)
        self.inputs, self.targets = _batch()
        self.loss = nn.CrossEntropyLoss()

def as_object():
    return Made()

def raises():
    raise ValueError("no data here")

not_callable = 3
"""


@pytest.fixture
def factories(tmp_path, monkeypatch):
    (tmp_path / "user_models.py").write_text(textwrap.dedent(FACTORY_SRC), encoding="utf-8")
    (tmp_path / "broken_import.py").write_text(
        "import torch\nraise RuntimeError('module-level bug')\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import user_models

    yield user_models


def test_load_subject_accepts_a_dict_or_an_object(factories):
    subject = load_subject("user_models:make")
    assert subject.name == "tiny" and subject.batch_size == 4 and subject.frozen == ()
    assert load_subject("user_models:as_object").name == "user_models"  # the module's name by default


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("user_models", "expected PACKAGE.MODULE:FACTORY"),
        ("user_models:make:x", "expected PACKAGE.MODULE:FACTORY"),
        ("no_such_module:make", "cannot import module 'no_such_module': No module named 'no_such_module'"),
        ("broken_import:make", "importing 'broken_import' failed: RuntimeError: module-level bug (at "),
        ("user_models:mkae", "'user_models' has no attribute 'mkae'; did you mean 'make'?"),
        ("user_models:not_callable", "user_models:not_callable is a int, not a callable factory"),
        ("user_models:raises", "the factory user_models:raises raised ValueError: no data here (at "),
    ],
)
def test_load_subject_names_what_is_wrong_with_the_spec(factories, spec, message):
    with pytest.raises(SpecInputError) as info:
        load_subject(spec)
    assert message in str(info.value)


def _fields(factories, **changes):
    fields = factories.make()
    fields.update(changes)
    return fields


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model": "a model"}, "model must be a torch.nn.Module, got str"),
        ({"inputs": [1, 2]}, "inputs[0] is a int, not a tensor"),
        ({"inputs": torch.tensor(1.0)}, "every tensor must be batch-first"),
        ({"targets": [0, 1]}, "targets must be a batch-first tensor, got list"),
        ({"targets": torch.tensor([0, 1, 1])}, "inputs and targets must have the same batch size"),
        ({"loss": "ce"}, "loss must be a torch.nn loss module or a callable, got str"),
        ({"loss": lambda out, y: out.sum()}, "takes no `reduction` argument"),
        ({"loss": nn.Softmax(dim=1)}, "loss is a Softmax without a `reduction` attribute"),
        ({"optimizer": "sgd"}, "optimizer must be a callable params -> torch.optim.Optimizer"),
        ({"n_classes": 1}, "n_classes must be an int >= 2, got 1"),
        (
            {"n_classes": 3},
            "n_classes is 3, but the model's output has 2 classes along dim 1 (shape (4, 2)) for CrossEntropyLoss",
        ),
        ({"frozen": "weight"}, "frozen must be a list of parameter names"),
        (
            {"frozen": ["wieght"]},
            "frozen names 'wieght', which is not a parameter of the model; did you mean 'weight'?",
        ),
        ({"name": ""}, "name must be a non-empty string"),
    ],
)
def test_validate_names_the_wrong_field(factories, changes, message):
    with pytest.raises(SpecInputError) as info:
        validate(ModelUnderTest(**_fields(factories, **changes)))
    assert message in str(info.value)


def test_mapping_fields_must_be_known_and_complete(factories, monkeypatch):
    original = factories.make
    monkeypatch.setattr(factories, "make", lambda: {"model": nn.Linear(3, 2), "inputs": torch.randn(4, 3)})
    with pytest.raises(SpecInputError, match="returned a dict without targets, loss"):
        load_subject("user_models:make")
    monkeypatch.setattr(factories, "make", lambda: dict(original(), lr=0.1))
    with pytest.raises(SpecInputError, match=r"returned unknown field\(s\) \['lr'\]"):
        load_subject("user_models:make")
    monkeypatch.setattr(factories, "make", lambda: [1, 2])
    with pytest.raises(SpecInputError, match="returned a list without model, inputs, targets, loss"):
        load_subject("user_models:make")


def test_a_batch_of_one_is_rejected(factories):
    x, y = factories._batch(1)
    with pytest.raises(SpecInputError, match="the batch has 1 sample"):
        validate(ModelUnderTest(**_fields(factories, inputs=x, targets=y)))


def test_a_forward_or_loss_that_fails_is_reported_once_with_its_error(factories):
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(5, 2)  # expects 5 features, the batch has 3

        def forward(self, x):
            return self.lin(x)

    with pytest.raises(SpecInputError) as info:
        validate(ModelUnderTest(**_fields(factories, model=Broken())))
    text = str(info.value)
    assert "the model's forward fails on the batch: RuntimeError: mat1 and mat2 shapes cannot be multiplied" in text
    assert text.count("RuntimeError") == 1 and info.value.__cause__ is None  # one message, no chained traceback

    class Tuple(nn.Linear):
        def forward(self, x):
            return super().forward(x), None

    with pytest.raises(SpecInputError, match="must return the logits .* it returned a tuple"):
        validate(ModelUnderTest(**_fields(factories, model=Tuple(3, 2))))
    with pytest.raises(SpecInputError, match="the loss fails on the model's output"):
        validate(ModelUnderTest(**_fields(factories, targets=torch.zeros(4, 7))))
    # without run_forward the model is not called
    validate(ModelUnderTest(**_fields(factories, model=Broken())), run_forward=False)


def test_the_subject_runs_tuple_and_dict_inputs():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(FEATURES, CLASSES)

        def forward(self, x, scale):
            return self.lin(x) * scale[:, None]

    base = references.mlp()
    scale = torch.linspace(0.5, 1.5, N)
    for inputs in ((base.inputs, scale), {"x": base.inputs, "scale": scale}):
        subject = validate(replace(base, model=_seeded(TwoInputs), inputs=inputs))
        for check in CHECKS:
            result = run_check(check, subject)
            assert result.outcome.value == "pass", f"{type(inputs).__name__}: {check}: {result.message.en}"


def test_validation_runs_the_forward_on_a_copy_and_leaves_the_model_as_it_was():
    # a train-mode forward moves BatchNorm's running statistics: validating must not, or serial runs (which
    # validate in the test process) and xdist workers (which do not) would check different models
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    subject = validate(
        ModelUnderTest(
            model=model, inputs=torch.randn(6, 3), targets=torch.tensor([0, 1] * 3), loss=nn.CrossEntropyLoss()
        ),
        run_forward=True,
    )
    after = subject.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "validation changed the model's buffers"
    assert subject.model.training


# ================================================================ what Hugging Face models return and take
class Output(dict):
    """What a transformers model returns: a ModelOutput is an ordered dict whose entries are attributes too."""

    def __getattr__(self, name):
        return self[name]


class MaskedTokenClassifier(nn.Module):
    """input_ids and attention_mask in, a ModelOutput-like dict with `logits` and `hidden_states` out."""

    def __init__(self, as_attribute: bool):
        super().__init__()
        self.as_attribute = as_attribute
        self.embed = nn.Embedding(references.VOCAB, 8)
        self.head = nn.Linear(8, CLASSES)

    def forward(self, input_ids, attention_mask):
        h = self.embed(input_ids) * attention_mask[..., None]
        pooled = h.sum(dim=1) / attention_mask.sum(dim=1, keepdim=True)
        out = {"logits": self.head(pooled), "hidden_states": h}
        return Output(out) if self.as_attribute else out


@pytest.mark.parametrize("as_attribute", [False, True])
def test_a_model_returning_a_model_output_with_logits_runs_every_check(as_attribute):
    tokens = references.transformer().inputs
    mask = torch.ones_like(tokens)
    mask[::2, -2:] = 0  # right padding on every other sample
    subject = validate(
        ModelUnderTest(
            model=_seeded(lambda: MaskedTokenClassifier(as_attribute)),
            inputs={"input_ids": tokens, "attention_mask": mask},
            targets=references.transformer().targets,
            loss=nn.CrossEntropyLoss(),
            optimizer=lambda p: torch.optim.Adam(p, lr=3e-2),
        )
    )
    for check in CHECKS:
        result = run_check(check, subject)
        assert result.outcome.value in ("pass", "n/a"), f"{check}: {result.message.en}"


def test_an_output_without_logits_is_one_usage_error():
    class Hidden(nn.Linear):
        def forward(self, x):
            return {"hidden": super().forward(x)}

    with pytest.raises(
        SpecInputError,
        match=r"a mapping / ModelOutput with a 'logits' entry; it returned a dict "
        r"with keys \['hidden'\]",
    ):
        validate(
            ModelUnderTest(
                model=Hidden(FEATURES, CLASSES),
                inputs=torch.randn(N, FEATURES),
                targets=torch.randint(0, CLASSES, (N,)),
                loss=nn.CrossEntropyLoss(),
            )
        )


def test_sequence_cross_entropy_is_cross_entropy_on_class_last_logits_shifted():
    g = generator(3)
    logits = torch.randn(2, 5, 7, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 7, (2, 5), generator=g)
    labels[1, 3:] = -100  # right padding
    loss = SequenceCrossEntropyLoss(shift=1)
    want = F.cross_entropy(logits[:, :-1].reshape(-1, 7), labels[:, 1:].reshape(-1), ignore_index=-100)
    torch.testing.assert_close(loss(logits, labels), want)
    assert SequenceCrossEntropyLoss(shift=1, reduction="none")(logits, labels).shape == (2, 4)
    plain = SequenceCrossEntropyLoss(label_smoothing=0.1)
    torch.testing.assert_close(
        plain(logits, labels), F.cross_entropy(logits.movedim(-1, 1), labels, label_smoothing=0.1)
    )
    with pytest.raises(SpecInputError, match="shift must be an int >= 0"):
        SequenceCrossEntropyLoss(shift=-1)
    with pytest.raises(SpecInputError, match=r"class-last logits \(N, T, ..., C\) for targets"):
        loss(logits.movedim(-1, 1), labels)


# ================================================================ dim 0 must be the batch
class SequenceFirstClassifier(nn.Module):
    """nn.LSTM without batch_first: the input must be (T, N, F); it classifies from the last hidden state."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(FEATURES, 16)
        self.head = nn.Linear(16, CLASSES)

    def forward(self, x):
        return self.head(self.lstm(x)[1][0][-1])


def test_time_first_inputs_with_as_many_steps_as_samples_are_one_usage_error():
    steps = N  # T = N: every size check passes
    x = torch.randn(steps, N, FEATURES, generator=generator(1))  # (T, N, F), as the LSTM wants
    subject = ModelUnderTest(
        model=_seeded(SequenceFirstClassifier),
        inputs=x,
        targets=torch.randint(0, CLASSES, (N,)),
        loss=nn.CrossEntropyLoss(),
    )
    with pytest.raises(SpecInputError) as info:
        validate(subject)
    text = str(info.value)
    assert "dim 0 of the inputs is not the batch" in text and "Is the input sequence-first (T, N, ...)?" in text
    assert f"give an output of shape ({N}, {CLASSES}), not {N - 1} rows" in text

    # the same model given batch-first inputs and transposing inside forward is a valid subject
    class BatchFirst(SequenceFirstClassifier):
        def forward(self, x):
            return super().forward(x.transpose(0, 1))

    validate(replace(subject, model=_seeded(BatchFirst), inputs=x.transpose(0, 1).contiguous()))
