"""Policies that must be refused, each with a message naming the file, the rule and the offending text."""

from __future__ import annotations

import re

import pytest
import yaml

from decision_review.errors import InvalidInput
from decision_review.policy import PolicyError, parse_policy
from decision_review.schemas import InputContract
from tests.fixtures.policy import MINIMAL_POLICY

SOURCE = "policies/test.yaml"


def with_condition(condition: str) -> str:
    """The minimal policy with rule 'ref_large_amount' given `condition`."""
    data = yaml.safe_load(MINIMAL_POLICY)
    data["rules"][1]["condition"] = condition
    return yaml.safe_dump(data, sort_keys=False)


def rejected(text: str, contract: InputContract) -> str:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, source=SOURCE, contract=contract)
    message = str(info.value)
    assert message.startswith(SOURCE)
    assert "Traceback" not in message
    return message


def test_the_minimal_policy_is_accepted(contract: InputContract) -> None:
    policy = parse_policy(MINIMAL_POLICY, source=SOURCE, contract=contract)
    assert policy.rule_ids == ("ko_minimum_age", "ref_large_amount")


def test_policy_errors_are_user_errors() -> None:
    assert issubclass(PolicyError, InvalidInput)


@pytest.mark.parametrize(
    ("condition", "offending", "explanation"),
    [
        ("credit_amout >= 10000", "'credit_amout'", "did you mean 'credit_amount'"),
        ("Credit_Amount >= 10000", "'Credit_Amount'", "case-sensitive"),
        ('"credit amount" >= 10000', "'credit amount'", "unknown column"),
        ("creditability = 'bad'", "'creditability'", "unknown column"),
    ],
)
def test_unknown_column(contract: InputContract, condition: str, offending: str, explanation: str) -> None:
    message = rejected(with_condition(condition), contract)
    assert "rule 'ref_large_amount'" in message
    assert offending in message
    assert explanation in message


@pytest.mark.parametrize(
    ("condition", "offending"),
    [
        ("read_csv('/etc/passwd') IS NOT NULL", "'read_csv'"),
        ("now() > 1", "'now'"),
        ("sum(credit_amount) > 100000", "'sum'"),
        ("random() < 0.5", "'random'"),
        ("regexp_like(purpose, 'car.*')", "'regexp_like'"),
        ("row_number() OVER () > 1", "'row_number'"),
    ],
)
def test_function_outside_the_safe_set(contract: InputContract, condition: str, offending: str) -> None:
    message = rejected(with_condition(condition), contract)
    assert "rule 'ref_large_amount'" in message
    assert f"function {offending} is not allowed" in message
    assert "ABS" in message  # lists what is allowed


@pytest.mark.parametrize(
    ("condition", "offending"),
    [
        ("credit_amount IN (SELECT credit_amount FROM cases)", "SELECT"),
        ("EXISTS (SELECT 1)", "EXISTS"),
        ("CAST(purpose AS DOUBLE) > 1", "CAST"),
        ("credit_amount > 1 ORDER BY 1", "ORDER"),
        ("DATE '2024-01-01' IS NOT NULL", "DATE"),
    ],
)
def test_forbidden_keyword(contract: InputContract, condition: str, offending: str) -> None:
    message = rejected(with_condition(condition), contract)
    assert "rule 'ref_large_amount'" in message
    assert f"{offending} is not allowed" in message


@pytest.mark.parametrize(
    ("condition", "offending"),
    [
        ("credit_amount > 1; DROP TABLE cases", "';'"),
        ("credit_amount > @limit", "'@'"),
        ("credit_amount > $1", "'$'"),
        ("credit_amount::int > 1", "':'"),
        ("credit_amount > 1 -- AND age_in_years < 25", "comments are not allowed"),
        ("purpose = 'car", "not closed"),
    ],
)
def test_characters_outside_the_language(contract: InputContract, condition: str, offending: str) -> None:
    message = rejected(with_condition(condition), contract)
    assert "rule 'ref_large_amount'" in message
    assert offending in message


@pytest.mark.parametrize(
    "condition", ["credit_amount >", "credit_amount > > 5", "(credit_amount > 5", "credit_amount > 5 AND"]
)
def test_syntax_error(contract: InputContract, condition: str) -> None:
    message = rejected(with_condition(condition), contract)
    assert "rule 'ref_large_amount'" in message
    assert "cannot parse the condition" in message
    assert f"condition: {condition}" in message


@pytest.mark.parametrize(
    "condition",
    ["purpose > 5", "credit_amount = 'ten thousand'", "purpose IN (1, 2)", "credit_amount + purpose > 1"],
)
def test_type_mismatch(contract: InputContract, condition: str) -> None:
    message = rejected(with_condition(condition), contract)
    assert "rule 'ref_large_amount'" in message
    assert "type mismatch" in message
    assert f"condition: {condition}" in message
    assert "purpose is text" in message or "credit_amount is a number" in message


@pytest.mark.parametrize(
    ("condition", "gives"),
    [
        ("credit_amount + 1", "a number"),
        ("purpose", "text"),
        ("NULL", "always missing"),
        ("LENGTH(purpose)", "a whole number"),
    ],
)
def test_condition_that_is_not_true_or_false(contract: InputContract, condition: str, gives: str) -> None:
    message = rejected(with_condition(condition), contract)
    assert "rule 'ref_large_amount'" in message
    assert f"must be true or false, but it gives {gives}" in message


def test_error_points_at_the_line_of_the_condition(contract: InputContract) -> None:
    text = MINIMAL_POLICY.replace("credit_amount >= 10000", "credit_amout >= 10000")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "credit_amout" in t)
    message = rejected(text, contract)
    assert f"line {line}, rule 'ref_large_amount'" in message


def test_every_bad_rule_is_reported_at_once(contract: InputContract) -> None:
    text = MINIMAL_POLICY.replace("age_in_years < 18", "age < 18").replace(
        "credit_amount >= 10000", "now() > 1"
    )
    message = rejected(text, contract)
    assert "2 problems" in message
    assert "rule 'ko_minimum_age'" in message and "'age'" in message
    assert "rule 'ref_large_amount'" in message and "'now'" in message


def test_approve_threshold_above_decline(contract: InputContract) -> None:
    text = MINIMAL_POLICY.replace(
        "approve_below: 0.2, decline_at_or_above: 0.6", "approve_below: 0.7, decline_at_or_above: 0.6"
    )
    message = rejected(text, contract)
    assert "thresholds" in message
    assert "approve_below (0.7) is above decline_at_or_above (0.6)" in message
    assert "line 4" in message


@pytest.mark.parametrize("value", ["1.5", "-0.1", ".nan", "high"])
def test_threshold_outside_zero_one(contract: InputContract, value: str) -> None:
    message = rejected(MINIMAL_POLICY.replace("approve_below: 0.2", f"approve_below: {value}"), contract)
    assert "thresholds.approve_below" in message


def test_unknown_top_level_key(contract: InputContract) -> None:
    message = rejected(MINIMAL_POLICY.replace("rules:", "rulez:"), contract)
    assert "unknown key 'rulez'" in message
    assert "did you mean 'rules'" in message


def test_unknown_key_inside_a_rule_names_the_rule(contract: InputContract) -> None:
    text = MINIMAL_POLICY.replace(
        "    condition: credit_amount >= 10000", "    condtion: credit_amount >= 10000"
    )
    message = rejected(text, contract)
    assert "rule 'ref_large_amount'" in message
    assert "unknown key 'condtion' in rules[1] (did you mean 'condition'?)" in message


def test_unknown_key_inside_thresholds(contract: InputContract) -> None:
    message = rejected(MINIMAL_POLICY.replace("approve_below:", "aprove_below:"), contract)
    assert "unknown key 'aprove_below' in thresholds (did you mean 'approve_below'?)" in message


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("action: review", "action: refer", "rules[1].action"),
        ("id: ref_large_amount", "id: ko_minimum_age", "rule id 'ko_minimum_age' is used twice"),
        ("id: ref_large_amount", "id: qa_sample", "reserved"),
        ("id: ref_large_amount", "id: 'threshold:review'", "rules[1].id"),
        ("queue: senior", "queue: seniors", "queue 'seniors' is not declared"),
        ("default_queue: standard", "default_queue: triage", "queue 'triage' is not declared"),
        ("default_queue: standard\n", "", "default_queue is required"),
        ("    reason: Large loan.\n", "", "rules[1].reason: Field required"),
        ("    action: decline\n", "    action: decline\n    queue: senior\n", "only apply to review rules"),
        ("priority: 2", "priority: 9", "rules[1].priority"),
        ("sla_hours: 48", "sla_hours: 0", "queues.standard.sla_hours"),
        ("version: 1\nmodel", "version: 0\nmodel", "version"),
        (
            "model: {name: german_credit, version: 1}",
            "model: {name: german_credit}",
            "model.version: Field required",
        ),
    ],
)
def test_schema_problems(contract: InputContract, old: str, new: str, expected: str) -> None:
    assert old in MINIMAL_POLICY
    message = rejected(MINIMAL_POLICY.replace(old, new, 1), contract)
    assert expected in message


def test_rule_problems_name_the_rule(contract: InputContract) -> None:
    message = rejected(MINIMAL_POLICY.replace("queue: senior", "queue: seniors"), contract)
    assert re.search(r"line \d+, rule 'ref_large_amount': rules\[1\]\.queue: queue 'seniors'", message)


def test_repeated_yaml_key_is_an_error_not_a_silent_override(contract: InputContract) -> None:
    text = MINIMAL_POLICY.replace(
        "    reason: Large loan.\n", "    reason: Large loan.\n    condition: credit_amount > 0\n"
    )
    message = rejected(text, contract)
    assert "key 'condition' appears twice" in message


def test_yaml_aliases_are_refused(contract: InputContract) -> None:
    text = MINIMAL_POLICY.replace("  standard: {sla_hours: 48}", "  standard: &q {sla_hours: 48}").replace(
        "  senior: {sla_hours: 24}", "  senior: *q"
    )
    assert "aliases" in rejected(text, contract)


def test_invalid_yaml_names_the_line(contract: InputContract) -> None:
    message = rejected(MINIMAL_POLICY + "  - id: [unclosed\n", contract)
    assert "not valid YAML" in message
    assert re.search(r"line \d+", message)


@pytest.mark.parametrize("text", ["a: " + "[" * 3000, "a: " + "[" * 3000 + "]" * 3000 + "\n"])
def test_yaml_nested_too_deeply_is_refused_not_a_crash(contract: InputContract, text: str) -> None:
    """The YAML reader recurses per level: past Python's limit it must be a named refusal."""
    assert "nested too deeply" in rejected(text, contract)


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text\n"])
def test_a_policy_must_be_a_mapping(contract: InputContract, text: str) -> None:
    assert "must be a mapping" in rejected(text, contract)


def test_golden_case_problems(contract: InputContract) -> None:
    text = MINIMAL_POLICY + (
        "golden_cases:\n"
        "  - id: g1\n"
        "    case: {credit_amout: 5, age_in_years: 17}\n"
        "    expected: {outcome: decline, winning_rule: ko_min_age}\n"
    )
    message = rejected(text, contract)
    assert "golden case 'g1'" in message
    assert "unknown field 'credit_amout' (did you mean 'credit_amount'?)" in message
    assert "expects rule 'ko_min_age', which the policy does not have" in message
    assert "lacks required fields" in message


@pytest.mark.parametrize("value", [".nan", ".inf", "[1, 2]", "{a: 1}"])
def test_golden_case_values_are_plain(contract: InputContract, value: str) -> None:
    text = (
        MINIMAL_POLICY
        + f"golden_cases:\n  - {{id: g, case: {{credit_amount: {value}}}, expected: {{outcome: review}}}}\n"
    )
    message = rejected(text, contract)
    assert "golden_cases[0].case: field 'credit_amount'" in message
    assert "is not text, a finite number, true/false or empty" in message
