"""Property: the vectorised policy evaluation equals a plain row-by-row reference evaluation.

Random contracts, random cases (missing values included) and random policies whose conditions are
drawn from a grammar (comparisons, arithmetic, AND/OR/NOT, IN, BETWEEN, IS NULL, engine fields).
Each generated condition carries its SQL text and a Python function implementing SQL's
three-valued logic; the reference applies the documented precedence one case at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from decision_review.policy import evaluate as evaluate_module
from decision_review.policy import parse_policy, reference_in_sample
from decision_review.schemas import FieldKind, FieldSpec, InputContract
from tests.fixtures.policy import cases_frame

Row = dict[str, Any]
Value = Callable[[Row], Any]
CATEGORY_POOL = ["a", "b", "c", "d", "it's"]


@dataclass(frozen=True)
class Cond:
    sql: str
    fn: Value  # row -> True / False / None (unknown)


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def sql_or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def sql_not(a: bool | None) -> bool | None:
    return None if a is None else not a


COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
}

# Literals exact in binary floating point, so polars and Python compute identical values.
number_literals = st.sampled_from([-3, -1, 0, 1, 2, 5, 10, 0.5, -2.5, 1.25, 100])


@dataclass(frozen=True)
class World:
    numeric: list[str]
    categorical: dict[str, list[str]]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    n_numeric = draw(st.integers(1, 3))
    n_categorical = draw(st.integers(1, 2))
    categorical = {
        f"c{i}": draw(st.lists(st.sampled_from(CATEGORY_POOL), min_size=1, max_size=4, unique=True))
        for i in range(n_categorical)
    }
    return World(numeric=[f"x{i}" for i in range(n_numeric)], categorical=categorical)


def contract_of(world: World) -> InputContract:
    fields = [FieldSpec(name=n, kind=FieldKind.NUMERIC, nullable=True) for n in world.numeric]
    fields += [
        FieldSpec(name=n, kind=FieldKind.CATEGORICAL, nullable=True, categories=cats)
        for n, cats in world.categorical.items()
    ]
    return InputContract(fields=fields)


def numeric_terms(world: World) -> st.SearchStrategy[Cond]:
    """Numeric expressions that involve at least one column (value None when any input is missing)."""
    columns = st.sampled_from(world.numeric).map(lambda n: Cond(n, lambda r, n=n: r[n]))

    def extend(inner: st.SearchStrategy[Cond]) -> st.SearchStrategy[Cond]:
        def combine(a: Cond, op: str, b: Cond | float) -> Cond:
            if isinstance(b, Cond):
                other_sql, other = b.sql, b.fn
            else:
                other_sql, other = repr(b), (lambda r, b=b: b)
            apply = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y}[op]

            def fn(r: Row) -> Any:
                x, y = a.fn(r), other(r)
                return None if x is None or y is None else apply(x, y)

            return Cond(f"({a.sql} {op} {other_sql})", fn)

        return st.builds(combine, inner, st.sampled_from(["+", "-", "*"]), st.one_of(inner, number_literals))

    return st.recursive(columns, extend, max_leaves=3)


def atoms(world: World) -> st.SearchStrategy[Cond]:
    numeric = numeric_terms(world)

    def comparison(a: Cond, op: str, b: Cond | float) -> Cond:
        other_sql, other = (b.sql, b.fn) if isinstance(b, Cond) else (repr(b), (lambda r, b=b: b))

        def fn(r: Row) -> bool | None:
            x, y = a.fn(r), other(r)
            return None if x is None or y is None else COMPARE[op](x, y)

        return Cond(f"{a.sql} {op} {other_sql}", fn)

    def between(column: str, lo: float, hi: float, negate: bool) -> Cond:
        def fn(r: Row) -> bool | None:
            x = r[column]
            if x is None:
                return None
            inside = lo <= x <= hi
            return not inside if negate else inside

        return Cond(f"{column} {'NOT ' if negate else ''}BETWEEN {lo!r} AND {hi!r}", fn)

    def numeric_in(column: str, values: list[float], negate: bool) -> Cond:
        def fn(r: Row) -> bool | None:
            x = r[column]
            if x is None:
                return None
            return (x not in values) if negate else (x in values)

        listed = ", ".join(repr(v) for v in values)
        return Cond(f"{column} {'NOT ' if negate else ''}IN ({listed})", fn)

    def is_null(column: str, negate: bool) -> Cond:
        return Cond(
            f"{column} IS {'NOT ' if negate else ''}NULL",
            lambda r: (r[column] is not None) if negate else (r[column] is None),
        )

    def text_compare(column: str, op: str, value: str) -> Cond:
        def fn(r: Row) -> bool | None:
            x = r[column]
            return None if x is None else COMPARE[op](x, value)

        return Cond(f"{column} {op} {sql_text(value)}", fn)

    def text_in(column: str, values: list[str], negate: bool) -> Cond:
        def fn(r: Row) -> bool | None:
            x = r[column]
            if x is None:
                return None
            return (x not in values) if negate else (x in values)

        listed = ", ".join(sql_text(v) for v in values)
        return Cond(f"{column} {'NOT ' if negate else ''}IN ({listed})", fn)

    def flag(name: str, negate: bool) -> Cond:
        return Cond(f"{'NOT ' if negate else ''}{name}", lambda r: sql_not(r[name]) if negate else r[name])

    def missing_count(op: str, value: int) -> Cond:
        return Cond(f"missing_count {op} {value}", lambda r: COMPARE[op](r["missing_count"], value))

    def score(op: str, value: float) -> Cond:
        def fn(r: Row) -> bool | None:
            return None if r["score"] is None else COMPARE[op](r["score"], value)

        return Cond(f"score {op} {value!r}", fn)

    ops = st.sampled_from(list(COMPARE))
    categorical = st.sampled_from(sorted(world.categorical))
    text_values = st.sampled_from([*CATEGORY_POOL, "zz"])
    return st.one_of(
        st.builds(comparison, numeric, ops, st.one_of(numeric, number_literals)),
        st.builds(between, st.sampled_from(world.numeric), number_literals, number_literals, st.booleans()),
        st.builds(
            numeric_in,
            st.sampled_from(world.numeric),
            st.lists(number_literals, min_size=1, max_size=3),
            st.booleans(),
        ),
        st.builds(is_null, st.sampled_from([*world.numeric, *world.categorical]), st.booleans()),
        st.builds(text_compare, categorical, st.sampled_from(["=", "<>"]), text_values),
        st.builds(text_in, categorical, st.lists(text_values, min_size=1, max_size=3), st.booleans()),
        st.builds(flag, st.sampled_from(["out_of_range", "unseen_category"]), st.booleans()),
        st.builds(missing_count, ops, st.integers(0, 3)),
        st.builds(score, st.sampled_from(["<", ">=", ">"]), st.sampled_from([0.1, 0.25, 0.5, 0.75])),
    )


def conditions(world: World) -> st.SearchStrategy[Cond]:
    def extend(inner: st.SearchStrategy[Cond]) -> st.SearchStrategy[Cond]:
        both = st.tuples(inner, inner)
        return st.one_of(
            both.map(
                lambda ab: Cond(
                    f"({ab[0].sql}) AND ({ab[1].sql})", lambda r: sql_and(ab[0].fn(r), ab[1].fn(r))
                )
            ),
            both.map(
                lambda ab: Cond(f"({ab[0].sql}) OR ({ab[1].sql})", lambda r: sql_or(ab[0].fn(r), ab[1].fn(r)))
            ),
            inner.map(lambda a: Cond(f"NOT ({a.sql})", lambda r: sql_not(a.fn(r)))),
        )

    return st.recursive(atoms(world), extend, max_leaves=4)


@dataclass(frozen=True)
class RuleCase:
    id: str
    cond: Cond
    action: str
    shadow: bool
    queue: str | None
    priority: int | None


@st.composite
def policies(draw: st.DrawFn, world: World) -> tuple[dict[str, Any], list[RuleCase]]:
    drawn = draw(
        st.lists(
            st.tuples(
                conditions(world),
                st.sampled_from(["decline", "review", "approve"]),
                st.integers(0, 4),
                st.sampled_from([None, "q1", "q2"]),
                st.sampled_from([None, 1, 5]),
            ),
            max_size=10,
        )
    )
    rules = [
        RuleCase(
            id=f"r{i}",
            cond=cond,
            action=action,
            shadow=shadow_draw == 0,
            queue=queue if action == "review" else None,
            priority=priority if action == "review" else None,
        )
        for i, (cond, action, shadow_draw, queue, priority) in enumerate(drawn)
    ]
    a, b = sorted(draw(st.lists(st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.7, 1.0]), min_size=2, max_size=2)))
    spec: dict[str, Any] = {
        "name": "prop",
        "version": 1,
        "model": {"name": "m", "version": 1},
        "thresholds": {"approve_below": a, "decline_at_or_above": b, "queue": "q2", "priority": 4},
        "queues": {"q1": {"sla_hours": 1}, "q2": {"sla_hours": 2}, "qa": {"sla_hours": 3}},
        "default_queue": "q1",
        "rules": [
            {
                "id": r.id,
                "condition": r.cond.sql,
                "action": r.action,
                "reason": f"reason of {r.id}",
                **({"queue": r.queue} if r.queue else {}),
                **({"priority": r.priority} if r.priority else {}),
                **({"shadow": True} if r.shadow else {}),
            }
            for r in rules
        ],
    }
    if draw(st.booleans()):
        spec["qa_sample"] = {
            "rate": draw(st.sampled_from([0.0, 0.3, 0.7, 1.0])),
            "seed": draw(st.integers(0, 2**64 - 1)),
            "queue": "qa",
            "outcomes": draw(st.sampled_from([["approve"], ["decline"], ["approve", "decline"]])),
        }
    return spec, rules


def case_rows(world: World) -> st.SearchStrategy[list[Row]]:
    numbers = st.one_of(st.none(), number_literals, st.floats(-20, 20, allow_nan=False, width=32))
    row = st.fixed_dictionaries(
        {
            "suffix": st.text("xyz", max_size=3),
            **dict.fromkeys(world.numeric, numbers),
            **{
                n: st.one_of(st.none(), st.sampled_from([*cats, "zz"]))
                for n, cats in world.categorical.items()
            },
            "score": st.one_of(st.none(), st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.7, 1.0]), st.floats(0, 1)),
            "out_of_range": st.one_of(st.none(), st.booleans()),
            "unseen_category": st.booleans(),
            "missing_count": st.integers(0, 3),
        }
    )

    def with_ids(rows: list[Row]) -> list[Row]:
        return [{"case_id": f"case-{i}-{r.pop('suffix')}", **r} for i, r in enumerate(rows)]

    return st.lists(row, max_size=20).map(with_ids)


def reference_decision(spec: dict[str, Any], rules: list[RuleCase], row: Row) -> dict[str, Any]:
    """The precedence of docs/policy-language.md, one case at a time, written as plainly as possible."""
    t = spec["thresholds"]
    hits = [r for r in rules if r.cond.fn(row) is True]
    winner = None
    for action in ("decline", "review", "approve"):
        for r in hits:
            if r.action == action and not r.shadow:
                winner = r
                break
        if winner is not None:
            break
    if winner is not None:
        outcome, rule_id, reason = winner.action, winner.id, f"reason of {winner.id}"
        queue = (winner.queue or "q1") if outcome == "review" else None
        priority = (winner.priority or 4) if outcome == "review" else None
    elif row["score"] is None:
        outcome, rule_id, reason, queue, priority = "review", "threshold:no_score", None, "q2", 4
    elif row["score"] < t["approve_below"]:
        outcome, rule_id, reason, queue, priority = "approve", "threshold:approve", None, None, None
    elif row["score"] >= t["decline_at_or_above"]:
        outcome, rule_id, reason, queue, priority = "decline", "threshold:decline", None, None, None
    else:
        outcome, rule_id, reason, queue, priority = "review", "threshold:review", None, "q2", 4
    auto_outcome, auto_rule = outcome, rule_id
    qa = spec.get("qa_sample")
    sampled = bool(
        qa and outcome in qa["outcomes"] and reference_in_sample(qa["seed"], qa["rate"], row["case_id"])
    )
    if sampled:
        outcome, rule_id, reason, queue, priority = "review", "qa_sample", None, "qa", 5
    return {
        "outcome": outcome,
        "winning_rule": rule_id,
        "rule_hits": [r.id for r in hits],
        "queue": queue,
        "priority": priority,
        "qa_sample": sampled,
        "auto_outcome": auto_outcome,
        "auto_rule": auto_rule,
        **({"reason": reason} if reason is not None else {}),
    }


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[World, dict[str, Any], list[RuleCase], list[Row]]:
    world = draw(worlds())
    spec, rules = draw(policies(world))
    return world, spec, rules, draw(case_rows(world))


@pytest.mark.slow
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(scenario=scenarios())
def test_vectorised_evaluation_equals_row_by_row_reference(scenario: Any) -> None:
    world, spec, rules, rows = scenario
    contract = contract_of(world)
    policy = parse_policy(yaml.safe_dump(spec, sort_keys=False), source="generated.yaml", contract=contract)
    frame = cases_frame(contract, rows)
    decided = policy.evaluate(frame)
    assert decided.height == len(rows)
    assert decided["case_id"].to_list() == [r["case_id"] for r in rows]
    for got, row in zip(decided.iter_rows(named=True), rows, strict=True):
        expected = reference_decision(spec, rules, row)
        subset = {k: got[k] for k in expected}
        assert subset == expected, f"case {row}"
    # A batch this small is finished in plain Python; the polars lookups must give the same frame.
    small_batch, evaluate_module.SMALL_BATCH = evaluate_module.SMALL_BATCH, -1
    try:
        assert_frame_equal(policy.evaluate(frame), decided)
    finally:
        evaluate_module.SMALL_BATCH = small_batch
