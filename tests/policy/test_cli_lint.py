"""``decision-review policy lint`` end to end, as a user runs it (a real subprocess, real files)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from decision_review.schemas import InputContract
from tests.fixtures.policy import GERMAN_POLICY, ROOT
from tests.fixtures.services import unavailable

MODELS = ROOT / "models"


def lint(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "decision_review.cli.main", "policy", "lint", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


@pytest.fixture
def contract_file(tmp_path: Path, contract: InputContract) -> Path:
    path = tmp_path / "contract.json"
    path.write_text(contract.model_dump_json())
    return path


def broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    text = GERMAN_POLICY.read_text()
    assert old in text
    path = tmp_path / "broken.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


def assert_user_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "error:" in result.stderr
    assert "Traceback" not in result.stderr
    flat = " ".join(result.stderr.split())  # rich wraps long lines
    for fragment in fragments:
        assert fragment in flat, result.stderr


def test_bundled_policy_against_the_registered_model() -> None:
    if not (MODELS / "german_credit" / "1").is_dir():
        unavailable("models/german_credit/1 is not in the registry yet (train it with the models CLI)")
    result = lint(GERMAN_POLICY, "--models-dir", MODELS)
    assert result.returncode == 0, result.stderr
    assert "policies/german_credit.yaml: ok" in result.stdout
    assert "digest " in result.stdout and "rules: 4 decline, 8 review, 1 approve, 1 shadow" in result.stdout
    assert "rule 'ko_minimum_age'" in result.stderr and "protected attribute" in result.stderr


def test_bundled_policy_against_a_contract_file(contract_file: Path) -> None:
    result = lint(GERMAN_POLICY, "--contract", contract_file)
    assert result.returncode == 0, result.stderr
    assert "golden cases: 8" in result.stdout


def test_strict_fails_on_warnings(contract_file: Path) -> None:
    result = lint(GERMAN_POLICY, "--contract", contract_file, "--strict")
    assert_user_error(result, "1 warning(s) and --strict")


def test_typo_in_a_column(tmp_path: Path, contract_file: Path) -> None:
    path = broken_copy(tmp_path, "condition: credit_amount >= 10000", "condition: credit_amout >= 10000")
    assert_user_error(
        lint(path, "--contract", contract_file),
        str(path),
        "rule 'ref_large_amount'",
        "unknown column 'credit_amout' (did you mean 'credit_amount'?)",
    )


def test_approve_threshold_above_decline(tmp_path: Path, contract_file: Path) -> None:
    path = broken_copy(tmp_path, "approve_below: 0.15", "approve_below: 0.65")
    assert_user_error(lint(path, "--contract", contract_file), str(path), "approve_below (0.65) is above")


def test_unsafe_expression(tmp_path: Path, contract_file: Path) -> None:
    path = broken_copy(
        tmp_path, "condition: duration_in_month > 72", "condition: duration_in_month > (SELECT max(x) FROM t)"
    )
    assert_user_error(
        lint(path, "--contract", contract_file), str(path), "rule 'ko_maximum_term'", "SELECT is not allowed"
    )


def test_unknown_top_level_key(tmp_path: Path, contract_file: Path) -> None:
    path = broken_copy(tmp_path, "default_queue: standard_review", "default_queeu: standard_review")
    assert_user_error(lint(path, "--contract", contract_file), "unknown key 'default_queeu'")


def test_unknown_model(tmp_path: Path) -> None:
    path = broken_copy(tmp_path, "model:\n  name: german_credit", "model:\n  name: german_credits")
    assert_user_error(lint(path, "--models-dir", MODELS), str(path), "'german_credits'", "version 1")
