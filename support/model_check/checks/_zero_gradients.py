"""Why a parameter's gradient is zero, or only rounding: the one diagnosis checks 1 and 2 share, decided by
measurements on the model, never by the parameter's name.

A gradient that is exactly 0, or small enough to be rounding (``SCREEN`` eps of its dtype times the model's largest
gradient entry), is a *candidate*; anything larger is a real gradient and needs no diagnosis. Each candidate is then
measured, in this order:

1. **Its gradient in float64.** The model's float64 copy is differentiated with the same random numbers (dropout).
   A gradient that is real in float64 (above ``SCREEN`` float64 eps of the float64 scale) is a small but real
   gradient -- a layer-scale branch (ConvNeXt's gamma = 1e-6), a query bias -- and the parameter ``LEARNS``; unless
   it is exactly 0 in the model's own backward, where a hook on the tensor zeroed it (``HOOK_ZEROED``: the float64
   copy carries no hooks) or the dtype flushed it to 0 (``UNDERFLOW``).
2. **Shifting it.** The rest (0 or rounding in float64 too) are shifted by a large random amount in float64
   (``SHIFT`` times its root-mean-square value, at least ``SHIFT``), all at once and, when the loss moves, one at a
   time. If the loss moves, the loss depends on the parameter and its gradient is 0 anyway: a dead unit (a ReLU or
   clamp that never opens, a saturated sigmoid): ``DEAD``.
3. **One optimizer step.** Parameters whose shift leaves the loss unchanged are differentiated again (in float64)
   after one step of the subject's optimizer. A real gradient now means a parameter initialised to 0 blocked its
   path at init -- timm's ``zero_init_last``, torchvision's ``zero_init_residual``, LoRA's B -- and it trains from
   the first step: ``ZERO_AT_INIT``. Otherwise, if shifting them all at once moved the loss while no single shift
   did, they block each other: parameters initialised to 0 on both sides of a product (LoRA's A and B both 0) sit at
   a saddle where each one's gradient needs the other to be non-zero, and no step leaves it: ``STUCK_TOGETHER``,
   harmful. Otherwise the loss does not depend on them at all: ``NO_EFFECT`` -- a bias that a normalisation subtracts
   again (BatchNorm's mean), the key bias of attention (softmax is shift-invariant), or a parameter whose effect the
   model discards. Harmless, but it does not learn.

When the forward draws random numbers (it moves the global random generator: dropout, stochastic depth, LayerDrop), a
gradient that one draw makes 0, or None (a layer skipped), may be real under another: the measurements then look at
``DRAWS`` draws, and a parameter counts as 0 (or as never used, ``unused_in_every_draw``) only if it is so under
every one. The step and the shifts run on the subject's model and a float64 copy of it; the model is put back
afterwards.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import torch

from support.gradients import dense
from support.model_check.checks._numerics import exact_copy, num, same_randomness
from support.model_check.subject import ModelUnderTest, preserved
from support.tensors import generator

# A gradient is a candidate when max |g| <= SCREEN * eps(dtype) * the model's largest |gradient entry|. Why 2^10: a
# gradient that is 0 in exact arithmetic (terms that cancel) comes out of backward as the rounding error of that
# cancellation, about sqrt(n) eps times the terms' size for n terms (random-walk growth; Higham 2002, sec. 4.2), and
# 2^10 covers sqrt(n) up to about a million terms. The screen only decides what is measured: in float64 a real
# gradient of 1e-8 of the scale is 10^4 times above it.
SCREEN = 2.0**10
# Each entry of a shifted parameter moves by SHIFT x max(its rms value, 1) x a standard normal draw: large enough to
# open a dead ReLU whose pre-activation sits a few units below 0, while a loss that does not depend on the parameter
# stays equal up to rounding whatever the shift.
SHIFT = 3.0
# The loss "moved" when |L(shifted) - L| > SHIFT_RTOL x max(|L|, |L(shifted)|, 1). In float64 rounding of a forward
# is ~1e-16 x sqrt(operations), below 1e-12 for any model that fits in memory; 1e-9 leaves a factor of 1000. In
# float32 (a model that will not run in float64) the same reasoning gives 1e-4 (eps 1.2e-7 x 1000).
SHIFT_RTOL = {torch.float64: 1e-9, torch.float32: 1e-4}
# Random draws a diagnosis of a random forward looks at. A parameter that a draw leaves out of the loss with
# probability q (a layer LayerDrop or batch-wise stochastic depth skips: q = p; a bias BatchNorm cancels when no
# sample's branch is dropped: q = (1 - p)^N) is misjudged only if all DRAWS independent draws leave it out, q^DRAWS:
# below 1e-3 for q <= 0.5 (drop rates in use: LayerDrop 0.1-0.3, stochastic depth at most 0.5). A miss is a wrong
# note, or for a skipped layer a failure; k such parameters make it at most k q^DRAWS.
DRAWS = 10


class Kind(enum.Enum):
    LEARNS = "learns"  # a small but real gradient
    HOOK_ZEROED = "zeroed by a hook"  # 0 in the model's backward, real in its arithmetic, and a hook on the tensor
    UNDERFLOW = "underflows"  # 0 in the model's dtype, real in float64, no hook
    DEAD = "dead"  # the loss depends on it, its gradient is 0
    ZERO_AT_INIT = "zero at init only"  # blocked by a zero-initialised parameter: real after one step
    STUCK_TOGETHER = "stuck together"  # zero on both sides of a product: the loss depends on them only jointly
    NO_EFFECT = "no effect"  # the loss does not depend on it


@dataclass(frozen=True)
class Diagnosis:
    kind: Kind
    own: float  # max |g| in the model's own backward
    exact: float | None  # max |g| in float64 (None: the model does not run in float64)
    draws: int = 1  # the random draws (dropout masks) it was measured under: 1 for a forward that draws none

    def describe(self) -> str:
        own = "exactly 0" if self.own == 0 else f"max |g| {num(self.own)}"
        if self.exact is None or self.kind in (Kind.DEAD, Kind.NO_EFFECT, Kind.ZERO_AT_INIT):
            return own
        return f"{own}; {num(self.exact)} in float64"


def has_tensor_hooks(p: torch.Tensor) -> bool:
    """A hook registered with ``p.register_hook`` (PyTorch keeps a leaf's hooks in ``_backward_hooks``)."""
    return bool(getattr(p, "_backward_hooks", None))


def candidates(grads: dict[str, torch.Tensor | None]) -> tuple[dict[str, float], float]:
    """({name: max |g|} of the finite gradients that are 0 or at most rounding, the scale: the largest |entry|)."""
    finite = {n: g.detach() for n, g in grads.items() if g is not None and bool(torch.isfinite(g).all())}
    peak = {n: (g.abs().max().item() if g.numel() else 0.0) for n, g in finite.items()}
    scale = max(peak.values(), default=0.0)
    return {n: peak[n] for n, g in finite.items() if peak[n] <= SCREEN * torch.finfo(g.dtype).eps * scale}, scale


def _grads(subject: ModelUnderTest, seed: int) -> dict[str, torch.Tensor | None]:
    model = subject.model
    model.train()
    model.zero_grad(set_to_none=True)
    with same_randomness(seed):
        subject.loss(subject.forward(), subject.targets).backward()
    return {n: None if p.grad is None else dense(p.grad).detach() for n, p in model.named_parameters()}


def _real(grads: dict[str, torch.Tensor | None], names) -> dict[str, float]:
    """{name: max |g|} of ``names`` whose gradient is real (above the screen) in its dtype."""
    found, scale = candidates(grads)
    out = {}
    for n in names:
        g = grads.get(n)
        if g is not None and n not in found and bool(torch.isfinite(g).all()) and scale > 0:
            out[n] = g.abs().max().item()
    return out


def _loss(subject: ModelUnderTest, seed: int) -> float:
    with torch.no_grad(), same_randomness(seed):
        return subject.loss(subject.forward(), subject.targets).item()


def _shift(subject: ModelUnderTest, names: list[str], seed: int) -> dict[str, torch.Tensor]:
    """Shift the parameters ``names`` of ``subject`` (a copy) in place; returns their old values."""
    params = dict(subject.model.named_parameters())
    g = generator(seed)
    saved = {n: params[n].detach().clone() for n in names}
    with torch.no_grad():
        for n in names:
            p = params[n]
            rms = p.double().pow(2).mean().sqrt().item() if p.numel() else 0.0
            p.add_(torch.randn(p.shape, generator=g, dtype=torch.float64).to(p) * SHIFT * max(rms, 1.0))
    return saved


def _moves(subject: ModelUnderTest, names: list[str], seed: int, draws: list[int]) -> bool:
    """Whether shifting the parameters ``names`` of ``subject`` (a copy) moves its loss under any of the random
    ``draws`` (dropout masks); the parameters are put back."""
    dtype = next(subject.model.parameters()).dtype
    rtol = SHIFT_RTOL.get(dtype, SHIFT_RTOL[torch.float32])
    base = {d: _loss(subject, d) for d in draws}
    saved = _shift(subject, names, seed)
    params = dict(subject.model.named_parameters())
    try:
        for d in draws:
            shifted = _loss(subject, d)
            if not abs(shifted - base[d]) <= rtol * max(abs(base[d]), abs(shifted), 1.0):
                return True
        return False
    finally:
        with torch.no_grad():
            for n in names:
                params[n].copy_(saved[n])


def _float64_grads(subject: ModelUnderTest, seed: int) -> tuple[ModelUnderTest, dict | None]:
    """A float64 (else float32) copy of the subject and its gradients; None for the gradients when the copy is not
    float64 (a float32 copy's gradients say nothing the model's own do not)."""
    copy, _ = exact_copy(subject)
    dtype = next(copy.model.parameters()).dtype
    if dtype != torch.float64:
        return copy, None
    for p in copy.model.parameters():  # frozen parameters join in, so every name has a gradient
        p.requires_grad_(True)
    return copy, _grads(copy, seed)


def random_forward(subject: ModelUnderTest) -> bool:
    """Whether the train-mode forward draws random numbers: it moves the global random generator (dropout draws even
    where it drops nothing, so this does not depend on luck)."""
    with preserved(subject), torch.no_grad():
        subject.model.train()
        cpu = torch.random.get_rng_state()
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
        subject.forward()
        moved = not torch.equal(cpu, torch.random.get_rng_state())
        if torch.cuda.is_available():
            moved = moved or any(not torch.equal(a, b) for a, b in zip(cuda, torch.cuda.get_rng_state_all()))
    return moved


def draws_of(subject: ModelUnderTest, seed: int) -> list[int]:
    """The random draws a diagnosis looks at: ``seed`` alone for a forward that draws no random numbers, else
    ``DRAWS`` of them, ``seed`` first."""
    return [seed + 7919 * k for k in range(DRAWS if random_forward(subject) else 1)]


def unused_in_every_draw(subject: ModelUnderTest, names: list[str], draws: list[int]) -> list[str]:
    """The parameters of ``names`` (whose .grad stayed None under ``draws[0]``) that no draw gives a gradient: a
    parameter that LayerDrop or stochastic depth skipped under one draw gets one under another. The model is put
    back."""
    if len(draws) == 1 or not names:
        return list(names)
    left = set(names)
    with preserved(subject):
        for d in draws[1:]:
            grads = _grads(subject, d)
            left -= {n for n in left if grads.get(n) is not None}
            if not left:
                break
    return [n for n in names if n in left]


def _real_in_other_draws(subject: ModelUnderTest, names: list[str], draws: list[int]) -> set[str]:
    """The parameters of ``names`` whose gradient (the model's own backward) is real under one of ``draws``; the
    model is put back."""
    found: set[str] = set()
    with preserved(subject):
        for d in draws:
            found |= set(_real(_grads(subject, d), [n for n in names if n not in found]))
            if len(found) == len(names):
                break
    return found


def diagnose(
    subject: ModelUnderTest, grads: dict[str, torch.Tensor | None], names: list[str], seed: int
) -> dict[str, Diagnosis]:
    """The diagnosis of every parameter of ``names`` whose gradient in ``grads`` (the model's own backward, under the
    random draw ``seed``) is 0 or at most rounding; parameters with a real gradient are left out. See the module
    docstring."""
    found, _ = candidates({n: grads.get(n) for n in grads})
    todo = {n: found[n] for n in names if n in found}
    if not todo:
        return {}
    params = dict(subject.model.named_parameters())
    out: dict[str, Diagnosis] = {}
    copy, g64 = _float64_grads(subject, seed)
    exact: dict[str, float | None] = {n: None for n in todo}
    if g64 is not None:
        real = _real(g64, list(todo))
        for n, peak in real.items():
            if todo[n] > 0:
                kind = Kind.LEARNS
            else:
                kind = Kind.HOOK_ZEROED if has_tensor_hooks(params[n]) else Kind.UNDERFLOW
            out[n] = Diagnosis(kind, todo[n], peak)
        exact.update({n: (g64[n].abs().max().item() if g64.get(n) is not None else 0.0) for n in todo})
    draws = draws_of(subject, seed)
    rest = [n for n in todo if n not in out]
    if rest and len(draws) > 1:  # a random forward: a gradient real under another draw is real
        for n in _real_in_other_draws(subject, rest, draws[1:]):
            out[n] = Diagnosis(Kind.LEARNS, todo[n], exact[n], len(draws))
        rest = [n for n in rest if n not in out]
    if not rest:
        return out
    dead = []
    jointly = _moves(copy, rest, seed, draws)
    if jointly:
        dead = [n for i, n in enumerate(rest) if _moves(copy, [n], seed + 1 + i, draws)]
    for n in dead:
        out[n] = Diagnosis(Kind.DEAD, todo[n], exact[n], len(draws))
    still = [n for n in rest if n not in dead]
    if still:
        with preserved(subject):
            model = subject.model
            model.train()
            opt = subject.make_optimizer(model.parameters())
            opt.zero_grad(set_to_none=True)
            with same_randomness(seed):
                subject.loss(subject.forward(), subject.targets).backward()
            opt.step()
            _, after = _float64_grads(subject, seed)
            if after is None:  # no float64: the model's own gradients after the step
                after = _grads(subject, seed)
            woke = set(_real(after, still))
            if len(draws) > 1:
                woke |= _real_in_other_draws(subject, [n for n in still if n not in woke], draws[1:])
        asleep = [n for n in still if n not in woke]
        together = _needed_together(copy, asleep, seed, draws) if jointly and not dead else set()
        for n in still:
            kind = Kind.ZERO_AT_INIT if n in woke else Kind.STUCK_TOGETHER if n in together else Kind.NO_EFFECT
            out[n] = Diagnosis(kind, todo[n], exact[n], len(draws))
    return out


def _needed_together(copy: ModelUnderTest, names: list[str], seed: int, draws: list[int]) -> set[str]:
    """The parameters of ``names`` whose joint shift moves the loss although no single one's does: dropped one at a
    time while the shift of the others still moves it, what is left is needed together (empty when the joint shift
    of ``names`` leaves the loss unchanged)."""
    if not names or not _moves(copy, names, seed, draws):
        return set()
    needed = list(names)
    for n in list(names):
        rest = [m for m in needed if m != n]
        if rest and _moves(copy, rest, seed, draws):
            needed = rest
    return set(needed)


__all__ = [
    "DRAWS",
    "SCREEN",
    "Diagnosis",
    "Kind",
    "candidates",
    "diagnose",
    "draws_of",
    "has_tensor_hooks",
    "random_forward",
    "unused_in_every_draw",
]
