"""How often the spec's statistical tests fail on fresh seed blocks. Not part of `pytest spec`.

Each statistical test takes a ``seed_block`` (block 0 in a default run, blocks 0-4 under the thorough profile) and
states in its docstring a bound, below 1e-3, on how often a fresh block fails it. This runs the test functions
themselves, unchanged, on blocks the suite never runs (5 and up; for trend.inverse block 10 is skipped, its seeds
are those of the sweep that sized the test), and counts the failures: with every bound below 1e-3, a few hundred
block-runs should see none. remedy.lstm-gru is run at every width of its BLOCKS table (its later blocks reuse the
draws a width has in that table).

    python bench/statistical_sweep.py [--blocks 25] [--first-block 5] [--only CLAIM] [--out FILE]

The sweeps that size explosion.single-sample's spread test and remedy.relu ran from blocks 200000 and 300000 (their
modules record the command and the counts; bench/results/statistical_sweep_*.json keep the results).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402


class _Ignore:
    """Stands in for the figures fixture and its plots: every call is accepted and dropped."""

    def __getattr__(self, name):
        return lambda *a, **k: self


def _cases():
    """(claim, test name, call(block)) for every statistical test."""
    from spec.part2_explosion import test_explosion_cause_depth as depth
    from spec.part2_explosion import test_explosion_cause_init as init
    from spec.part2_explosion import test_explosion_single_sample as single
    from spec.part2_explosion import test_remedy_lstm_gru as lstm
    from spec.part2_explosion import test_remedy_relu as relu
    from spec.part4_accuracy_and_loss import test_trend_inverse as trend
    from spec.part5_beyond_the_source import test_loss_at_init as at_init

    fig = _Ignore()
    cases = []
    for name in (
        "test_over_a_run_held_out_loss_and_accuracy_usually_move_inversely",
        "test_from_epoch_to_epoch_held_out_loss_and_accuracy_usually_move_inversely",
        "test_after_its_minimum_the_held_out_nll_often_rises_while_accuracy_still_improves",
    ):
        cases.append(("trend.inverse", name, lambda b, n=name: getattr(trend, n)("cpu", fig, b)))
    for width, draws in sorted(set(lstm.BLOCKS.values())):

        def call(b, width=width, draws=draws):
            lstm.BLOCKS[b] = (width, draws)
            lstm.test_at_default_init_gradients_vanish_unless_a_gate_is_held_open("cpu", fig, b)

        cases.append(("remedy.lstm-gru", f"default init, width {width}, {draws} draws", call))
    for factor in init.FACTORS:
        cases.append(
            (
                "explosion.cause.init",
                f"linear slopes, {factor} x Glorot",
                lambda b, f=factor: init.test_linear_layers_gradient_and_activation_slopes_are_log_of_s_sqrt_n(
                    f, fig, b
                ),
            )
        )
        cases.append(
            (
                "explosion.cause.init",
                f"ReLU slope, {factor} x He",
                lambda b, f=factor: init.test_relu_slope_is_log_of_s_sqrt_n_over_two(f, fig, b),
            )
        )
        cases.append(
            (
                "explosion.cause.depth",
                f"log-norm per depth, {factor} x Glorot",
                lambda b, f=factor: depth.test_log_norm_at_every_depth_is_depth_times_the_per_layer_log_gain(f, fig, b),
            )
        )
    cases.append(
        (
            "explosion.cause.init",
            "tanh at 2 x Glorot",
            lambda b: init.test_tanh_at_twice_glorot_still_explodes_but_saturation_slows_it(fig, b),
        )
    )
    for name in (
        "test_relu_at_he_keeps_the_gradient_where_sigmoid_at_glorot_loses_it",
        "test_relu_still_explodes_above_the_he_std",
        "test_measured_slopes_follow_the_mean_field_at_every_weight_scale",
        "test_relu_overtakes_tanh_above_the_mean_field_crossover",
        "test_saturation_slows_the_growth_of_tanh_but_does_not_cap_it",
    ):
        cases.append(("remedy.relu", name, lambda b, n=name: getattr(relu, n)(fig, b)))
    for name in (
        "test_at_he_std_relu_is_flat_and_tanh_grows_slowly",
        "test_sigmoid_still_loses_gradient_at_every_scale_up_to_four_times_glorot",
    ):
        cases.append(("remedy.relu", name, lambda b, n=name: getattr(relu, n)(b)))
    for name in (
        "test_at_a_fixed_lr_batch_size_one_diverges_where_larger_batches_converge",
        "test_spread_of_sgd_iterates_around_the_optimum_falls_as_one_over_b",
    ):
        cases.append(("explosion.single-sample", name, lambda b, n=name: getattr(single, n)("cpu", fig, b)))
    cases.append(
        ("loss.at-init", "uniform law", lambda b: at_init.test_default_init_draws_the_documented_uniform_law("cpu", b))
    )
    for classes in at_init.CLASS_COUNTS:
        for name in (
            "test_default_init_starts_near_ln_c",
            "test_an_over_confident_last_layer_starts_far_above_ln_c",
            "test_unnormalised_inputs_start_far_above_ln_c",
        ):
            cases.append(
                (
                    "loss.at-init",
                    f"{name}, C = {classes}",
                    lambda b, n=name, c=classes: getattr(at_init, n)(c, "cpu", fig, b),
                )
            )
    return cases


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=25, help="fresh blocks per test")
    parser.add_argument(
        "--first-block",
        type=int,
        default=5,
        help="the first of them (default 5; the suite runs 0-4); block 10 is skipped",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "statistical_sweep.json")
    parser.add_argument("--only", default="", help="run only the tests whose claim id contains this")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.first_block < 5 or args.blocks < 1:
        parser.error("--first-block must be at least 5 (blocks 0-4 are the suite's own) and --blocks at least 1")
    blocks = [b for b in range(args.first_block, args.first_block + args.blocks + 1) if b != 10][: args.blocks]
    rows = []
    for claim, name, call in _cases():
        if args.only not in claim:
            continue
        start, failed = time.perf_counter(), []
        for b in blocks:
            try:
                call(b)
            except AssertionError as exc:
                failed.append((b, (str(exc).splitlines() or ["assert"])[0][:200]))
        rows.append(
            {
                "claim": claim,
                "test": name,
                "blocks": len(blocks),
                "failed": len(failed),
                "failures": failed,
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
        print(f"{claim:24s} {name[:80]:80s} {len(failed)}/{len(blocks)} failed", flush=True)
    total = sum(r["blocks"] for r in rows)
    failures = sum(r["failed"] for r in rows)
    print(f"{failures} failures in {total} block-runs of {len(rows)} tests")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "torch": str(torch.__version__),
                "python": platform.python_version(),
                "blocks": blocks if len(blocks) <= 100 else f"{blocks[0]}-{blocks[-1]} ({len(blocks)})",
                "tests": rows,
            },
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
