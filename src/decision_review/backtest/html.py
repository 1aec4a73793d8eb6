"""The backtest as one self-contained, printable HTML file (tables and inline SVG plots).

Why one file with nothing external: a backtest is evidence for a policy decision; it is mailed,
archived and printed, and must look the same years later without a server or a network. The
template is autoescaped (policy reasons and rule ids are user text); only the SVG made here from
matplotlib is marked safe.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from decision_review.backtest import render
from decision_review.backtest.gates import GateResult
from decision_review.backtest.plots import score_distribution_figure, swap_matrix_figure, sweep_figure
from decision_review.backtest.schemas import BacktestReport
from decision_review.fairness import selection_rate_svg
from decision_review.figures import figure_svg


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("decision_review.backtest", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        money=render.money,
        pct=render.pct,
        rate_text=render.rate_text,
        bad_text=render.bad_text,
        screen_line=render.screen_line,
    )
    return env


def render_html(report: BacktestReport, *, gates: GateResult | None = None) -> str:
    """The report as HTML text."""
    plots = {
        "scores": Markup(figure_svg(score_distribution_figure(report.policies))),
        "swaps": Markup(figure_svg(swap_matrix_figure(report.swaps, report.candidate.labels)))
        if report.swaps
        else None,
        "sweep": Markup(figure_svg(sweep_figure(report.sweep))) if report.sweep is not None else None,
        "fairness": {
            r.role: {
                stage.stage: Markup(selection_rate_svg(r.fairness, stage=stage.stage))
                for stage in r.fairness.stages
                if stage.stage in ("auto", "final") and stage.n
            }
            for r in report.policies
        },
    }
    queues = list(dict.fromkeys(q.queue for r in report.policies for q in r.workload.queues))
    template = _environment().get_template("report.html.j2")
    return template.render(
        report=report, names=report.candidate.labels, plots=plots, gates=gates, queues=queues
    )


def write_html(report: BacktestReport, path: str | Path, *, gates: GateResult | None = None) -> Path:
    """Write the HTML report whole (to a temporary name first, then renamed into place)."""
    target = Path(path)
    text = render_html(report, gates=gates)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(target)
    return target
