"""The fraud alert generator: deterministic, at the configured rate, each pattern as documented.

The statistical checks compare against docs/fraud-data.md (the process a backtest is judged
against), with tolerances from the sampling variance, not from our own output.
"""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from decision_review.datasets import fraud, load_dataset
from decision_review.datasets.fraud import generate_alerts, write_history
from decision_review.errors import InvalidInput

# Variance-to-mean ratio of the fraud-row count: incidents arrive like a Poisson process and
# bring E[L^2]/E[L] rows each on average (card testing 2 + Geometric(0.35): 28.9/4.857; takeover
# 1 + Poisson(0.4): 2.36/1.4; high value 1 + Bernoulli(0.25): 1.75/1.25; friendly fraud 1).
CLUSTERING = 0.30 * 28.9 / 4.857 + 0.35 * 2.36 / 1.4 + 0.25 * 1.75 / 1.25 + 0.10 * 1.0


@pytest.fixture(scope="module")
def alerts() -> fraud.GeneratedAlerts:
    """Enough fraud (about 6,000 rows) to measure each pattern's perturbations."""
    return generate_alerts(200_000, seed=11, fraud_rate=0.03)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "decision_review.cli.main", *args], capture_output=True, text=True, timeout=120
    )


# --- determinism -------------------------------------------------------------------------------


def test_same_seed_gives_the_identical_frame_and_the_identical_parquet_file(tmp_path):
    first, second = generate_alerts(30_000, seed=3), generate_alerts(30_000, seed=3)
    pd.testing.assert_frame_equal(first.history(), second.history())
    write_history(tmp_path / "a.parquet", n_rows=30_000, seed=3)
    write_history(tmp_path / "b.parquet", n_rows=30_000, seed=3)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_a_different_seed_gives_different_alerts():
    a, b = generate_alerts(20_000, seed=3).frame, generate_alerts(20_000, seed=4).frame
    assert (a["amount_minor"] != b["amount_minor"]).mean() > 0.95
    assert (a["customer_id"] != b["customer_id"]).mean() > 0.95


def test_a_longer_run_only_appends_alerts():
    short, long = generate_alerts(20_000, seed=5), generate_alerts(70_000, seed=5)
    pd.testing.assert_frame_equal(long.history().iloc[:20_000], short.history())


def test_more_customers_keep_the_first_customers_as_they_were():
    few = generate_alerts(20_000, seed=5, n_customers=2_000).frame
    many = generate_alerts(20_000, seed=5, n_customers=5_000).frame
    assert few["customer_id"].max() <= "CU-0002000"

    def per_customer(frame: pd.DataFrame) -> pd.DataFrame:
        # Tenure grows by one a day from its value on the first day of the history.
        days = (frame["alert_time"] - pd.Timestamp(fraud.DEFAULT_START)).dt.days
        first_day = frame.assign(tenure_then=frame["customer_tenure_days"] - days)
        return first_day.groupby("customer_id")[["customer_age", "home_country", "tenure_then"]].first()

    shared = per_customer(few).join(per_customer(many).add_suffix("_many"), how="inner")
    assert len(shared) > 1_000
    for column in ("customer_age", "home_country", "tenure_then"):
        assert (shared[column] == shared[f"{column}_many"]).all(), column


# --- rate and ground truth ---------------------------------------------------------------------


@pytest.mark.parametrize(("n_rows", "rate"), [(500_000, 0.004), (200_000, 0.05), (100_000, 0.3)])
def test_fraud_share_is_the_configured_rate_within_sampling_error(n_rows, rate):
    generated = generate_alerts(n_rows, seed=21, fraud_rate=rate)
    expected = n_rows * rate
    tolerance = 4 * math.sqrt(expected * CLUSTERING)
    assert abs(int(generated.is_fraud.sum()) - expected) < tolerance


def test_rate_zero_has_no_fraud_and_rate_one_has_nothing_else():
    assert generate_alerts(10_000, fraud_rate=0.0).is_fraud.sum() == 0
    assert generate_alerts(10_000, fraud_rate=1.0).is_fraud.all()


def test_fraud_rows_are_split_between_patterns_as_documented(alerts):
    fraud_patterns = alerts.pattern[alerts.is_fraud == 1]
    shares = fraud_patterns.value_counts(normalize=True)
    for pattern, share in fraud.DEFAULT_PATTERN_SHARES.items():
        assert shares[pattern] == pytest.approx(share, abs=0.05), pattern
    assert ((alerts.pattern != "none") == (alerts.is_fraud == 1)).all()


def test_pattern_shares_can_be_chosen():
    generated = generate_alerts(50_000, fraud_rate=0.02, pattern_shares={"card_testing": 1.0})
    assert set(generated.pattern.unique()) == {"none", "card_testing"}


# --- each pattern's perturbations --------------------------------------------------------------


def rows(alerts: fraud.GeneratedAlerts, pattern: str) -> pd.DataFrame:
    return alerts.frame[alerts.pattern == pattern]


def test_card_testing_is_bursts_of_small_online_payments_on_one_card(alerts):
    testing, legit = rows(alerts, "card_testing"), rows(alerts, "none")
    assert (testing["card_present"] == 0).all()
    assert (testing["amount_minor"] < 2_000).all()
    assert testing["merchant_category"].isin(["digital_goods", "online_retail", "entertainment"]).all()
    assert testing["txn_count_1h"].mean() > 2 * legit["txn_count_1h"].mean()
    assert testing["device_is_new"].mean() > max(0.6, 4 * legit["device_is_new"].mean())
    # A burst is consecutive alerts on one customer, seconds apart; each has at least 3 rows
    # (the last burst of the run may be cut short).
    index = testing.index.to_numpy()
    burst = np.cumsum(np.diff(index, prepend=-2) != 1)
    bursts = testing.assign(burst=burst).groupby("burst")
    assert (bursts["customer_id"].nunique() == 1).all()
    sizes = bursts.size()
    assert (sizes.iloc[:-1] >= 3).all()
    spans = bursts["alert_time"].agg(lambda t: (t.max() - t.min()).total_seconds())
    assert (spans <= (sizes - 1) * 120).all()


def test_account_takeover_comes_from_new_devices_abroad_after_credential_changes(alerts):
    takeover, legit = rows(alerts, "account_takeover"), rows(alerts, "none")
    assert (takeover["card_present"] == 0).all()
    assert takeover["device_is_new"].mean() == pytest.approx(0.70, abs=0.06)
    assert takeover["is_foreign"].mean() == pytest.approx(0.45, abs=0.06)
    assert takeover["credentials_changed_7d"].mean() == pytest.approx(0.40, abs=0.06)
    assert takeover["device_is_new"].mean() > 4 * legit["device_is_new"].mean()
    assert takeover["is_foreign"].mean() > 2 * legit["is_foreign"].mean()
    assert takeover["credentials_changed_7d"].mean() > 8 * legit["credentials_changed_7d"].mean()
    assert takeover["amount_to_customer_median"].median() > 2 * legit["amount_to_customer_median"].median()
    # Older customers are targeted 2.5 times as often (per alert they raise).
    old = alerts.frame["customer_age"] >= 65
    is_takeover = alerts.pattern == "account_takeover"
    assert is_takeover[old].mean() > 1.5 * is_takeover[~old].mean()


def test_high_value_merchant_fraud_is_large_spending_in_high_value_categories(alerts):
    high_value, legit = rows(alerts, "high_value_merchant"), rows(alerts, "none")
    assert (
        high_value["merchant_category"].isin(["electronics", "jewellery", "money_transfer", "gambling"]).all()
    )
    assert high_value["amount_minor"].median() > 5 * legit["amount_minor"].median()
    assert high_value["card_present"].mean() == pytest.approx(0.55, abs=0.06)
    assert (high_value.loc[high_value["card_present"] == 1, "device_is_new"] == 0).all()


def test_friendly_fraud_looks_like_a_legitimate_alert(alerts):
    friendly, legit = rows(alerts, "friendly_fraud"), rows(alerts, "none")
    for column in ("device_is_new", "is_foreign", "card_present", "credentials_changed_7d"):
        assert friendly[column].mean() == pytest.approx(legit[column].mean(), abs=0.05), column
    assert friendly["amount_to_customer_median"].median() == pytest.approx(
        legit["amount_to_customer_median"].median(), rel=0.2
    )


@pytest.mark.slow
def test_a_boosted_model_learns_the_overt_patterns_but_not_friendly_fraud():
    """Better than chance, short of perfect: what docs/fraud-data.md promises a model can learn."""
    import xgboost as xgb

    def features(generated: fraud.GeneratedAlerts) -> pd.DataFrame:
        frame = generated.frame[list(fraud.MODEL_INPUTS)].copy()
        frame["merchant_category"] = pd.Categorical(frame["merchant_category"], fraud.MERCHANT_CATEGORIES)
        frame["transaction_country"] = pd.Categorical(frame["transaction_country"], fraud.COUNTRIES)
        return frame

    train, test = (
        generate_alerts(60_000, seed=1, fraud_rate=0.02),
        generate_alerts(60_000, seed=2, fraud_rate=0.02),
    )
    model = xgb.XGBClassifier(n_estimators=80, max_depth=4, learning_rate=0.1, enable_categorical=True)
    model.fit(features(train), train.is_fraud)
    score = model.predict_proba(features(test))[:, 1]
    assert 0.85 < roc_auc_score(test.is_fraud, score) < 0.98
    legit, friendly = (test.pattern == "none").to_numpy(), (test.pattern == "friendly_fraud").to_numpy()
    both = legit | friendly
    assert abs(roc_auc_score(friendly[both], score[both]) - 0.5) < 0.1
    takeover = (test.pattern == "account_takeover").to_numpy()
    assert roc_auc_score(takeover[legit | takeover], score[legit | takeover]) > 0.9


# --- shape and values --------------------------------------------------------------------------


def check_invariants(generated: fraud.GeneratedAlerts) -> None:
    frame = generated.frame
    assert not frame.isna().any().any()
    assert list(frame.columns) == ["case_id", "alert_time", "customer_id", *fraud.FIELDS]
    assert frame["case_id"].is_unique
    assert frame["case_id"].str.fullmatch(r"FA-\d{7,}").all()
    assert frame["customer_id"].str.fullmatch(r"CU-\d{7,}").all()
    assert (frame["alert_time"].dt.hour == frame["hour_of_day"]).all()
    assert (frame["txn_count_1h"] >= 1).all() and (frame["txn_count_1h"] <= frame["txn_count_24h"]).all()
    assert ((frame["card_present"] == 0) | (frame["device_is_new"] == 0)).all()
    assert (frame["is_foreign"] == (frame["transaction_country"] != frame["home_country"])).all()
    assert (frame["amount_minor"] >= 1).all() and (frame["distance_from_home_km"] >= 0).all()
    assert frame["merchant_category"].isin(fraud.MERCHANT_CATEGORIES).all()
    assert frame["home_country"].isin(fraud.HOME_COUNTRIES).all()
    assert frame["customer_age"].between(18, 90).all()
    for flag in ("card_present", "is_foreign", "device_is_new", "credentials_changed_7d"):
        assert frame[flag].isin([0, 1]).all(), flag
    assert generated.pattern.isin(fraud.PATTERNS).all()
    assert (generated.is_fraud == (generated.pattern != "none")).all()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_rows=st.integers(1, 3_000),
    seed=st.integers(0, 2**32 - 1),
    rate=st.floats(0.0, 1.0),
    n_customers=st.integers(1, 3_000),
)
def test_every_generated_alert_is_consistent(n_rows, seed, rate, n_customers):
    generated = generate_alerts(n_rows, seed=seed, fraud_rate=rate, n_customers=n_customers)
    assert len(generated.frame) == n_rows
    check_invariants(generated)


def test_column_types_are_numbers_strings_and_utc_times(alerts):
    frame = alerts.frame
    assert str(frame["alert_time"].dt.tz) == "UTC"
    for name in fraud.FIELDS:
        if name in ("merchant_category", "transaction_country", "home_country"):
            assert pd.api.types.is_string_dtype(frame[name]), name
        elif name == "amount_to_customer_median":
            assert pd.api.types.is_float_dtype(frame[name])
        else:
            assert pd.api.types.is_integer_dtype(frame[name]), name


def test_history_starts_on_the_given_day_with_the_configured_alerts_per_day():
    start = datetime(2026, 3, 1, tzinfo=UTC)
    frame = generate_alerts(3 * fraud.ALERTS_PER_DAY, start=start).frame
    days = frame["alert_time"].dt.floor("D").value_counts().sort_index()
    assert days.index[0] == pd.Timestamp(start)
    assert len(days) >= 3 and days.iloc[:2].min() >= fraud.ALERTS_PER_DAY * 0.99


def test_training_set_has_raw_fields_protected_sources_and_separate_ground_truth():
    dataset = fraud.load(n_rows=5_000, seed=7)
    generated = generate_alerts(5_000, seed=7)
    assert dataset.name == "fraud_alerts"
    assert list(dataset.frame.columns) == list(fraud.FIELDS)
    assert {"pattern", "is_fraud", "alert_time", "customer_id", "case_id"}.isdisjoint(dataset.frame.columns)
    assert {p.source for p in dataset.protected_attributes} == {"customer_age", "home_country"}
    assert dataset.ids.name == "case_id" and dataset.ids.is_unique
    assert dataset.ids.equals(generated.frame["case_id"])
    assert dataset.target.equals(generated.is_fraud)
    groups = dataset.protected
    assert set(groups["age_band"]) <= {"18-24", "25-34", "35-49", "50-64", "65+"}
    assert set(groups["home_country"]) <= set(fraud.HOME_COUNTRIES)


def test_the_registry_serves_the_training_set_and_the_model_never_sees_age_or_home_country():
    from decision_review.modeling.contract import infer_contract

    dataset = load_dataset("fraud_alerts")
    assert len(dataset.frame) == 200_000
    contract = infer_contract(dataset)
    assert contract.model_inputs == list(fraud.MODEL_INPUTS)
    assert set(contract.protected_sources) == {"customer_age", "home_country"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_rows": 0}, "number of rows"),
        ({"n_rows": 2.5}, "number of rows"),
        ({"n_rows": 10, "seed": -1}, "seed"),
        ({"n_rows": 10, "fraud_rate": 1.5}, "fraud rate"),
        ({"n_rows": 10, "fraud_rate": float("nan")}, "fraud rate"),
        ({"n_rows": 10, "n_customers": 0}, "number of customers"),
        ({"n_rows": 10, "start": datetime(2025, 1, 1, 12, tzinfo=UTC)}, "midnight"),
        ({"n_rows": 10, "pattern_shares": {"phishing": 1.0}}, "unknown pattern"),
        ({"n_rows": 10, "pattern_shares": {"card_testing": -1.0}}, "non-negative"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        generate_alerts(**kwargs)


# --- files and the command line ----------------------------------------------------------------


def test_csv_history_reads_back_with_iso_times_and_the_ground_truth(tmp_path):
    path = tmp_path / "history.csv"
    written = write_history(path, n_rows=2_000, seed=9)
    assert "2025-01-01T" in path.read_text().splitlines()[1]
    back = pd.read_csv(path)
    back["alert_time"] = pd.to_datetime(back["alert_time"], utc=True).dt.as_unit("us")
    pd.testing.assert_frame_equal(back, written.history(), check_dtype=False)


def test_cli_generate_writes_the_same_alerts_as_the_generator(tmp_path):
    out = tmp_path / "history.parquet"
    result = run_cli(
        "datasets",
        "generate",
        "fraud_alerts",
        "--rows",
        "3000",
        "--seed",
        "5",
        "--fraud-rate",
        "0.01",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert "wrote 3,000 alerts" in result.stdout
    expected = generate_alerts(3_000, seed=5, fraud_rate=0.01).history()
    pd.testing.assert_frame_equal(pd.read_parquet(out), expected)


@pytest.mark.parametrize(
    ("name", "message"),
    [("history.xlsx", "unknown suffix '.xlsx'"), ("missing/history.parquet", "does not exist")],
)
def test_write_history_refuses_a_bad_path_before_generating(tmp_path, name, message):
    with pytest.raises(InvalidInput, match=message):
        write_history(tmp_path / name, n_rows=10)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fraud_alerts", "--out", "{tmp}/history.xlsx"], "unknown suffix '.xlsx'"),
        (["german_credit", "--out", "{tmp}/history.parquet"], "bundled data set, not a generated one"),
    ],
)
def test_cli_generate_refuses_bad_arguments_and_writes_nothing(tmp_path, args, message):
    result = run_cli("datasets", "generate", *[a.format(tmp=tmp_path) for a in args])
    assert result.returncode == 2
    assert "error:" in result.stderr and message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_list_names_bundled_and_generated_data_sets():
    result = run_cli("datasets", "list")
    assert result.returncode == 0, result.stderr
    for name in ("fraud_alerts", "german_credit", "credit_data", "generated", "bundled"):
        assert name in result.stdout
