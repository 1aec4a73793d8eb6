"""`decision-review decide`: decide a file of cases with a policy, write the decisions, summarise.

Why chunks: the engine decides a million rows in one call, but a risk analyst wants to see
progress on a large file; deciding in chunks of `--chunk-size` rows costs little (each chunk is
still one vectorised call) and drives the progress bar.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from decision_review.errors import InvalidInput
from decision_review.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

    from decision_review.engine import DecisionEngine, Decisions, ExplainMode

OUTPUT_SUFFIXES = {".csv", ".parquet"}


def decide(
    policy: Annotated[Path, typer.Option(help="Policy file (YAML).")],
    input: Annotated[
        Path, typer.Option("--input", help="Cases to decide: .csv or .parquet, with a case_id column.")
    ],
    output: Annotated[Path, typer.Option(help="Where to write the decisions: .csv or .parquet.")],
    explain: Annotated[
        str, typer.Option(help="Explain 'needed' (review and decline), 'all' or 'none' of the cases.")
    ] = "needed",
    chunk_size: Annotated[
        int, typer.Option(min=1, help="Cases per engine call (drives the progress bar).")
    ] = 100_000,
    models_dir: Annotated[
        Path | None, typer.Option(help="Model registry [default: DR_MODELS_DIR or ./models].")
    ] = None,
) -> None:
    """Decide every case of a file with a policy and write one decision per case."""
    # The engine (polars, xgboost, shap) loads only when this command runs.
    from decision_review.datasets.tables import read_table
    from decision_review.engine import DecisionEngine
    from decision_review.modeling.registry import ModelRegistry

    if explain not in ("needed", "all", "none"):
        raise InvalidInput(f"--explain must be needed, all or none, not {explain!r}")
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InvalidInput(f"--output {output}: give a .csv or .parquet file name")
    settings = Settings()
    engine = DecisionEngine.from_policy_file(
        policy,
        ModelRegistry(models_dir or settings.models_dir),
        explain_reference=settings.explain_reference,
        max_reasons=settings.max_reasons,
    )
    cases = read_table(input)
    console = Console(stderr=True)
    decisions = decide_in_chunks(engine, cases, explain=explain, chunk_size=chunk_size, console=console)
    write_decisions(decisions.frame, output)
    if decisions.unknown_columns:
        unknown = ", ".join(decisions.unknown_columns[:20])
        console.print(f"[yellow]note:[/] ignored columns the model does not know: {unknown}")
    Console().print(summary_table(decisions.frame, f"{len(decisions):,} cases decided -> {output}"))


def decide_in_chunks(
    engine: DecisionEngine, cases: pd.DataFrame, *, explain: ExplainMode, chunk_size: int, console: Console
) -> Decisions:
    """Decide `cases` chunk by chunk with a progress bar; the result is as one `decide` call's."""
    import pandas as pd

    from decision_review.engine import Decisions

    parts: list[Decisions] = []
    with Progress(
        TextColumn("deciding"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=len(cases) <= chunk_size,
    ) as progress:
        task = progress.add_task("decide", total=len(cases))
        for start in range(0, max(len(cases), 1), chunk_size):
            chunk = cases.iloc[start : start + chunk_size]
            parts.append(engine.decide(chunk, explain=explain))
            progress.advance(task, len(chunk))
    if len(parts) == 1:
        return parts[0]
    return Decisions(
        frame=pd.concat([p.frame for p in parts], ignore_index=True),
        contributions=pd.concat([p.contributions for p in parts]),
        base_values=pd.concat([p.base_values for p in parts]),
        explainer=next((p.explainer for p in parts if p.explainer), {}),
        unknown_columns=parts[0].unknown_columns,
        timings={k: sum(p.timings.get(k, 0.0) for p in parts) for k in parts[0].timings},
    )


def write_decisions(frame: pd.DataFrame, path: Path) -> None:
    """Write decisions as Parquet (rule_hits as a list) or CSV (rule_hits joined with ';')."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        frame.to_parquet(path, index=False)
        return
    flat = frame.copy()
    flat["rule_hits"] = [";".join(hits) for hits in frame["rule_hits"].to_numpy()]
    flat.to_csv(path, index=False)


def summary_table(frame: pd.DataFrame, title: str) -> Table:
    """Counts by outcome, the top reasons cases went to review, and the top reason codes."""
    import pandas as pd

    table = Table(title=title, show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("share", justify="right")
    n = max(len(frame), 1)

    def add(label: str, count: int) -> None:
        table.add_row(label, f"{count:,}", f"{count / n:.1%}")

    for outcome, count in frame["outcome"].value_counts().items():
        add(f"outcome: {outcome}", int(count))
    referrals = frame.loc[frame["outcome"] == "review", "winning_rule"].value_counts().head(5)
    for rule, count in referrals.items():
        add(f"  review because: {rule}", int(count))
    texts = [frame[c] for c in frame.columns if c.startswith("reason_") and c.endswith("_text")]
    if texts:
        for text, count in pd.concat(texts).dropna().value_counts().head(5).items():
            add(f"  reason given: {text}", int(count))
    errors = frame["error"].dropna()
    if len(errors):
        first = str(errors.iloc[0])
        table.add_row("first input error", first[:80] + ("..." if len(first) > 80 else ""), "")
    return table


def register(app: typer.Typer) -> None:
    """Add `decide` to the main app."""
    app.command("decide")(decide)
