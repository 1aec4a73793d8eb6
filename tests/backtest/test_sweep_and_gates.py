"""The threshold sweep's choice against its targets, and the publishing gates and their seam."""

from __future__ import annotations

import pytest

from decision_review.backtest import (
    BacktestSettings,
    SweepTargets,
    check_publishable,
    evaluate_gates,
    grid,
    run_backtest,
    run_gates,
    threshold_sweep,
)
from decision_review.errors import InvalidInput
from decision_review.policy import PolicyError, parse_document
from tests.backtest.conftest import FRAUD_POLICY, GERMAN_POLICY, variant

FAST = BacktestSettings(n_bootstrap=0)


@pytest.fixture(scope="module")
def german_replay(german_engine, german_history):
    return run_backtest(german_history, german_engine, settings=FAST).replays["candidate"]


def test_grid_parsing():
    assert grid("0.1:0.3:3") == [0.1, 0.2, 0.3]
    assert grid("0.5, 0.25") == [0.5, 0.25]
    for bad in ("0.1:0.3", "a,b", "0.2:1.5:3", "0.1:0.2:0"):
        with pytest.raises(InvalidInput, match="grid"):
            grid(bad)


def test_chosen_point_meets_targets_and_automates_most(german_replay, german_history):
    targets = SweepTargets(max_bad_rate_approved=0.08, max_review_share=0.6)
    sweep = threshold_sweep(
        german_replay, german_history, approve_grid=grid("0.02:0.5:50"), targets=targets, settings=FAST
    )
    assert len(sweep.points) == 50
    feasible = [sweep.points[i] for i in sweep.feasible]
    assert feasible and all(p.meets_targets for p in feasible)
    assert all(p.bad_rate_approved <= 0.08 and p.review <= 0.6 for p in feasible)
    chosen = sweep.points[sweep.chosen]
    assert chosen.automation == max(p.automation for p in feasible)
    assert sweep.chosen_fairness is not None
    assert sweep.chosen_fairness.n_bootstrap == FAST.n_bootstrap
    for p in sweep.points:
        if not p.meets_targets:
            assert p.misses


def test_chosen_point_carries_confidence_intervals(german_replay, german_history):
    settings = BacktestSettings(n_bootstrap=50)
    sweep = threshold_sweep(
        german_replay,
        german_history,
        approve_grid=grid("0.1:0.3:5"),
        targets=SweepTargets(max_review_share=0.9),
        settings=settings,
    )
    group = sweep.chosen_fairness.stage("auto").attribute("sex").group("female")
    assert group.air.low is not None and group.air.low <= group.air.value <= group.air.high


def test_air_target_with_no_feasible_point_is_said(german_replay, german_history):
    targets = SweepTargets(max_bad_rate_approved=0.05, min_air=0.8, min_group_size=50)
    sweep = threshold_sweep(german_replay, german_history, approve_grid=grid("0.02:0.5:25"), targets=targets)
    assert sweep.chosen is None and "no point of the grid meets every target" in sweep.notes
    assert any(m.startswith("AIR") for p in sweep.points for m in p.misses)


def test_two_dimensional_grid_skips_crossed_pairs(german_replay, german_history):
    sweep = threshold_sweep(
        german_replay,
        german_history,
        approve_grid=grid("0.1:0.6:6"),
        decline_grid=grid("0.4:0.8:3"),
        settings=FAST,
    )
    assert all(p.approve_below <= p.decline_at_or_above for p in sweep.points)
    assert len(sweep.points) == 6 * 3 - 2  # approve_below 0.5 and 0.6 lie above decline_at_or_above 0.4
    assert any("skipped" in n for n in sweep.notes)


def test_current_point_is_marked(german_replay, german_history, german_engine):
    sweep = threshold_sweep(german_replay, german_history, approve_grid=[0.1, 0.15, 0.2], settings=FAST)
    assert sweep.points[sweep.current].approve_below == german_engine.policy.approve_below


def test_unknown_attribute_in_the_sweep(german_replay, german_history):
    with pytest.raises(InvalidInput, match="unknown protected attribute"):
        threshold_sweep(german_replay, german_history, approve_grid=[0.1], attributes=["religion"])


def test_german_gates_break_on_age_and_say_why(german_engine):
    result, run = run_gates(german_engine, n_bootstrap=0)
    assert not result.passed
    [age] = [c for c in result.checks if c.subject == "age_band"]
    assert age.passed is False and set(age.breaking_groups) == {"<25", "25-34"}
    assert age.figure == pytest.approx(
        run.report.candidate.fairness.stage("auto").attribute("age_band").group("<25").air.value
    )
    [foreign] = [c for c in result.checks if c.subject == "foreign_worker"]
    assert foreign.passed is None and "37 cases" in foreign.detail
    assert any("foreign_worker" in line for line in result.undetermined)
    [bad] = [c for c in result.checks if c.gate == "max_bad_rate_approved"]
    assert bad.passed is True and bad.figure == run.report.candidate.bad_rate_approved.value


def test_fraud_gates_pass(fraud_engine_bt):
    result, _ = run_gates(fraud_engine_bt, n_bootstrap=0)
    assert result.passed, result.breaks
    assert {c.subject for c in result.checks if c.gate == "min_air"} == {"age_band", "home_country"}


def test_evaluate_gates_needs_a_report_of_that_policy(model_registry, german_engine, german_history):
    other = variant(GERMAN_POLICY, model_registry, approve_below=0.1, version=2)
    report = run_backtest(german_history, other, settings=FAST).report
    with pytest.raises(InvalidInput, match="no replay of policy german_credit v1"):
        evaluate_gates(german_engine.policy, report)


def test_publishing_needs_a_justification_when_a_gate_breaks(german_engine):
    refused = check_publishable(german_engine)
    assert not refused.allowed and not refused.justified
    assert "age_band" in refused.message and "justification" in refused.message
    too_short = check_publishable(german_engine, justification="ok")
    assert not too_short.allowed
    reason = "Under-35s are referred, not declined; approval after review is monitored monthly."
    allowed = check_publishable(german_engine, justification=reason)
    assert allowed.allowed and allowed.justified
    details = allowed.audit_details()
    assert details["justification"] == reason and details["gates_passed"] is False
    assert [b["subject"] for b in details["breaks"]] == ["age_band"]


def test_publishing_a_passing_policy_needs_nothing(fraud_engine_bt):
    decision = check_publishable(fraud_engine_bt)
    assert decision.allowed and not decision.justified and decision.gates.passed


def test_a_policy_without_gates_publishes(model_registry):
    engine = _policy_with("", model_registry)
    assert engine.policy.spec.gates is None
    decision = check_publishable(engine)
    assert decision.allowed and decision.gates is None


GATES = """
gates:
  reference_history: {dataset: german_credit}
  attributes: [sex, age_bands]
  min_air: 0.8
"""


def _policy_with(block: str, model_registry):
    text = GERMAN_POLICY.read_text(encoding="utf-8")
    start = text.index("gates:\n")
    end = text.index("# Golden cases.")
    text = text[:start] + block.lstrip() + "\n" + text[end:]
    from decision_review.engine import DecisionEngine

    return DecisionEngine.from_document(
        parse_document(text, source="p.yaml", base_dir=GERMAN_POLICY.parent), model_registry
    )


def test_gate_attributes_are_checked_at_load(model_registry):
    with pytest.raises(
        PolicyError,
        match=r"gates.attributes: 'age_bands' is not a protected attribute.*did you mean 'age_band'",
    ):
        _policy_with(GATES, model_registry)


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("gates:\n  reference_history: {dataset: german_credit}\n", "at least one limit"),
        ("gates:\n  reference_history: {dataset: x, file: y.csv}\n  min_air: 0.8\n", "exactly one"),
        (
            "gates:\n  reference_history: {dataset: x, amount_colum: a}\n  min_air: 0.8\n",
            "did you mean 'amount_column'",
        ),
        ("gates:\n  reference_history: {dataset: x}\n  min_air: 1.5\n", "min_air"),
        ("gates:\n  reference_history: {dataset: x}\n  min_ai: 0.8\n", "did you mean 'min_air'"),
    ],
)
def test_gate_spec_errors(model_registry, block, message):
    with pytest.raises(PolicyError, match=message):
        _policy_with(block, model_registry)


def test_reference_history_file_is_relative_to_the_policy(tmp_path, model_registry, german_history):
    german_history.cases.to_csv(tmp_path / "history.csv", index=False)
    text = GERMAN_POLICY.read_text(encoding="utf-8").replace(
        "    dataset: german_credit\n    amount_column", "    file: history.csv\n    amount_column"
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text(text, encoding="utf-8")
    from decision_review.engine import DecisionEngine

    result, _ = run_gates(DecisionEngine.from_policy_file(policy, model_registry), n_bootstrap=0)
    assert result.history == str(tmp_path / "history.csv")
    assert [c.passed for c in result.checks if c.subject == "age_band"] == [False]


def test_fraud_outcome_labels(fraud_engine_bt, fraud_history):
    from decision_review.backtest.render import render_text

    report = run_backtest(fraud_history, fraud_engine_bt, settings=FAST).report
    names = report.candidate.labels
    assert (names.approve, names.decline, names.review) == ("close", "block", "investigate")
    text = render_text(report)
    assert (
        "close automatically" in text and "block automatically" in text and "investigate (referred)" in text
    )
    assert "adverse outcome: block" in text and "close rate" in text


def test_outcome_labels_must_differ(model_registry):
    with pytest.raises(PolicyError, match="must differ"):
        variant(FRAUD_POLICY, model_registry, replace={"  review: investigate\n": "  review: close\n"})


def test_publish_gate_plugs_into_the_policies_service(model_registry, german_engine, fraud_engine_bt):
    from decision_review.backtest import PublishGate

    gate = PublishGate(model_registry)
    [refusal] = gate(german_engine.policy)
    assert "breaks its gates" in refusal and gate.decision.allowed is False
    justified = gate.with_justification("Referred, not declined: approval after review is monitored monthly.")
    assert justified(german_engine.policy) == []
    assert justified.decision.audit_details()["justified"] is True
    assert gate(fraud_engine_bt.policy) == []
