"""`fairness_report`: decisions and protected groups in, a typed fairness report out. No I/O.

How it runs (why it is fast): the inputs are encoded once to integer codes; for each stage the
cases are cut into cells (group combination x outcome x known label x has score), every figure
is a ratio of per-group sums of cell counts, and each bootstrap resample is a multinomial draw
of the cell counts (see `bootstrap.py`). Nothing loops over cases in Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from decision_review.errors import InvalidInput
from decision_review.fairness import metrics as m
from decision_review.fairness.bootstrap import resample_counts, resample_score_sums, tabulate
from decision_review.fairness.estimates import Figures, estimate, stream
from decision_review.fairness.groups import Grouping, build_groupings, combine, intersection_name
from decision_review.fairness.human import human_review_report
from decision_review.fairness.inputs import NOT_APPLIED, Encoded, encode
from decision_review.fairness.schemas import (
    AttributeReport,
    Calibration,
    FairnessReport,
    GroupMetrics,
    Screen,
    StageReport,
)
from decision_review.schemas import ProtectedAttribute

NO_LABEL_NOTE = "no label column: TPR, FPR, the equalised odds difference and calibration are not computed"
BOOTSTRAP_METHOD = (
    "percentile bootstrap, resampling all cases with replacement; drawn exactly as multinomial "
    "counts of (group combination x outcome x label) cells, with a normal approximation for "
    "score sums within a cell; each stage resampled independently"
)


@dataclass(frozen=True)
class _Config:
    min_group_size: int
    air_threshold: float
    confidence: float
    n_bootstrap: int
    has_label: bool
    has_calibration: bool


def fairness_report(
    decisions: pd.DataFrame,
    groups: pd.DataFrame,
    *,
    stages: Mapping[str, str] | None = None,
    label: str | None = None,
    score: str | None = None,
    reference_groups: Mapping[str, str] | None = None,
    intersections: bool = True,
    min_group_size: int = 30,
    air_threshold: float = 0.8,
    n_bootstrap: int = 500,
    confidence: float = 0.95,
    seed: int = 0,
    reviewer: str | None = None,
    override: str | None = None,
    human_stage: str = "human",
    declared_groups: Mapping[str, Sequence[str]] | None = None,
) -> FairnessReport:
    """Fairness figures per stage, protected attribute and group, each with a bootstrap interval.

    `decisions` has one row per case: one outcome column per stage ("approve", "decline",
    "review", or empty where the stage did not decide the case), optionally a known label
    (1 bad, 0 good, empty unknown), a calibrated P(bad) score, the reviewer and an override flag.
    `groups` has one column per protected attribute, same index. Small groups are kept and
    flagged, never dropped; every disclosure is in `notes`. `declared_groups` lists groups an
    attribute can take even if no case has them (they are reported with n = 0). `human_stage`
    names the stage whose outcomes the reviewer table uses.

    >>> d = pd.DataFrame({"final_outcome": ["approve", "decline", "approve", "approve"]})
    >>> g = pd.DataFrame({"sex": ["female", "female", "male", "male"]})
    >>> r = fairness_report(d, g, stages={"final": "final_outcome"}, min_group_size=1, n_bootstrap=0)
    >>> r.stage("final").attribute("sex").group("female").air.value
    0.5
    """
    _check_settings(min_group_size, air_threshold, n_bootstrap, confidence)
    enc = encode(
        decisions,
        groups,
        stages=stages,
        label=label,
        score=score,
        reviewer=reviewer,
        override=override,
        declared_groups=declared_groups,
    )
    fine, fine_codes = combine(enc.attributes)
    fine_counts = np.bincount(fine, minlength=len(fine_codes))
    groupings = build_groupings(enc.attributes, fine_codes, fine_counts, intersections)
    designated, reference_notes = _designated_references(reference_groups, groupings, intersections)
    cfg = _Config(
        min_group_size=min_group_size,
        air_threshold=air_threshold,
        confidence=confidence,
        n_bootstrap=n_bootstrap,
        has_label=enc.label is not None,
        has_calibration=enc.label is not None and enc.score is not None,
    )
    stage_reports = [
        _stage_report(name, column, outcome, enc, fine, len(fine_codes), groupings, designated, cfg, seed)
        for name, (column, outcome) in enc.stages.items()
    ]
    human = None
    if reviewer is not None or override is not None:
        human = human_review_report(
            enc,
            fine,
            len(fine_codes),
            groupings,
            human_stage=human_stage,
            reviewer_column=reviewer,
            override_column=override,
            min_group_size=min_group_size,
            n_bootstrap=n_bootstrap,
            confidence=confidence,
            seed=seed,
        )
    notes = [*enc.notes, *reference_notes]
    if label is None:
        notes.append(NO_LABEL_NOTE)
    for s in stage_reports:
        notes += [f"{s.stage}: {note}" for note in s.notes]
        for a in s.attributes:
            notes += [f"{s.stage} / {a.attribute}: {note}" for note in a.notes if note != NO_LABEL_NOTE]
    if human is not None:
        notes += [f"human review: {note}" for note in human.notes]
    return FairnessReport(
        n_cases=enc.n,
        attributes=[a.name for a in enc.attributes],
        stages=stage_reports,
        human_review=human,
        label_column=label,
        score_column=score,
        min_group_size=min_group_size,
        air_threshold=air_threshold,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        seed=seed,
        bootstrap_method=BOOTSTRAP_METHOD,
        notes=notes,
    )


def protected_attribute_settings(attributes: Sequence[ProtectedAttribute]) -> dict[str, dict]:
    """`reference_groups` and `declared_groups` for `fairness_report` from protected attribute specs.

    Why: the specs (in the model's input contract or a data set) already say which group is the
    reference and which groups exist, in their natural order (age bands young to old), so the
    report lists every declared group, even one with no cases, in that order.

    >>> from decision_review.schemas import ProtectedAttribute
    >>> protected_attribute_settings([ProtectedAttribute(
    ...     name="age_band", source="age", bins=[0, 25, 200], labels=["<25", "25+"], reference_group="25+")])
    {'reference_groups': {'age_band': '25+'}, 'declared_groups': {'age_band': ['<25', '25+']}}
    """
    declared: dict[str, list[str]] = {}
    for a in attributes:
        if a.labels is not None:
            declared[a.name] = list(a.labels)
        elif a.mapping is not None:
            declared[a.name] = list(dict.fromkeys(a.mapping.values()))
    return {
        "reference_groups": {a.name: a.reference_group for a in attributes if a.reference_group is not None},
        "declared_groups": declared,
    }


def _check_settings(min_group_size: int, air_threshold: float, n_bootstrap: int, confidence: float) -> None:
    if min_group_size < 1:
        raise InvalidInput(f"min_group_size must be at least 1, got {min_group_size}")
    if not 0 < air_threshold <= 1:
        raise InvalidInput(f"air_threshold must be in (0, 1], got {air_threshold}")
    if n_bootstrap < 0:
        raise InvalidInput(f"n_bootstrap must be 0 (no intervals) or more, got {n_bootstrap}")
    if not 0 < confidence < 1:
        raise InvalidInput(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence}")


def _designated_references(
    reference_groups: Mapping[str, str] | None, groupings: list[Grouping], intersections: bool
) -> tuple[dict[str, tuple[int, str]], list[str]]:
    """Check the caller's reference groups; derive an intersection's from its two members'."""
    by_name = {g.name: g for g in groupings}
    out: dict[str, tuple[int, str]] = {}
    notes: list[str] = []
    for attribute, group in (reference_groups or {}).items():
        if attribute not in by_name:
            attributes = [g.name for g in groupings if len(g.members) == 1]
            hint = "" if intersections else " (intersections are off)"
            raise InvalidInput(
                f"reference_groups names attribute {attribute!r}, which is not a protected attribute in the "
                f"groups frame{hint}; attributes: {', '.join(attributes)}"
            )
        g = by_name[attribute]
        if group not in g.labels:
            raise InvalidInput(
                f"reference group {group!r} is not a group of attribute {attribute!r}; "
                f"groups: {', '.join(g.labels)}"
            )
        index = g.labels.index(group)
        if g.total[index] == 0:
            with_cases = [lb for lb, t in zip(g.labels, g.total, strict=True) if t > 0]
            raise InvalidInput(
                f"reference group {group!r} of attribute {attribute!r} has no cases; choose one with cases "
                f"({', '.join(with_cases)}) or leave it out to use the group with the highest selection rate"
            )
        out[attribute] = (index, "designated")
    for g in groupings:
        if len(g.members) != 2 or g.name in out or not all(mb in out for mb in g.members):
            continue
        a, b = (by_name[mb] for mb in g.members)
        label = intersection_name([a.labels[out[a.name][0]], b.labels[out[b.name][0]]])
        index = g.labels.index(label)
        if g.total[index] > 0:
            out[g.name] = (index, "designated (both members)")
        else:
            notes.append(
                f"{g.name}: the combination of the designated reference groups ({label}) has no cases; "
                "the group with the highest selection rate is used instead"
            )
    return out, notes


def _figures(t: dict[str, np.ndarray], reference: int | None, cfg: _Config) -> dict[str, np.ndarray]:
    """Every figure from group totals; arrays are (B, G) or (B,) for attribute-level ones."""
    out = {
        "selection": m.ratio(t["approve"], t["n"]),
        "decline": m.ratio(t["decline"], t["n"]),
        "referral": m.ratio(t["review"], t["n"]),
    }
    out["air"] = (
        m.adverse_impact_ratio(t["approve"], t["n"], reference)
        if reference is not None
        else np.full_like(out["selection"], np.nan)
    )
    out["dpd"] = m.demographic_parity_difference(out["selection"])
    if cfg.has_label:
        out["tpr"] = m.ratio(t["approve_good"], t["good"])
        out["fpr"] = m.ratio(t["approve_bad"], t["bad"])
        out["eod"] = m.equalized_odds_difference(out["tpr"], out["fpr"])
    if cfg.has_calibration:
        out["cal_bad"] = m.ratio(t["cal_bad"], t["cal_n"])
        out["cal_mean"] = m.ratio(t["cal_score"], t["cal_n"])
        out["cal_gap"] = out["cal_bad"] - out["cal_mean"]
    return out


def _stage_report(
    stage: str,
    column: str,
    outcome: np.ndarray,
    enc: Encoded,
    fine: np.ndarray,
    n_fine: int,
    groupings: list[Grouping],
    designated: dict[str, tuple[int, str]],
    cfg: _Config,
    seed: int,
) -> StageReport:
    rng = stream(seed, f"stage:{stage}")
    scored = ~np.isnan(enc.score) if cfg.has_calibration and enc.score is not None else None
    key = m.stage_key(fine, n_fine, outcome, enc.label, scored)
    cells = tabulate(key, enc.score if scored is not None else None)
    cell_fine, indicators = m.stage_indicators(cells.keys, n_fine)
    # Row 0: the observed counts; rows 1..B: the resamples. With scores, the same rows again
    # holding score sums, so one sparse product per attribute gives every total.
    counts = np.vstack([cells.counts[None, :], resample_counts(cells.counts, cfg.n_bootstrap, rng)]).astype(
        float
    )
    rows = len(counts)
    if scored is not None:
        score_sums = np.vstack([counts[:1] * cells.score_mean, resample_score_sums(counts[1:], cells, rng)])
        counts = np.vstack([counts, score_sums])

    def totals(cell_group: np.ndarray, n_groups: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        t = m.group_totals(counts, cell_group, n_groups, indicators)
        if scored is not None:
            t = {k: v[:rows] for k, v in t.items()} | {"cal_score": t["cal_n"][rows:]}
        return {k: v[:1] for k, v in t.items()}, {k: v[1:] for k, v in t.items()}

    everyone = np.where(cell_fine >= 0, 0, -1)
    obs_all, boot_all = totals(everyone, 1)
    overall = Figures(_figures(obs_all, None, cfg), _figures(boot_all, None, cfg), cfg.confidence)
    n_applied = int(obs_all["n"][0, 0])
    notes: list[str] = []
    if n_applied == 0:
        notes.append(f"stage {stage!r} (column {column!r}) decided no case; every figure is undefined")
    attributes = []
    for g in groupings:
        cell_group = np.where(cell_fine >= 0, g.fine_to_group[np.clip(cell_fine, 0, None)], -1)
        obs, boot = totals(cell_group, len(g.labels))
        attributes.append(_attribute_report(g, obs, boot, designated.get(g.name), cfg))
    return StageReport(
        stage=stage,
        column=column,
        n=n_applied,
        n_not_applied=int((outcome == NOT_APPLIED).sum()),
        selection_rate=overall.get("selection", 0),
        referral_rate=overall.get("referral", 0),
        attributes=attributes,
        notes=notes,
    )


def _choose_reference(
    g: Grouping, n: np.ndarray, selection: np.ndarray, designated: tuple[int, str] | None, cfg: _Config
) -> tuple[int | None, str | None, list[str]]:
    """The designated reference, else the highest selection rate among large known groups."""
    if designated is not None:
        return designated[0], designated[1], []
    notes: list[str] = []
    candidates = (n >= cfg.min_group_size) & ~g.unknown
    if not candidates.any():
        candidates = (n > 0) & ~g.unknown
        if candidates.any():
            notes.append("no known group reaches min_group_size; the reference is chosen among small groups")
    if not candidates.any():
        return None, None, notes
    index = np.arange(len(n))
    order = np.lexsort((index, -n, -np.nan_to_num(selection, nan=-1.0)))
    best = next(int(i) for i in order if candidates[i])
    return best, "highest selection rate", notes


def _attribute_report(
    g: Grouping,
    obs: dict[str, np.ndarray],
    boot: dict[str, np.ndarray],
    designated: tuple[int, str] | None,
    cfg: _Config,
) -> AttributeReport:
    n = obs["n"][0].astype(np.int64)
    selection = m.ratio(obs["approve"], obs["n"])[0]
    reference, basis, notes = _choose_reference(g, n, selection, designated, cfg)
    fig = Figures(_figures(obs, reference, cfg), _figures(boot, reference, cfg), cfg.confidence)
    small = n < cfg.min_group_size
    good = obs["good"][0].astype(np.int64) if cfg.has_label else np.zeros_like(n)
    bad = obs["bad"][0].astype(np.int64) if cfg.has_label else np.zeros_like(n)
    group_reports = []
    passes: list[bool | None] = []
    for i, name in enumerate(g.labels):
        group_notes: list[str] = []
        if n[i] == 0:
            group_notes.append("no cases in this stage")
        elif small[i]:
            group_notes.append(
                f"small group: n = {n[i]} < {cfg.min_group_size}; shown, not used for the four-fifths verdict"
            )
        if cfg.has_label and n[i] > 0:
            if good[i] == 0:
                group_notes.append("no good applicant with a known outcome: TPR undefined")
            if bad[i] == 0:
                group_notes.append("no bad applicant with a known outcome: FPR undefined")
        air = fig.point["air"][i]
        verdict = None if i == reference or small[i] or np.isnan(air) else bool(air >= cfg.air_threshold)
        passes.append(verdict)
        calibration = None
        if cfg.has_calibration:
            calibration = Calibration(
                n=int(obs["cal_n"][0, i]),
                mean_score=fig.get("cal_mean", i),
                observed_bad_rate=fig.get("cal_bad", i),
                gap=fig.get("cal_gap", i),
            )
        group_reports.append(
            GroupMetrics(
                group=name,
                members=g.parts[i],
                n=int(n[i]),
                small=bool(small[i]),
                reference=i == reference,
                selection_rate=fig.get("selection", i),
                decline_rate=fig.get("decline", i),
                referral_rate=fig.get("referral", i),
                air=estimate(1.0) if i == reference else fig.get("air", i),
                passes_four_fifths=verdict,
                n_good=int(good[i]),
                n_bad=int(bad[i]),
                tpr=fig.get("tpr", i) if cfg.has_label else None,
                fpr=fig.get("fpr", i) if cfg.has_label else None,
                calibration=calibration,
                notes=group_notes,
            )
        )
    screen, failing, screen_notes = _screen(g, n, selection, reference, passes, cfg)
    notes += screen_notes
    empty = [g.labels[i] for i in range(len(n)) if n[i] == 0]
    smalls = [g.labels[i] for i in range(len(n)) if 0 < n[i] < cfg.min_group_size]
    if smalls:
        notes.append(f"small groups (n < {cfg.min_group_size}), shown but not screened: {', '.join(smalls)}")
    if empty:
        notes.append(f"groups with no cases in this stage: {', '.join(empty)}")
    unknown = [g.labels[i] for i in range(len(n)) if g.unknown[i] and n[i] > 0]
    if unknown:
        notes.append(f"groups with an unknown attribute value, shown but not screened: {', '.join(unknown)}")
    eod = None
    if cfg.has_label:
        eod = fig.get("eod")
        left_out = [g.labels[i] for i in range(len(n)) if n[i] > 0 and (good[i] == 0 or bad[i] == 0)]
        if left_out:
            notes.append(
                "left out of the equalised odds difference (no good or no bad applicant with a known "
                f"outcome): {', '.join(left_out)}"
            )
        if eod.value is None:
            notes.append("equalised odds difference undefined: no group has both good and bad known outcomes")
    else:
        notes.append(NO_LABEL_NOTE)
    return AttributeReport(
        attribute=g.name,
        members=g.members,
        reference_group=None if reference is None else g.labels[reference],
        reference_basis=basis,
        groups=group_reports,
        demographic_parity_difference=fig.get("dpd"),
        equalized_odds_difference=eod,
        screen=screen,
        failing_groups=failing,
        notes=notes,
    )


def _screen(
    g: Grouping,
    n: np.ndarray,
    selection: np.ndarray,
    reference: int | None,
    passes: list[bool | None],
    cfg: _Config,
) -> tuple[Screen, list[str], list[str]]:
    """Four-fifths verdict over the groups large enough to judge, with the reason when there is none."""
    if reference is None:
        return Screen.INSUFFICIENT, [], ["no known group has cases: nothing to compare"]
    ref = g.labels[reference]
    if n[reference] == 0:
        return Screen.INSUFFICIENT, [], [f"reference group {ref!r} has no cases in this stage"]
    if n[reference] < cfg.min_group_size:
        return (
            Screen.INSUFFICIENT,
            [],
            [
                f"reference group {ref!r} is small (n = {n[reference]} < {cfg.min_group_size}): "
                "its AIR is unreliable"
            ],
        )
    if selection[reference] == 0:
        return Screen.INSUFFICIENT, [], [f"reference group {ref!r} has no approvals: the AIR is undefined"]
    compared = [
        i for i in range(len(n)) if i != reference and n[i] >= cfg.min_group_size and not g.unknown[i]
    ]
    if not compared:
        return (
            Screen.INSUFFICIENT,
            [],
            [f"no group other than the reference has at least {cfg.min_group_size} cases"],
        )
    failing = [g.labels[i] for i in compared if passes[i] is False]
    return (Screen.FAIL if failing else Screen.PASS), failing, []
