"""A generated batch through the engine: fraud is blocked or investigated, genuine alerts mostly closed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from decision_review.datasets.fraud import HISTORY_SEED, generate_alerts

# A higher fraud rate than the real 0.4% gives every pattern enough rows for a stable comparison;
# the rows themselves are drawn exactly as at the default rate.
ROWS, FRAUD_RATE = 8_000, 0.05


@pytest.fixture(scope="module")
def decided(fraud_engine) -> pd.DataFrame:
    alerts = generate_alerts(ROWS, seed=HISTORY_SEED, fraud_rate=FRAUD_RATE)
    frame = fraud_engine.decide(alerts.frame, explain="needed").frame
    return frame.assign(pattern=alerts.pattern.to_numpy(), is_fraud=alerts.is_fraud.to_numpy())


def test_every_alert_is_closed_blocked_or_investigated(decided: pd.DataFrame) -> None:
    assert len(decided) == ROWS
    assert set(decided["outcome"]) == {"approve", "decline", "review"}
    assert decided["error"].isna().all()


def stopped(frame: pd.DataFrame) -> float:
    return float(frame["outcome"].isin(["decline", "review"]).mean())


def test_fraud_patterns_are_stopped_far_more_often_than_genuine_alerts(decided: pd.DataFrame) -> None:
    genuine = decided[decided["pattern"] == "none"]
    detectable = decided[decided["pattern"].isin(["card_testing", "account_takeover", "high_value_merchant"])]
    assert len(detectable) >= 200
    assert stopped(genuine) < 0.05
    assert stopped(detectable) >= 0.6
    assert stopped(detectable) >= 15 * stopped(genuine)
    for pattern in ("card_testing", "account_takeover", "high_value_merchant"):
        assert stopped(decided[decided["pattern"] == pattern]) >= 5 * stopped(genuine), pattern


def test_blocks_fall_on_fraud_and_rarely_on_genuine_alerts(decided: pd.DataFrame) -> None:
    blocked = decided[decided["outcome"] == "decline"]
    genuine = decided["pattern"] == "none"
    assert blocked["is_fraud"].mean() >= 0.7
    assert (decided.loc[genuine, "outcome"] == "decline").mean() < 0.002
    card_testing = decided[decided["pattern"] == "card_testing"]
    assert (card_testing["outcome"] == "decline").mean() >= 0.5


def test_friendly_fraud_is_indistinguishable_as_designed(decided: pd.DataFrame) -> None:
    """docs/fraud-data.md: friendly fraud is a genuine alert relabelled, so it is closed like one."""
    friendly = decided[decided["pattern"] == "friendly_fraud"]
    assert len(friendly) >= 20
    assert stopped(friendly) < 0.2


def test_blocked_and_investigated_alerts_carry_reasons_closed_ones_none(
    decided: pd.DataFrame, fraud_model
) -> None:
    explained = decided["outcome"].isin(["decline", "review"]).to_numpy()
    first = decided["reason_1_text"]
    assert first[~explained].isna().all()
    with_reason = first[explained].notna().to_numpy()
    assert with_reason.mean() > 0.95
    texts = {e.text for e in fraud_model.reasons.reasons.values()}
    assert set(first[explained][with_reason]) <= texts
    contributions = decided.loc[explained, "reason_1_contribution"].dropna()
    assert (contributions > 0).all()
    assert np.isfinite(contributions).all()
