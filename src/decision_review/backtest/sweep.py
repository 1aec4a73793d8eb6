"""Threshold sweep: the candidate policy at every pair of thresholds on a grid, in one pass.

Why it is fast (and needs no `decide` per point): the rules' outcomes and the scores do not
depend on the thresholds (`PolicyReplay`), so the cases the thresholds decide are binned once by
where their score falls among the grid's thresholds, per (protected-group combination x known
outcome x QA-sample membership). A case is approved at `approve_below = edges[i]` exactly when its
bin is <= i, declined at `decline_at_or_above = edges[j]` when its bin is > j; so every point's
counts are cumulative sums of one small table, and any grid (50 points or 50 x 50) costs about
the same as one pass over the cases. Adverse impact ratios per group follow from the same counts.

Points carry no bootstrap intervals (that would multiply the cost by the number of resamples);
the chosen point gets a full fairness report with intervals (`SweepResult.chosen_fairness`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from decision_review.backtest.history import History
from decision_review.backtest.replay import APPROVE, DECLINE, REVIEW, PolicyReplay
from decision_review.backtest.run import expected_money, outcome_names, policy_fairness
from decision_review.backtest.schemas import BacktestSettings, SweepPoint, SweepResult, SweepTargets
from decision_review.errors import InvalidInput
from decision_review.fairness.groups import INTERSECTION_JOIN, Grouping, build_groupings, combine
from decision_review.fairness.inputs import encode_attributes

GOOD, BAD, UNKNOWN_LABEL = 0, 1, 2
MAX_POINTS = 100_000


def grid(spec: str) -> list[float]:
    """Parse a grid: ``start:stop:count`` (evenly spaced, both ends included) or ``a,b,c``.

    >>> grid("0.1:0.3:3")
    [0.1, 0.2, 0.3]
    >>> grid("0.05, 0.1")
    [0.05, 0.1]
    """
    text = spec.strip()
    try:
        if ":" in text:
            start, stop, count = text.split(":")
            n = int(count)
            if n < 1:
                raise ValueError
            values = np.linspace(float(start), float(stop), n)
        else:
            values = np.array([float(v) for v in text.split(",") if v.strip()])
    except ValueError:
        raise InvalidInput(
            f"threshold grid {spec!r} is not start:stop:count (e.g. 0.02:0.5:50) or a list (0.1,0.2,0.3)"
        ) from None
    if not len(values) or not np.all((values >= 0) & (values <= 1)):
        raise InvalidInput(f"threshold grid {spec!r}: thresholds are probabilities between 0 and 1")
    return [round(float(v), 10) for v in values]


@dataclass(frozen=True)
class _Tables:
    """Counts by (fine group, label, outcome) for every point: the whole sweep in arrays."""

    approve: np.ndarray  # (P, F, 3)
    decline: np.ndarray
    review: np.ndarray
    expected: np.ndarray | None  # (P,) sum of P(bad) x amount over approvals


def threshold_sweep(
    replay: PolicyReplay,
    history: History,
    *,
    approve_grid: Sequence[float] | None = None,
    decline_grid: Sequence[float] | None = None,
    targets: SweepTargets | None = None,
    settings: BacktestSettings | None = None,
    attributes: Sequence[str] | None = None,
    intersections: bool = False,
) -> SweepResult:
    """The candidate's figures at every (approve_below, decline_at_or_above) of the grid.

    A grid left out keeps the policy's own threshold. Pairs with approve_below above
    decline_at_or_above are skipped. `attributes` (default: all of the history's) and
    `intersections` choose the groups whose AIR the `min_air` target screens, at
    `targets.min_group_size` cases or more, against the reference groups the attribute
    definitions designate (else the group approved most often).

    >>> result = threshold_sweep(replay, history, approve_grid=grid("0.02:0.5:50"))  # doctest: +SKIP
    >>> result.points[result.chosen].approve_below  # doctest: +SKIP
    """
    targets = targets or SweepTargets()
    settings = settings or BacktestSettings()
    approve = list(approve_grid) if approve_grid is not None else [replay.approve_below]
    decline = list(decline_grid) if decline_grid is not None else [replay.decline_at_or_above]
    pairs = [(a, d) for d in decline for a in approve if a <= d]
    notes: list[str] = []
    skipped = len(approve) * len(decline) - len(pairs)
    if skipped:
        notes.append(f"{skipped} grid pair(s) with approve_below above decline_at_or_above were skipped")
    if not pairs:
        raise InvalidInput("the threshold grid has no pair with approve_below <= decline_at_or_above")
    if len(pairs) > MAX_POINTS:
        raise InvalidInput(f"the threshold grid has {len(pairs):,} points; at most {MAX_POINTS:,}")
    edges = np.unique(np.array([v for pair in pairs for v in pair]))
    ia = np.searchsorted(edges, [a for a, _ in pairs])
    idd = np.searchsorted(edges, [d for _, d in pairs])

    groupings, fine, n_fine, references, fine_notes = _groupings(history, attributes, intersections)
    notes += fine_notes
    tables = _tables(replay, history, edges, ia, idd, fine, n_fine)
    n_all = len(replay.fixed)
    approve_n = tables.approve.sum(axis=(1, 2))
    decline_n = tables.decline.sum(axis=(1, 2))
    review_n = tables.review.sum(axis=(1, 2))
    known_approved = tables.approve[:, :, GOOD].sum(axis=1) + tables.approve[:, :, BAD].sum(axis=1)
    bad_approved = tables.approve[:, :, BAD].sum(axis=1)
    decided_fine = (tables.approve + tables.decline + tables.review).sum(axis=2)  # (P, F)
    approved_fine = tables.approve.sum(axis=2)
    air = [
        _air(g, approved_fine, decided_fine, references.get(g.name), targets.min_group_size)
        for g in groupings
    ]
    volume = settings.volume_per_day
    points = []
    for p, (a, d) in enumerate(pairs):
        bad_rate = float(bad_approved[p] / known_approved[p]) if known_approved[p] else None
        by_attribute = {
            g.name: dict(zip(g.labels, values[p], strict=True))
            for g, (values, _) in zip(groupings, air, strict=True)
        }
        screened = [
            (value, f"{g.name}={label}")
            for g, (values, screen) in zip(groupings, air, strict=True)
            for label, value, ok in zip(g.labels, values[p], screen[p], strict=True)
            if ok and value is not None
        ]
        low = min(screened, default=None)
        expected = tables.expected[p] if tables.expected is not None else None
        point = {
            "approve_below": a,
            "decline_at_or_above": d,
            "approve": float(approve_n[p] / n_all),
            "decline": float(decline_n[p] / n_all),
            "review": float(review_n[p] / n_all),
            "automation": float((approve_n[p] + decline_n[p]) / n_all),
            "bad_rate_approved": bad_rate,
            "approved_known": int(known_approved[p]),
            "review_per_day": float(review_n[p] / n_all * volume) if volume else None,
            "expected_loss": expected_money(float(expected), settings.lgd) if expected is not None else None,
            "min_air": low[0] if low else None,
            "min_air_group": low[1] if low else None,
            "air": by_attribute,
        }
        misses = _misses(point, targets)
        points.append(SweepPoint(**point, meets_targets=not misses, misses=misses))
    feasible = [i for i, p in enumerate(points) if p.meets_targets]
    chosen = (
        min(
            feasible,
            key=lambda i: (
                -points[i].automation,
                points[i].bad_rate_approved if points[i].bad_rate_approved is not None else 1.0,
                i,
            ),
        )
        if feasible
        else None
    )
    current = next(
        (i for i, (a, d) in enumerate(pairs) if (a, d) == (replay.approve_below, replay.decline_at_or_above)),
        None,
    )
    chosen_fairness = None
    if chosen is not None:
        chosen_fairness, _ = policy_fairness(
            replay,
            history,
            settings,
            approve_below=points[chosen].approve_below,
            decline_at_or_above=points[chosen].decline_at_or_above,
        )
    else:
        notes.append("no point of the grid meets every target")
    if history.outcome is None and targets.max_bad_rate_approved is not None:
        notes.append("the history has no outcomes, so the bad-rate target cannot be met at any point")
    notes.append(
        "figures per point carry no confidence intervals; the chosen point's fairness report has them"
    )
    return SweepResult(
        policy_name=replay.policy.name,
        policy_version=replay.policy.version,
        labels=outcome_names(replay),
        targets=targets,
        volume_per_day=volume,
        currency=history.currency,
        minor_digits=history.minor_digits,
        points=points,
        feasible=feasible,
        chosen=chosen,
        current=current,
        chosen_fairness=chosen_fairness,
        notes=notes,
    )


def _misses(point: dict, targets: SweepTargets) -> list[str]:
    misses = []
    if targets.max_bad_rate_approved is not None:
        rate = point["bad_rate_approved"]
        if rate is None:
            misses.append("bad rate among approvals unknown")
        elif rate > targets.max_bad_rate_approved:
            misses.append(f"bad rate among approvals {rate:.1%} > {targets.max_bad_rate_approved:.1%}")
    if targets.max_review_share is not None and point["review"] > targets.max_review_share:
        misses.append(f"review share {point['review']:.1%} > {targets.max_review_share:.1%}")
    if targets.min_approval_rate is not None and point["approve"] < targets.min_approval_rate:
        misses.append(f"approval rate {point['approve']:.1%} < {targets.min_approval_rate:.1%}")
    if targets.min_air is not None and point["min_air"] is not None and point["min_air"] < targets.min_air:
        misses.append(f"AIR {point['min_air']:.2f} ({point['min_air_group']}) < {targets.min_air:g}")
    return misses


def _groupings(
    history: History, attributes: Sequence[str] | None, intersections: bool
) -> tuple[list[Grouping], np.ndarray, int, dict[str, int], list[str]]:
    """Groups as in the fairness report: fine codes per case and each grouping's lookup."""
    groups = history.groups
    if attributes is not None:
        unknown = [a for a in attributes if a not in groups.columns]
        if unknown:
            raise InvalidInput(
                f"unknown protected attribute(s) {', '.join(map(repr, unknown))}; "
                f"the history has: {', '.join(map(str, groups.columns))}"
            )
        groups = groups[list(attributes)]
    settings = history.fairness_settings()
    declared = {k: v for k, v in settings["declared_groups"].items() if k in groups.columns}
    encoded, notes = encode_attributes(groups, declared)
    fine, fine_codes = combine(encoded)
    counts = np.bincount(fine, minlength=len(fine_codes))
    groupings = build_groupings(encoded, fine_codes, counts, intersections)
    references = {}
    for g in groupings:
        wanted = settings["reference_groups"].get(g.name)
        if wanted is None and len(g.members) == 2:
            parts = [settings["reference_groups"].get(m) for m in g.members]
            wanted = INTERSECTION_JOIN.join(parts) if all(parts) else None
        if wanted is not None and wanted in g.labels and g.total[g.labels.index(wanted)] > 0:
            references[g.name] = g.labels.index(wanted)
    return groupings, fine, len(fine_codes), references, notes


def _tables(
    replay: PolicyReplay,
    history: History,
    edges: np.ndarray,
    ia: np.ndarray,
    idd: np.ndarray,
    fine: np.ndarray,
    n_fine: int,
) -> _Tables:
    """Counts per point by (fine group, label) and outcome; fixed outcomes added to every point."""
    y = history.outcome
    label = np.full(len(fine), UNKNOWN_LABEL, dtype=np.int64)
    if y is not None:
        label = np.where(np.isnan(y), UNKNOWN_LABEL, y).astype(np.int64)
    free = replay.fixed < 0
    qa = replay.in_qa_sample.astype(np.int64)
    bins = len(edges) + 1
    # Threshold-decided cases: counts by (fine, label, qa, bin); bin = number of edges <= score.
    b = np.searchsorted(edges, replay.score[free], side="right")
    key = ((fine[free] * 3 + label[free]) * 2 + qa[free]) * bins + b
    counts = np.bincount(key, minlength=n_fine * 3 * 2 * bins).reshape(n_fine, 3, 2, bins).astype(np.float64)
    below = np.cumsum(counts, axis=3)  # below[..., k]: score < edges[k]
    total = below[..., -1:]
    approve_free = np.moveaxis(below[..., ia], 3, 0)  # (P, F, 3, 2)
    decline_free = np.moveaxis(total - below[..., idd], 3, 0)
    review_free = np.moveaxis(total, 3, 0) - approve_free - decline_free
    # The QA sample turns sampled automatic outcomes into reviews.
    to_review = np.zeros_like(approve_free)
    if APPROVE in replay.qa_outcomes:
        to_review[..., 1] += approve_free[..., 1]
        approve_free[..., 1] = 0
    if DECLINE in replay.qa_outcomes:
        to_review[..., 1] += decline_free[..., 1]
        decline_free[..., 1] = 0
    review_free = review_free + to_review
    # Cases whose outcome the thresholds do not change (rules, no score, invalid input).
    fixed_codes = replay.fixed[~free].astype(np.int64)
    if replay.qa_outcomes:
        sampled = replay.in_qa_sample[~free] & np.isin(fixed_codes, replay.qa_outcomes)
        fixed_codes = np.where(sampled, REVIEW, fixed_codes)
    fixed_key = (fine[~free] * 3 + label[~free]) * 4 + fixed_codes
    fixed = np.bincount(fixed_key, minlength=n_fine * 3 * 4).reshape(n_fine, 3, 4).astype(np.float64)
    expected = None
    if history.amount is not None:
        weight = replay.score * history.amount
        w_key = qa[free] * bins + b
        w = np.bincount(w_key, weights=weight[free], minlength=2 * bins).reshape(2, bins)
        w_below = np.cumsum(w, axis=1)
        approved_w = w_below[0, ia] + (0 if APPROVE in replay.qa_outcomes else w_below[1, ia])
        fixed_approved = ~free & (replay.fixed == APPROVE)
        if replay.qa_outcomes and APPROVE in replay.qa_outcomes:
            fixed_approved &= ~replay.in_qa_sample
        expected = approved_w + float(weight[fixed_approved].sum())
    return _Tables(
        approve=approve_free.sum(axis=3) + fixed[None, :, :, APPROVE],
        decline=decline_free.sum(axis=3) + fixed[None, :, :, DECLINE],
        review=review_free.sum(axis=3) + fixed[None, :, :, REVIEW],
        expected=expected,
    )


def _air(
    g: Grouping, approved: np.ndarray, decided: np.ndarray, reference: int | None, min_group_size: int
) -> tuple[list[list[float | None]], np.ndarray]:
    """AIR per point and group, and which groups the screen reads (large, known, not the reference)."""
    n_groups = len(g.labels)
    onehot = np.zeros((len(g.fine_to_group), n_groups))
    onehot[np.arange(len(g.fine_to_group)), g.fine_to_group] = 1.0
    a = approved @ onehot  # (P, G)
    n = decided @ onehot
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n > 0, a / n, np.nan)
    large = (n >= min_group_size) & ~g.unknown[None, :]
    rows = np.arange(len(rate))
    if reference is None:  # the group approved most often among those large enough to judge
        ref = np.argmax(np.where(large, rate, -1.0), axis=1)
        ref_ok = large[rows, ref]
        has_ref = ref_ok
    else:
        ref = np.full(len(rate), reference)
        ref_ok = large[:, reference]
        has_ref = n[:, reference] > 0
    ref_rate = rate[rows, ref]
    with np.errstate(divide="ignore", invalid="ignore"):
        air = np.where(has_ref[:, None] & (ref_rate[:, None] > 0), rate / ref_rate[:, None], np.nan)
    # The screen reads groups large enough, against a reference large enough, never the reference.
    screened = large & ref_ok[:, None] & ~np.isnan(air)
    screened[rows, ref] = False
    values = [[None if np.isnan(v) else float(v) for v in row] for row in air]
    return values, screened
