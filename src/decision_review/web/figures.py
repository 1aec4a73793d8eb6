"""Figures the pages compute from stored decisions: fairness by group over recent decisions, the
score distribution against the model's training reference (PSI), and volumes.

Why here and not in `reports`: each is what one page shows (the case page's fairness context, the
overview's drift, the compliance fairness page), computed with the library functions that own the
method (`decision_review.fairness.fairness_report`; numpy for PSI) over a bounded window of recent
decisions, and cached for a minute: a page view never recomputes them, and a figure that is a
minute old says the same thing to a person.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from decision_review.store.tables import Case, Decision, OutcomeLabel

if TYPE_CHECKING:
    from decision_review.fairness import FairnessReport
    from decision_review.modeling.loaded import LoadedModel
    from decision_review.products.service import LiveProduct

RECENT_CASES = 5000  # the window of recent cases the fairness figures and the drift are read from
CACHE_SECONDS = 60.0
PSI_BINS = 10
MIN_RECENT = 100  # fewer recent scores than this give a PSI that is mostly noise
MIN_GROUP = 30
T = TypeVar("T")

_cases = Case.__table__
_decisions = Decision.__table__
_outcomes = OutcomeLabel.__table__


class TimedCache:
    """Values kept for `seconds` (per key), shared by the requests of one worker."""

    def __init__(self, seconds: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._values: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, compute: Callable[[], T]) -> T:
        now = self._clock()
        with self._lock:
            hit = self._values.get(key)
        if hit is not None and now - hit[0] < self.seconds:
            return hit[1]
        value = compute()
        with self._lock:
            self._values[key] = (now, value)
            if len(self._values) > 256:
                self._values.pop(next(iter(self._values)))
        return value


# ---------------------------------------------------------------------------------------------
# Recent decisions as a frame


def recent_decisions(session: Session, product: str, limit: int = RECENT_CASES) -> pd.DataFrame:
    """One row per recent case of the product line (newest `limit`): its protected groups and the
    outcome of each stage (auto, human, final), the auto score, the reviewer, whether an automatic
    decision was overridden, and the latest recorded outcome label. Three queries, no per-case loop.
    """
    recent = (
        select(_cases.c.id).where(_cases.c.product == product).order_by(_cases.c.id.desc()).limit(limit)
    ).subquery()
    cases = pd.DataFrame(
        session.execute(
            select(_cases.c.id, _cases.c.protected).join(recent, recent.c.id == _cases.c.id)
        ).all(),
        columns=["case_pk", "protected"],
    )
    if cases.empty:
        return pd.DataFrame()
    decisions = pd.DataFrame(
        session.execute(
            select(
                _decisions.c.id,
                _decisions.c.case_pk,
                _decisions.c.kind,
                _decisions.c.outcome,
                _decisions.c.score,
                _decisions.c.decided_by,
            ).join(recent, recent.c.id == _decisions.c.case_pk)
        ).all(),
        columns=["id", "case_pk", "kind", "outcome", "score", "decided_by"],
    )
    labels = pd.DataFrame(
        session.execute(
            select(_outcomes.c.id, _outcomes.c.case_pk, _outcomes.c.label).join(
                recent, recent.c.id == _outcomes.c.case_pk
            )
        ).all(),
        columns=["id", "case_pk", "label"],
    )
    decisions = decisions.sort_values("id")
    decided = decisions[decisions["outcome"].isin(["approve", "decline", "review"])]
    auto = decided[decided["kind"] == "auto"].groupby("case_pk").first()
    human = decided[decided["kind"] == "review"].groupby("case_pk").last()
    final = decided.groupby("case_pk").last()
    overridden = decisions[decisions["kind"] == "override"].groupby("case_pk").size()
    frame = cases.set_index("case_pk")
    frame["auto"] = auto["outcome"]
    frame["score"] = auto["score"]
    frame["human"] = human["outcome"]
    frame["reviewer"] = human["decided_by"]
    final_outcome = final["outcome"].where(final["outcome"] != "review")  # still open: not decided yet
    frame["final"] = final_outcome
    automatic = frame["auto"].isin(["approve", "decline"])
    frame["override"] = pd.Series(pd.NA, index=frame.index, dtype="boolean")
    frame.loc[automatic, "override"] = frame.index[automatic].isin(overridden.index)
    if not labels.empty:
        frame["label"] = labels.sort_values("id").groupby("case_pk")["label"].last()
    else:
        frame["label"] = np.nan
    return frame.reset_index()


def _groups(frame: pd.DataFrame, attributes: list[str]) -> pd.DataFrame:
    records = [p if isinstance(p, dict) else {} for p in frame["protected"]]
    groups = pd.DataFrame.from_records(records, index=frame.index, columns=attributes)
    return groups.astype("object").where(groups.notna(), None)


def fairness_of_recent(
    frame: pd.DataFrame, model: LoadedModel, *, human: bool = False, n_bootstrap: int = 0
) -> FairnessReport | None:
    """`fairness_report` over the recent decisions (None when there are none or no attributes)."""
    from decision_review.fairness import fairness_report, protected_attribute_settings

    attributes = model.contract.protected
    if frame.empty or not attributes:
        return None
    names = [a.name for a in attributes]
    stages = {"auto": "auto", "human": "human", "final": "final"}
    stages = {s: c for s, c in stages.items() if frame[c].notna().any()}
    if not stages:
        return None
    labelled = frame["label"].notna().any()
    return fairness_report(
        frame,
        _groups(frame, names),
        stages=stages,
        label="label" if labelled else None,
        score="score" if labelled else None,
        intersections=False,
        min_group_size=MIN_GROUP,
        n_bootstrap=n_bootstrap,
        reviewer="reviewer" if human and frame["reviewer"].notna().any() else None,
        override="override" if human and frame["override"].notna().any() else None,
        human_stage="human",
        **protected_attribute_settings(attributes),
    )


@dataclass(frozen=True, slots=True)
class GroupContext:
    """One protected attribute of a case: its group's approval rate beside the reference group's."""

    attribute: str
    group: str | None
    rate: float | None
    n: int
    small: bool
    reference_group: str | None
    reference_rate: float | None
    reference_n: int
    air: float | None
    stage: str


def case_context(report: FairnessReport | None, protected: dict[str, Any] | None) -> list[GroupContext]:
    """For each protected attribute of the case, its group against the reference (final decisions)."""
    if report is None or not protected:
        return []
    names = [s.stage for s in report.stages]
    stage = report.stage("final" if "final" in names else names[0])
    out = []
    for attribute in stage.attributes:
        group_name = protected.get(attribute.attribute)
        group = next((g for g in attribute.groups if g.group == group_name), None)
        reference = next((g for g in attribute.groups if g.reference), None)
        out.append(
            GroupContext(
                attribute=attribute.attribute,
                group=group_name,
                rate=group.selection_rate.value if group else None,
                n=group.n if group else 0,
                small=group.small if group else True,
                reference_group=reference.group if reference else None,
                reference_rate=reference.selection_rate.value if reference else None,
                reference_n=reference.n if reference else 0,
                air=group.air.value if group else None,
                stage=stage.stage,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Score drift against the training reference (PSI)


@dataclass(frozen=True, slots=True)
class Drift:
    psi: float | None
    reading: str
    bins: list[str]
    reference: list[float]
    recent: list[float]
    n_recent: int
    n_reference: int


def psi(expected: np.ndarray, actual: np.ndarray, floor: float = 1e-4) -> float:
    """Population stability index of two share vectors: sum (a - e) ln(a / e), empty bins floored.

    >>> round(psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])), 6)
    0.0
    """
    e = np.clip(expected, floor, None)
    a = np.clip(actual, floor, None)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_reading(value: float | None, n_recent: int = MIN_RECENT) -> str:
    """The usual reading: below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a major one."""
    if value is None:
        return "no recent scores"
    if n_recent < MIN_RECENT:
        return f"too few recent decisions (fewer than {MIN_RECENT}) for a steady figure"
    if value < 0.1:
        return "stable"
    if value < 0.25:
        return "moderate shift: watch it"
    return "major shift: the model sees different cases than it was trained on"


def reference_scores(model: LoadedModel) -> np.ndarray:
    """The model's scores of its own training reference sample (model inputs only)."""
    return np.asarray(model.predict_proba(model.reference_sample), dtype=float)


def drift(reference: np.ndarray, recent: np.ndarray, bins: int = PSI_BINS) -> Drift:
    """Scores of recent decisions against the training reference, in `bins` bins cut at the
    reference's deciles (each bin holds a tenth of the reference), and their PSI."""
    reference = reference[~np.isnan(reference)]
    recent = recent[~np.isnan(recent)]
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    edges[0], edges[-1] = 0.0, 1.0
    inner = edges[1:-1]
    ref_share = np.bincount(np.searchsorted(inner, reference, side="right"), minlength=len(edges) - 1)
    ref_share = ref_share / max(len(reference), 1)
    labels = [
        f"{_edge(lo)}–{_edge(hi)}" if hi < 1 else f"≥{_edge(lo)}" for lo, hi in itertools.pairwise(edges)
    ]
    if len(recent) == 0:
        return Drift(
            None, psi_reading(None), labels, ref_share.tolist(), [0.0] * len(labels), 0, len(reference)
        )
    now_share = np.bincount(np.searchsorted(inner, recent, side="right"), minlength=len(edges) - 1) / len(
        recent
    )
    value = psi(ref_share, now_share)
    reading = psi_reading(value, len(recent))
    return Drift(value, reading, labels, ref_share.tolist(), now_share.tolist(), len(recent), len(reference))


def _edge(p: float) -> str:
    """A bin edge with two significant digits, so fraud scores (0.012%) read as well as credit ones."""
    return f"{100 * p:.2g}%"


def recent_scores(session: Session, product: str, limit: int = RECENT_CASES) -> np.ndarray:
    """Scores of the product line's most recent automatic decisions."""
    rows = session.execute(
        select(_decisions.c.score)
        .join(_cases, _cases.c.id == _decisions.c.case_pk)
        .where(_cases.c.product == product, _decisions.c.kind == "auto", _decisions.c.score.is_not(None))
        .order_by(_decisions.c.id.desc())
        .limit(limit)
    ).scalars()
    return np.fromiter(rows, dtype=float)


# ---------------------------------------------------------------------------------------------
# Volumes


def volumes(session: Session, product: str, now: dt.datetime) -> dict[str, int]:
    """Cases received in the last day, the last 7 days, and in all (one indexed count each)."""
    out = {}
    for name, since in (
        ("day", now - dt.timedelta(days=1)),
        ("week", now - dt.timedelta(days=7)),
        ("all", None),
    ):
        query = select(func.count()).select_from(_cases).where(_cases.c.product == product)
        if since is not None:
            query = query.where(_cases.c.received_at >= since)
        out[name] = session.scalar(query) or 0
    return out


def overview_figures(metrics: dict[str, Any]) -> dict[str, Any]:
    """Automation rate, decisions by kind and breach totals from `reports.service.metrics` of one line."""
    decisions = metrics["decisions"]
    auto = decisions.get("auto", {})
    total_auto = sum(auto.values())
    automatic = auto.get("approve", 0) + auto.get("decline", 0)
    depth = {queue: sum(states.values()) for queue, states in metrics["queue_depth"].items()}
    return {
        "automation_rate": automatic / total_auto if total_auto else None,
        "decided_automatically": automatic,
        "sent_to_review": auto.get("review", 0),
        "errors": auto.get("error", 0),
        "reviewed": sum(decisions.get("review", {}).values()),
        "overrides": sum(decisions.get("override", {}).values()),
        "queue_depth": depth,
        "queue_total": sum(depth.values()),
        "breached_total": sum(metrics["sla_breached"].values()),
    }


def live_thresholds(live: LiveProduct) -> tuple[float, float]:
    policy = live.engine.policy
    return float(policy.approve_below), float(policy.decline_at_or_above)
