"""What people read: the terminal report, the JSON and HTML files, the swap set and the human stages."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from decision_review.backtest import BacktestReport, BacktestSettings, history_from_frame, run_backtest
from decision_review.backtest.html import render_html
from tests.backtest.conftest import FRAUD_POLICY, GERMAN_POLICY, ROOT, variant

FAST = BacktestSettings(n_bootstrap=0)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "decision_review.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture(scope="module")
def german_cli(tmp_path_factory):
    out = tmp_path_factory.mktemp("german")
    result = _cli(
        "backtest",
        "--policy",
        str(GERMAN_POLICY),
        "--dataset",
        "german_credit",
        "--bootstrap",
        "100",
        "--json",
        str(out / "report.json"),
        "--html",
        str(out / "report.html"),
    )
    assert result.returncode == 0, result.stderr
    report = BacktestReport.model_validate_json((out / "report.json").read_text())
    return result.stdout, report, (out / "report.html").read_text()


def test_german_report_names_rates_air_and_screen_by_group(german_cli):
    """Sex, age band and foreign-worker status: approval rate, AIR and the four-fifths verdict."""
    text, report, _ = german_cli
    stage = report.candidate.fairness.stage("auto")
    for attribute in ("sex", "age_band", "foreign_worker"):
        for g in stage.attribute(attribute).groups:
            rate = f"{g.selection_rate.value:.1%}"
            air = "ref" if g.reference else f"{g.air.value:.2f}"
            row = re.compile(
                rf"{re.escape(attribute)}\s*│\s*{re.escape(g.group)}\s*│\s*{g.n}\s*│\s*{re.escape(rate)}.*│\s*{air}"
            )
            assert row.search(text), (attribute, g.group)
    assert "stage auto: sex pass; age_band FAIL (<25, 25-34); foreign_worker FAIL (yes)" in text
    # The amounts come from the policy's reference history (credit_amount, DM).
    assert report.candidate.losses.currency == "DM" and "expected loss" in text


def test_german_report_says_the_model_saw_this_data(german_cli):
    text, report, _ = german_cli
    assert any("trained on data set 'german_credit'" in n for n in report.candidate.notes)
    assert "partly in-sample" in text


def test_html_is_self_contained_printable_and_escaped(german_cli):
    _, _, html = german_cli
    assert html.count("<svg") == 2  # score distribution, fairness bars of the auto stage (no baseline)
    assert "<script" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", html)
    assert "@media print" in html
    assert "age_band" in html and "FAIL" in html


def test_html_escapes_policy_text(model_registry, german_history):
    engine = variant(
        GERMAN_POLICY,
        model_registry,
        replace={
            "reason: The estimated risk of default is low.": "reason: <b onmouseover=alert(1)>low</b> risk."
        },
    )
    html = render_html(run_backtest(german_history, engine, settings=FAST).report)
    assert "<b onmouseover" not in html and "&lt;b onmouseover=alert(1)&gt;" in html


def test_same_report_same_html(german_engine, german_history):
    # Constrained layout's solver moved axes in the last bits from draw to draw; about one draw
    # in ten printed an edge one digit off (figures.figure_svg freezes the layout): draw often.
    report = run_backtest(german_history, german_engine, settings=FAST).report
    assert len({render_html(report) for _ in range(15)}) == 1


def test_fraud_backtest_with_baseline_sweep_and_swaps(tmp_path, model_registry):
    candidate = FRAUD_POLICY.read_text(encoding="utf-8").replace("approve_below: 0.02", "approve_below: 0.03")
    candidate = candidate.replace("\nversion: 1\n", "\nversion: 2\n")
    (tmp_path / "candidate.yaml").write_text(candidate, encoding="utf-8")
    result = _cli(
        "backtest",
        "--policy",
        str(tmp_path / "candidate.yaml"),
        "--baseline",
        str(FRAUD_POLICY),
        "--dataset",
        "fraud_alerts",
        "--rows",
        "20000",
        "--volume-per-day",
        "5000",
        "--bootstrap",
        "0",
        "--sweep",
        "--approve-grid",
        "0.005:0.1:20",
        "--json",
        str(tmp_path / "r.json"),
        "--html",
        str(tmp_path / "r.html"),
        "--swaps",
        str(tmp_path / "swaps.csv"),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    swaps = pd.read_csv(tmp_path / "swaps.csv")
    # Raising the close threshold only moves alerts from investigate to close.
    assert report["swaps"]["changed"] == len(swaps) > 0
    assert set(zip(swaps["baseline_outcome"], swaps["candidate_outcome"], strict=True)) == {
        ("review", "approve")
    }
    assert {d["baseline"] + ">" + d["candidate"] for d in report["swaps"]["directions"]} == {"review>approve"}
    # Sweep targets default to the candidate's gates.
    sweep = report["sweep"]
    assert sweep["targets"]["max_review_share"] == 0.04 and len(sweep["points"]) == 20
    assert "investigate -> close" in result.stdout and "close automatically" in result.stdout
    assert "investigate per day at 5,000 cases/day" in result.stdout
    assert "Threshold sweep" in (tmp_path / "r.html").read_text()


def test_policy_gates_command(tmp_path):
    failed = _cli(
        "policy", "gates", str(GERMAN_POLICY), "--bootstrap", "0", "--json", str(tmp_path / "g.json")
    )
    assert failed.returncode == 1, failed.stderr
    assert "gates FAIL" in failed.stdout and "age_band" in failed.stdout
    assert json.loads((tmp_path / "g.json").read_text())["passed"] is False
    passed = _cli("policy", "gates", str(FRAUD_POLICY), "--bootstrap", "0")
    assert passed.returncode == 0, passed.stderr
    assert "gates pass" in passed.stdout


def test_human_and_final_stages_from_recorded_decisions(german_engine, german_history):
    cases = german_history.cases.copy()
    decided = german_engine.decide(cases, explain="none").frame
    referred = (decided["outcome"] == "review").to_numpy()
    rng = np.random.default_rng(0)
    recorded = referred & (rng.random(len(cases)) < 0.8)
    human = np.where(rng.random(len(cases)) < 0.6, "approve", "decline")
    cases["human_outcome"] = np.where(recorded, human, None)
    cases["reviewer"] = np.where(recorded, np.where(rng.random(len(cases)) < 0.5, "ana", "ben"), None)
    cases["overridden"] = np.where(recorded, rng.random(len(cases)) < 0.1, None)
    history = history_from_frame(cases, contract=german_engine.model.contract, name="with people")
    result = run_backtest(history, german_engine, settings=FAST).report.candidate
    stages = [s.stage for s in result.fairness.stages]
    assert stages == ["model", "auto", "human", "final"]
    final = result.fairness.stage("final")
    automatic = (decided["outcome"] != "review").to_numpy()
    expected_final_approve = ((decided["outcome"] == "approve").to_numpy() & automatic) | (
        referred & recorded & (human == "approve")
    )
    assert final.n == int(automatic.sum() + recorded.sum())
    assert final.selection_rate.value == pytest.approx(expected_final_approve.sum() / final.n)
    assert {r.reviewer for r in result.fairness.human_review.reviewers} == {"ana", "ben"}
    assert any("have no recorded human decision" in n for n in result.notes)
    people = (human[recorded] == "approve").mean()
    approved = (decided["outcome"] == "approve").sum()
    estimate = (
        approved + (recorded & (human == "approve")).sum() + people * (referred & ~recorded).sum()
    ) / len(cases)
    assert result.approval_rate.estimate == pytest.approx(estimate)
