"""Operational metrics of the review operation, per product line, computed from the store.

What a team lead and a regulator ask first: how many cases wait (and in which queue), how many
are past their service-level time, what was decided (automatically, by review, by override), how
long reviews take, and how often people override the machine. Each figure is one aggregate query;
review latency takes the most recent `LATENCY_SAMPLE` decided reviews per product line.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from decision_review.products.service import control
from decision_review.review.repository import effective_state
from decision_review.store.tables import (
    ApprovalState,
    Case,
    Decision,
    PendingApproval,
    ReviewItem,
    ReviewState,
)

LATENCY_SAMPLE = 5000
_items = ReviewItem.__table__
_cases = Case.__table__
_decisions = Decision.__table__
_pending = PendingApproval.__table__


def metrics(session: Session, products: Sequence[str], *, now: dt.datetime) -> dict[str, Any]:
    """Every metric for the given product lines: {product: {...}}."""
    out: dict[str, Any] = {
        p: {
            "queue_depth": {},
            "sla_breached": {},
            "decisions": {},
            "review_latency_seconds": None,
            "override_rate": None,
            "pending_approvals": 0,
            "auto_decisions_enabled": control(session, p).auto_decisions_enabled,
        }
        for p in products
    }
    if not products:
        return out
    state = effective_state(now)
    open_items = and_(_items.c.product.in_(products), _items.c.state != ReviewState.DECIDED.value)
    depth = session.execute(
        select(_items.c.product, _items.c.queue, state.label("state"), func.count())
        .where(open_items)
        .group_by(_items.c.product, _items.c.queue, state)
    )
    for product, queue, item_state, count in depth:
        out[product]["queue_depth"].setdefault(queue, {})[item_state] = count
    breached = session.execute(
        select(_items.c.product, _items.c.queue, func.count())
        .where(open_items, _items.c.sla_due_at < now)
        .group_by(_items.c.product, _items.c.queue)
    )
    for product, queue, count in breached:
        out[product]["sla_breached"][queue] = count
    decided = session.execute(
        select(_cases.c.product, _decisions.c.kind, _decisions.c.outcome, func.count())
        .join(_cases, _cases.c.id == _decisions.c.case_pk)
        .where(_cases.c.product.in_(products))
        .group_by(_cases.c.product, _decisions.c.kind, _decisions.c.outcome)
    )
    for product, kind, outcome, count in decided:
        out[product]["decisions"].setdefault(kind, {})[outcome] = count
    pending = session.execute(
        select(_cases.c.product, func.count())
        .join(_cases, _cases.c.id == _pending.c.case_pk)
        .where(_cases.c.product.in_(products), _pending.c.state == ApprovalState.PENDING.value)
        .group_by(_cases.c.product)
    )
    for product, count in pending:
        out[product]["pending_approvals"] = count
    for product in products:
        figures = out[product]
        figures["review_latency_seconds"] = _latency(session, product)
        auto = figures["decisions"].get("auto", {})
        automatic = auto.get("approve", 0) + auto.get("decline", 0)
        overrides = sum(figures["decisions"].get("override", {}).values())
        figures["override_rate"] = overrides / automatic if automatic else None
    return out


def _latency(session: Session, product: str) -> dict[str, float] | None:
    """Time from a case entering review to its review decision (seconds): p50, p90, mean, count."""
    rows = session.execute(
        select(_items.c.created_at, _items.c.updated_at)
        .where(_items.c.product == product, _items.c.state == ReviewState.DECIDED.value)
        .order_by(_items.c.updated_at.desc())
        .limit(LATENCY_SAMPLE)
    ).all()
    seconds = sorted((updated - created).total_seconds() for created, updated in rows)
    if not seconds:
        return None
    return {
        "p50": statistics.median(seconds),
        "p90": seconds[min(len(seconds) - 1, int(0.9 * len(seconds)))],
        "mean": statistics.fmean(seconds),
        "count": len(seconds),
    }


def prometheus_text(figures: dict[str, Any]) -> str:
    """The metrics in Prometheus' text exposition format (version 0.0.4)."""
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")

    def sample(name: str, labels: dict[str, Any], value: float) -> None:
        text = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
        lines.append(f"{name}{{{text}}} {value:g}")

    family("dr_queue_depth", "gauge", "Open review cases by product line, queue and state.")
    for product, f in figures.items():
        for queue, states in f["queue_depth"].items():
            for state, count in states.items():
                sample("dr_queue_depth", {"product": product, "queue": queue, "state": state}, count)
    family("dr_sla_breached", "gauge", "Open review cases past their service-level time.")
    for product, f in figures.items():
        for queue, count in f["sla_breached"].items():
            sample("dr_sla_breached", {"product": product, "queue": queue}, count)
    family("dr_decisions_total", "counter", "Decisions stored, by kind (auto, review, override) and outcome.")
    for product, f in figures.items():
        for kind, outcomes in f["decisions"].items():
            for outcome, count in outcomes.items():
                sample("dr_decisions_total", {"product": product, "kind": kind, "outcome": outcome}, count)
    family("dr_review_latency_seconds", "summary", "Time from entering review to the review decision.")
    for product, f in figures.items():
        latency = f["review_latency_seconds"]
        if latency:
            sample("dr_review_latency_seconds", {"product": product, "quantile": "0.5"}, latency["p50"])
            sample("dr_review_latency_seconds", {"product": product, "quantile": "0.9"}, latency["p90"])
            lines.append(
                f'dr_review_latency_seconds_count{{product="{_escape(product)}"}} {latency["count"]}'
            )
    family("dr_override_rate", "gauge", "Overrides per automatic approve or decline.")
    for product, f in figures.items():
        if f["override_rate"] is not None:
            sample("dr_override_rate", {"product": product}, f["override_rate"])
    family("dr_pending_approvals", "gauge", "Decisions waiting for a second reviewer (four-eyes).")
    for product, f in figures.items():
        sample("dr_pending_approvals", {"product": product}, f["pending_approvals"])
    family(
        "dr_auto_decisions_enabled",
        "gauge",
        "1 when automatic decisions are on, 0 when the stop switch is on.",
    )
    for product, f in figures.items():
        sample("dr_auto_decisions_enabled", {"product": product}, 1 if f["auto_decisions_enabled"] else 0)
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
