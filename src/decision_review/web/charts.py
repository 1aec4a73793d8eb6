"""Charts for the pages, drawn as inline SVG by hand: the SHAP waterfall, the score band, the
score distribution against the training reference (PSI), and approval rates by group.

Why by hand and not matplotlib: the pages forbid inline styles (Content-Security-Policy), and
matplotlib's SVG styles every shape inline; these few charts are simple enough to draw with SVG
presentation attributes, stay sharp at any width, scale down on a phone (viewBox), and take
microseconds. Every chart has a `<title>` and `<desc>` (read by screen readers) and the pages put
the same numbers in a table beside it. Every text drawn is escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import escape

TOWARDS_BAD = "#b2182b"
TOWARDS_GOOD = "#2166ac"
NEUTRAL = "#5b6472"
GRID = "#d5d9e0"
INK = "#1c2330"
MUTED = "#4a5261"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"

_ids = iter(range(1, 1 << 62))


def _text(value: object) -> str:
    return str(escape(str(value)))


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _open(width: int, height: int, title: str, desc: str, css_class: str) -> tuple[str, str]:
    uid = next(_ids)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {css_class}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="chart-{uid}-t chart-{uid}-d" font-family="{FONT}" font-size="12" '
        f'preserveAspectRatio="xMinYMin meet">'
        f'<title id="chart-{uid}-t">{_text(title)}</title><desc id="chart-{uid}-d">{_text(desc)}</desc>'
    )
    return head, "</svg>"


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


@dataclass(frozen=True, slots=True)
class Step:
    """One field's contribution in a waterfall: its label (the reason text), its value, its push."""

    label: str
    value: str
    contribution: float


def waterfall(
    base: float,
    steps: Sequence[Step],
    *,
    title: str,
    thresholds: Sequence[tuple[str, float]] = (),
) -> str:
    """Base log-odds, then each step's contribution, to the case's log-odds (and its probability).

    Bars towards the bad outcome are red and point right, towards the good outcome blue and point
    left; dashed lines mark the policy's thresholds (as log-odds) when given.
    """
    final = base + sum(s.contribution for s in steps)
    label_w, chart_x, chart_w, value_w = 300, 310, 330, 70
    width = chart_x + chart_w + value_w
    row = 26
    top = 30
    height = top + row * (len(steps) + 2) + 34
    points = [base, final]
    running = base
    for s in steps:
        running += s.contribution
        points.append(running)
    points += [t for _, t in thresholds]
    low, high = min(points), max(points)
    pad = max(0.3, 0.08 * (high - low))
    low, high = low - pad, high + pad

    def x(v: float) -> float:
        return chart_x + (v - low) / (high - low) * chart_w

    desc = (
        f"Starts at the average of {sigmoid(base):.1%} (log-odds {base:+.2f}); "
        + "; ".join(f"{s.label} ({s.value}) {s.contribution:+.2f}" for s in steps)
        + f"; ends at {sigmoid(final):.1%} (log-odds {final:+.2f})."
    )
    head, tail = _open(width, height, title, desc, "waterfall")
    parts = [head]
    axis_bottom = top + row * (len(steps) + 2)
    for name, t in thresholds:
        tx = x(t)
        parts.append(
            f'<line x1="{tx:.1f}" y1="{top - 8}" x2="{tx:.1f}" y2="{axis_bottom}" stroke="{NEUTRAL}" '
            f'stroke-dasharray="4 3" stroke-width="1"/>'
            f'<text x="{tx:.1f}" y="{top - 12}" text-anchor="middle" fill="{MUTED}" font-size="11">'
            f"{_text(name)} {sigmoid(t):.0%}</text>"
        )
    y = top

    def label(text: str, y: float, weight: str = "normal") -> str:
        return (
            f'<text x="{label_w}" y="{y + row / 2 + 4:.1f}" text-anchor="end" fill="{INK}" '
            f'font-weight="{weight}">{_text(_short(text, 46))}</text>'
        )

    parts.append(label("Average of all cases (base value)", y, "600"))
    parts.append(
        f'<line x1="{x(base):.1f}" y1="{y + 4}" x2="{x(base):.1f}" y2="{y + row - 4}" stroke="{INK}" '
        f'stroke-width="2"/><text x="{chart_x + chart_w + 8}" y="{y + row / 2 + 4:.1f}" fill="{MUTED}">'
        f"{sigmoid(base):.1%}</text>"
    )
    running = base
    for s in steps:
        y += row
        start, end = running, running + s.contribution
        colour = TOWARDS_BAD if s.contribution > 0 else TOWARDS_GOOD
        left, right = sorted((x(start), x(end)))
        direction = "towards the bad outcome" if s.contribution > 0 else "towards the good outcome"
        parts.append(label(s.label, y))
        parts.append(
            f'<line x1="{x(start):.1f}" y1="{y - 4}" x2="{x(start):.1f}" y2="{y + 4}" stroke="{GRID}"/>'
            f'<rect x="{left:.1f}" y="{y + 5}" width="{max(right - left, 1.5):.1f}" height="{row - 10}" '
            f'fill="{colour}" rx="2"><title>{_text(s.label)} = {_text(s.value)}: {s.contribution:+.3f} '
            f"log-odds, {direction}</title></rect>"
            f'<text x="{chart_x + chart_w + 8}" y="{y + row / 2 + 4:.1f}" fill="{colour}" '
            f'font-variant-numeric="tabular-nums">{s.contribution:+.2f}</text>'
        )
        running = end
    y += row
    parts.append(label("This case", y, "600"))
    parts.append(
        f'<line x1="{x(final):.1f}" y1="{y + 4}" x2="{x(final):.1f}" y2="{y + row - 4}" stroke="{INK}" '
        f'stroke-width="2"/><text x="{chart_x + chart_w + 8}" y="{y + row / 2 + 4:.1f}" fill="{INK}" '
        f'font-weight="600">{sigmoid(final):.1%}</text>'
    )
    axis_y = axis_bottom + 6
    parts.append(
        f'<line x1="{chart_x}" y1="{axis_y}" x2="{chart_x + chart_w}" y2="{axis_y}" stroke="{GRID}"/>'
        f'<text x="{chart_x}" y="{axis_y + 16}" fill="{MUTED}" font-size="11">← towards good</text>'
        f'<text x="{chart_x + chart_w}" y="{axis_y + 16}" text-anchor="end" fill="{MUTED}" '
        f'font-size="11">towards bad →</text>'
    )
    parts.append(tail)
    return "".join(parts)


BAND_TICKS = (0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.999)


def score_band(
    score: float | None, approve_below: float, decline_at_or_above: float, labels: dict[str, str]
) -> str:
    """Where the score lies against the policy's thresholds, on a log-odds scale (so 0.2% and 2%
    are as far apart as 20% and 70%: both ends of the scale stay readable)."""
    width, height = 520, 74
    left, right = 14, 506
    lo, hi = logit(0.0005), logit(0.9995)

    def x(p: float) -> float:
        return left + (logit(p) - lo) / (hi - lo) * (right - left)

    where = (
        "no score"
        if score is None
        else (
            labels["approve"]
            if score < approve_below
            else labels["decline"]
            if score >= decline_at_or_above
            else labels["review"]
        )
    )
    desc = (
        f"{labels['approve']} below {approve_below:.1%}, {labels['review']} from {approve_below:.1%}, "
        f"{labels['decline']} from {decline_at_or_above:.1%}; "
        + ("no score." if score is None else f"this case: {score:.2%}, in the {where} band.")
    )
    head, tail = _open(width, height, "The score against the policy's thresholds", desc, "band")
    parts = [head]
    segments = [
        (0.0005, approve_below, "#e3f0e6", labels["approve"]),
        (approve_below, decline_at_or_above, "#fbf0d9", labels["review"]),
        (decline_at_or_above, 0.9995, "#f6e0e0", labels["decline"]),
    ]
    for start, end, fill, name in segments:
        x0, x1 = x(start), x(end)
        parts.append(f'<rect x="{x0:.1f}" y="8" width="{max(x1 - x0, 0):.1f}" height="28" fill="{fill}"/>')
        if x1 - x0 > 60:
            parts.append(
                f'<text x="{(x0 + x1) / 2:.1f}" y="26" text-anchor="middle" fill="{INK}">{_text(name)}</text>'
            )
    for t in BAND_TICKS:
        parts.append(
            f'<line x1="{x(t):.1f}" y1="36" x2="{x(t):.1f}" y2="41" stroke="{NEUTRAL}"/>'
            f'<text x="{x(t):.1f}" y="54" text-anchor="middle" fill="{MUTED}" font-size="11">{t:.1%}</text>'
        )
    if score is not None:
        sx = x(min(max(score, 0.0005), 0.9995))
        parts.append(
            f'<path d="M{sx - 7:.1f},0 L{sx + 7:.1f},0 L{sx:.1f},10 Z" fill="{INK}"/>'
            f'<line x1="{sx:.1f}" y1="8" x2="{sx:.1f}" y2="13" stroke="{INK}" stroke-width="2.5"/>'
            f'<line x1="{sx:.1f}" y1="31" x2="{sx:.1f}" y2="36" stroke="{INK}" stroke-width="2.5"/>'
            f'<text x="{min(max(sx, 40), width - 40):.1f}" y="70" text-anchor="middle" fill="{INK}" '
            f'font-weight="600">this case {score:.2%}</text>'
        )
    parts.append(tail)
    return "".join(parts)


def distribution(
    bins: Sequence[str], reference: Sequence[float], recent: Sequence[float], *, title: str, desc: str
) -> str:
    """Shares of cases per score bin: the training reference beside recent decisions (for PSI)."""
    width, height = 640, 220
    left, bottom, top = 44, 180, 16
    chart_w = width - left - 10
    peak = max([*reference, *recent, 0.01])
    group = chart_w / max(len(bins), 1)
    bar = group * 0.36
    head, tail = _open(width, height, title, desc, "distribution")
    parts = [head]
    for frac in (0.25, 0.5, 0.75, 1.0):
        y = bottom - frac * (bottom - top)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}" font-size="11">'
            f"{frac * peak:.0%}</text>"
        )
    for i, name in enumerate(bins):
        gx = left + i * group + group * 0.14
        for j, (value, colour, who) in enumerate(
            ((reference[i], "#8c96a8", "training reference"), (recent[i], TOWARDS_GOOD, "recent"))
        ):
            h = value / peak * (bottom - top)
            parts.append(
                f'<rect x="{gx + j * bar:.1f}" y="{bottom - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{_text(name)}: {who} {value:.1%}</title></rect>'
            )
        parts.append(
            f'<text x="{left + i * group + group / 2:.1f}" y="{bottom + 16}" text-anchor="middle" '
            f'fill="{MUTED}" font-size="10">{_text(name)}</text>'
        )
    parts.append(
        f'<line x1="{left}" y1="{bottom}" x2="{width - 10}" y2="{bottom}" stroke="{NEUTRAL}"/>'
        f'<rect x="{left}" y="{height - 18}" width="10" height="10" fill="#8c96a8"/>'
        f'<text x="{left + 14}" y="{height - 9}" fill="{INK}" font-size="11">training reference</text>'
        f'<rect x="{left + 140}" y="{height - 18}" width="10" height="10" fill="{TOWARDS_GOOD}"/>'
        f'<text x="{left + 154}" y="{height - 9}" fill="{INK}" font-size="11">recent decisions</text>'
    )
    parts.append(tail)
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class GroupRate:
    group: str
    rate: float | None
    n: int
    reference: bool = False
    small: bool = False
    fails: bool = False


def group_rates(rows: Sequence[GroupRate], *, threshold: float | None, title: str, what: str) -> str:
    """Approval (selection) rate per group as horizontal bars, the four-fifths line dashed."""
    row, label_w, chart_x = 26, 150, 160
    width = 640
    chart_w = width - chart_x - 70
    height = 20 + row * len(rows) + 24
    reference = next((r for r in rows if r.reference and r.rate is not None), None)
    desc = "; ".join(
        f"{r.group}: {'no cases' if r.rate is None else f'{r.rate:.1%}'} of {r.n}"
        + (" (reference)" if r.reference else "")
        + (" (small group)" if r.small else "")
        + (" (below four-fifths)" if r.fails else "")
        for r in rows
    )
    head, tail = _open(width, height, title, f"{what} by group: {desc}.", "rates")
    parts = [head]
    for i, r in enumerate(rows):
        y = 14 + i * row
        colour = TOWARDS_BAD if r.fails else ("#8c96a8" if r.small else TOWARDS_GOOD)
        name = r.group + (" (ref.)" if r.reference else "")
        parts.append(
            f'<text x="{label_w}" y="{y + row / 2 + 2:.1f}" text-anchor="end" fill="{INK}">'
            f"{_text(_short(name, 22))}</text>"
        )
        if r.rate is not None:
            w = r.rate * chart_w
            parts.append(
                f'<rect x="{chart_x}" y="{y + 4}" width="{max(w, 1):.1f}" height="{row - 12}" '
                f'fill="{colour}" rx="2"><title>{_text(r.group)}: {r.rate:.1%} of {r.n}</title></rect>'
                f'<text x="{chart_x + w + 6:.1f}" y="{y + row / 2 + 2:.1f}" fill="{INK}" font-size="11">'
                f"{r.rate:.0%}{' · small' if r.small else ''}</text>"
            )
    if reference is not None and threshold is not None:
        line = chart_x + threshold * reference.rate * chart_w  # type: ignore[operator]
        parts.append(
            f'<line x1="{line:.1f}" y1="8" x2="{line:.1f}" y2="{14 + row * len(rows)}" '
            f'stroke="{TOWARDS_BAD}" stroke-dasharray="4 3"/>'
            f'<text x="{line:.1f}" y="{height - 6}" text-anchor="middle" fill="{TOWARDS_BAD}" font-size="11">'
            f"{threshold:g} × reference</text>"
        )
    parts.append(tail)
    return "".join(parts)
