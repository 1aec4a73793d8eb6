"""Entry point of the `decision-review` command.

Each command group lives in its own module and adds itself through `register(app)`, so the
groups stay independent; this module only assembles them and turns user errors into a clear
message with exit status 2 instead of a stack trace.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from decision_review import __version__
from decision_review.cli import audit, backtest, datasets, decide, models, policy, quickstart, serve, users
from decision_review.errors import DecisionReviewError

app = typer.Typer(
    name="decision-review",
    help="Score, decide, review and audit regulated approvals.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Score, decide, review and audit regulated approvals."""


for group in (quickstart, datasets, models, policy, decide, backtest, audit, serve, users):
    group.register(app)


@app.command()
def version() -> None:
    """Print the version of decision-review."""
    typer.echo(__version__)


def main() -> None:
    try:
        app()
    except DecisionReviewError as exc:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
