"""docs/backtest.md stays true: every option it names exists, and its developer example runs."""

from __future__ import annotations

import re

import typer.main

from decision_review.backtest import BacktestSettings
from decision_review.cli.main import app
from tests.backtest.conftest import ROOT

DOC = (ROOT / "docs" / "backtest.md").read_text(encoding="utf-8")


def _options(*path: str) -> set[str]:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    return {opt for param in command.params for opt in getattr(param, "opts", []) if opt.startswith("--")}


def test_every_documented_option_exists():
    documented = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", DOC))
    known = _options("backtest") | _options("policy", "gates")
    assert {"--sweep", "--baseline", "--json", "--approve-grid"} <= documented
    assert documented - known == set()


def test_documented_settings_are_the_defaults():
    settings = BacktestSettings()
    line = DOC.split("- `BacktestSettings`:")[1].split("\n\n")[0]
    for name, value in re.findall(r"`(\w+)` \(([^)]*)\)", line):
        if name in BacktestSettings.model_fields and value.replace(".", "").isdigit():
            assert float(getattr(settings, name)) == float(value), name
