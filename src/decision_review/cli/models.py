"""`decision-review train` and `decision-review models list|show`: the model registry from the shell.

Why thin: each command parses its options, calls one function of `decision_review.modeling` or
`decision_review.datasets`, and prints; every check lives in those functions so the API and
notebooks get the same errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from decision_review.errors import InvalidInput
from decision_review.settings import Settings

if TYPE_CHECKING:
    from decision_review.modeling.registry import ModelRegistry


ModelsDir = Annotated[
    Path | None,
    typer.Option("--models-dir", help="Root of the model registry [default: DR_MODELS_DIR or ./models]."),
]

models_app = typer.Typer(help="List and inspect registered models.", no_args_is_help=True)


def _registry(models_dir: Path | None) -> ModelRegistry:
    from decision_review.modeling.registry import ModelRegistry

    return ModelRegistry(models_dir if models_dir is not None else Settings().models_dir)


def train(
    dataset: Annotated[
        str | None, typer.Option(help="A bundled data set: german_credit, credit_data, ...")
    ] = None,
    data: Annotated[Path | None, typer.Option(help="Your own CSV or Parquet file.")] = None,
    target: Annotated[str | None, typer.Option(help="--data: the outcome column.")] = None,
    bad_value: Annotated[
        str | None, typer.Option(help="--data: the target value that means the bad outcome.")
    ] = None,
    id_column: Annotated[
        str | None, typer.Option("--id", help="--data: column of case ids (else generated).")
    ] = None,
    protected: Annotated[
        list[str] | None,
        typer.Option(help="--data: a protected attribute column (repeat); never a model input."),
    ] = None,
    drop: Annotated[list[str] | None, typer.Option(help="--data: a column to leave out (repeat).")] = None,
    name: Annotated[
        str | None, typer.Option(help="Model name in the registry [default: the data set's name].")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed and data give the same model.")] = 0,
    cv_folds: Annotated[int, typer.Option(help="Cross-validation folds for the card (0 = none).")] = 5,
    models_dir: ModelsDir = None,
) -> None:
    """Train a calibrated model and register it as a new version with its card and reason codes."""
    # The model stack (scikit-learn, xgboost, shap) loads only for the commands that use it.
    from decision_review.datasets import load_dataset
    from decision_review.datasets.tables import dataset_from_table, read_table
    from decision_review.modeling.training import train as train_model

    if (dataset is None) == (data is None):
        raise InvalidInput(
            "give either --dataset NAME (bundled data) or --data FILE (your own), not both or neither"
        )
    if dataset is not None:
        extra = [
            opt for opt, v in [("--target", target), ("--bad-value", bad_value), ("--id", id_column)] if v
        ]
        extra += ["--protected"] * bool(protected) + ["--drop"] * bool(drop)
        if extra:
            raise InvalidInput(f"{', '.join(extra)} apply only to --data; a bundled data set defines its own")
        ds = load_dataset(dataset)
    else:
        missing = [
            opt
            for opt, v in [("--target", target), ("--bad-value", bad_value), ("--name", name)]
            if v is None
        ]
        if missing:
            raise InvalidInput(f"--data needs {', '.join(missing)}")
        ds = dataset_from_table(
            read_table(data),
            name=name,
            target=target,
            bad_value=bad_value,
            id_column=id_column,
            protected=protected or (),
            drop=drop or (),
            description=f"Loaded from {data.name}",
        )
    console = Console(stderr=True)
    registry = _registry(models_dir)
    trained = train_model(
        ds, seed=seed, cv_folds=cv_folds, progress=lambda msg: console.print(f"[dim]{msg}[/]")
    )
    model = registry.add(name or ds.name, trained)
    card = model.card
    cv = card.cross_validated
    typer.echo(f"registered {model.name} version {model.version} in {model.path}")
    if cv is not None:
        typer.echo(
            f"  cross-validated AUC {cv.overall.auc:.3f}, ECE {cv.overall.ece:.3f} ({cv.overall.rows} cases)"
        )
    held = card.held_out.overall
    typer.echo(
        f"  held-out AUC {held.auc:.3f}, KS {held.ks:.3f}, Brier {held.brier:.3f}, ECE {held.ece:.3f} "
        f"({held.rows} cases)"
    )
    typer.echo(f"  digest {model.digest}")
    typer.echo(f"  reason codes: {model.path / 'reasons.yaml'} (edit the wording freely)")


@models_app.command("list")
def list_models(models_dir: ModelsDir = None) -> None:
    """List the registered models and their latest version."""
    registry = _registry(models_dir)
    names = registry.list()
    if not names:
        typer.echo(
            f"no models in {registry.root}; train one with: decision-review train --dataset german_credit"
        )
        return
    table = Table("model", "versions", "latest", "created (UTC)", "AUC (cv)", "AUC (held-out)", "digest")
    for model_name in names:
        versions = registry.versions(model_name)
        card = registry.card(model_name, versions[-1])
        cv_auc = card.cross_validated.overall.auc if card.cross_validated else None
        table.add_row(
            model_name,
            ", ".join(map(str, versions)),
            str(versions[-1]),
            card.created_at,
            f"{cv_auc:.3f}" if cv_auc is not None else "-",
            f"{card.held_out.overall.auc:.3f}" if card.held_out.overall.auc is not None else "-",
            card.digest[:12],
        )
    Console(width=160).print(table)


@models_app.command("show")
def show_model(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int | None, typer.Option(help="Version number [default: latest].")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the card as JSON instead of Markdown.")
    ] = False,
    models_dir: ModelsDir = None,
) -> None:
    """Print a model's card (Markdown, or JSON with --json)."""
    from decision_review.modeling.card import render_markdown

    card = _registry(models_dir).card(name, version)
    typer.echo(card.model_dump_json(indent=2) if as_json else render_markdown(card))


def register(app: typer.Typer) -> None:
    """Add `train` and the `models` group to the main app."""
    app.command("train")(train)
    app.add_typer(models_app, name="models")
