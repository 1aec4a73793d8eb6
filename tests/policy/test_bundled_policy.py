"""The bundled German credit policy: loads cleanly, its golden cases hold, it behaves like a credit policy."""

from __future__ import annotations

import polars as pl
import pytest
import yaml

from decision_review.policy import CompiledPolicy, check_golden, golden_records, load_policy, parse_policy
from decision_review.schemas import InputContract
from tests.fixtures.policy import GERMAN_POLICY, cases_frame


@pytest.fixture(scope="module")
def policy(contract: InputContract) -> CompiledPolicy:
    return load_policy(GERMAN_POLICY, contract)


def test_loads_with_only_the_expected_warning(policy: CompiledPolicy) -> None:
    assert policy.name == "german_credit" and policy.product == "german_credit"
    assert (policy.model_name, policy.model_version) == ("german_credit", 1)
    assert (policy.approve_below, policy.decline_at_or_above) == (0.15, 0.60)
    [warning] = policy.warnings
    assert "rule 'ko_minimum_age'" in warning and "age_in_years" in warning


def test_uses_no_protected_source_beyond_the_legal_minimum_age(
    policy: CompiledPolicy, contract: InputContract
) -> None:
    users = {name: [] for name in contract.protected_sources}
    for rule_id, condition in zip(policy.rule_ids, policy.conditions, strict=True):
        for name in condition.columns:
            if name in users:
                users[name].append(rule_id)
    assert users == {"personal_status_and_sex": [], "age_in_years": ["ko_minimum_age"], "foreign_worker": []}


def engine_frame(policy: CompiledPolicy, contract: InputContract, score: float | None) -> pl.DataFrame:
    """The golden cases as the engine would hand them over, with a fixed score."""
    rows = []
    for record in golden_records(policy):
        out_of_range = any(
            f.model_input and f.minimum is not None and not f.minimum <= record[f.name] <= f.maximum
            for f in contract.fields
            if f.kind == "numeric" and record.get(f.name) is not None
        )
        unseen = any(
            f.model_input and record.get(f.name) not in f.categories
            for f in contract.fields
            if f.kind == "categorical"
        )
        rows.append(
            {
                **record,
                "score": score,
                "out_of_range": out_of_range,
                "unseen_category": unseen,
                "missing_count": 0,
            }
        )
    return cases_frame(contract, rows)


# Golden cases a knock-out or referral decides, whatever the model scores (the others depend on
# the model's score and are run through the real engine by tests/policy/test_cli_test.py).
RULE_DETERMINED = ("minor_applicant", "large_loan_referred")


@pytest.mark.parametrize("score", [0.0, 0.1, 0.3, 0.6, 0.95, None])
def test_rule_determined_golden_cases_hold_whatever_the_score(
    policy: CompiledPolicy, contract: InputContract, score: float | None
) -> None:
    results = check_golden(policy, policy.evaluate(engine_frame(policy, contract, score)))
    assert [r.id for r in results] == [g.id for g in policy.golden_cases]
    by_id = {r.id: r for r in results}
    assert all(by_id[i].passed for i in RULE_DETERMINED), results


def test_golden_check_reports_each_difference(policy: CompiledPolicy, contract: InputContract) -> None:
    decided = policy.evaluate(engine_frame(policy, contract, 0.1))
    tampered = decided.with_columns(
        pl.when(pl.col("case_id") == "minor_applicant")
        .then(pl.lit("approve"))
        .otherwise(pl.col("outcome"))
        .alias("outcome")
    ).filter(pl.col("case_id") != "large_loan_referred")
    by_id = {r.id: r for r in check_golden(policy, tampered)}
    minor, large = by_id["minor_applicant"], by_id["large_loan_referred"]
    assert minor.problems == ("outcome 'approve', expected 'decline'",)
    assert large.problems == ("no decision was made for this case",)


def test_on_the_german_credit_cases(policy: CompiledPolicy, german_cases: pl.DataFrame) -> None:
    out = policy.evaluate(german_cases)
    assert set(out["outcome"]) == {"approve", "decline", "review"}
    fired = {rule for hits in out["rule_hits"] for rule in hits}
    assert fired <= set(policy.rule_ids)
    assert "ch_renting_long_term" in fired  # the shadow rule fires ...
    assert "ch_renting_long_term" not in set(out["winning_rule"])  # ... and never decides
    reviews = out.filter(pl.col("outcome") == "review")
    assert reviews["queue"].null_count() == 0 and set(reviews["queue"]) <= set(policy.spec.queues)
    assert (
        out.filter(pl.col("outcome") != "review")["queue"].null_count()
        == out.filter(pl.col("outcome") != "review").height
    )
    # ko_arrears_and_overdrawn: 12 of the 1,000 applicants (1.2%) have both
    assert out.filter(pl.col("rule_hits").list.contains("ko_arrears_and_overdrawn")).height == 12


def test_digest_ignores_layout_and_comments_but_not_content(
    policy: CompiledPolicy, contract: InputContract
) -> None:
    text = GERMAN_POLICY.read_text()
    data = yaml.safe_load(text)
    relaid = yaml.safe_dump(data, sort_keys=True, default_flow_style=True, width=10_000)
    assert "#" not in relaid
    again = parse_policy(relaid, source="relaid.yaml", contract=contract)
    assert again.digest == policy.digest
    data["rules"][0]["reason"] = data["rules"][0]["reason"].replace("18,", "18;")
    changed = parse_policy(yaml.safe_dump(data), source="changed.yaml", contract=contract)
    assert changed.digest != policy.digest
    assert len(policy.digest) == 64 and int(policy.digest, 16) >= 0
