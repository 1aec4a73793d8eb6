"""Fixtures for backtests: the bundled policies' engines, histories, and policy variants.

Why variants from the policy text: a backtest compares a policy with a changed copy of itself; the
copy goes through the real loader (a threshold edited in the YAML), exactly as a risk analyst's
edited file would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from decision_review.backtest import History, load_history
from decision_review.engine import DecisionEngine
from decision_review.policy import parse_document

ROOT = Path(__file__).resolve().parents[2]
GERMAN_POLICY = ROOT / "policies" / "german_credit.yaml"
FRAUD_POLICY = ROOT / "policies" / "fraud_alerts.yaml"
FRAUD_ROWS = 20_000


def variant(
    path: Path,
    registry,
    *,
    approve_below: float | None = None,
    decline_at_or_above: float | None = None,
    replace: dict[str, str] | None = None,
    version: int | None = None,
) -> DecisionEngine:
    """The policy at `path` with other thresholds (or other text), loaded through the real loader."""
    text = path.read_text(encoding="utf-8")
    edits = dict(replace or {})
    engine = DecisionEngine.from_policy_file(path, registry)
    if approve_below is not None:
        edits[f"approve_below: {_as_written(text, 'approve_below')}"] = f"approve_below: {approve_below!r}"
    if decline_at_or_above is not None:
        old = _as_written(text, "decline_at_or_above")
        edits[f"decline_at_or_above: {old}"] = f"decline_at_or_above: {decline_at_or_above!r}"
    if version is not None:
        edits[f"\nversion: {engine.policy.version}\n"] = f"\nversion: {version}\n"
    for old, new in edits.items():
        assert text.count(old) == 1, f"{old!r} must appear once in {path.name}"
        text = text.replace(old, new)
    document = parse_document(text, source=str(path), base_dir=path.parent)
    return DecisionEngine.from_document(document, registry)


def _as_written(text: str, key: str) -> str:
    line = next(line for line in text.splitlines() if line.strip().startswith(f"{key}:"))
    return line.split(":", 1)[1].split("#")[0].strip()


@pytest.fixture(scope="session")
def german_engine(model_registry) -> DecisionEngine:
    return DecisionEngine.from_policy_file(GERMAN_POLICY, model_registry)


@pytest.fixture(scope="session")
def fraud_engine_bt(model_registry) -> DecisionEngine:
    return DecisionEngine.from_policy_file(FRAUD_POLICY, model_registry)


@pytest.fixture(scope="session")
def german_history(german_engine) -> History:
    return load_history(
        dataset="german_credit",
        contract=german_engine.model.contract,
        amount_column="credit_amount",
        currency="DM",
    )


@pytest.fixture(scope="session")
def fraud_history(fraud_engine_bt) -> History:
    return load_history(
        dataset="fraud_alerts",
        rows=FRAUD_ROWS,
        contract=fraud_engine_bt.model.contract,
        amount_column="amount_minor",
        currency="EUR",
        minor_digits=2,
    )
