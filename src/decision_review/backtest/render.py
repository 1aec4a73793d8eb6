"""Terminal views of backtests, sweeps and gates: rich tables, and the same as plain text.

Why separate from the figures: the report is computed once; the CLI prints it in colour, a log or
a notebook takes the plain text, and the HTML report lays the same figures out for print. Every
rate is shown with its counts, and labels come from the policy (a fraud report says close and
block, not approve and decline).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from decimal import Decimal

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from decision_review.backtest.gates import GateResult
from decision_review.backtest.schemas import (
    BacktestReport,
    BadRate,
    OutcomeNames,
    PolicyResult,
    Rate,
    SweepResult,
)
from decision_review.fairness import Screen, StageReport

NA_OUTCOME = "n/a (outcome unknown)"
MAX_SWEEP_ROWS = 60


def money(units: int | None, currency: str | None, minor_digits: int) -> str:
    """Integer units as money text: ``money(123456, "EUR", 2)`` -> ``"EUR 1,234.56"``."""
    if units is None:
        return "-"
    value = Decimal(units).scaleb(-minor_digits)
    text = f"{value:,.{minor_digits}f}"
    return f"{currency} {text}" if currency else text


def pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}%}"


def rate_text(rate: Rate) -> str:
    """``33.6% (336 of 1,000)``."""
    return f"{pct(rate.value)} ({rate.count:,} of {rate.total:,})"


def bad_text(rate: BadRate) -> str:
    """``4.2% (14 bad of 336 known)``, or n/a when no outcome is known."""
    if rate.value is None:
        return NA_OUTCOME if rate.cases else "- (no cases)"
    known = "" if rate.known == rate.cases else f", {rate.cases - rate.known:,} unknown"
    return f"{pct(rate.value)} ({rate.bad:,} bad of {rate.known:,}{known})"


def _change(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return ""
    delta = (a - b) * 100
    return f"{delta:+.1f} pts" if abs(delta) >= 0.05 else "="


def _names(report: BacktestReport) -> OutcomeNames:
    return report.candidate.labels


def summary_table(report: BacktestReport) -> Table:
    """The policies side by side: outcome rates, bad rates, losses and workload."""
    names = _names(report)
    results = report.policies
    table = Table(
        title="Backtest: candidate vs baseline" if len(results) > 1 else "Backtest", title_justify="left"
    )
    table.add_column("figure")
    for r in results:
        table.add_column(f"{r.role}\n{r.policy_name} v{r.policy_version}", justify="right")
    if len(results) > 1:
        table.add_column("change", justify="right")

    def row(label: str, cells: list[str], values: list[float | None] | None = None) -> None:
        extra = (
            [_change(values[0], values[1])]
            if len(results) > 1 and values
            else ([""] if len(results) > 1 else [])
        )
        table.add_row(label, *cells, *extra)

    row("thresholds", [f"< {r.approve_below:g} / >= {r.decline_at_or_above:g}" for r in results])
    for key, label in (
        ("approve", f"{names.approve} automatically"),
        ("decline", f"{names.decline} automatically"),
        ("review", f"{names.review} (referred)"),
        ("error", "not decided (invalid input)"),
        ("automation", "decided automatically"),
    ):
        rates = [getattr(r, key) for r in results]
        row(label, [rate_text(x) for x in rates], [x.value for x in rates])
    row(
        f"{names.approve} rate after review",
        [_approval(r) for r in results],
        [r.approval_rate.estimate for r in results],
    )
    for key, label in (
        ("bad_rate_approved", f"bad rate, {names.approve} automatically"),
        ("bad_rate_declined", f"bad rate, {names.decline} automatically"),
        ("bad_rate_review", f"bad rate, {names.review}"),
    ):
        rates = [getattr(r, key) for r in results]
        row(label, [bad_text(x) for x in rates], [x.value for x in rates])
    if any(r.losses is not None for r in results):
        row(
            f"amount {names.approve} automatically",
            [
                money(r.losses.approved_amount, r.losses.currency, r.losses.minor_digits) if r.losses else "-"
                for r in results
            ],
        )
        row(
            f"expected loss (LGD {results[0].losses.lgd if results[0].losses else '-'})",
            [
                money(r.losses.expected, r.losses.currency, r.losses.minor_digits) if r.losses else "-"
                for r in results
            ],
        )
        row(
            "realised loss (known outcomes)",
            [
                money(r.losses.realised, r.losses.currency, r.losses.minor_digits) if r.losses else "-"
                for r in results
            ],
        )
    volume = results[0].workload.volume_per_day
    if volume:
        row(
            f"{names.review} per day at {volume:,} cases/day",
            [f"{r.workload.review_per_day:,.0f}" for r in results if r.workload.review_per_day is not None],
        )
    return table


def _approval(result: PolicyResult) -> str:
    a = result.approval_rate
    if a.low is None:
        return "-"
    span = f"{pct(a.low)}-{pct(a.high)}"
    return f"{pct(a.estimate)} (range {span})" if a.estimate is not None else f"between {span}"


def queue_table(report: BacktestReport) -> Table:
    names = _names(report)
    volume = report.candidate.workload.volume_per_day
    table = Table(
        title=f"{names.review} workload by queue" + (f" at {volume:,} cases/day" if volume else ""),
        title_justify="left",
    )
    table.add_column("queue")
    for r in report.policies:
        table.add_column(f"{r.role} cases", justify="right")
        if volume:
            table.add_column(f"{r.role} per day", justify="right")
    queues = list(dict.fromkeys(q.queue for r in report.policies for q in r.workload.queues))
    for queue in queues:
        cells = []
        for r in report.policies:
            load = next((q for q in r.workload.queues if q.queue == queue), None)
            cells.append(f"{load.cases:,} ({pct(load.share)})" if load else "0")
            if volume:
                cells.append(f"{load.per_day:,.1f}" if load and load.per_day is not None else "0")
        table.add_row(queue, *cells)
    return table


def rules_table(result: PolicyResult, limit: int = 15) -> Table:
    table = Table(
        title=f"What decided, {result.role} ({result.policy_name} v{result.policy_version})",
        title_justify="left",
    )
    for header, justify in (("rule", "left"), ("outcome", "left"), ("cases", "right"), ("bad rate", "right")):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for rule in result.rules[:limit]:
        table.add_row(
            rule.rule,
            result.labels.of(rule.outcome),
            f"{rule.cases:,} ({pct(rule.share)})",
            bad_text(rule.bad),
        )
    if len(result.rules) > limit:
        table.caption = f"{len(result.rules) - limit} more in the JSON report"
    return table


def swap_tables(report: BacktestReport) -> list[RenderableType]:
    swaps = report.swaps
    if swaps is None:
        return []
    names = _names(report)
    present = ["approve", "decline", "review"]
    if any(c.cases and "error" in (c.baseline, c.candidate) for c in swaps.matrix):
        present.append("error")
    share = pct(swaps.changed / swaps.total if swaps.total else None)
    matrix = Table(
        title=f"Swap matrix: {swaps.changed:,} of {swaps.total:,} cases change outcome ({share})",
        title_justify="left",
    )
    matrix.add_column("baseline \\ candidate")
    for o in present:
        matrix.add_column(names.of(o), justify="right")
    cells = {(c.baseline, c.candidate): c for c in swaps.matrix}
    for b in present:
        row = []
        for c in present:
            cell = cells.get((b, c))
            row.append(f"{cell.cases:,}" if cell else "0")
        matrix.add_row(names.of(b), *row)
    directions = Table(title="Swap set by direction, with the rules that decided", title_justify="left")
    for header in (
        "baseline -> candidate",
        "cases",
        "bad rate",
        "candidate's rules",
        "baseline's rules",
        "e.g.",
    ):
        directions.add_column(header, justify="right" if header in ("cases",) else "left")
    for d in swaps.directions:
        directions.add_row(
            f"{names.of(d.baseline)} -> {names.of(d.candidate)}",
            f"{d.cases:,} ({pct(d.share)})",
            bad_text(d.bad),
            "\n".join(f"{r.rule} ({r.cases:,})" for r in d.candidate_reasons),
            "\n".join(f"{r.rule} ({r.cases:,})" for r in d.baseline_reasons),
            ", ".join(d.examples[:3]),
        )
    return [matrix, directions]


def screen_line(stage: StageReport, intersections: bool = True) -> str:
    parts = []
    for a in stage.attributes:
        if len(a.members) > 1 and not intersections:
            continue
        verdict = {Screen.PASS: "pass", Screen.FAIL: "FAIL", Screen.INSUFFICIENT: "insufficient data"}[
            a.screen
        ]
        failing = f" ({', '.join(a.failing_groups)})" if a.failing_groups else ""
        parts.append(f"{a.attribute} {verdict}{failing}")
    return f"stage {stage.stage}: " + "; ".join(parts)


def fairness_table(report: BacktestReport, stage: str = "auto") -> Table:
    """Approval rate and AIR by group of every single attribute, for each policy, in one stage."""
    names = _names(report)
    table = Table(
        title=(
            f"Fairness, stage {stage}: {names.approve} rate by group and adverse impact ratio (four-fifths "
            f"screen at {report.settings.air_threshold:g}; adverse outcome: {names.decline})"
        ),
        title_justify="left",
    )
    table.add_column("attribute")
    table.add_column("group")
    for r in report.policies:
        table.add_column(f"{r.role} n", justify="right")
        table.add_column(f"{r.role} {names.approve} rate", justify="right")
        table.add_column(f"{r.role} AIR", justify="right")
        table.add_column(f"{r.role} {names.decline} rate", justify="right")
    first = report.policies[0].fairness.stage(stage)
    for attribute in first.attributes:
        if len(attribute.members) > 1:
            continue
        for group in attribute.groups:
            cells = []
            for r in report.policies:
                g = r.fairness.stage(stage).attribute(attribute.attribute).group(group.group)
                rate = g.selection_rate
                ci = f" [{pct(rate.low)}, {pct(rate.high)}]" if rate.low is not None else ""
                air = "ref" if g.reference else ("-" if g.air.value is None else f"{g.air.value:.2f}")
                if g.passes_four_fifths is False:
                    air += " FAIL"
                elif g.small and not g.reference:
                    air += " (small)"
                cells += [f"{g.n:,}", f"{pct(rate.value)}{ci}", air, pct(g.decline_rate.value, 2)]
            table.add_row(attribute.attribute, group.group, *cells)
    return table


def report_renderables(report: BacktestReport) -> list[RenderableType]:
    """The whole backtest as rich renderables, in reading order."""
    h = report.history
    out: list[RenderableType] = [
        Text.from_markup(
            f"[bold]History[/] {h.name}: {h.cases:,} cases, {h.known_outcomes:,} with a known outcome"
            + (f", bad rate {pct(h.bad_rate)}" if h.bad_rate is not None else "")
            + (f"; product {h.product}" if h.product else "")
        ),
        summary_table(report),
        queue_table(report),
    ]
    out += [rules_table(r) for r in report.policies]
    out += swap_tables(report)
    out.append(fairness_table(report, "auto"))
    for r in report.policies:
        out.append(Text(f"{r.role} screens:"))
        out += [Text("  " + screen_line(s)) for s in r.fairness.stages]
    if report.sweep is not None:
        out += sweep_renderables(report.sweep)
    notes = _notes(report)
    if notes:
        out.append(Text("notes:\n" + "\n".join(f"- {n}" for n in notes)))
    return out


def _notes(report: BacktestReport) -> list[str]:
    notes = [*report.history.notes, *report.notes]
    for r in report.policies:
        notes += [f"{r.role}: {n}" for n in r.notes]
        notes += [f"{r.role} fairness: {n}" for n in r.fairness.notes if " x " not in n.split(":")[0]]
    return list(dict.fromkeys(notes))


def sweep_table(sweep: SweepResult) -> Table:
    names = sweep.labels
    t = sweep.targets
    wanted = [
        f"bad rate among {names.approve} <= {pct(t.max_bad_rate_approved)}"
        if t.max_bad_rate_approved is not None
        else "",
        f"{names.review} share <= {pct(t.max_review_share)}" if t.max_review_share is not None else "",
        f"AIR >= {t.min_air:g} (groups of {t.min_group_size}+)" if t.min_air is not None else "",
        f"{names.approve} rate >= {pct(t.min_approval_rate)}" if t.min_approval_rate is not None else "",
    ]
    table = Table(
        title=f"Threshold sweep of {sweep.policy_name} v{sweep.policy_version}; targets: "
        + ("; ".join(w for w in wanted if w) or "none"),
        title_justify="left",
    )
    headers = [
        f"{names.approve} below",
        f"{names.decline} at/above",
        names.approve,
        names.decline,
        names.review,
        f"bad rate {names.approve}",
        "lowest AIR",
        "",
    ]
    if sweep.volume_per_day:
        headers.insert(5, f"{names.review}/day")
    for h in headers:
        table.add_column(h, justify="right")
    step = max(1, len(sweep.points) // MAX_SWEEP_ROWS)
    shown = sorted(
        set(range(0, len(sweep.points), step)) | {i for i in (sweep.chosen, sweep.current) if i is not None}
    )
    for i in shown:
        p = sweep.points[i]
        mark = (
            "chosen"
            if i == sweep.chosen
            else ("current" if i == sweep.current else ("ok" if p.meets_targets else ""))
        )
        cells = [
            f"{p.approve_below:g}",
            f"{p.decline_at_or_above:g}",
            pct(p.approve),
            pct(p.decline),
            pct(p.review),
            pct(p.bad_rate_approved) if p.bad_rate_approved is not None else "n/a",
            f"{p.min_air:.2f} {p.min_air_group}" if p.min_air is not None else "-",
            mark,
        ]
        if sweep.volume_per_day:
            cells.insert(5, f"{p.review_per_day:,.0f}" if p.review_per_day is not None else "-")
        table.add_row(*cells, style="bold" if i == sweep.chosen else None)
    if step > 1:
        table.caption = f"every {step}th of {len(sweep.points):,} points shown; all are in the JSON report"
    return table


def sweep_renderables(sweep: SweepResult) -> list[RenderableType]:
    out: list[RenderableType] = [sweep_table(sweep)]
    if sweep.chosen is not None:
        p = sweep.points[sweep.chosen]
        out.append(
            Text(
                f"chosen: {sweep.labels.approve} below {p.approve_below:g}, {sweep.labels.decline} at or "
                f"above {p.decline_at_or_above:g} ({len(sweep.feasible)} of {len(sweep.points)} points meet "
                "every target)"
            )
        )
        if sweep.chosen_fairness is not None:
            out += [Text("  " + screen_line(s)) for s in sweep.chosen_fairness.stages]
    out += [Text(f"- {n}") for n in sweep.notes]
    return out


def gates_table(result: GateResult) -> Table:
    table = Table(
        title=(
            f"Gates of {result.policy_name} v{result.policy_version} on {result.history} "
            f"(stage {result.stage}, groups of {result.min_group_size}+): "
            + ("PASS" if result.passed else "FAIL")
        ),
        title_justify="left",
    )
    for header in ("gate", "subject", "figure", "limit", "result", "groups breaking", "detail"):
        table.add_column(header, justify="right" if header in ("figure", "limit") else "left")
    for c in result.checks:
        verdict = {True: "pass", False: "[bold red]FAIL[/]", None: "[yellow]undetermined[/]"}[c.passed]
        rate_like = c.gate != "min_air"
        figure = "-" if c.figure is None else (pct(c.figure, 2) if rate_like else f"{c.figure:.3f}")
        limit = pct(c.limit, 2) if rate_like else f"{c.limit:g}"
        table.add_row(c.gate, c.subject, figure, limit, verdict, ", ".join(c.breaking_groups), c.detail)
    return table


def to_text(renderables: Sequence[RenderableType], width: int = 150) -> str:
    """Renderables as plain text (no colour codes), e.g. for a log, a notebook or a test."""
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False, record=True)
    console.print(Group(*renderables))
    return console.export_text()


def render_text(report: BacktestReport, width: int = 150) -> str:
    """The backtest report as plain text tables."""
    return to_text(report_renderables(report), width)
