"""The report's figures: one PNG per (claim, plot title), rendered with matplotlib's Agg backend."""

from __future__ import annotations

import hashlib
import re
import textwrap
from collections import defaultdict
from pathlib import Path


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "plot"


def file_name(claim_id: str, title: str) -> str:
    """The PNG of one plot: readable slugs of the claim and the title, and 8 hex digits of a hash of both in full.
    Slugs alone collide: titles that differ only in punctuation or case ("loss (mean)" / "loss, mean"), or beyond
    the 60 characters a slug keeps, would overwrite each other's file."""
    digest = hashlib.sha256(f"{claim_id}\n{title}".encode()).hexdigest()[:8]
    return f"{slug(claim_id)}--{slug(title)}--{digest}.png"


def _natural(name: str) -> list:
    """Natural order in the legend: K=2, 3, 10 rather than 10, 2, 3."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


PLOT_LIMIT = 1e250  # far beyond any measured value worth a figure, far below float64's 1.8e308


def _plottable(xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
    """The points with both coordinates within PLOT_LIMIT; the others become NaN (gaps in the line)."""
    nan = float("nan")
    keep = [abs(x) <= PLOT_LIMIT and abs(y) <= PLOT_LIMIT for x, y in zip(xs, ys)]
    return [x if k else nan for x, k in zip(xs, keep)], [y if k else nan for y, k in zip(ys, keep)]


def render_plots(claim: dict, figures_dir: Path) -> list[dict]:
    """Draw the series of one claim of a built report; returns one {"title", "x_label", "y_label", "zh", "file"} per
    figure (file relative to the report; zh holds the title and labels in Chinese when the series carry them). The
    PNGs themselves are labelled in English: the report's captions carry the Chinese."""
    if not claim["series"]:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[str, list[dict]] = defaultdict(list)
    for s in claim["series"]:
        groups[s.get("plot") or s["name"]].append(s)
    for members in groups.values():
        members.sort(key=lambda s: _natural(s["name"]))
    plots = []
    for title in sorted(groups):
        series = groups[title]
        fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=100)
        for s in series:
            # "inf"/"nan" become floats, which matplotlib leaves out; so are values past PLOT_LIMIT (a run that
            # overflows records ~1e308 before inf, and axis margins around it reach inf, which breaks the ticks)
            xs, ys = _plottable([float(v) for v in s["x"]], [float(v) for v in s["y"]])
            style = s.get("style", "line")
            if style == "points":
                ax.plot(xs, ys, "o", label=s["name"], markersize=6)
            elif style == "dashed":
                ax.plot(xs, ys, "--", label=s["name"], linewidth=1.2)
            else:
                ax.plot(xs, ys, "-o", label=s["name"], markersize=3)
        first = series[0]
        if any(s.get("log_x") for s in series):
            ax.set_xscale("log")
        if any(s.get("log_y") for s in series):
            ax.set_yscale("log")
        ax.set_xlabel(first.get("x_label", "x"))
        ax.set_ylabel(first.get("y_label", "y"))
        ax.set_title(textwrap.fill(f"{claim['id']}: {title}", 70), fontsize=10)
        ax.grid(True, alpha=0.3, which="both")
        ax.legend(fontsize=8)
        fig.tight_layout()
        name = file_name(claim["id"], title)
        fig.savefig(figures_dir / name, metadata={"Software": None})
        plt.close(fig)
        zh = first.get("zh") or {}
        plots.append(
            {
                "title": title,
                "x_label": first.get("x_label", "x"),
                "y_label": first.get("y_label", "y"),
                "zh": {k: zh[k] for k in ("plot", "x_label", "y_label") if k in zh},
                "file": f"figures/{name}",
            }
        )
    return plots
