"""Per-sample gradient cost, measured (claim per-sample.costs-more). Not part of `pytest spec`.

Times, for a small MLP and the SimpleCNN of PyTorch's per-sample-gradients tutorial (MNIST-shaped input,
cross-entropy), at batch sizes 8, 64 and 256:
  batch            - one forward + one backward of the mean loss over the batch,
  loop             - N forwards + N backwards on batches of one (support.gradients.per_sample_grads_loop),
  vmap             - torch.func.vmap(grad(...)) (support.gradients.per_sample_grads_vmap),
  expanded_weights - PyTorch's ExpandedWeights, one batch forward + backward (per_sample_grads_expanded_weights),
  opacus           - Opacus' GradSampleModule, backward hooks (per_sample_grads_opacus; skipped if not installed),
and writes each method's time over the batch backward's (not absolute times, which say more about the machine
than about PyTorch) to a JSON file that the claims report shows under per-sample.costs-more.

    python bench/per_sample_cost.py [--device cpu|cuda] [--repeats 5] [--threads N] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from support.gradients import (
    batch_grads,
    per_sample_grads_expanded_weights,
    per_sample_grads_loop,
    per_sample_grads_opacus,
    per_sample_grads_vmap,
)
from support.models import SimpleCNN, mlp

BATCH_SIZES = (8, 64, 256)
METHODS = {
    "loop": per_sample_grads_loop,
    "vmap": per_sample_grads_vmap,
    "expanded_weights": per_sample_grads_expanded_weights,
}
try:
    import opacus  # noqa: F401  (optional: the dev extra installs it)

    METHODS["opacus"] = per_sample_grads_opacus
except ImportError:
    print("opacus is not installed: its column is left out")


def _models(device):
    torch.manual_seed(0)
    return {
        "mlp (3 layers, 784-128-128-10)": (mlp(784, 128, 10, depth=3, dtype=torch.float32, device=device), (784,)),
        "SimpleCNN (tutorial)": (SimpleCNN().to(device), (1, 28, 28)),  # torch.manual_seed(0) above: its init
    }


def _time(fn, device, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(device: str, repeats: int, threads_given: bool = False) -> dict:
    rows = []
    for name, (model, shape) in _models(device).items():
        for n in BATCH_SIZES:
            x = torch.randn(n, *shape, device=device)
            y = torch.randint(0, 10, (n,), device=device)
            t = {
                "batch": _time(lambda model=model, x=x, y=y: batch_grads(model, F.cross_entropy, x, y), device, repeats)
            }
            for method, fn in METHODS.items():
                # the loop is slow and steady: a third of the repeats keeps the run short
                reps = max(1, repeats // 3) if method == "loop" else repeats
                t[method] = _time(lambda fn=fn, model=model, x=x, y=y: fn(model, F.cross_entropy, x, y), device, reps)
            row = {"model": name, "batch_size": n}
            row.update({f"{method}/batch": t[method] / t["batch"] for method in METHODS})
            row["loop/vmap"] = t["loop"] / t["vmap"]
            rows.append(row)
            print(
                f"{name:32s} N={n:4d}  " + "  ".join(f"{k} {v:6.2f}" for k, v in row.items() if isinstance(v, float)),
                flush=True,
            )
    return {
        "claim": "per-sample.costs-more",
        "title": "per-sample gradients: time of a per-sample loop, torch.func.vmap, ExpandedWeights and Opacus over "
        "one batch backward",
        "command": f"python bench/per_sample_cost.py --device {device} --repeats {repeats}"
        + (f" --threads {torch.get_num_threads()}" if threads_given else ""),
        "device": device if device == "cpu" else f"cuda ({torch.cuda.get_device_name(0)})",
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch.cuda.is_available() is False")
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be >= 1")
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    out = args.out or Path(__file__).parent / "results" / f"per_sample_cost_{args.device}.json"
    result = measure(args.device, args.repeats, threads_given=args.threads is not None)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
