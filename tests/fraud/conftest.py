"""Fixtures for the fraud product line: the shipped fraud model and the engine with its policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from decision_review.engine import DecisionEngine

ROOT = Path(__file__).resolve().parents[2]
FRAUD_POLICY = ROOT / "policies" / "fraud_alerts.yaml"
MODELS = ROOT / "models"


@pytest.fixture(scope="session")
def fraud_model(model_registry):
    """fraud_alerts version 1, the model policies/fraud_alerts.yaml uses."""
    return model_registry.load("fraud_alerts", 1)


@pytest.fixture(scope="session")
def fraud_engine(model_registry) -> DecisionEngine:
    return DecisionEngine.from_policy_file(FRAUD_POLICY, model_registry)
