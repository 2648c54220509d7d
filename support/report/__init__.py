"""The claims report, as a plain library: build the data of a run, render Markdown and plots, write them.

No pytest here: the plugin part ``support.pytest_plugin.claims_report`` turns test reports into ``TestRecord``
objects and calls ``write_report`` at the end of a run. ``results.json`` holds the built data, ``README.md`` the
Markdown and ``figures/*.png`` the plots. Model checks (spec/part6_your_model) get a section of their own, "Your
model", after the claims.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from support import _arguments
from support.claims.schema import ClaimRegistry
from support.report.data import STATUS_ORDER, TestRecord, build_report, build_your_model, first_lines, load_benchmarks
from support.report.markdown import render_markdown
from support.report.plots import render_plots
from support.report.text import LANGS

BENCH_RESULTS = "bench/results"


def write_report(data: dict, registry: ClaimRegistry, out_dir: Path, lang: str, root: Path | None = None) -> Path:
    """Render a built report into ``out_dir`` (README.md, results.json, figures/*.png); returns the README's path.

    Earlier PNGs in ``out_dir/figures`` are removed first, so the folder holds this run's figures only. ``root``,
    the project root, makes the question index link each claim's test module (relative to ``out_dir``).
    """
    _arguments.one_of("report language", lang, LANGS)
    out_dir = Path(out_dir)
    figures_dir = out_dir / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    for old in figures_dir.glob("*.png"):
        old.unlink()
    for claim in data["claims"]:
        claim["plots"] = render_plots(claim, figures_dir)
    for check in (data.get("your_model") or {}).get("checks", []):
        check["plots"] = render_plots({"id": f"model check {check['id']}", "series": check["series"]}, figures_dir)
    (out_dir / "results.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    readme = out_dir / "README.md"
    root_link = Path(os.path.relpath(Path(root).resolve(), out_dir.resolve())).as_posix() if root is not None else None
    readme.write_text(render_markdown(data, registry, lang, root_link), encoding="utf-8")
    return readme


__all__ = [
    "BENCH_RESULTS",
    "LANGS",
    "STATUS_ORDER",
    "TestRecord",
    "build_report",
    "build_your_model",
    "first_lines",
    "load_benchmarks",
    "render_markdown",
    "render_plots",
    "write_report",
]
