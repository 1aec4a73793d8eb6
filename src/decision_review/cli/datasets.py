"""`decision-review datasets list|generate`: the data sets the product knows, and the generators.

Why thin: listing asks `decision_review.datasets`, generating calls the generator's own
`write_history`; every check (row count, seed, rate, file suffix) lives there, so a notebook
gets the same errors as the shell.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from decision_review.datasets import available_datasets, fraud, load_dataset
from decision_review.errors import InvalidInput

# Data sets made by a generator rather than read from a bundled file: name -> one-line description.
# Listing them must not run the generator (the fraud training set takes a moment to build).
GENERATED = {fraud.NAME: f"{fraud.DESCRIPTION}; training set {200_000:,} alerts"}

datasets_app = typer.Typer(help="Bundled and generated data sets.", no_args_is_help=True)


@datasets_app.command("list")
def list_datasets() -> None:
    """List every data set `train --dataset` accepts, with a one-line description."""
    table = Table("name", "kind", "description")
    for name in available_datasets():
        if name in GENERATED:
            table.add_row(name, "generated", GENERATED[name])
        else:
            dataset = load_dataset(name)
            table.add_row(name, "bundled", dataset.description or f"{len(dataset.frame):,} cases")
    Console().print(table)


@datasets_app.command("generate")
def generate(
    name: Annotated[str, typer.Argument(help="The generated data set: fraud_alerts.")],
    out: Annotated[Path, typer.Option("--out", help="File to write: .csv or .parquet.")],
    rows: Annotated[int, typer.Option("--rows", help="Number of alerts.")] = 1_000_000,
    seed: Annotated[
        int,
        typer.Option(
            "--seed",
            help=f"Random seed; the default {fraud.HISTORY_SEED} is the backtest history's. The training "
            f"set uses {fraud.TRAINING_SEED}, so none of its alerts are in the history.",
        ),
    ] = fraud.HISTORY_SEED,
    fraud_rate: Annotated[
        float, typer.Option("--fraud-rate", help="Expected share of fraud alerts, 0 to 1.")
    ] = fraud.DEFAULT_FRAUD_RATE,
) -> None:
    """Write a generated history with its ground truth (is_fraud, pattern) for backtests."""
    if name not in GENERATED:
        kind = "a bundled data set, not a generated one" if name in available_datasets() else "unknown"
        raise InvalidInput(f"cannot generate {name!r}: {kind}; generated data sets: {', '.join(GENERATED)}")
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"generating {name}", total=max(rows, 0))
        alerts = fraud.write_history(
            out,
            n_rows=rows,
            seed=seed,
            fraud_rate=fraud_rate,
            progress=lambda done: progress.update(
                task,
                completed=done,
                description=f"writing {out.name}" if done >= rows else f"generating {name}",
            ),
        )
    n_fraud = int(alerts.is_fraud.sum())
    typer.echo(
        f"wrote {len(alerts.frame):,} alerts to {out} "
        f"({n_fraud:,} fraud, {n_fraud / len(alerts.frame):.3%}; seed {seed})"
    )


def register(app: typer.Typer) -> None:
    """Add the `datasets` group to the main app."""
    app.add_typer(datasets_app, name="datasets")
