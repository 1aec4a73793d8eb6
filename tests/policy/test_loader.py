"""Loading details: lint warnings, YAML pitfalls, golden case files, the file-level errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from decision_review.errors import InvalidInput
from decision_review.policy import PolicyError, load_policy, parse_policy, read_policy
from decision_review.schemas import InputContract
from tests.fixtures.policy import MINIMAL_POLICY


def with_rule(condition: str, **extra: object) -> str:
    data = yaml.safe_load(MINIMAL_POLICY)
    data["rules"].append({"id": "extra", "condition": condition, "action": "review", "reason": "x", **extra})
    return yaml.safe_dump(data, sort_keys=False)


def warnings_of(text: str, contract: InputContract) -> list[str]:
    """Warnings about the rule `with_rule` adds (the minimal policy's age knock-out has its own)."""
    warnings = parse_policy(text, source="t.yaml", contract=contract).warnings
    return [w for w in warnings if "rule 'ko_minimum_age'" not in w]


def test_category_typo_is_warned_with_the_likely_value(contract: InputContract) -> None:
    [warning] = warnings_of(with_rule("purpose = 'car (nwe)'"), contract)
    assert "rule 'extra'" in warning
    assert "'car (nwe)' is not a value the model saw for purpose (did you mean 'car (new)'?)" in warning


def test_category_check_covers_in_lists_and_ignores_patterns(contract: InputContract) -> None:
    [warning] = warnings_of(with_rule("purpose IN ('business', 'holiday') OR purpose LIKE 'car%'"), contract)
    assert "'holiday'" in warning
    assert warnings_of(with_rule("LOWER(purpose) = 'BUSINESS'"), contract) == []


def test_protected_source_is_warned(contract: InputContract) -> None:
    [warning] = warnings_of(with_rule("personal_status_and_sex = 'male : single'"), contract)
    assert "protected attribute 'sex'" in warning


def test_condition_without_columns_is_warned(contract: InputContract) -> None:
    [warning] = warnings_of(with_rule("1 = 1"), contract)
    assert "names no column" in warning


def test_policy_level_warnings(contract: InputContract) -> None:
    text = MINIMAL_POLICY.replace("decline_at_or_above: 0.6", "decline_at_or_above: 0.2").replace(
        "  senior: {sla_hours: 24}", "  senior: {sla_hours: 24}\n  unused: {sla_hours: 1}"
    )
    warnings = warnings_of(text, contract)
    assert any("no case is referred on its score alone" in w for w in warnings)
    assert any("queue 'unused' is declared but nothing routes cases to it" in w for w in warnings)


def test_yes_and_no_stay_text(contract: InputContract) -> None:
    """YAML 1.1 would read `foreign_worker: no` as false; a policy reads it as the text 'no'."""
    case = yaml.safe_dump(full_case(), default_flow_style=True, width=10_000).strip()
    assert "foreign_worker: 'no'" in case
    case = case.replace("foreign_worker: 'no'", "foreign_worker: no")
    text = MINIMAL_POLICY + f"golden_cases:\n  - id: g\n    case: {case}\n    expected: {{outcome: review}}\n"
    assert yaml.safe_load(text)["golden_cases"][0]["case"]["foreign_worker"] is False  # plain PyYAML
    [golden] = parse_policy(text, source="t.yaml", contract=contract).golden_cases
    assert golden.case["foreign_worker"] == "no"


def test_numbers_follow_yaml_1_2(contract: InputContract) -> None:
    text = MINIMAL_POLICY.replace("approve_below: 0.2", "approve_below: 1.5e-1").replace(
        "sla_hours: 48", "sla_hours: 010"
    )
    policy = parse_policy(text, source="t.yaml", contract=contract)
    assert policy.approve_below == 0.15
    assert policy.spec.queues["standard"].sla_hours == 10
    with pytest.raises(PolicyError, match=r"queues\.standard\.sla_hours: Input should be a valid integer"):
        parse_policy(
            MINIMAL_POLICY.replace("sla_hours: 48", "sla_hours: 1_000"), source="t.yaml", contract=contract
        )


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("approve_below: 0.2", 'approve_below: "0.2"', "thresholds.approve_below"),
        ("approve_below: 0.2", "approve_below: true", "thresholds.approve_below"),
        ("version: 1\n", "version: 1.0\n", "version"),
        ("    priority: 2", "    priority: 2.5", "rules[1].priority"),
    ],
)
def test_numbers_are_not_converted_from_other_types(
    contract: InputContract, old: str, new: str, where: str
) -> None:
    with pytest.raises(PolicyError, match=re.escape(where)):
        parse_policy(MINIMAL_POLICY.replace(old, new, 1), source="t.yaml", contract=contract)


def full_case(**overrides: object) -> dict[str, object]:
    case: dict[str, object] = {
        "status_of_existing_checking_account": "no checking account",
        "duration_in_month": 12,
        "credit_history": "existing credits paid back duly till now",
        "purpose": "car (new)",
        "credit_amount": 2000,
        "savings_account_and_bonds": "... < 100 DM",
        "present_employment_since": "... >= 7 years",
        "installment_rate_in_percentage_of_disposable_income": 2,
        "personal_status_and_sex": "male : single",
        "other_debtors_or_guarantors": "none",
        "present_residence_since": 2,
        "property": "real estate",
        "age_in_years": 40,
        "other_installment_plans": "none",
        "housing": "own",
        "number_of_existing_credits_at_this_bank": 1,
        "job": "skilled employee / official",
        "number_of_people_being_liable_to_provide_maintenance_for": 1,
        "telephone": "none",
        "foreign_worker": "no",
    }
    case.update(overrides)
    return case


def write_policy(tmp_path: Path, **extra: object) -> Path:
    data = yaml.safe_load(MINIMAL_POLICY)
    data.update(extra)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_golden_file_yaml(tmp_path: Path, contract: InputContract) -> None:
    cases = [
        {
            "id": "minor",
            "case": full_case(age_in_years=17),
            "expected": {"outcome": "decline", "winning_rule": "ko_minimum_age"},
        },
        {"id": "large", "case": full_case(credit_amount=15000), "expected": {"outcome": "review"}},
    ]
    (tmp_path / "golden").mkdir()
    (tmp_path / "golden" / "cases.yaml").write_text(yaml.safe_dump(cases))
    policy = load_policy(write_policy(tmp_path, golden_file="golden/cases.yaml"), contract)
    assert [g.id for g in policy.golden_cases] == ["minor", "large"]
    assert policy.golden_cases[0].case["age_in_years"] == 17


def test_golden_file_csv(tmp_path: Path, contract: InputContract) -> None:
    header = ["id", "expected_outcome", "expected_winning_rule", *full_case()]
    rows = [
        ["minor", "decline", "ko_minimum_age", *full_case(age_in_years=17).values()],
        ["blank", "review", "", *full_case(purpose="").values()],
    ]
    lines = [",".join(f'"{v}"' for v in row) for row in [header, *rows]]
    (tmp_path / "golden.csv").write_text("\n".join(lines) + "\n")
    data = {"golden_file": "golden.csv"}
    with pytest.raises(PolicyError) as info:  # purpose is required: an empty cell is a missing value
        load_policy(write_policy(tmp_path, **data), contract)
    assert "golden case 'blank': lacks required fields: purpose" in str(info.value)
    lines.pop()
    (tmp_path / "golden.csv").write_text("\n".join(lines) + "\n")
    policy = load_policy(write_policy(tmp_path, **data), contract)
    [minor] = policy.golden_cases
    assert minor.case["age_in_years"] == 17.0 and minor.expected.winning_rule == "ko_minimum_age"


def test_golden_file_problems(tmp_path: Path, contract: InputContract) -> None:
    with pytest.raises(PolicyError, match=r"golden_file 'absent\.yaml': cannot read"):
        load_policy(write_policy(tmp_path, golden_file="absent.yaml"), contract)
    (tmp_path / "bad.csv").write_text("id,expected_outcome,credit_amount\ng,review,lots\n")
    with pytest.raises(PolicyError, match=r"field 'credit_amount' is numeric, got 'lots'"):
        load_policy(write_policy(tmp_path, golden_file="bad.csv"), contract)
    with pytest.raises(PolicyError, match="not read from a file"):
        parse_policy(MINIMAL_POLICY + "golden_file: g.yaml\n", source="upload", contract=contract)


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such policy file"):
        read_policy(tmp_path / "absent.yaml")
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(PolicyError, match="not UTF-8"):
        read_policy(latin1)


def test_a_queue_needs_exactly_one_sla(tmp_path) -> None:
    from decision_review.policy.spec import Queue

    assert Queue(sla_minutes=15).sla.total_seconds() == 15 * 60
    assert Queue(sla_hours=48).sla.total_seconds() == 48 * 3600
    for bad in ({}, {"sla_hours": 1, "sla_minutes": 30}):
        with pytest.raises(ValueError, match="sla_hours or sla_minutes"):
            Queue(**bad)
