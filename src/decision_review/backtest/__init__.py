"""Backtests: replay policies over historical cases and compare them before they go live.

A pure core (frames in, typed reports out) for risk analysts and compliance; see docs/backtest.md.

>>> from decision_review.backtest import load_history, run_backtest, threshold_sweep, grid
>>> history = load_history(dataset="german_credit", contract=engine.model.contract)  # doctest: +SKIP
>>> run = run_backtest(history, candidate_engine, baseline_engine)  # doctest: +SKIP
>>> replay = run.replays["candidate"]  # doctest: +SKIP
>>> sweep = threshold_sweep(replay, history, approve_grid=grid("0.05:0.4:50"))  # doctest: +SKIP
"""

from decision_review.backtest.frames import (
    fairness_frame,
    rules_frame,
    summary_frame,
    swaps_frame,
    sweep_frame,
)
from decision_review.backtest.gates import (
    GateCheck,
    GateDecision,
    GateResult,
    PublishGate,
    check_publishable,
    evaluate_gates,
    reference_history,
    run_gates,
)
from decision_review.backtest.history import History, history_from_frame, load_history
from decision_review.backtest.html import render_html, write_html
from decision_review.backtest.plots import score_distribution_figure, swap_matrix_figure, sweep_figure
from decision_review.backtest.render import (
    gates_table,
    render_text,
    report_renderables,
    sweep_renderables,
    to_text,
)
from decision_review.backtest.replay import PolicyReplay, ScoredCases, replay_policy, score_cases
from decision_review.backtest.run import BacktestRun, policy_fairness, run_backtest
from decision_review.backtest.schemas import (
    BacktestReport,
    BacktestSettings,
    PolicyResult,
    SwapReport,
    SweepPoint,
    SweepResult,
    SweepTargets,
)
from decision_review.backtest.sweep import grid, threshold_sweep

__all__ = [
    "BacktestReport",
    "BacktestRun",
    "BacktestSettings",
    "GateCheck",
    "GateDecision",
    "GateResult",
    "History",
    "PolicyReplay",
    "PolicyResult",
    "PublishGate",
    "ScoredCases",
    "SwapReport",
    "SweepPoint",
    "SweepResult",
    "SweepTargets",
    "check_publishable",
    "evaluate_gates",
    "fairness_frame",
    "gates_table",
    "grid",
    "history_from_frame",
    "load_history",
    "policy_fairness",
    "reference_history",
    "render_html",
    "render_text",
    "replay_policy",
    "report_renderables",
    "rules_frame",
    "run_backtest",
    "run_gates",
    "score_cases",
    "score_distribution_figure",
    "summary_frame",
    "swap_matrix_figure",
    "swaps_frame",
    "sweep_figure",
    "sweep_frame",
    "sweep_renderables",
    "threshold_sweep",
    "to_text",
    "write_html",
]
