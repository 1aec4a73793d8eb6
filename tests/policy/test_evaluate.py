"""Evaluation behaviour a risk team relies on: precedence, missing values, shadow rules, QA sample."""

from __future__ import annotations

import math

import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

from decision_review.errors import InvalidInput
from decision_review.policy import OUTPUT_SCHEMA, CompiledPolicy, parse_policy, reference_in_sample
from decision_review.schemas import InputContract
from tests.fixtures.policy import MINIMAL_POLICY, cases_frame

POLICY = """\
name: precedence
version: 3
product: consumer_loans
model: {name: german_credit, version: 1}
thresholds:
  approve_below: 0.2
  decline_at_or_above: 0.6
  priority: 4
  approve_reason: Low risk.
queues:
  standard: {sla_hours: 48}
  senior: {sla_hours: 24}
  qa: {sla_hours: 72}
default_queue: standard
rules:
  - id: ref_large
    condition: credit_amount >= 10000
    action: review
    reason: Large loan.
    queue: senior
    priority: 2
  - id: ko_age
    condition: age_in_years < 18
    action: decline
    reason: Under age.
  - id: ap_small
    condition: credit_amount <= 1000
    action: approve
    reason: Small loan.
  - id: ref_long
    condition: duration_in_month >= 48
    action: review
    reason: Long term.
  - id: ko_amount
    condition: credit_amount > 25000
    action: decline
    reason: Above product maximum.
  - id: sh_rent
    condition: housing = 'rent'
    action: decline
    reason: Challenger.
    shadow: true
  - id: ref_missing_purpose
    condition: purpose IS NULL
    action: review
    reason: Purpose missing.
"""


@pytest.fixture(scope="module")
def policy(contract: InputContract) -> CompiledPolicy:
    return parse_policy(POLICY, source="precedence.yaml", contract=contract)


def decide(policy: CompiledPolicy, contract: InputContract, rows: list[dict]) -> list[dict]:
    base = {"purpose": "car (new)", "age_in_years": 40.0, "credit_amount": 5000.0, "duration_in_month": 12.0}
    frame = cases_frame(contract, [{"case_id": f"c{i}", **base, **row} for i, row in enumerate(rows)])
    return policy.evaluate(frame).to_dicts()


def test_output_columns_types_and_order(policy: CompiledPolicy, contract: InputContract) -> None:
    frame = cases_frame(contract, [{"case_id": f"id-{i}", "score": i / 10} for i in range(10)])
    out = policy.evaluate(frame)
    assert dict(out.schema) == {"case_id": pl.String(), **OUTPUT_SCHEMA}
    assert out["case_id"].to_list() == [f"id-{i}" for i in range(10)]


@pytest.mark.parametrize(
    ("row", "outcome", "winner", "hits"),
    [
        # a knock-out beats a referral listed before it and an approve rule
        (
            {"age_in_years": 17, "credit_amount": 12000, "score": 0.1},
            "decline",
            "ko_age",
            ["ref_large", "ko_age"],
        ),
        # among knock-outs, file order decides
        (
            {"age_in_years": 17, "credit_amount": 30000, "score": 0.1},
            "decline",
            "ko_age",
            ["ref_large", "ko_age", "ko_amount"],
        ),
        # a referral beats the decline threshold
        ({"credit_amount": 12000, "score": 0.9}, "review", "ref_large", ["ref_large"]),
        # among referrals, file order decides
        (
            {"credit_amount": 12000, "duration_in_month": 60, "score": 0.1},
            "review",
            "ref_large",
            ["ref_large", "ref_long"],
        ),
        # a referral beats an approve rule
        (
            {"credit_amount": 900, "duration_in_month": 60, "score": 0.1},
            "review",
            "ref_long",
            ["ap_small", "ref_long"],
        ),
        # an approve rule beats the decline threshold
        ({"credit_amount": 900, "score": 0.95}, "approve", "ap_small", ["ap_small"]),
        # thresholds: below approve, between, at decline
        ({"score": 0.1999}, "approve", "threshold:approve", []),
        ({"score": 0.2}, "review", "threshold:review", []),
        ({"score": 0.5999}, "review", "threshold:review", []),
        ({"score": 0.6}, "decline", "threshold:decline", []),
        ({"score": None}, "review", "threshold:no_score", []),
        ({"score": math.nan}, "review", "threshold:no_score", []),
        # a shadow rule is recorded but never decides
        ({"housing": "rent", "score": 0.1}, "approve", "threshold:approve", ["sh_rent"]),
    ],
)
def test_precedence(
    policy: CompiledPolicy, contract: InputContract, row: dict, outcome: str, winner: str, hits: list[str]
) -> None:
    [got] = decide(policy, contract, [row])
    assert (got["outcome"], got["winning_rule"], got["rule_hits"]) == (outcome, winner, hits)
    assert got["auto_outcome"] == outcome and got["auto_rule"] == winner and not got["qa_sample"]


def test_missing_values_do_not_fire_a_rule(policy: CompiledPolicy, contract: InputContract) -> None:
    [got] = decide(policy, contract, [{"age_in_years": None, "credit_amount": None, "score": 0.1}])
    assert got["rule_hits"] == []
    assert got["winning_rule"] == "threshold:approve"
    [nan] = decide(policy, contract, [{"credit_amount": math.nan, "score": 0.1}])
    assert nan["rule_hits"] == []


def test_is_null_is_how_a_rule_catches_a_missing_value(
    policy: CompiledPolicy, contract: InputContract
) -> None:
    [got] = decide(policy, contract, [{"purpose": None, "score": 0.1}])
    assert got["winning_rule"] == "ref_missing_purpose"


def test_not_of_an_unknown_stays_unknown(contract: InputContract) -> None:
    text = MINIMAL_POLICY.replace("credit_amount >= 10000", "NOT (credit_amount < 10000)")
    policy = parse_policy(text, source="t.yaml", contract=contract)
    frame = cases_frame(contract, [{"case_id": "a", "credit_amount": None, "score": 0.1}])
    assert policy.evaluate(frame)["rule_hits"].to_list() == [[]]


def test_reason_queue_and_priority(policy: CompiledPolicy, contract: InputContract) -> None:
    large, long_term, between, approved, declined = decide(
        policy,
        contract,
        [{"credit_amount": 12000}, {"duration_in_month": 60}, {"score": 0.3}, {"score": 0.1}, {"score": 0.9}],
    )
    assert (large["reason"], large["queue"], large["priority"]) == ("Large loan.", "senior", 2)
    # no queue or priority on the rule: the default queue and the thresholds' priority
    assert (long_term["reason"], long_term["queue"], long_term["priority"]) == ("Long term.", "standard", 4)
    assert (between["queue"], between["priority"]) == ("standard", 4)
    assert (approved["reason"], approved["queue"], approved["priority"]) == ("Low risk.", None, None)
    assert declined["reason"] == "Estimated risk is at or above the policy's decline threshold."
    assert (declined["queue"], declined["priority"]) == (None, None)


def with_qa(outcomes: list[str], rate: float = 0.5) -> str:
    data = yaml.safe_load(POLICY)
    data["qa_sample"] = {"rate": rate, "seed": 99, "queue": "qa", "outcomes": outcomes, "reason": "QA."}
    return yaml.safe_dump(data, sort_keys=False)


@pytest.mark.parametrize("outcomes", [["approve", "decline"], ["approve"], ["decline"]])
def test_qa_sample_picks_exactly_the_reference_cases(contract: InputContract, outcomes: list[str]) -> None:
    policy = parse_policy(with_qa(outcomes), source="qa.yaml", contract=contract)
    scores = [0.05, 0.3, 0.9]  # approve, review, decline by threshold
    rows = [{"case_id": f"APP-{i:05d}", "score": scores[i % 3], "purpose": "car (new)"} for i in range(600)]
    out = policy.evaluate(cases_frame(contract, rows)).to_dicts()
    for row, got in zip(rows, out, strict=True):
        auto = got["auto_outcome"]
        expected = auto in outcomes and reference_in_sample(99, 0.5, row["case_id"])
        assert got["qa_sample"] is expected
        if expected:
            assert (got["outcome"], got["winning_rule"], got["queue"], got["priority"], got["reason"]) == (
                "review",
                "qa_sample",
                "qa",
                5,
                "QA.",
            )
            assert got["auto_rule"].startswith("threshold:")
        else:
            assert got["outcome"] == auto
    sampled = [g for g in out if g["qa_sample"]]
    assert 0.3 * 200 * len(outcomes) < len(sampled) < 0.7 * 200 * len(outcomes)
    assert all(g["auto_outcome"] != "review" for g in sampled)


def test_qa_sample_needs_case_ids(contract: InputContract) -> None:
    policy = parse_policy(with_qa(["approve"]), source="qa.yaml", contract=contract)
    frame = cases_frame(contract, [{"case_id": None, "score": 0.1}])
    with pytest.raises(InvalidInput, match="missing case ids"):
        policy.evaluate(frame)


def test_deciding_twice_gives_identical_frames(contract: InputContract, german_cases: pl.DataFrame) -> None:
    policy = parse_policy(with_qa(["approve", "decline"], rate=0.2), source="qa.yaml", contract=contract)
    first = policy.evaluate(german_cases)
    again = parse_policy(with_qa(["approve", "decline"], rate=0.2), source="qa.yaml", contract=contract)
    assert_frame_equal(first, policy.evaluate(german_cases))
    assert_frame_equal(first, again.evaluate(german_cases))
    assert first["qa_sample"].sum() > 0


def test_a_case_is_decided_the_same_alone_or_in_any_batch(
    contract: InputContract, german_cases: pl.DataFrame
) -> None:
    policy = parse_policy(with_qa(["approve", "decline"], rate=0.2), source="qa.yaml", contract=contract)
    whole = policy.evaluate(german_cases)
    shuffled = german_cases.sample(fraction=1.0, shuffle=True, seed=3)
    by_id = policy.evaluate(shuffled).sort("case_id")
    assert_frame_equal(whole.sort("case_id"), by_id)
    for i in (0, 17, 999):
        assert_frame_equal(policy.evaluate(german_cases[i]), whole[i])


def test_empty_batch(policy: CompiledPolicy, contract: InputContract) -> None:
    out = policy.evaluate(cases_frame(contract, []))
    assert out.height == 0
    assert dict(out.schema) == {"case_id": pl.String(), **OUTPUT_SCHEMA}


def test_numeric_columns_may_arrive_as_integers(policy: CompiledPolicy, contract: InputContract) -> None:
    frame = pl.DataFrame(
        {
            "case_id": ["a", "b"],
            "credit_amount": [12000, 500],
            "age_in_years": [30, 30],
            "duration_in_month": [12, 12],
            "housing": ["own", "own"],
            "purpose": ["car (new)", "car (new)"],
            "score": [0.1, 0.1],
        }
    )
    assert policy.evaluate(frame)["winning_rule"].to_list() == ["ref_large", "ap_small"]


def test_missing_columns_are_named(policy: CompiledPolicy) -> None:
    frame = pl.DataFrame({"case_id": ["a"], "score": [0.1], "credit_amount": [1.0]})
    with pytest.raises(InvalidInput, match="age_in_years, duration_in_month, housing, purpose"):
        policy.evaluate(frame)


def test_policy_without_rules_uses_thresholds_only(contract: InputContract) -> None:
    data = yaml.safe_load(MINIMAL_POLICY)
    data["rules"] = []
    policy = parse_policy(yaml.safe_dump(data), source="t.yaml", contract=contract)
    out = policy.evaluate(
        cases_frame(contract, [{"case_id": "a", "score": 0.1}, {"case_id": "b", "score": 0.9}])
    )
    assert out["winning_rule"].to_list() == ["threshold:approve", "threshold:decline"]
    assert out["rule_hits"].to_list() == [[], []]


@pytest.mark.parametrize("n_rules", [21, 64, 65, 130])
def test_many_rules(contract: InputContract, n_rules: int) -> None:
    """Past 20 rules masks map through a lookup, past 64 they span several words: same answers."""
    data = yaml.safe_load(MINIMAL_POLICY)
    data["rules"] = [
        {
            "id": f"r{i:03d}",
            "condition": f"credit_amount > {i * 100}",
            "action": "review",
            "reason": f"over {i * 100}",
        }
        for i in range(n_rules)
    ]
    data["rules"][-1]["action"] = "decline"
    policy = parse_policy(yaml.safe_dump(data), source="many.yaml", contract=contract)
    amounts = [0, 50, 150, 2050, 6399, 6401, 12950, 13001, 99999]
    out = policy.evaluate(
        cases_frame(contract, [{"case_id": str(a), "credit_amount": a, "score": 0.3} for a in amounts])
    )
    for amount, got in zip(amounts, out.to_dicts(), strict=True):
        fired = [f"r{i:03d}" for i in range(n_rules) if amount > i * 100]
        assert got["rule_hits"] == fired
        last = f"r{n_rules - 1:03d}"
        expected = last if last in fired else (fired[0] if fired else "threshold:review")
        assert got["winning_rule"] == expected


def test_provenance(policy: CompiledPolicy) -> None:
    assert policy.provenance() == {
        "policy_name": "precedence",
        "policy_version": 3,
        "policy_digest": policy.digest,
        "product": "consumer_loans",
        "model_name": "german_credit",
        "model_version": 1,
        "approve_below": 0.2,
        "decline_at_or_above": 0.6,
    }
    assert policy.rule_ids == (
        "ref_large",
        "ko_age",
        "ap_small",
        "ref_long",
        "ko_amount",
        "sh_rent",
        "ref_missing_purpose",
    )
    assert set(policy.input_columns) == {
        "case_id",
        "score",
        "credit_amount",
        "age_in_years",
        "duration_in_month",
        "housing",
        "purpose",
    }


def test_product_defaults_to_the_policy_name(contract: InputContract) -> None:
    assert parse_policy(MINIMAL_POLICY, source="t.yaml", contract=contract).product == "test_policy"
