"""Show a fairness report: rich tables for the terminal, an SVG chart for the HTML reports.

Why here: both views are pure functions of the report (no I/O, no global pyplot state), so the
CLI, the web pages and the exported HTML show the same figures, laid out the same way.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from decision_review.fairness.schemas import (
    AttributeReport,
    Estimate,
    FairnessReport,
    HumanReviewReport,
    Screen,
    StageReport,
)
from decision_review.figures import figure_svg

_SCREEN_STYLE = {Screen.PASS: "green", Screen.FAIL: "bold red", Screen.INSUFFICIENT: "yellow"}


def _pct(e: Estimate | None, ci: bool = True) -> str:
    if e is None or e.value is None:
        return "-"
    text = f"{e.value:.1%}"
    if ci and e.low is not None and e.high is not None:
        text += f" [{e.low:.1%}, {e.high:.1%}]"
    return text


def _num(e: Estimate | None, ci: bool = True, signed: bool = False) -> str:
    if e is None or e.value is None:
        return "-"
    fmt = "+.3f" if signed else ".3f"
    text = format(e.value, fmt)
    if ci and e.low is not None and e.high is not None:
        text += f" [{format(e.low, fmt)}, {format(e.high, fmt)}]"
    return text


def _verdict(passes: bool | None, reference: bool) -> str:
    if reference:
        return "ref"
    return {True: "pass", False: "FAIL", None: "-"}[passes]


def attribute_table(stage: StageReport, attribute: AttributeReport, air_threshold: float) -> Table:
    """One attribute in one stage: a row per group, the verdict and gaps in the title."""
    eod = attribute.equalized_odds_difference
    title = (
        f"{stage.stage} / {attribute.attribute}: screen [{_SCREEN_STYLE[attribute.screen]}]"
        f"{attribute.screen.value}[/]  reference {attribute.reference_group or '-'} "
        f"({attribute.reference_basis or 'none'})  DPD {_num(attribute.demographic_parity_difference)}"
        + (f"  EOD {_num(eod)}" if eod is not None else "")
    )
    table = Table(title=title, title_justify="left", expand=False)
    has_label = any(g.tpr is not None for g in attribute.groups)
    has_cal = any(g.calibration is not None for g in attribute.groups)
    for header, justify in [
        ("group", "left"),
        ("n", "right"),
        ("approval", "right"),
        (f"AIR (>= {air_threshold:g})", "right"),
        ("4/5", "center"),
        ("referral", "right"),
    ]:
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    if has_label:
        table.add_column("TPR", justify="right")
        table.add_column("FPR", justify="right")
    if has_cal:
        table.add_column("calib. gap", justify="right")
    table.add_column("flags")
    for g in attribute.groups:
        verdict = _verdict(g.passes_four_fifths, g.reference)
        cells = [
            g.group,
            str(g.n),
            _pct(g.selection_rate),
            "1 (ref)" if g.reference else _num(g.air),
            f"[bold red]{verdict}[/]" if verdict == "FAIL" else verdict,
            _pct(g.referral_rate, ci=False),
        ]
        if has_label:
            cells += [_pct(g.tpr, ci=False), _pct(g.fpr, ci=False)]
        if has_cal:
            cells.append(_num(g.calibration.gap if g.calibration else None, ci=False, signed=True))
        flags = ["small"] * g.small + ["empty"] * (g.n == 0)
        cells.append(", ".join(flags))
        table.add_row(*cells, style="dim" if g.small else None)
    return table


def _human_tables(human: HumanReviewReport) -> list[RenderableType]:
    out: list[RenderableType] = []
    if human.reviewers:
        table = Table(title="reviewers", title_justify="left")
        for header in ("reviewer", "n", "approval", "decline", "override"):
            table.add_column(header, justify="left" if header == "reviewer" else "right")
        for r in human.reviewers:
            table.add_row(
                r.reviewer,
                str(r.n),
                _pct(r.approval_rate),
                _pct(r.decline_rate),
                _pct(r.override_rate),
                style="dim" if r.small else None,
            )
        out.append(table)
    for attribute in human.overrides_by_group:
        table = Table(title=f"override rate by {attribute.attribute}", title_justify="left")
        for header in ("group", "n", "override"):
            table.add_column(header, justify="left" if header == "group" else "right")
        for g in attribute.groups:
            table.add_row(g.group, str(g.n), _pct(g.override_rate), style="dim" if g.small else None)
        out.append(table)
    return out


def report_renderables(
    report: FairnessReport, *, stages: Sequence[str] | None = None, intersections: bool = True
) -> list[RenderableType]:
    """The report as rich renderables, for a CLI that prints them in colour."""
    out: list[RenderableType] = []
    for stage in report.stages:
        if stages is not None and stage.stage not in stages:
            continue
        out.append(
            Text.from_markup(
                f"[bold]stage {stage.stage}[/] (column {stage.column}): {stage.n} cases decided, "
                f"{stage.n_not_applied} not; approval {_pct(stage.selection_rate)}, "
                f"referral {_pct(stage.referral_rate)}"
            )
        )
        for attribute in stage.attributes:
            if not intersections and len(attribute.members) > 1:
                continue
            out.append(attribute_table(stage, attribute, report.air_threshold))
    if report.human_review is not None:
        out += _human_tables(report.human_review)
    if report.notes:
        out.append(Text("notes:\n" + "\n".join(f"- {note}" for note in report.notes)))
    out.append(
        Text(
            f"{report.n_cases} cases; intervals: {report.confidence:.0%} {report.bootstrap_method}, "
            f"{report.n_bootstrap} resamples, seed {report.seed}; small = n < {report.min_group_size}."
        )
    )
    return out


def render_text(
    report: FairnessReport,
    *,
    stages: Sequence[str] | None = None,
    intersections: bool = True,
    width: int = 140,
) -> str:
    """The report as plain text tables (no colour codes), e.g. for a log or a text export."""
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False, record=True)
    console.print(Group(*report_renderables(report, stages=stages, intersections=intersections)))
    return console.export_text()


def selection_rate_figure(
    report: FairnessReport, stage: str | None = None, attributes: Sequence[str] | None = None
) -> Figure:
    """Approval rate per group with its interval and the four-fifths line (a matplotlib Figure).

    One panel per attribute (by default every single attribute, no intersections) for one stage
    (by default "final" if the report has it, else its last stage). The dashed line is
    `air_threshold` x the reference group's approval rate: a group below it fails the screen.
    Small groups are drawn hollow and grey, failing groups red, the reference as a diamond.
    """
    chosen = _stage(report, stage)
    panels = [
        a
        for a in chosen.attributes
        if (a.attribute in attributes if attributes is not None else len(a.members) == 1)
    ]
    if attributes is not None:
        missing = set(attributes) - {a.attribute for a in panels}
        if missing:
            raise KeyError(f"stage {chosen.stage!r} has no attribute(s) {sorted(missing)}")
    widths = [max(2.2, 0.7 * len(a.groups) + 1.0) for a in panels] or [3.0]
    fig = Figure(figsize=(sum(widths) + 0.5, 3.6), layout="constrained")
    axes = fig.subplots(1, len(widths), squeeze=False, width_ratios=widths)[0]
    for ax, attribute in zip(axes, panels, strict=False):
        _panel(ax, attribute, report.air_threshold)
    fig.suptitle(f"Approval rate by group, stage {chosen.stage} ({report.confidence:.0%} intervals)")
    return fig


def selection_rate_svg(
    report: FairnessReport, stage: str | None = None, attributes: Sequence[str] | None = None
) -> str:
    """`selection_rate_figure` as SVG text, byte-identical for the same report (for HTML reports)."""
    return figure_svg(selection_rate_figure(report, stage, attributes))


def _stage(report: FairnessReport, stage: str | None) -> StageReport:
    if stage is not None:
        return report.stage(stage)
    names = [s.stage for s in report.stages]
    return report.stage("final" if "final" in names else names[-1])


def _panel(ax: Axes, attribute: AttributeReport, air_threshold: float) -> None:
    for x, g in enumerate(attribute.groups):
        rate = g.selection_rate
        if rate.value is None:
            continue
        colour = "#b2182b" if g.passes_four_fifths is False else ("#2166ac" if not g.small else "#999999")
        if rate.low is not None and rate.high is not None:
            ax.errorbar(
                x,
                rate.value,
                yerr=[[rate.value - rate.low], [rate.high - rate.value]],
                fmt="none",
                ecolor=colour,
                capsize=4,
                linewidth=1.2,
            )
        ax.plot(
            x,
            rate.value,
            marker="D" if g.reference else "o",
            markersize=7,
            color=colour,
            markerfacecolor="white" if g.small else colour,
            linestyle="none",
        )
    reference = next((g for g in attribute.groups if g.reference), None)
    if reference is not None and reference.selection_rate.value:
        line = air_threshold * reference.selection_rate.value
        ax.axhline(line, color="#b2182b", linestyle="--", linewidth=1)
        ax.text(
            -0.55,
            line,
            f" {air_threshold:g} x {reference.group}",
            ha="left",
            va="top",
            fontsize=7,
            color="#b2182b",
        )
    ax.set_xticks(range(len(attribute.groups)))
    ax.set_xticklabels(
        [f"{g.group}\nn={g.n}" for g in attribute.groups],
        fontsize=7,
        rotation=30 if len(attribute.groups) > 4 else 0,
    )
    ax.set_xlim(-0.6, len(attribute.groups) - 0.4)
    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_title(f"{attribute.attribute}: {attribute.screen.value}", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
