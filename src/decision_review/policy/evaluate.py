"""Vectorised evaluation of a compiled policy over a batch of cases, with explicit precedence.

Precedence (docs/policy-language.md, "Precedence"):

1. the first decline rule (in file order) whose condition holds: a knock-out;
2. else the first review rule that holds: a referral;
3. else the first approve rule that holds;
4. else the score thresholds: no score -> review, score < approve_below -> approve,
   score >= decline_at_or_above -> decline, otherwise review;
5. finally, an automatic approve/decline whose case is in the QA sample becomes a review.

Shadow rules are evaluated and listed in `rule_hits` but never win. A condition that evaluates
to null (a missing value) does not fire.

How it stays fast (no Python per case): every condition is one column of one polars query, and
the fired rules are packed into 64-bit masks with the rules in precedence order, so the winner
is the lowest set bit. That gives an integer "decision code" per case indexing small lookup
tables (outcome, winning rule, reason, queue, priority). The list of rule ids is built once per
distinct mask, not once per case. The QA hash runs in numpy over the eligible cases' ids.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from decision_review.errors import InvalidInput
from decision_review.policy.conditions import CompiledCondition
from decision_review.policy.sampling import in_sample
from decision_review.policy.spec import (
    QA_SAMPLE,
    THRESHOLD_APPROVE,
    THRESHOLD_DECLINE,
    THRESHOLD_NO_SCORE,
    THRESHOLD_REVIEW,
    Action,
    PolicySpec,
    QASample,
)

WORD_BITS = 64
DENSE_LOOKUP_BITS = 20  # up to this many rules, masks map to their lists through a 2**k array
SMALL_BATCH = 32  # up to this many cases, the lookups after the one query run in plain Python
OUTPUT_SCHEMA: dict[str, pl.DataType] = {
    "outcome": pl.String(),
    "winning_rule": pl.String(),
    "rule_hits": pl.List(pl.String()),
    "reason": pl.String(),
    "queue": pl.String(),
    "priority": pl.Int32(),
    "qa_sample": pl.Boolean(),
    "auto_outcome": pl.String(),
    "auto_rule": pl.String(),
}


@dataclass(frozen=True)
class DecisionTable:
    """A policy prepared for evaluation: conditions in bit order and one lookup row per decision code.

    Bit order: the rules that can win, in precedence order (declines, reviews, approvals, each in
    file order), then the shadow rules. A case's fired rules are a bit mask in this order, so its
    winning rule is simply the lowest set bit among the first `n_active`. Decision codes ``0..k-1``
    are bit positions; then come threshold approve, decline, review, no-score, and the QA sample.
    """

    id_column: str
    rule_ids: tuple[str, ...]
    bit_order: tuple[int, ...]
    n_active: int
    approve_below: float
    decline_at_or_above: float
    outcome: pl.Series
    winning_rule: pl.Series
    reason: pl.Series
    queue: pl.Series
    priority: pl.Series
    qa_eligible: np.ndarray
    qa_sample: QASample | None
    input_schema: dict[str, pl.DataType]
    word_names: tuple[str, ...]
    stages: tuple[tuple[pl.Expr, ...], ...]

    @property
    def threshold_approve(self) -> int:
        return len(self.rule_ids)

    @property
    def threshold_decline(self) -> int:
        return len(self.rule_ids) + 1

    @property
    def threshold_review(self) -> int:
        return len(self.rule_ids) + 2

    @property
    def no_score(self) -> int:
        return len(self.rule_ids) + 3

    @property
    def qa_code(self) -> int:
        return len(self.rule_ids) + 4


def build_table(
    spec: PolicySpec, conditions: list[CompiledCondition], schema: dict[str, pl.DataType], id_column: str
) -> DecisionTable:
    """Precompute everything `evaluate` needs from a validated spec and its compiled conditions."""
    rules = spec.rules
    order = [Action.DECLINE, Action.REVIEW, Action.APPROVE]
    active = [
        i for action in order for i, rule in enumerate(rules) if rule.action is action and not rule.shadow
    ]
    bit_order = [*active, *(i for i, rule in enumerate(rules) if rule.shadow)]
    t = spec.thresholds
    review_queue = spec.queue_for(t.queue)
    rows: list[tuple[str, str, str, str | None, int | None]] = []
    for rule in (rules[i] for i in bit_order):
        if rule.action is Action.REVIEW:
            queue, priority = spec.queue_for(rule.queue), rule.priority or t.priority
            rows.append((rule.action.value, rule.id, rule.reason, queue, priority))
        else:
            rows.append((rule.action.value, rule.id, rule.reason, None, None))
    rows += [
        ("approve", THRESHOLD_APPROVE, t.approve_reason, None, None),
        ("decline", THRESHOLD_DECLINE, t.decline_reason, None, None),
        ("review", THRESHOLD_REVIEW, t.review_reason, review_queue, t.priority),
        ("review", THRESHOLD_NO_SCORE, t.no_score_reason, review_queue, t.priority),
    ]
    qa = spec.qa_sample
    if qa is not None:
        rows.append(("review", QA_SAMPLE, qa.reason, spec.queue_for(qa.queue), qa.priority))
    else:
        rows.append(("review", QA_SAMPLE, "", None, None))
    needed = {id_column: pl.String(), "score": pl.Float64()}
    for condition in conditions:
        needed.update({name: schema[name] for name in condition.columns})
    columns = list(zip(*rows, strict=True))
    outcomes = set(qa.outcomes) if qa is not None else set()
    word_names = tuple(f"__word{w}" for w in range(max(1, (len(rules) + WORD_BITS - 1) // WORD_BITS)))
    table = DecisionTable(
        id_column=id_column,
        rule_ids=tuple(rule.id for rule in rules),
        bit_order=tuple(bit_order),
        n_active=len(active),
        approve_below=t.approve_below,
        decline_at_or_above=t.decline_at_or_above,
        outcome=pl.Series("outcome", columns[0], dtype=pl.String),
        winning_rule=pl.Series("winning_rule", columns[1], dtype=pl.String),
        reason=pl.Series("reason", columns[2], dtype=pl.String),
        queue=pl.Series("queue", columns[3], dtype=pl.String),
        priority=pl.Series("priority", columns[4], dtype=pl.Int32),
        qa_eligible=_read_only(np.array([outcome in outcomes for outcome in columns[0][:-1]] + [False])),
        qa_sample=qa if qa is not None and qa.rate > 0 else None,
        input_schema=needed,
        word_names=word_names,
        stages=(),
    )
    return replace(table, stages=_stages(table, [conditions[i].expr for i in bit_order]))


def _stages(table: DecisionTable, conditions_in_bit_order: list[pl.Expr]) -> tuple[tuple[pl.Expr, ...], ...]:
    """The three projections that turn prepared cases into (id, decision code, rule masks).

    Built once per policy: composing polars expressions costs more than evaluating them on one case.
    """
    case_id, score = pl.col(table.id_column), pl.col("score")
    bits = [f"__bit{j}" for j in range(len(conditions_in_bit_order))]
    words = list(table.word_names)
    return (
        (
            case_id,
            score,
            *[c.fill_null(False).alias(b) for c, b in zip(conditions_in_bit_order, bits, strict=True)],
        ),
        (
            case_id,
            score,
            *[_mask_word(bits[w * WORD_BITS : (w + 1) * WORD_BITS]).alias(n) for w, n in enumerate(words)],
        ),
        (case_id, _auto_code(table, words).alias("__code"), *[pl.col(n) for n in words]),
        *(() if table.qa_sample is None else ((pl.all(), _qa_eligible(table).alias("__eligible")),)),
    )


def _qa_eligible(table: DecisionTable) -> pl.Expr:
    """Automatic decisions the QA sample may pick (the outcomes it names), by decision code."""
    codes = [int(c) for c in np.flatnonzero(table.qa_eligible)]
    return pl.col("__code").is_in(pl.lit(pl.Series(codes, dtype=pl.UInt32)).implode())


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def evaluate(table: DecisionTable, frame: pl.DataFrame) -> pl.DataFrame:
    """Decide every case in `frame`: one output row per input row, in the same order.

    Output columns: the id column, then `OUTPUT_SCHEMA` (outcome, winning_rule, rule_hits, reason,
    queue, priority, qa_sample, auto_outcome, auto_rule). `auto_outcome`/`auto_rule` are what the
    policy decided before the QA sample; they differ from outcome/winning_rule only for sampled cases.
    """
    query = _prepare(table, frame)
    for stage in table.stages:
        query = query.select(stage)
    small = frame.height <= SMALL_BATCH
    # A few cases: planning the query costs more than its optimiser saves (about 0.3 ms).
    coded = query.collect(optimizations=pl.QueryOptFlags.none()) if small else query.collect()
    sampled = _qa_sample(table, coded)
    if small:
        return _finish_small(table, coded, sampled.to_numpy())
    hits = _rule_hits([coded.get_column(name) for name in table.word_names], table)
    auto = pl.col("__code")
    final = pl.when(pl.lit(sampled)).then(pl.lit(table.qa_code, dtype=pl.UInt32)).otherwise(auto)
    lookups = [
        pl.col(table.id_column),
        pl.lit(table.outcome).gather(pl.col("__final")).alias("outcome"),
        pl.lit(table.winning_rule).gather(pl.col("__final")).alias("winning_rule"),
        pl.lit(hits).alias("rule_hits"),
        pl.lit(table.reason).gather(pl.col("__final")).alias("reason"),
        pl.lit(table.queue).gather(pl.col("__final")).alias("queue"),
        pl.lit(table.priority).gather(pl.col("__final")).alias("priority"),
        pl.lit(sampled).alias("qa_sample"),
    ]
    if sampled.any():
        lookups += [
            pl.lit(table.outcome).gather(auto).alias("auto_outcome"),
            pl.lit(table.winning_rule).gather(auto).alias("auto_rule"),
        ]
        before_qa = []
    else:  # nothing sampled: the automatic decision is the decision, and no second lookup is needed
        final = auto
        before_qa = [pl.col("outcome").alias("auto_outcome"), pl.col("winning_rule").alias("auto_rule")]
    decided = (
        coded.lazy().select(table.id_column, "__code").with_columns(final.alias("__final")).select(lookups)
    )
    return decided.with_columns(before_qa).collect()


def _finish_small(table: DecisionTable, coded: pl.DataFrame, sampled: np.ndarray) -> pl.DataFrame:
    """`evaluate`'s last step for a few cases: the lookups in plain Python.

    A second polars query costs about a millisecond whatever its size, which is most of the
    policy's time for the single cases the API decides; below `SMALL_BATCH` rows, indexing
    the small lookup tables directly is faster and gives the same frame (tests/policy holds
    the two paths equal).
    """
    auto = coded.get_column("__code").to_list()
    final = [table.qa_code if s else a for a, s in zip(auto, sampled.tolist(), strict=True)]
    words = zip(*(coded.get_column(name).to_list() for name in table.word_names), strict=True)
    outcome, rule, reason, queue, priority = (
        c.to_list() for c in (table.outcome, table.winning_rule, table.reason, table.queue, table.priority)
    )
    columns = {
        table.id_column: coded.get_column(table.id_column),
        "outcome": [outcome[c] for c in final],
        "winning_rule": [rule[c] for c in final],
        "rule_hits": [_ids_of(list(masks), table) for masks in words],
        "reason": [reason[c] for c in final],
        "queue": [queue[c] for c in final],
        "priority": [priority[c] for c in final],
        "qa_sample": sampled,
        "auto_outcome": [outcome[c] for c in auto],
        "auto_rule": [rule[c] for c in auto],
    }
    return pl.DataFrame(columns, schema={table.id_column: coded.schema[table.id_column], **OUTPUT_SCHEMA})


def _prepare(table: DecisionTable, frame: pl.DataFrame) -> pl.LazyFrame:
    """The columns the policy needs, with the types it was checked against; NaN counts as missing."""
    schema = frame.schema
    missing = [name for name in table.input_schema if name not in schema]
    if missing:
        raise InvalidInput(f"the cases lack columns the policy needs: {', '.join(missing)}")
    columns = []
    for name, dtype in table.input_schema.items():
        column = pl.col(name) if schema[name] == dtype else pl.col(name).cast(dtype, strict=True)
        columns.append(column.fill_nan(None) if dtype == pl.Float64() else column)
    return frame.lazy().select(columns)


def _auto_code(table: DecisionTable, words: list[str]) -> pl.Expr:
    """The decision code before QA sampling: the lowest active bit that is set, else the thresholds."""
    score = pl.col("score")
    code = (
        pl.when(score.is_null())
        .then(pl.lit(table.no_score, dtype=pl.UInt32))
        .when(score < table.approve_below)
        .then(pl.lit(table.threshold_approve, dtype=pl.UInt32))
        .when(score >= table.decline_at_or_above)
        .then(pl.lit(table.threshold_decline, dtype=pl.UInt32))
        .otherwise(pl.lit(table.threshold_review, dtype=pl.UInt32))
    )
    for w in reversed(range(len(words))):  # built last word first, so the first word is tested first
        low, high = w * WORD_BITS, min((w + 1) * WORD_BITS, table.n_active)
        if high <= low:
            continue
        active = pl.col(words[w])
        if high < min((w + 1) * WORD_BITS, len(table.rule_ids)):  # shadow rules share this word
            active = active & pl.lit((1 << (high - low)) - 1, dtype=pl.UInt64)
        first = active.bitwise_trailing_zeros().cast(pl.UInt32) + pl.lit(low, dtype=pl.UInt32)
        code = pl.when(active != 0).then(first).otherwise(code)
    return code


def _qa_sample(table: DecisionTable, coded: pl.DataFrame) -> pl.Series:
    """The QA flag: eligible automatic decisions whose case id is in the sample."""
    qa = table.qa_sample
    sampled = np.zeros(coded.height, dtype=bool)
    if qa is None or coded.height == 0:
        return pl.Series("qa_sample", sampled)
    ids = coded[table.id_column]
    if ids.null_count():
        raise InvalidInput(
            f"column {table.id_column!r} has missing case ids; the QA sample needs every case's id"
        )
    rows = np.flatnonzero(coded["__eligible"].to_numpy())
    sampled[rows] = in_sample(qa.seed, qa.rate, ids.gather(rows))
    return pl.Series("qa_sample", sampled)


def _mask_word(bits: list[str]) -> pl.Expr:
    """Up to 64 rule hits packed into one UInt64: bit j is set when the rule at bit j fired.

    (A chain of when/then ORs: several times faster in polars than summing cast booleans.)
    """
    zero = pl.lit(0, dtype=pl.UInt64)
    mask = zero
    for j, name in enumerate(bits):
        mask = mask | pl.when(pl.col(name)).then(pl.lit(1 << j, dtype=pl.UInt64)).otherwise(zero)
    return mask


def _rule_hits(words: list[pl.Series], table: DecisionTable) -> pl.Series:
    """List of the rules that fired per case (file order), built once per distinct combination."""
    k = len(table.rule_ids)
    if len(words) == 1:
        [key] = words
        distinct = key.unique()
        lists = [_ids_of([mask], table) for mask in distinct.to_list()]
        if k <= DENSE_LOOKUP_BITS:
            lookup = np.zeros(1 << k, dtype=np.uint32)
            lookup[distinct.to_numpy()] = np.arange(len(distinct), dtype=np.uint32)
            index = pl.Series(lookup[key.to_numpy()])
        else:
            index = key.replace_strict(distinct, pl.Series(range(len(distinct)), dtype=pl.UInt32))
    else:
        frame = pl.DataFrame(words)
        distinct_rows = frame.unique().with_row_index("__group")
        lists = [_ids_of(list(row[1:]), table) for row in distinct_rows.iter_rows()]
        index = frame.join(distinct_rows, on=frame.columns, how="left", maintain_order="left")["__group"]
    return pl.Series("rule_hits", lists, dtype=pl.List(pl.String)).gather(index)


def _ids_of(masks: list[int], table: DecisionTable) -> list[str]:
    """Rule ids of the set bits, in file order."""
    positions = [w * WORD_BITS + b for w, mask in enumerate(masks) for b in range(WORD_BITS) if mask >> b & 1]
    return [table.rule_ids[i] for i in sorted(table.bit_order[p] for p in positions)]
