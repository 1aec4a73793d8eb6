"""Plots of a backtest as inline SVG: score distributions, the swap matrix, the sweep's curves.

Why SVG text from matplotlib's object API (no pyplot): the HTML report must carry its plots inside
the file (no external assets, sharp when printed), and building figures without pyplot's global
state keeps them safe to draw from several threads. The same report gives byte-identical SVG.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from decision_review.backtest.schemas import OutcomeNames, PolicyResult, SwapReport, SweepResult

GOOD_COLOUR, BAD_COLOUR, UNKNOWN_COLOUR = "#2166ac", "#b2182b", "#999999"
MAX_CURVES = 6


def score_distribution_figure(results: list[PolicyResult]) -> Figure:
    """Scores of good and bad cases (log scale), with each policy's thresholds as vertical lines."""
    first = results[0]
    hist = first.score_histogram
    edges = np.asarray(hist.edges)
    fig = Figure(figsize=(8, 3.4), layout="constrained")
    ax = fig.subplots()
    for counts, colour, label in (
        (hist.good, GOOD_COLOUR, "good outcome"),
        (hist.bad, BAD_COLOUR, "bad outcome"),
        (hist.unknown, UNKNOWN_COLOUR, "outcome unknown"),
    ):
        if sum(counts):
            ax.stairs(
                np.asarray(counts) + 0.0,
                edges,
                color=colour,
                label=f"{label} ({sum(counts):,})",
                linewidth=1.5,
            )
    lines: dict[float, list[str]] = {}
    for r in results:
        if r.model_digest == first.model_digest:
            lines.setdefault(r.approve_below, []).append(f"{r.role} {r.labels.approve}")
            lines.setdefault(r.decline_at_or_above, []).append(f"{r.role} {r.labels.decline}")
    for x, what in sorted(lines.items()):
        solid = any(w.startswith("candidate") for w in what)
        ax.axvline(x, color="black", linestyle="-" if solid else "--", linewidth=1)
        ax.text(
            x,
            1.0,
            " " + ", ".join(what),
            rotation=90,
            va="top",
            ha="right",
            fontsize=7,
            transform=ax.get_xaxis_transform(),
        )
    ax.set_yscale("symlog", linthresh=1)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"score: calibrated P(bad) of model {first.model_name} v{first.model_version}")
    ax.set_ylabel("cases (log scale)")
    ax.legend(fontsize=8, loc="upper center")
    ax.set_title("Score distribution by known outcome", fontsize=10)
    return fig


def swap_matrix_figure(swaps: SwapReport, names: OutcomeNames) -> Figure:
    """Baseline outcome (rows) against candidate outcome (columns): cases and bad rate per cell."""
    outcomes = ["approve", "decline", "review"]
    if any(c.cases and "error" in (c.baseline, c.candidate) for c in swaps.matrix):
        outcomes.append("error")
    cells = {(c.baseline, c.candidate): c for c in swaps.matrix}
    counts = np.array([[cells[(b, c)].cases if (b, c) in cells else 0 for c in outcomes] for b in outcomes])
    fig = Figure(figsize=(4.8, 3.8), layout="constrained")
    ax = fig.subplots()
    changed = np.where(np.eye(len(outcomes), dtype=bool), 0, counts)
    shade = np.log1p(changed)
    ax.imshow(shade, cmap="Oranges")
    dark = shade > 0.6 * shade.max() if shade.max() > 0 else np.zeros_like(shade, dtype=bool)
    for i, b in enumerate(outcomes):
        for j, c in enumerate(outcomes):
            cell = cells.get((b, c))
            text = f"{counts[i, j]:,}"
            if cell is not None and cell.bad.value is not None and cell.cases:
                text += f"\nbad {cell.bad.value:.1%}"
            ax.text(
                j, i, text, ha="center", va="center", fontsize=8, color="white" if dark[i, j] else "black"
            )
    labels = [names.of(o) for o in outcomes]
    ax.set_xticks(range(len(outcomes)), labels)
    ax.set_yticks(range(len(outcomes)), labels)
    ax.set_xlabel("candidate")
    ax.set_ylabel("baseline")
    ax.set_title(f"Swap matrix: {swaps.changed:,} of {swaps.total:,} cases change", fontsize=10)
    return fig


def sweep_figure(sweep: SweepResult) -> Figure:
    """Trade-off curves: bad rate against automation, review share and lowest AIR against the threshold."""
    names = sweep.labels
    points = sweep.points
    fig = Figure(figsize=(11, 3.6), layout="constrained")
    frontier, review_ax, air_ax = fig.subplots(1, 3)
    declines = sorted({p.decline_at_or_above for p in points})
    if len(declines) > MAX_CURVES:
        declines = [declines[int(i)] for i in np.linspace(0, len(declines) - 1, MAX_CURVES)]
    for d in declines:
        line = sorted((p for p in points if p.decline_at_or_above == d), key=lambda p: p.approve_below)
        label = f"{names.decline} at {d:g}"
        x = [p.approve_below for p in line]
        frontier.plot(
            [p.automation for p in line],
            [np.nan if p.bad_rate_approved is None else p.bad_rate_approved for p in line],
            marker=".",
            label=label,
        )
        review_ax.plot(x, [p.review for p in line], marker=".", label=label)
        air_ax.plot(x, [np.nan if p.min_air is None else p.min_air for p in line], marker=".", label=label)
    t = sweep.targets
    if t.max_bad_rate_approved is not None:
        frontier.axhline(t.max_bad_rate_approved, color=BAD_COLOUR, linestyle="--", linewidth=1)
    if t.max_review_share is not None:
        review_ax.axhline(t.max_review_share, color=BAD_COLOUR, linestyle="--", linewidth=1)
    air_ax.axhline(t.min_air if t.min_air is not None else 0.8, color=BAD_COLOUR, linestyle="--", linewidth=1)
    for index, marker, label in ((sweep.current, "s", "current"), (sweep.chosen, "*", "chosen")):
        if index is None:
            continue
        p = points[index]
        size = 12 if marker == "*" else 7
        if p.bad_rate_approved is not None:
            frontier.plot(
                p.automation, p.bad_rate_approved, marker=marker, color="black", markersize=size, label=label
            )
        review_ax.plot(p.approve_below, p.review, marker=marker, color="black", markersize=size)
        if p.min_air is not None:
            air_ax.plot(p.approve_below, p.min_air, marker=marker, color="black", markersize=size)
    frontier.set_xlabel("decided automatically")
    frontier.set_ylabel(f"bad rate among automatic {names.approve}")
    frontier.xaxis.set_major_formatter(PercentFormatter(1.0))
    frontier.yaxis.set_major_formatter(PercentFormatter(1.0))
    review_ax.set_xlabel(f"{names.approve} below (threshold)")
    review_ax.set_ylabel(f"{names.review} share")
    review_ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    air_ax.set_xlabel(f"{names.approve} below (threshold)")
    air_ax.set_ylabel("lowest adverse impact ratio")
    frontier.legend(fontsize=7)
    fig.suptitle(f"Threshold sweep of {sweep.policy_name} v{sweep.policy_version}", fontsize=10)
    return fig
