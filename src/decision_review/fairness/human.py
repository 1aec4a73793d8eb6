"""Human review: override rates by protected group, and approval/decline/override rates by reviewer.

Why a section of its own: people can introduce bias too. The stage sections already compare
the human stage's approval rates between groups; this adds who changed the machine's outcome
(overrides) for which groups, and how each reviewer decides, overall and within each group.
The bootstrap works as for the stages (multinomial counts of cells; see `bootstrap.py`).
"""

from __future__ import annotations

import numpy as np

from decision_review.fairness import metrics as m
from decision_review.fairness.bootstrap import resample_counts, tabulate
from decision_review.fairness.estimates import Figures, stream
from decision_review.fairness.groups import Grouping
from decision_review.fairness.inputs import APPROVE, DECLINE, NOT_APPLIED, Encoded
from decision_review.fairness.schemas import HumanReviewReport, OverrideAttribute, OverrideGroup, ReviewerRow

# Cell layout: fine group combination x reviewer (+1: none) x human outcome (4) x override (3:
# not recorded / false / true); cases with neither a reviewer nor an override flag go to a sink.
_OUTCOMES, _FLAGS = 4, 3


class _Cells:
    """The resampled cells of the human review unit and what each cell counts towards."""

    def __init__(
        self, enc: Encoded, fine: np.ndarray, n_fine: int, human: np.ndarray, n_bootstrap: int, seed: int
    ):
        n_reviewers = len(enc.reviewer_levels or [])
        reviewer = enc.reviewer if enc.reviewer is not None else np.full(enc.n, -1, dtype=np.int64)
        flag = enc.override if enc.override is not None else np.full(enc.n, -1, dtype=np.int64)
        width = (n_reviewers + 1) * _OUTCOMES * _FLAGS
        sink = n_fine * width
        key = fine * width + ((reviewer + 1) * _OUTCOMES + human) * _FLAGS + (flag + 1)
        cells = tabulate(np.where((reviewer < 0) & (flag < 0), sink, key))
        is_sink = cells.keys == sink
        cell_fine, rest = np.divmod(cells.keys, width)
        cell_reviewer, rest = np.divmod(rest, _OUTCOMES * _FLAGS)
        outcome, cell_flag = np.divmod(rest, _FLAGS)
        self.fine = np.where(is_sink, -1, cell_fine)
        self.reviewer = np.where(is_sink, -1, cell_reviewer - 1)
        self.flag = np.where(is_sink, -1, cell_flag - 1)
        reviewed = self.reviewer >= 0
        decided = reviewed & (outcome != NOT_APPLIED)
        self.by_reviewer = {
            "n": reviewed,
            "decided": decided,
            "approve": decided & (outcome == APPROVE),
            "decline": decided & (outcome == DECLINE),
            "flag_n": reviewed & (self.flag >= 0),
            "flag": reviewed & (self.flag == 1),
        }
        nothing = np.zeros(len(cells.keys), dtype=bool)
        self.by_group = {
            "n": self.flag >= 0,
            "decided": nothing,
            "approve": nothing,
            "decline": nothing,
            "flag_n": self.flag >= 0,
            "flag": self.flag == 1,
        }
        self.observed = cells.counts[None, :].astype(float)
        self.resampled = resample_counts(cells.counts, n_bootstrap, stream(seed, "human review")).astype(
            float
        )

    def rates(
        self, cell_group: np.ndarray, n_groups: int, which: dict[str, np.ndarray], confidence: float
    ) -> tuple[np.ndarray, Figures]:
        """(cases per group, approval/decline/override figures per group)."""
        indicators = {k: v.astype(float) for k, v in which.items()}
        observed = m.group_totals(self.observed, cell_group, n_groups, indicators)
        resampled = m.group_totals(self.resampled, cell_group, n_groups, indicators)
        figures = Figures(_rates(observed), _rates(resampled), confidence)
        return observed["n"][0].astype(np.int64), figures

    def group_of(self, g: Grouping) -> np.ndarray:
        return np.where(self.fine >= 0, g.fine_to_group[np.clip(self.fine, 0, None)], -1)


def _rates(t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {
        "approval": m.ratio(t["approve"], t["decided"]),
        "decline": m.ratio(t["decline"], t["decided"]),
        "override": m.ratio(t["flag"], t["flag_n"]),
    }


def human_review_report(
    enc: Encoded,
    fine: np.ndarray,
    n_fine: int,
    groupings: list[Grouping],
    *,
    human_stage: str,
    reviewer_column: str | None,
    override_column: str | None,
    min_group_size: int,
    n_bootstrap: int,
    confidence: float,
    seed: int,
) -> HumanReviewReport:
    """Overrides by group (every attribute and intersection) and a reviewer table (overall and by group)."""
    notes: list[str] = []
    has_human = human_stage in enc.stages
    has_flag = enc.override is not None
    if has_human:
        human = enc.stages[human_stage][1]
    else:
        human = np.full(enc.n, NOT_APPLIED, dtype=np.int64)
        if reviewer_column is not None:
            notes.append(
                f"no stage named {human_stage!r}: reviewers' approval and decline rates are not computed"
            )
    cells = _Cells(enc, fine, n_fine, human, n_bootstrap, seed)

    overrides_by_group: list[OverrideAttribute] = []
    if has_flag:
        for g in groupings:
            n, fig = cells.rates(cells.group_of(g), len(g.labels), cells.by_group, confidence)
            groups = [
                OverrideGroup(
                    group=label,
                    members=g.parts[i],
                    n=int(n[i]),
                    small=bool(n[i] < min_group_size),
                    override_rate=fig.get("override", i),
                )
                for i, label in enumerate(g.labels)
            ]
            overrides_by_group.append(OverrideAttribute(attribute=g.name, members=g.members, groups=groups))

    def row(
        name: str, n: int, fig: Figures, i: int, attribute: str | None = None, group: str | None = None
    ) -> ReviewerRow:
        return ReviewerRow(
            reviewer=name,
            attribute=attribute,
            group=group,
            n=n,
            small=n < min_group_size,
            approval_rate=fig.get("approval", i) if has_human else None,
            decline_rate=fig.get("decline", i) if has_human else None,
            override_rate=fig.get("override", i) if has_flag else None,
        )

    reviewers: list[ReviewerRow] = []
    reviewers_by_group: list[ReviewerRow] = []
    if reviewer_column is not None:
        names = enc.reviewer_levels or []
        if not names:
            notes.append(f"reviewer column {reviewer_column!r} names no reviewer")
        n, fig = cells.rates(cells.reviewer, len(names), cells.by_reviewer, confidence)
        reviewers = [row(name, int(n[i]), fig, i) for i, name in enumerate(names)]
        for g in groupings:
            if len(g.members) != 1:
                continue
            width = len(g.labels)
            cell_group = np.where(cells.reviewer >= 0, cells.reviewer * width + cells.group_of(g), -1)
            n, fig = cells.rates(cell_group, len(names) * width, cells.by_reviewer, confidence)
            reviewers_by_group += [
                row(name, int(n[r * width + j]), fig, r * width + j, g.name, label)
                for r, name in enumerate(names)
                for j, label in enumerate(g.labels)
                if n[r * width + j] > 0
            ]
        small = [r.reviewer for r in reviewers if r.small]
        if small:
            notes.append(f"reviewers with fewer than {min_group_size} reviewed cases: {', '.join(small)}")
    return HumanReviewReport(
        human_stage=human_stage if has_human else None,
        reviewer_column=reviewer_column,
        override_column=override_column,
        overrides_by_group=overrides_by_group,
        reviewers=reviewers,
        reviewers_by_group=reviewers_by_group,
        notes=notes,
    )
