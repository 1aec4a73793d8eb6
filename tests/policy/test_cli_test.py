"""``decision-review policy test``: golden cases decided by the real engine and model, as a user runs it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.policy import GERMAN_POLICY, ROOT

FRAUD_POLICY = ROOT / "policies" / "fraud_alerts.yaml"


def policy_test(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "decision_review.cli.main",
            "policy",
            "test",
            str(path),
            "--models-dir",
            str(ROOT / "models"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


@pytest.mark.parametrize("path", [GERMAN_POLICY, FRAUD_POLICY], ids=["german_credit", "fraud_alerts"])
def test_bundled_golden_cases_pass(path):
    result = policy_test(path)
    assert result.returncode == 0, result.stdout + result.stderr
    passed, total = map(int, re.search(r"(\d+) of (\d+) golden cases pass", result.stdout).groups())
    assert passed == total >= 8


def test_a_golden_case_that_decides_differently_fails_naming_it(tmp_path):
    text = GERMAN_POLICY.read_text()
    # GC-0641 is declined by the threshold; claim it should be approved.
    start = text.index("- id: GC-0641")
    expected = text.index("outcome: decline", start)
    path = tmp_path / "wrong.yaml"
    path.write_text(text[:expected] + "outcome: approve" + text[expected + len("outcome: decline") :])
    result = policy_test(path)
    assert result.returncode == 1
    assert "FAIL  GC-0641: outcome 'decline', expected 'approve'" in result.stdout
    assert "7 of 8 golden cases pass" in result.stdout


def test_a_policy_without_golden_cases_is_an_error(tmp_path):
    text = GERMAN_POLICY.read_text()
    path = tmp_path / "none.yaml"
    path.write_text(text[: text.index("golden_cases:")])
    result = policy_test(path)
    assert result.returncode == 2
    assert "has no golden cases" in result.stderr
