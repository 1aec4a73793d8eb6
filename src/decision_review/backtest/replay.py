"""Replaying policies over history: check and score once per model, evaluate once per policy.

Why not call `DecisionEngine.decide` per policy and per threshold: scoring is most of the cost of a
decision (a million cases take seconds), while a threshold only changes which side of a line a
score falls. So the expensive, threshold-free work is done once:

1. `score_cases`: the model's input check and calibrated score, once per model (a baseline on the
   same model reuses them);
2. `replay_policy`: the policy's rules, once per policy; what the rules decide does not depend on
   the thresholds (a rule may test the score, never the thresholds);
3. `PolicyReplay.outcome_codes(a, d)`: the outcome at any thresholds, from the score, the fixed
   rule outcomes and the QA-sample membership, in a few numpy passes.

The result equals `decide` case for case (tests/backtest/test_replay.py checks it at the
policy's thresholds and at other grid points, through the real engine). The precedence is the
policy language's (docs/policy-language.md, "Precedence"): a rule that fires wins; otherwise no
score -> review, score < approve_below -> approve, score >= decline_at_or_above -> decline, else
review; finally an automatic outcome whose case is in the QA sample becomes a review.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import polars as pl

from decision_review.errors import InvalidInput
from decision_review.modeling.contract import CheckedCases
from decision_review.modeling.loaded import LoadedModel
from decision_review.policy import CompiledPolicy
from decision_review.policy.sampling import in_sample
from decision_review.policy.spec import QA_SAMPLE, THRESHOLD_APPROVE, THRESHOLD_DECLINE, THRESHOLD_REVIEW
from decision_review.schemas import Outcome

# Outcome codes, the same as decision_review.fairness.inputs (error = "not decided").
APPROVE, DECLINE, REVIEW, ERROR = 0, 1, 2, 3
OUTCOMES = (Outcome.APPROVE.value, Outcome.DECLINE.value, Outcome.REVIEW.value, Outcome.ERROR.value)
INVALID_INPUT_RULE = "invalid_input"  # as the engine records it
_CODE = {name: code for code, name in enumerate(OUTCOMES)}
_THRESHOLD_RULES = (THRESHOLD_APPROVE, THRESHOLD_DECLINE, THRESHOLD_REVIEW)


@dataclass(frozen=True, eq=False)
class ScoredCases:
    """Cases checked against a model's input contract and scored, once.

    `ids` are the case ids, trimmed, null where missing or blank. `valid` rows passed the check and
    carry an id; `score` is the calibrated P(bad) (NaN for invalid rows); `errors` holds the
    engine's message for each invalid row (None for valid ones).
    """

    model: LoadedModel
    ids: pl.Series
    checked: CheckedCases
    valid: np.ndarray
    errors: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.score)


def score_cases(model: LoadedModel, cases: pd.DataFrame) -> ScoredCases:
    """Check and score raw cases exactly as the engine does (ids trimmed, blank id = invalid)."""
    id_field = model.contract.id_field
    if id_field not in cases.columns:
        raise InvalidInput(
            f"the history has no {id_field!r} column: every case needs its own id "
            f"(columns given: {', '.join(map(str, cases.columns[:20]))})"
        )
    text = pl.from_pandas(cases[id_field].astype("string").reset_index(drop=True)).str.strip_chars()
    ids = text.set(text == "", None).rename(id_field) if (text == "").any() else text.rename(id_field)
    checked = model.check(cases)
    no_id = ids.is_null().to_numpy()
    valid = checked.valid & ~no_id
    errors = checked.errors.to_numpy(dtype=object, na_value=None).copy()
    errors[no_id] = f"the case has no {id_field!r}"
    score = np.full(len(cases), np.nan)
    if valid.any():
        frame = checked.frame if valid.all() else checked.frame[valid]
        score[valid] = model.predict_proba(frame)
    return ScoredCases(model=model, ids=ids, checked=checked, valid=valid, errors=errors, score=score)


@dataclass(frozen=True, eq=False)
class PolicyReplay:
    """One policy over scored cases: its decisions, and its outcome at any other thresholds.

    `decided` has the engine's per-case columns (outcome, winning_rule, rule_hits, reason, queue,
    priority, qa_sample, auto_outcome) at the policy's own thresholds; `auto_rule` the rule (or
    threshold) that decided before the QA sample. `fixed` is the outcome code
    each case gets whatever the thresholds (a rule fired, no score, or invalid input), -1 where
    the thresholds decide; `in_qa_sample` marks valid cases whose id the QA sample picks.
    """

    policy: CompiledPolicy
    scored: ScoredCases
    decided: pl.DataFrame
    auto_rule: pl.Series
    fixed: np.ndarray
    in_qa_sample: np.ndarray
    qa_outcomes: tuple[int, ...]

    @property
    def score(self) -> np.ndarray:
        return self.scored.score

    @property
    def approve_below(self) -> float:
        return self.policy.approve_below

    @property
    def decline_at_or_above(self) -> float:
        return self.policy.decline_at_or_above

    @cached_property
    def outcome(self) -> np.ndarray:
        """Outcome codes at the policy's own thresholds (what `decide` returns)."""
        return _codes(self.decided.get_column("outcome"))

    def outcome_codes(self, approve_below: float, decline_at_or_above: float) -> np.ndarray:
        """The engine's outcome code for every case had the thresholds been these (int8)."""
        _check_thresholds(approve_below, decline_at_or_above)
        auto = self.fixed.copy()
        free = auto < 0
        s = self.score[free]
        auto[free] = np.where(s < approve_below, APPROVE, np.where(s >= decline_at_or_above, DECLINE, REVIEW))
        if self.qa_outcomes:
            sampled = self.in_qa_sample & np.isin(auto, self.qa_outcomes)
            auto[sampled] = REVIEW
        return auto

    def decisions_at(self, approve_below: float, decline_at_or_above: float) -> pd.DataFrame:
        """Outcome, winning rule and QA flag per case at these thresholds (as `decide` would give)."""
        _check_thresholds(approve_below, decline_at_or_above)
        auto = self.fixed.copy()
        free = auto < 0
        s = self.score[free]
        auto[free] = np.where(s < approve_below, APPROVE, np.where(s >= decline_at_or_above, DECLINE, REVIEW))
        rule = self.auto_rule.to_numpy().astype(object)
        rule[free] = np.asarray(_THRESHOLD_RULES, dtype=object)[auto[free]]
        sampled = (
            self.in_qa_sample & np.isin(auto, self.qa_outcomes)
            if self.qa_outcomes
            else np.zeros(len(auto), bool)
        )
        outcome = np.where(sampled, REVIEW, auto)
        rule = np.where(sampled, QA_SAMPLE, rule)
        return pd.DataFrame(
            {
                "case_id": self.scored.ids.to_numpy(),
                "outcome": np.asarray(OUTCOMES, dtype=object)[outcome],
                "winning_rule": rule,
                "qa_sample": sampled,
                "auto_outcome": np.asarray(OUTCOMES, dtype=object)[auto],
            }
        )

    def model_codes(self, approve_below: float, decline_at_or_above: float) -> np.ndarray:
        """The model-only stage: the score alone against the thresholds; ERROR where no score."""
        s = self.score
        out = np.where(s < approve_below, APPROVE, np.where(s >= decline_at_or_above, DECLINE, REVIEW))
        return np.where(np.isnan(s), ERROR, out).astype(np.int8)


def replay_policy(policy: CompiledPolicy, scored: ScoredCases) -> PolicyReplay:
    """Evaluate `policy` once over `scored` cases; the policy must use the model that scored them."""
    model = scored.model
    if (policy.model_name, policy.model_version) != (model.name, model.version):
        raise InvalidInput(
            f"policy {policy.name} v{policy.version} uses model {policy.model_name} "
            f"v{policy.model_version}, but the cases were scored by {model.name} v{model.version}"
        )
    decided = policy.evaluate(_policy_frame(policy, scored))
    valid = scored.valid
    if not valid.all():
        decided = _invalid_rows(policy, decided, valid)
    auto_rule = decided.get_column("auto_rule")
    auto = _codes(decided.get_column("auto_outcome"))
    threshold_decided = valid & auto_rule.is_in(list(_THRESHOLD_RULES)).to_numpy()
    fixed = np.where(threshold_decided, -1, auto).astype(np.int8)
    # What the fixed cases would be before any QA sample: the auto outcome; the QA sample is
    # re-applied by outcome_codes, so a sampled rule decision keeps its rule's outcome here.
    qa = policy.table.qa_sample
    in_qa = np.zeros(len(scored), dtype=bool)
    qa_outcomes: tuple[int, ...] = ()
    if qa is not None:
        rows = np.flatnonzero(valid)
        in_qa[rows] = in_sample(qa.seed, qa.rate, scored.ids.gather(rows))
        qa_outcomes = tuple(_CODE[o] for o in qa.outcomes)
    return PolicyReplay(
        policy=policy,
        scored=scored,
        decided=decided.drop("auto_rule"),
        auto_rule=auto_rule,
        fixed=fixed,
        in_qa_sample=in_qa,
        qa_outcomes=qa_outcomes,
    )


def _policy_frame(policy: CompiledPolicy, scored: ScoredCases) -> pl.DataFrame:
    """The columns the policy reads, in its types: the id, the engine fields and the checked fields."""
    checked = scored.checked
    id_field = scored.model.contract.id_field
    engine_fields = {
        "score": scored.score,
        "out_of_range": checked.out_of_range,
        "unseen_category": checked.unseen_category,
        "missing_count": checked.missing_count,
    }
    fields = [n for n in policy.input_columns if n != id_field and n not in engine_fields]
    base = pl.from_pandas(checked.frame[fields].reset_index(drop=True)) if fields else pl.DataFrame()
    columns: list[pl.Series] = []
    for name, dtype in policy.input_columns.items():
        if name == id_field:
            # Rows without an id are invalid anyway; "" keeps the QA-sample hash defined for them.
            column = scored.ids.fill_null("").rename(name)
        elif name in engine_fields:
            column = pl.Series(name, engine_fields[name], nan_to_null=True)
        else:
            column = base.get_column(name)
        columns.append(column if column.dtype == dtype else column.cast(dtype))
    return pl.DataFrame(columns)


def _invalid_rows(policy: CompiledPolicy, decided: pl.DataFrame, valid: np.ndarray) -> pl.DataFrame:
    """The policy's invalid-input handling: an error, or a review; no rule hits, never sampled."""
    handling = policy.spec.on_invalid_input
    to_review = handling.action == "review"
    outcome = Outcome.REVIEW.value if to_review else Outcome.ERROR.value
    values = {
        "outcome": pl.lit(outcome),
        "winning_rule": pl.lit(INVALID_INPUT_RULE),
        "rule_hits": pl.lit([], dtype=pl.List(pl.String)),
        "reason": pl.lit(handling.reason if to_review else None, dtype=pl.String),
        "queue": pl.lit(policy.spec.queue_for(handling.queue) if to_review else None, dtype=pl.String),
        "priority": pl.lit(handling.priority if to_review else None, dtype=pl.Int32),
        "qa_sample": pl.lit(False),
        "auto_outcome": pl.lit(outcome),
        "auto_rule": pl.lit(INVALID_INPUT_RULE),
    }
    ok = pl.Series("__valid", valid)
    return decided.with_columns(ok).select(
        *[pl.when(pl.col("__valid")).then(pl.col(n)).otherwise(v).alias(n) for n, v in values.items()]
    )


def _codes(outcomes: pl.Series) -> np.ndarray:
    lookup = pl.Series(list(OUTCOMES), dtype=pl.String)
    return outcomes.replace_strict(lookup, pl.Series(range(len(OUTCOMES)), dtype=pl.Int8)).to_numpy()


def _check_thresholds(approve_below: float, decline_at_or_above: float) -> None:
    if not (0.0 <= approve_below <= decline_at_or_above <= 1.0):
        raise InvalidInput(
            f"thresholds must satisfy 0 <= approve_below <= decline_at_or_above <= 1, got "
            f"approve_below={approve_below}, decline_at_or_above={decline_at_or_above}"
        )
