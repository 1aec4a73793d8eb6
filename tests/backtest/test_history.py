"""Malformed histories give a clear error naming the problem, or an explicit note in the report."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from decision_review.backtest import BacktestSettings, history_from_frame, load_history, run_backtest
from decision_review.errors import InvalidInput
from tests.backtest.conftest import GERMAN_POLICY, ROOT

FAST = BacktestSettings(n_bootstrap=0)


@pytest.fixture
def frame(german_history) -> pd.DataFrame:
    return german_history.cases.copy()


def _history(frame, engine, **options):
    return history_from_frame(frame, contract=engine.model.contract, name="h.csv", **options)


def test_missing_outcome_column(frame, german_engine):
    with pytest.raises(InvalidInput, match=r"no outcome column 'bad'.*--outcome-column.*--no-outcomes"):
        _history(frame.drop(columns=["bad"]), german_engine)


def test_outcome_values_must_be_zero_one_or_empty(frame, german_engine):
    frame["bad"] = frame["bad"].map({0: "good", 1: "bad"})
    with pytest.raises(InvalidInput, match=r"outcome column 'bad' has values \['bad', 'good'\]"):
        _history(frame, german_engine)
    frame["bad"] = 2
    with pytest.raises(InvalidInput, match=r"1 \(bad\), 0 \(good\) or empty"):
        _history(frame, german_engine)
    frame["bad"] = pd.Series([10**400] * len(frame), dtype=object)  # as a CSV reader gives it
    with pytest.raises(InvalidInput, match=r"outcome column 'bad'.*1 \(bad\), 0 \(good\) or empty"):
        _history(frame, german_engine)


def test_unknown_outcomes_are_left_out_and_disclosed(frame, german_engine):
    frame["bad"] = frame["bad"].astype(float)
    frame.loc[:99, "bad"] = np.nan
    history = _history(frame, german_engine)
    assert any("100 of 1,000 cases have no known outcome" in n for n in history.notes)
    result = run_backtest(history, german_engine, settings=FAST).report.candidate
    assert result.bad_rate_approved.known < result.bad_rate_approved.cases


def test_no_outcomes_gives_na_bad_rates(frame, german_engine):
    from decision_review.backtest.render import bad_text

    history = _history(frame.drop(columns=["bad"]), german_engine, outcome_column=None)
    result = run_backtest(history, german_engine, settings=FAST).report.candidate
    assert result.bad_rate_approved.value is None
    assert bad_text(result.bad_rate_approved) == "n/a (outcome unknown)"
    assert result.losses is None


def test_unknown_protected_attribute(frame, german_engine):
    with pytest.raises(
        InvalidInput, match=r"unknown protected attribute\(s\) 'religion'; the model declares: sex"
    ):
        _history(frame, german_engine, attributes=["religion"])


def test_missing_source_of_a_protected_attribute(frame, german_engine):
    with pytest.raises(
        InvalidInput, match=r"lacks the source column.*'foreign_worker' \(for foreign_worker\)"
    ):
        _history(frame.drop(columns=["foreign_worker"]), german_engine)


def test_empty_history(frame, german_engine):
    with pytest.raises(InvalidInput, match="no cases to replay"):
        _history(frame.iloc[0:0], german_engine)


def test_missing_id_column(frame, german_engine):
    with pytest.raises(InvalidInput, match="no case id column 'case_id'"):
        _history(frame.drop(columns=["case_id"]), german_engine)


def test_amounts_must_be_whole_numbers(frame, german_engine):
    frame["credit_amount"] = frame["credit_amount"] + 0.5
    with pytest.raises(InvalidInput, match="whole, non-negative numbers"):
        _history(frame, german_engine, amount_column="credit_amount")
    with pytest.raises(InvalidInput, match="no amount column 'loan'"):
        _history(frame, german_engine, amount_column="loan")
    frame["credit_amount"] = 1e19  # beyond int64: it would wrap round to a negative amount
    with pytest.raises(InvalidInput, match="too large"):
        _history(frame, german_engine, amount_column="credit_amount")


def test_a_group_with_no_cases_is_listed_and_noted(frame, german_engine):
    young = frame[frame["age_in_years"] < 50].reset_index(drop=True)
    history = _history(young, german_engine)
    report = run_backtest(history, german_engine, settings=FAST).report.candidate.fairness
    age = report.stage("auto").attribute("age_band")
    assert age.group("65+").n == 0 and age.group("50-64").n == 0
    assert any("declared group '65+' has no cases" in note for note in report.notes)


def test_a_reference_group_with_no_cases_is_noted_not_fatal(frame, german_engine):
    foreign = frame[frame["foreign_worker"] == "yes"].reset_index(drop=True)
    run = run_backtest(_history(foreign, german_engine), german_engine, settings=FAST)
    result = run.report.candidate
    assert any("reference group 'no' has no cases" in note for note in result.notes)
    assert result.fairness.stage("auto").attribute("foreign_worker").group("no").n == 0


def test_product_filter(frame, german_engine):
    frame["product"] = np.where(np.arange(len(frame)) % 2, "consumer", "auto")
    history = _history(frame, german_engine, product="auto")
    assert len(history) == 500 and history.product == "auto"
    with pytest.raises(InvalidInput, match=r"no case of product 'boat'; products present: auto, consumer"):
        _history(frame, german_engine, product="boat")
    with pytest.raises(InvalidInput, match="there is no 'product' column"):
        _history(frame.drop(columns=["product"]), german_engine, product="auto")
    assert any("several product lines" in n for n in _history(frame, german_engine).notes)


def test_human_decisions_must_be_approve_or_decline(frame, german_engine):
    frame["human_outcome"] = "maybe"
    with pytest.raises(InvalidInput, match=r"'human_outcome' has values maybe"):
        _history(frame, german_engine)


def test_bundled_history_by_name(german_engine):
    history = load_history(dataset="german_credit", contract=german_engine.model.contract)
    assert len(history) == 1000 and history.outcome.mean() == pytest.approx(0.3)
    with pytest.raises(InvalidInput, match="no data set named 'nope'"):
        load_history(dataset="nope", contract=german_engine.model.contract)
    with pytest.raises(InvalidInput, match="exactly one"):
        load_history(contract=german_engine.model.contract)


def test_history_file_round_trip(tmp_path, german_engine, german_history):
    path = tmp_path / "history.parquet"
    german_history.cases.to_parquet(path)
    history = load_history(data=path, contract=german_engine.model.contract)
    assert len(history) == len(german_history)
    np.testing.assert_array_equal(history.outcome, german_history.outcome)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "decision_review.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("edit", "options", "message"),
    [
        (lambda f: f.drop(columns=["bad"]), [], "no outcome column 'bad'"),
        (lambda f: f, ["--attributes", "religion"], "unknown protected attribute(s) 'religion'"),
        (lambda f: f.iloc[0:0], [], "no data rows"),
        (lambda f: f, ["--outcome-column", "nope"], "no outcome column 'nope'"),
    ],
)
def test_cli_errors_are_one_clear_line(tmp_path, german_history, edit, options, message):
    path = tmp_path / "history.csv"
    edit(german_history.cases).to_csv(path, index=False)
    result = _cli("backtest", "--policy", str(GERMAN_POLICY), "--data", str(path), *options)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
