"""The bundled fraud policy: it lints, its golden cases hold through the engine, its rules behave."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from decision_review.datasets.fraud import HISTORY_SEED, PROTECTED_SOURCES, generate_alerts
from decision_review.policy import GoldenCase, read_policy
from tests.fraud.conftest import FRAUD_POLICY, MODELS, ROOT

GOLDEN: list[GoldenCase] = read_policy(FRAUD_POLICY).spec.golden_cases


def lint(*extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "decision_review.cli.main",
            "policy",
            "lint",
            str(FRAUD_POLICY),
            "--models-dir",
            str(MODELS),
            *extra,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def test_lints_cleanly_even_when_warnings_would_fail() -> None:
    result = lint("--strict")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fraud_alerts.yaml: ok" in result.stdout
    assert "warning" not in result.stderr
    assert f"golden cases: {len(GOLDEN)}" in result.stdout


@pytest.fixture(scope="module")
def golden_decisions(fraud_engine) -> pd.DataFrame:
    cases = pd.DataFrame([{"case_id": g.id, **g.case} for g in GOLDEN])
    return fraud_engine.decide(cases, explain="needed").frame.set_index("case_id")


def test_golden_cases_cover_every_outcome_and_every_active_rule(fraud_engine) -> None:
    assert {g.expected.outcome for g in GOLDEN} == {"approve", "decline", "review"}
    active = {r.id for r in fraud_engine.policy.spec.rules if not r.shadow}
    assert active <= {g.expected.winning_rule for g in GOLDEN}


@pytest.mark.parametrize("golden", GOLDEN, ids=[g.id for g in GOLDEN])
def test_golden_case_holds_through_the_engine(golden: GoldenCase, golden_decisions: pd.DataFrame) -> None:
    got = golden_decisions.loc[golden.id]
    assert got["error"] is None
    assert got["outcome"] == golden.expected.outcome
    assert got["winning_rule"] == golden.expected.winning_rule
    assert list(got["rule_hits"]) == golden.expected.rule_hits


@pytest.mark.parametrize("golden", GOLDEN, ids=[g.id for g in GOLDEN])
def test_golden_case_decides_the_same_alone(golden: GoldenCase, fraud_engine, golden_decisions) -> None:
    alone = fraud_engine.decide(pd.DataFrame([{"case_id": golden.id, **golden.case}])).frame.iloc[0]
    together = golden_decisions.loc[golden.id]
    assert (alone["outcome"], alone["winning_rule"]) == (together["outcome"], together["winning_rule"])
    assert alone["score"] == pytest.approx(together["score"], rel=1e-9)


def test_no_rule_names_a_protected_source(fraud_engine) -> None:
    policy = fraud_engine.policy
    named = {c for condition in policy.conditions for c in condition.columns}
    assert named and not named & set(PROTECTED_SOURCES)


@pytest.fixture(scope="module")
def history_sample(fraud_engine) -> pd.DataFrame:
    alerts = generate_alerts(20_000, seed=HISTORY_SEED)
    return fraud_engine.decide(alerts.frame, explain="none").frame


def test_every_alert_scored_for_blocking_is_blocked_unless_its_data_is_suspect(history_sample) -> None:
    """Fraud-pattern referrals stop below the block threshold, so they never rescue a high score."""
    high = history_sample[history_sample["score"] >= history_sample["decline_at_or_above"]]
    assert len(high) >= 20
    exempt = high["winning_rule"].isin(["ref_outside_model_experience", "qa_sample"])
    assert (high.loc[~exempt, "outcome"] == "decline").all()


def test_alerts_below_the_investigation_threshold_are_closed_unless_a_rule_fires(history_sample) -> None:
    low = history_sample[history_sample["score"] < history_sample["approve_below"]]
    by_threshold = low["winning_rule"] == "threshold:approve"
    assert (low.loc[by_threshold, "outcome"] == "approve").all()
    rules = set(low.loc[~by_threshold, "winning_rule"])
    assert rules <= {
        "ref_new_device_abroad",
        "ref_amount_far_above_usual",
        "ref_outside_model_experience",
        "ko_card_testing_burst",
        "ko_takeover_cash_out",
        "qa_sample",
    }
