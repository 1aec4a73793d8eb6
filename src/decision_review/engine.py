"""`decide`: one vectorised call that validates, scores, applies the policy and explains cases.

Why one path for every size: an online request is a batch of one, a backtest a batch of a million;
if they ran different code, the backtest would not predict what production does. Nothing here
loops over cases in Python, touches the database or knows HTTP: the services store what this
returns, the adapters format it.

Stages, each over the whole batch:
1. check the raw fields against the model's input contract (bad rows become error rows or, when
   the policy says so, reviews; never an exception);
2. score the valid rows (calibrated P(bad));
3. evaluate the policy (rules, thresholds, QA sample) on the valid rows;
4. when automatic decisions are switched off for the product line, turn approve/decline into review;
5. explain the rows that need it (review and decline, or all when asked).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import polars as pl

from decision_review.errors import InvalidInput
from decision_review.modeling.contract import CheckedCases
from decision_review.modeling.loaded import LoadedModel
from decision_review.modeling.registry import ModelRegistry
from decision_review.policy import CompiledPolicy, PolicyDocument, compile_policy, read_policy
from decision_review.schemas import Outcome, ReasonCode

ExplainMode = Literal["needed", "all", "none"]
INVALID_INPUT_RULE = "invalid_input"
AUTO_OFF_RULE = "auto_decisions_off"
AUTO_OFF_REASON = (
    "Automatic decisions are switched off for this product line; an underwriter decides every case."
)
NEEDS_EXPLANATION = (Outcome.REVIEW.value, Outcome.DECLINE.value)

# Columns of the decisions frame, in order (reason_k_* columns follow, k = 1..max_reasons).
DECISION_COLUMNS = [
    "case_id",
    "outcome",
    "score",
    "winning_rule",
    "rule_hits",
    "reason",
    "queue",
    "priority",
    "qa_sample",
    "auto_outcome",
    "error",
    "model_name",
    "model_version",
    "model_digest",
    "policy_name",
    "policy_version",
    "policy_digest",
    "approve_below",
    "decline_at_or_above",
]
REASON_PARTS = ("field", "code", "text", "contribution")


@dataclass
class Decisions:
    """What `decide` returns: one row per case, plus the full SHAP contributions of explained rows.

    `frame` columns: `DECISION_COLUMNS` then ``reason_{k}_{field,code,text,contribution}``.
    `contributions` holds, for explained rows only (same index labels as `frame`), one column per
    model-input field in calibrated log-odds; `base_values` the matching base value per row.
    `timings` are seconds spent per stage (check, score, policy, explain).
    """

    frame: pd.DataFrame
    contributions: pd.DataFrame
    base_values: pd.Series
    explainer: dict = field(default_factory=dict)
    unknown_columns: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame)

    def reasons(self, position: int) -> list[ReasonCode]:
        """Reason codes of the case at `position` (empty when it was not explained)."""
        row = self.frame.iloc[position]
        out = []
        for k in range(1, self.max_reasons + 1):
            name = row.get(f"reason_{k}_field")
            if isinstance(name, str):
                out.append(
                    ReasonCode(
                        field=name,
                        code=row[f"reason_{k}_code"],
                        text=row[f"reason_{k}_text"],
                        contribution=float(row[f"reason_{k}_contribution"]),
                    )
                )
        return out

    @property
    def max_reasons(self) -> int:
        return sum(1 for c in self.frame.columns if c.startswith("reason_") and c.endswith("_field"))


@dataclass(frozen=True, eq=False)
class DecisionEngine:
    """A model and the policy that uses it, ready to decide batches of raw cases.

    >>> registry = ModelRegistry("models")  # doctest: +SKIP
    >>> engine = DecisionEngine.from_policy_file("policies/german_credit.yaml", registry)  # doctest: +SKIP
    >>> engine.decide(cases).frame[["case_id", "outcome", "score", "winning_rule"]]  # doctest: +SKIP
    """

    model: LoadedModel
    policy: CompiledPolicy
    explain_reference: Literal["all_applicants", "near_cutoff"] = "all_applicants"
    max_reasons: int = 4

    def __post_init__(self) -> None:
        if (self.policy.model_name, self.policy.model_version) != (self.model.name, self.model.version):
            raise InvalidInput(
                f"policy {self.policy.name} v{self.policy.version} uses model "
                f"{self.policy.model_name} v{self.policy.model_version}, "
                f"not {self.model.name} v{self.model.version}"
            )

    @classmethod
    def from_policy_file(
        cls,
        path: str | Path,
        registry: ModelRegistry,
        *,
        explain_reference: Literal["all_applicants", "near_cutoff"] = "all_applicants",
        max_reasons: int = 4,
    ) -> DecisionEngine:
        """Load the policy file and the model version it names from the registry."""
        return cls.from_document(
            read_policy(path), registry, explain_reference=explain_reference, max_reasons=max_reasons
        )

    @classmethod
    def from_document(
        cls,
        document: PolicyDocument,
        registry: ModelRegistry,
        *,
        explain_reference: Literal["all_applicants", "near_cutoff"] = "all_applicants",
        max_reasons: int = 4,
    ) -> DecisionEngine:
        """Compile a schema-checked policy against the contract of the model it names."""
        ref = document.spec.model
        model = registry.load(ref.name, ref.version)
        policy = compile_policy(document, model.contract)
        return cls(model, policy, explain_reference=explain_reference, max_reasons=max_reasons)

    @property
    def product(self) -> str:
        return self.policy.product

    def decide(
        self,
        cases: pd.DataFrame,
        *,
        explain: ExplainMode = "needed",
        auto_decisions: bool = True,
    ) -> Decisions:
        """Decide every case in `cases` (raw fields plus the id column); one output row per input row.

        `explain`: "needed" explains review and decline outcomes, "all" every scored case, "none"
        nothing. `auto_decisions=False` is the product line's stop switch: every case that the
        policy would approve or decline automatically goes to review instead.
        """
        timings: dict[str, float] = {}
        ids = self._case_ids(cases)
        n = len(cases)

        with _timed(timings, "check"):
            checked = self.model.check(cases)
            valid = checked.valid & ids.notna().to_numpy()
            errors = checked.errors.copy()
            errors[ids.isna().to_numpy()] = f"the case has no {self.model.contract.id_field!r}"

        score = np.full(n, np.nan)
        with _timed(timings, "score"):
            if valid.any():
                score[valid] = self.model.predict_proba(checked.frame[valid])

        with _timed(timings, "policy"):
            decided = self._evaluate_policy(checked, ids, score, valid)
            frame = self._assemble(ids, score, errors.to_numpy(), valid, decided)
            if not auto_decisions:
                _switch_off_auto(frame, self.policy.spec.queue_for(None))

        with _timed(timings, "explain"):
            contributions, base_values, config = self._explain(checked.frame, frame, valid, explain)

        return Decisions(
            frame=frame,
            contributions=contributions,
            base_values=base_values,
            explainer=config,
            unknown_columns=checked.unknown_columns,
            timings=timings,
        )

    def _case_ids(self, cases: pd.DataFrame) -> pd.Series:
        id_field = self.model.contract.id_field
        if id_field not in cases.columns:
            raise InvalidInput(
                f"the cases have no {id_field!r} column: every case needs its own id "
                f"(columns given: {', '.join(map(str, cases.columns[:20]))})"
            )
        raw = cases[id_field]
        text = raw.astype("string").str.strip()
        return text.mask(text == "").reset_index(drop=True)

    def _evaluate_policy(
        self, checked: CheckedCases, ids: pd.Series, score: np.ndarray, valid: np.ndarray
    ) -> pl.DataFrame:
        """Run the policy over every row; rows that failed validation are then given the policy's
        invalid-input handling (so no scatter of results back into place is needed)."""
        needed = self.policy.input_columns
        id_field = self.model.contract.id_field
        engine_fields = {
            "score": score,
            "out_of_range": checked.out_of_range,
            "unseen_category": checked.unseen_category,
            "missing_count": checked.missing_count,
        }
        fields = [name for name in needed if name not in engine_fields and name != id_field]
        frame = pl.from_pandas(checked.frame[fields], include_index=False) if fields else pl.DataFrame()
        frame = frame.with_columns(
            # Rows without an id are invalid anyway; "" keeps the QA-sample hash defined for them.
            pl.Series(id_field, ids.to_numpy(dtype=object, na_value=""), dtype=pl.String),
            *[
                pl.Series(name, engine_fields[name], nan_to_null=True)
                for name in needed
                if name in engine_fields
            ],
        )
        decided = self.policy.evaluate(frame.select([pl.col(c).cast(t) for c, t in needed.items()]))
        return self._invalid_rows(decided, valid)

    def _invalid_rows(self, decided: pl.DataFrame, valid: np.ndarray) -> pl.DataFrame:
        """Rows that failed validation: an error, or a review when the policy says so; no rule hits."""
        handling = self.policy.spec.on_invalid_input
        to_review = handling.action == "review"
        ok = pl.Series("__valid", valid)
        invalid_values = {
            "outcome": pl.lit(Outcome.REVIEW.value if to_review else Outcome.ERROR.value),
            "winning_rule": pl.lit(INVALID_INPUT_RULE),
            "rule_hits": pl.lit([], dtype=pl.List(pl.String)),
            "reason": pl.lit(handling.reason if to_review else None, dtype=pl.String),
            "queue": pl.lit(
                self.policy.spec.queue_for(handling.queue) if to_review else None, dtype=pl.String
            ),
            "priority": pl.lit(handling.priority if to_review else None, dtype=pl.Int32),
            "qa_sample": pl.lit(False),
        }
        invalid_values["auto_outcome"] = invalid_values["outcome"]
        return decided.with_columns(ok).select(
            *[
                pl.when(pl.col("__valid")).then(pl.col(name)).otherwise(value).alias(name)
                for name, value in invalid_values.items()
            ]
        )

    def _assemble(
        self, ids: pd.Series, score: np.ndarray, errors: np.ndarray, valid: np.ndarray, decided: pl.DataFrame
    ) -> pd.DataFrame:
        frame = decided.to_pandas(use_pyarrow_extension_array=True)
        frame.insert(0, "case_id", ids.to_numpy(dtype=object, na_value=None))
        frame.insert(2, "score", score)
        for name in ("outcome", "winning_rule", "reason", "queue", "auto_outcome"):
            frame[name] = frame[name].astype("str")
        frame["priority"] = frame["priority"].astype("Int64")
        frame["qa_sample"] = frame["qa_sample"].astype(bool)
        frame["error"] = np.where(valid, None, errors)
        provenance = {
            "model_name": self.model.name,
            "model_version": self.model.version,
            "model_digest": self.model.digest,
            "policy_name": self.policy.name,
            "policy_version": self.policy.version,
            "policy_digest": self.policy.digest,
            "approve_below": self.policy.approve_below,
            "decline_at_or_above": self.policy.decline_at_or_above,
        }
        for name, value in provenance.items():
            frame[name] = value
        empty_text = pd.array(np.full(len(frame), None, dtype=object), dtype="str")
        for k in range(1, self.max_reasons + 1):
            for part in REASON_PARTS:
                frame[f"reason_{k}_{part}"] = np.nan if part == "contribution" else empty_text
        return frame[[*DECISION_COLUMNS, *frame.columns[len(DECISION_COLUMNS) :]]]

    def _explain(
        self, features: pd.DataFrame, frame: pd.DataFrame, valid: np.ndarray, mode: ExplainMode
    ) -> tuple[pd.DataFrame, pd.Series, dict]:
        inputs = self.model.contract.model_inputs
        if mode == "none":
            wanted = np.zeros(len(frame), dtype=bool)
        elif mode == "all":
            wanted = valid.copy()
        else:
            wanted = valid & frame["outcome"].isin(NEEDS_EXPLANATION).to_numpy()
        if not wanted.any():
            return pd.DataFrame(columns=inputs, dtype=float), pd.Series(dtype=float), {}
        rows = features[wanted]
        explanation = self.model.explain(
            rows,
            top_k=self.max_reasons,
            reference=self.explain_reference,
            cutoff=self.policy.approve_below if self.explain_reference == "near_cutoff" else None,
        )
        positions = np.flatnonzero(wanted)
        reasons = explanation.reason_frame()
        for k in range(1, self.max_reasons + 1):
            for part in REASON_PARTS:
                name = f"reason_{k}_{part}"
                if name in reasons.columns:
                    column = frame[name].to_numpy(
                        dtype=object if part != "contribution" else float, copy=True
                    )
                    column[positions] = reasons[name].to_numpy()
                    frame[name] = column if part == "contribution" else pd.array(column, dtype="str")
        contributions = explanation.contributions.set_axis(frame.index[positions])
        base_values = pd.Series(explanation.base_values, index=frame.index[positions], name="base_value")
        return contributions, base_values, explanation.config.model_dump(mode="json")


def _switch_off_auto(frame: pd.DataFrame, default_queue: str) -> None:
    """The stop switch: automatic approvals and declines go to review instead (in place)."""
    automatic = frame["outcome"].isin([Outcome.APPROVE.value, Outcome.DECLINE.value]).to_numpy()
    if not automatic.any():
        return
    frame.loc[automatic, "outcome"] = Outcome.REVIEW.value
    frame.loc[automatic, "winning_rule"] = AUTO_OFF_RULE
    frame.loc[automatic, "reason"] = AUTO_OFF_REASON
    frame.loc[automatic, "queue"] = default_queue
    frame.loc[automatic, "priority"] = 3


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start
