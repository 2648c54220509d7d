"""What the model checks of ``support.model_check.checks.CHECKS`` answer on every corpus model, and how long they
take: ``python -m tests.model_corpus.baseline [--threads 1,2] [--only id,id] [--no-broken]``.

Each model is built by its factory, validated (``subject.validate``; a validation error is shown and the checks then
run on the subject validated without its forward), and each check runs on a fresh ``subject.copy()`` after the
global RNGs are seeded from the model's and the check's names (as the pytest plugin seeds each test). For checks that
take one tensor from the forward, a model whose forward returns a Mapping (a dict, a transformers ModelOutput) is
wrapped to return its ``logits``; ``SequenceCrossEntropyLoss`` is the corpus's stand-in where
support.model_check.losses does not exist yet.

Prints a table model x check (pass / fail / n/a / CRASH: an exception out of the check), then every fail and crash
with the first ``MESSAGE_CHARS`` characters of its message, then the seconds per model (all checks, per torch
thread count). Not collected by pytest (the file name does not start with test_).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import time
import traceback
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from support.errors import SpecInputError
from support.model_check.checks import CHECKS
from support.model_check.subject import ModelUnderTest, call, validate
from support.tensors import seed_global_rngs
from tests.model_corpus import catalog, losses
from tests.model_corpus.torchvision_cpu import declare_missing_ops

MESSAGE_CHARS = 200
SHORT = {"every-parameter-gets-a-gradient": "1 grad", "one-step-updates-parameters": "2 step",
         "mean-is-sum-over-terms": "3 mean", "samples-are-independent": "4 indep",
         "per-sample-gradients-add-up": "5 per-sample", "loss-at-init-is-near-log-c": "6 lnC",
         "no-softmax-before-cross-entropy": "7 softmax", "gradient-norms-at-init": "8 norms",
         "can-overfit-one-batch": "9 overfit"}
SHOWN = {"pass": "pass", "fail": "FAIL", "n/a": "n/a", "crash": "CRASH"}


class LogitsOf(nn.Module):
    """A model whose forward returns a Mapping with "logits", returning those logits."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, *args, **kwargs):
        return self.model(*args, **kwargs)["logits"]


@dataclass
class Row:
    id: str
    kind: str  # "healthy" | "broken"
    params: int = 0
    batch: int = 0
    build_s: float = 0.0
    validation: str = ""
    verdicts: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    seconds: dict[int, float] = field(default_factory=dict)  # torch threads -> seconds for all checks
    check_seconds: dict[str, float] = field(default_factory=dict)  # at the first thread count


def as_subject(fields: dict) -> tuple[ModelUnderTest, str]:
    """The factory's fields as a ModelUnderTest for the current checks (a Mapping output wrapped to its logits)."""
    fields = dict(fields)
    fields.setdefault("frozen", ())
    model = fields["model"]
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        out = call(copy.deepcopy(model), fields["inputs"])
    note = ""
    if isinstance(out, Mapping) and "logits" in out:
        fields["model"] = LogitsOf(model)
        fields["frozen"] = tuple(f"model.{n}" for n in fields["frozen"])
        note = f"forward returns {type(out).__name__}: wrapped to its logits"
    return ModelUnderTest(**fields), note


def validated(subject: ModelUnderTest) -> tuple[ModelUnderTest, str]:
    try:
        return validate(subject), ""
    except SpecInputError as exc:
        return validate(subject, run_forward=False), f"validate: {exc}"


def run_checks(model_id: str, subject: ModelUnderTest, row: Row, threads: int, record: bool) -> None:
    """Every check on a fresh copy; the seconds for all of them are kept as the least over the calls (the machine's
    other load only ever adds time)."""
    torch.set_num_threads(threads)
    start = time.perf_counter()
    for name, check in CHECKS.items():
        seed_global_rngs(zlib.crc32(f"{model_id}/{name}".encode()))
        check_start = time.perf_counter()
        try:
            result = check(subject.copy())
            verdict, message = result.verdict, result.message
        except Exception as exc:  # the baseline reports what the current checks do, crashes included
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            verdict = "crash"
            message = f"{type(exc).__name__}: {exc} (at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})"
        if record:
            row.check_seconds[name] = time.perf_counter() - check_start
            row.verdicts[name] = verdict
            row.messages[name] = " ".join(message.split())
    row.seconds[threads] = min(row.seconds.get(threads, math.inf), time.perf_counter() - start)


def baseline(entries, thread_counts: tuple[int, ...], repeat: int = 1) -> list[Row]:
    rows = []
    for kind, entry in entries:
        row = Row(entry.id, kind)
        rows.append(row)
        if not entry.available:
            row.validation = f"skipped: {entry.requires} is not installed"
            continue
        start = time.perf_counter()
        subject, wrapped = as_subject(entry.factory())
        row.build_s = time.perf_counter() - start
        subject, problem = validated(subject)
        row.validation = "; ".join(s for s in (wrapped, problem) if s)
        row.params = sum(p.numel() for p in subject.model.parameters())
        row.batch = subject.batch_size
        for k in range(repeat):
            for i, threads in enumerate(thread_counts):
                run_checks(entry.id, subject, row, threads, record=k == 0 and i == 0)
        print(f"  {entry.id}: " + " ".join(f"{SHORT[c].split()[0]}={SHOWN[v]}" for c, v in row.verdicts.items())
              + "  " + ", ".join(f"{t} thr {s:.1f} s" for t, s in row.seconds.items()), flush=True)
    return rows


def table(rows: list[Row], thread_counts: tuple[int, ...]) -> str:
    names = list(CHECKS)
    width = max(len(r.id) for r in rows) + 2
    head = "model".ljust(width) + "".join(SHORT[n].ljust(13) for n in names)
    lines = [head, "-" * len(head)]
    for r in rows:
        if not r.verdicts:
            lines.append(r.id.ljust(width) + r.validation)
            continue
        lines.append(r.id.ljust(width) + "".join(SHOWN[r.verdicts[n]].ljust(13) for n in names))
    lines += ["", f"Fails and crashes (first {MESSAGE_CHARS} characters of each message):"]
    for r in rows:
        if r.validation:
            lines.append(f"- {r.id} [{r.kind}]: {r.validation[:MESSAGE_CHARS * 2]}")
        for n in names:
            if r.verdicts.get(n) in ("fail", "crash"):
                lines.append(f"- {r.id} [{r.kind}] {n}: {SHOWN[r.verdicts[n]]}: {r.messages[n][:MESSAGE_CHARS]}")
    lines += ["", "Seconds for all checks (factory build apart), by torch threads; 'slowest check' at the first:"]
    head = "model".ljust(width) + "params".rjust(11) + "batch".rjust(7) + "build s".rjust(9) + "".join(
        f"{t} thr s".rjust(9) for t in thread_counts) + "  slowest check"
    lines += [head, "-" * len(head)]
    for r in rows:
        if r.verdicts:
            slowest = max(r.check_seconds, key=r.check_seconds.get)
            lines.append(r.id.ljust(width) + f"{r.params:>11,}{r.batch:>7}{r.build_s:>9.2f}" + "".join(
                f"{r.seconds.get(t, float('nan')):>9.2f}" for t in thread_counts)
                + f"  {SHORT[slowest]} ({r.check_seconds[slowest]:.2f} s)")
    totals = {t: sum(r.seconds.get(t, 0.0) for r in rows) for t in thread_counts}
    lines.append("total".ljust(width) + " " * 27 + "".join(f"{totals[t]:>9.2f}" for t in thread_counts))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="2", help="torch thread counts to time, comma-separated (the first "
                                                        "one's verdicts are shown)")
    parser.add_argument("--only", default="", help="corpus ids, comma-separated")
    parser.add_argument("--no-broken", action="store_true", help="the healthy models only")
    parser.add_argument("--repeat", type=int, default=1, help="runs per thread count; the least time is kept")
    parser.add_argument("--json", default="", help="also write every verdict and full message to this file")
    args = parser.parse_args(argv)
    thread_counts = tuple(int(t) for t in args.threads.split(","))
    only = set(filter(None, args.only.split(",")))
    declare_missing_ops()
    losses.use_stand_in()
    warm = torch.zeros(1, requires_grad=True)  # the first optimizer step imports torch._dynamo: not the first model's
    warm.grad = torch.ones(1)
    torch.optim.AdamW([warm]).step()
    entries = [("healthy", m) for m in catalog.HEALTHY]
    if not args.no_broken:
        entries += [("broken", b) for b in catalog.BROKEN]
    entries = [(k, e) for k, e in entries if not only or e.id in only]
    print(f"torch {torch.__version__}; threads {thread_counts}; {len(entries)} models; the least time of "
          f"{args.repeat} run(s); load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on "
          f"{os.cpu_count()} cores", flush=True)
    rows = baseline(entries, thread_counts, args.repeat)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump([asdict(r) for r in rows], f, indent=1)
    print()
    print(table(rows, thread_counts))
    broken = [(b, next(r for r in rows if r.id == b.id)) for b in catalog.BROKEN if any(r.id == b.id for r in rows)]
    if broken:
        print("\nBroken variants: the check that must fail, and whether its message names the cause:")
        for b, r in broken:
            if not r.verdicts:
                continue
            verdict, message = r.verdicts[b.check], r.messages[b.check]
            missing = [w for w in b.words if w not in message]
            named = "names the cause" if not missing else f"does not contain {missing}"
            print(f"- {b.id} ({b.change}): {b.check} {SHOWN[verdict]}; {named}")


if __name__ == "__main__":
    main()


__all__ = ["LogitsOf", "as_subject", "baseline", "main"]
