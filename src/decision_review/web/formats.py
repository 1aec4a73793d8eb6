"""How the pages write numbers, times and durations: one place, so every page reads the same.

Times are shown in UTC (the product's one time zone, as stored and audited), to the minute, with
the ISO-8601 value in the `datetime` attribute of the `<time>` element that shows them.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from markupsafe import Markup, escape


def number(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def pct(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * value:.{digits}f}%"


def probability(value: float | None) -> str:
    """A probability as a percentage with sensible precision (0.4%, 12%, 99.1%)."""
    if value is None:
        return "–"
    percent = 100 * value
    if percent < 1 or percent > 99:
        return f"{percent:.2f}%"
    if percent < 10 or percent > 90:
        return f"{percent:.1f}%"
    return f"{percent:.0f}%"


def utc(value: dt.datetime | str | None) -> Markup:
    """A `<time>` element: ``2026-01-03 14:05 UTC``."""
    if value is None:
        return Markup("–")
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return Markup(escape(value))
    value = value.astimezone(dt.UTC)
    return Markup('<time datetime="{}">{} UTC</time>').format(
        value.strftime("%Y-%m-%dT%H:%M:%SZ"), value.strftime("%Y-%m-%d %H:%M")
    )


def duration(seconds: float | None) -> str:
    """A span of time as a person says it: 45 s, 12 min, 3 h 5 min, 2 d 4 h."""
    if seconds is None:
        return "–"
    seconds = abs(int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def words(code: str | None) -> str:
    """A machine name as words: ``info_requested`` -> ``info requested``."""
    return (code or "").replace("_", " ")


FILTERS = {
    "number": number,
    "pct": pct,
    "probability": probability,
    "utc": utc,
    "duration": duration,
    "words": words,
}
