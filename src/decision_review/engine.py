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
5. explain the rows that need it (review and decline, or all when asked);
6. assemble the decisions frame (its own entry in `Decisions.timings`).

Speed. For a million cases the cost is arithmetic; for one case it is the number of library calls
(each pandas, polars, Arrow or xgboost call costs tens of microseconds whatever its size). So each
stage makes a fixed handful of calls: the check works across fields at once on numpy and Arrow
arrays (`CaseChecker`), the model matrix is encoded once for scoring and explaining, the policy
reads those arrays as polars columns, and the frame is built once from blocks. The policy's own
polars query is the largest remaining part of one case.

Threads. xgboost predicts and explains batches under `estimator.SMALL_BATCH` rows (1,000) on a
one-thread copy of the booster, larger ones on `n_jobs` threads: waking an OpenMP team costs more
than a few hundred cases, and on a busy machine its waiting threads spin against other processes.
Polars keeps its default pool (every core), which bulk runs use; limiting it
(``POLARS_MAX_THREADS=1``) made no measurable difference to one case here. An API server running
one worker process per core may still set ``POLARS_MAX_THREADS=1`` and ``OMP_NUM_THREADS=1`` in
those workers so idle pools do not oversubscribe the cores; bulk and backtest processes should not.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.internals import create_dataframe_from_blocks

from decision_review.errors import InvalidInput
from decision_review.modeling.contract import CheckedColumns, text_array
from decision_review.modeling.explain import ExplainerConfig, Explanation
from decision_review.modeling.loaded import LoadedModel
from decision_review.modeling.registry import ModelRegistry
from decision_review.policy import CompiledPolicy, PolicyDocument, compile_policy, read_policy
from decision_review.schemas import ENGINE_FIELDS, FieldKind, Outcome, ReasonCode

ExplainMode = Literal["needed", "all", "none"]
INVALID_INPUT_RULE = "invalid_input"
AUTO_OFF_RULE = "auto_decisions_off"
AUTO_OFF_REASON = (
    "Automatic decisions are switched off for this product line; an underwriter decides every case."
)
NEEDS_EXPLANATION = (Outcome.REVIEW.value, Outcome.DECLINE.value)
_NEEDS_EXPLANATION = pa.array(NEEDS_EXPLANATION, type=pa.large_string())
_NO_ID = pa.scalar("", type=pa.large_string())

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


@dataclass
class Decisions:
    """What `decide` returns: one row per case, plus the full SHAP contributions of explained rows.

    `frame` columns: `DECISION_COLUMNS` then ``reason_{k}_{field,code,text,contribution}``.
    `contributions` holds, for explained rows only (same index labels as `frame`), one column per
    model-input field in calibrated log-odds; `base_values` the matching base value per row.
    `timings` are seconds spent per stage (check, score, policy, explain, assemble).
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
        self._require_ids(cases)
        n = len(cases)

        with _timed(timings, "check"):
            checked = self.model.check_columns(cases, ids=True)
            no_id = checked.ids.is_null().to_numpy(zero_copy_only=False)
            errors = checked.errors
            if no_id.any():
                errors = errors.copy()
                errors[no_id] = f"the case has no {self.model.contract.id_field!r}"
            valid = checked.valid & ~no_id

        score = np.full(n, np.nan)
        with _timed(timings, "score"):
            # The model matrix holds the valid rows only (all rows, without a copy, when all are).
            matrix = self.model.encode(checked, None if valid.all() else valid)
            if len(matrix):
                score[valid] = self.model.predict_proba_matrix(matrix)

        with _timed(timings, "policy"):
            decided = self._evaluate_policy(checked, score, valid)
            if not auto_decisions:
                decided = _switch_off_auto(decided, self.policy.spec.queue_for(None))

        with _timed(timings, "explain"):
            explained, explanation = self._explain(matrix, valid, decided, explain)

        with _timed(timings, "assemble"):
            frame = self._assemble(checked.ids, score, errors, valid, decided, explained, explanation)
            contributions, base_values, config = self._explanation_parts(explanation)

        return Decisions(
            frame=frame,
            contributions=contributions,
            base_values=base_values,
            explainer=config,
            unknown_columns=checked.unknown_columns,
            timings=timings,
        )

    def _require_ids(self, cases: pd.DataFrame) -> None:
        id_field = self.model.contract.id_field
        if id_field not in cases.columns:
            raise InvalidInput(
                f"the cases have no {id_field!r} column: every case needs its own id "
                f"(columns given: {', '.join(map(str, cases.columns[:20]))})"
            )

    def _evaluate_policy(self, checked: CheckedColumns, score: np.ndarray, valid: np.ndarray) -> pl.DataFrame:
        """Run the policy over every row; rows that failed validation are then given the policy's
        invalid-input handling (so no scatter of results back into place is needed).

        The policy reads the checked columns directly: Arrow text and numpy numbers become polars
        columns, and no pandas frame is built on the way.
        """
        sources = {
            # Rows without an id are invalid anyway; "" keeps the QA-sample hash defined for them.
            "id": pc.fill_null(checked.ids, _NO_ID),
            "score": score,
            "out_of_range": checked.out_of_range,
            "unseen_category": checked.unseen_category,
            "missing_count": checked.missing_count,
        }
        columns = []
        for name, source, cast in self._policy_columns:
            if source == "number":
                column = pl.Series(name, checked.numbers[name], nan_to_null=True)
            elif source == "text":
                column = pl.Series(name, checked.texts[name])
            else:
                column = pl.Series(name, sources[source], nan_to_null=source == "score")
            columns.append(column if cast is None else column.cast(cast))
        decided = self.policy.evaluate(pl.DataFrame(columns))
        return decided if valid.all() else self._invalid_rows(decided, valid)

    @cached_property
    def _policy_columns(self) -> list[tuple[str, str, pl.DataType | None]]:
        """For each column the policy reads: its name, where its values come from, and the type to
        cast them to when the policy declares another type than they have (worked out once)."""
        contract = self.model.contract
        numbers = {f.name for f in contract.fields if f.kind is FieldKind.NUMERIC}
        own_types = {
            "id": pl.String(),
            "score": pl.Float64(),
            "out_of_range": pl.Boolean(),
            "unseen_category": pl.Boolean(),
            "missing_count": pl.Int64(),
            "number": pl.Float64(),
            "text": pl.String(),
        }
        plan = []
        for name, dtype in self.policy.input_columns.items():
            if name == contract.id_field:
                source = "id"
            elif name in ENGINE_FIELDS:
                source = name
            else:
                source = "number" if name in numbers else "text"
            plan.append((name, source, None if own_types[source] == dtype else dtype))
        return plan

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
        self,
        ids: pa.Array,
        score: np.ndarray,
        errors: np.ndarray,
        valid: np.ndarray,
        decided: pl.DataFrame,
        explained: np.ndarray,
        explanation: Explanation | None,
    ) -> pd.DataFrame:
        """The decisions frame, built once from Arrow and numpy columns (text columns without a copy)."""
        n = len(score)

        def text(name: str) -> pd.api.extensions.ExtensionArray:
            return text_array(decided.get_column(name).to_arrow())

        priority = decided.get_column("priority").to_numpy()  # float, NaN where there is none
        no_priority = np.isnan(priority)
        columns = {
            "case_id": text_array(ids),
            "outcome": text("outcome"),
            "score": score,
            "winning_rule": text("winning_rule"),
            "rule_hits": pd.arrays.ArrowExtensionArray(decided.get_column("rule_hits").to_arrow()),
            "reason": text("reason"),
            "queue": text("queue"),
            "priority": pd.arrays.IntegerArray(
                np.where(no_priority, 0, priority).astype(np.int64), no_priority
            ),
            "qa_sample": decided.get_column("qa_sample").to_numpy().copy(),
            "auto_outcome": text("auto_outcome"),
            # Text when some row has an error; otherwise no value at all (None), as pandas would infer.
            "error": np.full(n, None, dtype=object)
            if valid.all()
            else text_array(pa.array(errors, pa.large_string())),
            "model_name": _repeat_text(self.model.name, n),
            "model_version": np.full(n, self.model.version, dtype=np.int64),
            "model_digest": _repeat_text(self.model.digest, n),
            "policy_name": _repeat_text(self.policy.name, n),
            "policy_version": np.full(n, self.policy.version, dtype=np.int64),
            "policy_digest": _repeat_text(self.policy.digest, n),
            "approve_below": np.full(n, self.policy.approve_below, dtype=float),
            "decline_at_or_above": np.full(n, self.policy.decline_at_or_above, dtype=float),
        }
        columns.update(self._reason_columns(n, explained, explanation))
        return _frame(columns, n)

    def _reason_columns(self, n: int, explained: np.ndarray, explanation: Explanation | None) -> dict:
        """reason_{k}_{field,code,text,contribution}: whole columns, taken from small Arrow tables."""
        texts = self._reason_texts
        k = self.max_reasons
        contributions = np.full((k, n), np.nan)
        if explanation is None:  # every slot empty: one array of nulls serves every column
            empty = pa.nulls(k * n, type=pa.large_string())
            taken = dict.fromkeys(texts, empty)
        else:
            # Slot j of row i is entry j * n + i: one take per part, then zero-copy slices per slot.
            slots = np.full((k, n), len(texts["field"]) - 1)
            positions = np.flatnonzero(explained)
            slots[:, positions] = explanation.top_positions.T
            contributions[:, positions] = explanation.top_contributions.T
            taken = {part: table.take(slots.reshape(-1)) for part, table in texts.items()}
        columns: dict = {}
        for j in range(k):
            for part in ("field", "code", "text"):
                columns[f"reason_{j + 1}_{part}"] = text_array(taken[part].slice(j * n, n))
            columns[f"reason_{j + 1}_contribution"] = contributions[j]
        return columns

    def _explain(
        self, matrix: np.ndarray, valid: np.ndarray, decided: pl.DataFrame, mode: ExplainMode
    ) -> tuple[np.ndarray, Explanation | None]:
        """The rows to explain (a mask over all rows) and their explanation, if any."""
        if mode == "none":
            wanted = np.zeros(len(valid), dtype=bool)
        elif mode == "all":
            wanted = valid.copy()
        else:
            outcome = decided.get_column("outcome").to_arrow()
            wanted = valid & pc.is_in(outcome, value_set=_NEEDS_EXPLANATION).to_numpy(zero_copy_only=False)
        if not wanted.any():
            return wanted, None
        positions = np.flatnonzero(wanted)
        rows = matrix if wanted.all() else matrix[np.flatnonzero(wanted[valid])]
        explanation = self.model.explainer.explain_matrix(
            rows,
            pd.RangeIndex(len(valid))[positions],
            top_k=self.max_reasons,
            reference=self.explain_reference,
            cutoff=self.policy.approve_below if self.explain_reference == "near_cutoff" else None,
        )
        return wanted, explanation

    def _explanation_parts(self, explanation: Explanation | None) -> tuple[pd.DataFrame, pd.Series, dict]:
        """`Decisions.contributions`, `.base_values` and `.explainer` (empty when nothing was explained)."""
        if explanation is None:
            inputs = self.model.contract.model_inputs
            return pd.DataFrame(columns=inputs, dtype=float), pd.Series(dtype=float), {}
        index = explanation.contributions.index
        base_values = pd.Series(explanation.base_values, index=index, name="base_value")
        return explanation.contributions, base_values, dict(self._config_json(explanation.config))

    @cached_property
    def _reason_texts(self) -> dict[str, pa.Array]:
        """Field, code and text of each model input as Arrow arrays, a null last (no reason)."""
        fields = self.model.estimator.layout_.field_names
        entries = [self.model.reasons.reasons[f] for f in fields]
        return {
            "field": pa.array([*fields, None], type=pa.large_string()),
            "code": pa.array([*(e.code for e in entries), None], type=pa.large_string()),
            "text": pa.array([*(e.text for e in entries), None], type=pa.large_string()),
        }

    def _config_json(self, config: ExplainerConfig) -> dict:
        cache = self.__dict__.setdefault("_configs", {})
        if config not in cache:
            cache[config] = config.model_dump(mode="json")
        return cache[config]


def _frame(columns: dict[str, np.ndarray | pd.api.extensions.ExtensionArray], n: int) -> pd.DataFrame:
    """A frame of columns that already have their final types, handed to pandas as blocks.

    Why not ``pd.DataFrame(columns)``: the constructor re-checks and re-infers every column, which
    for one case costs more than scoring it. These columns are built with exactly the types the
    decisions frame promises, so they go in through pandas' public low-level constructor: numpy
    columns grouped by dtype into 2-D blocks, every extension array a block of its own.
    """
    names = list(columns)
    blocks: list[tuple[np.ndarray | pd.api.extensions.ExtensionArray, np.ndarray]] = []
    by_dtype: dict[np.dtype, list[int]] = {}
    for position, values in enumerate(columns.values()):
        if isinstance(values, np.ndarray):
            by_dtype.setdefault(values.dtype, []).append(position)
        else:
            blocks.append((values, np.array([position])))
    for positions in by_dtype.values():
        blocks.append((np.stack([columns[names[p]] for p in positions]), np.array(positions)))
    return create_dataframe_from_blocks(blocks, index=pd.RangeIndex(n), columns=_column_index(tuple(names)))


@lru_cache(maxsize=64)
def _column_index(names: tuple[str, ...]) -> pd.Index:
    """Column labels as a pandas Index, made once per set of names (an Index is immutable)."""
    return pd.Index(names)


def _repeat_text(value: str, n: int) -> pd.api.extensions.ExtensionArray:
    return text_array(pa.repeat(pa.scalar(value, type=pa.large_string()), n))


def _switch_off_auto(decided: pl.DataFrame, default_queue: str) -> pl.DataFrame:
    """The stop switch: automatic approvals and declines go to review instead."""
    automatic = pl.col("outcome").is_in([Outcome.APPROVE.value, Outcome.DECLINE.value])

    def instead(name: str, value: pl.Expr) -> pl.Expr:
        return pl.when(automatic).then(value).otherwise(pl.col(name)).alias(name)

    return decided.with_columns(
        instead("outcome", pl.lit(Outcome.REVIEW.value)),
        instead("winning_rule", pl.lit(AUTO_OFF_RULE)),
        instead("reason", pl.lit(AUTO_OFF_REASON)),
        instead("queue", pl.lit(default_queue)),
        instead("priority", pl.lit(3, dtype=pl.Int32)),
    )


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start
