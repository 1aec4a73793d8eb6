"""`decision-review quickstart`: from a fresh clone to a working review desk in one command.

Why one command: a risk, compliance or operations team judging the product should see the whole
loop (cases decided by a model and a policy, a review queue, fairness, a verified audit log)
without setting anything up. It uses only the embedded SQLite file and the bundled data, and
goes through the same services as the API, so what it shows is what the product does:

1. migrate the database and publish the bundled policies (their gates run; results audited);
2. create one demo user per role with a generated password, printed once and kept in
   ``<home>/demo-credentials.txt`` (readable by you only);
3. submit the bundled German credit applicants and a day of generated card-fraud alerts;
4. verify the audit chain;
5. serve the pages and the API (unless ``--no-serve``).

Running it again reuses what is there: nothing is submitted twice (submission is idempotent).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from decision_review.settings import Settings

DEMO_USERS = {
    "underwriter": "underwriter",
    "compliance": "compliance",
    "risk": "risk",
    "admin": "admin",
}
CREDENTIALS_FILE = "demo-credentials.txt"
ACTOR = "quickstart"


def register(app: typer.Typer) -> None:
    """Add `quickstart` to the main app."""
    app.command("quickstart")(quickstart)


def quickstart(
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 8000,
    alerts: Annotated[int, typer.Option(min=0, help="Generated card-fraud alerts to submit.")] = 5_000,
    serve: Annotated[bool, typer.Option(help="Start the web pages and API when done.")] = True,
) -> None:
    """Set up the embedded database with bundled policies, demo users and cases, then serve."""
    from decision_review.api.deps import Database
    from decision_review.audit.log import record_verification, verify
    from decision_review.backtest.gates import PublishGate
    from decision_review.modeling.registry import ModelRegistry
    from decision_review.policies.service import bootstrap_policies
    from decision_review.products.service import ProductCatalog
    from decision_review.store.db import migrate, resolve_url

    console = Console(highlight=False, soft_wrap=True)
    settings = Settings()
    url = resolve_url(settings.database_url, settings)
    console.print(f"[bold]1/5[/] database {url} (migrating)")
    migrate(url)
    db = Database(url, pool_size=2)
    try:
        registry = ModelRegistry(settings.models_dir)
        gates = PublishGate(registry, base_dir=settings.policies_dir)
        console.print("[bold]2/5[/] publishing the bundled policies (running their gates)")
        for version in bootstrap_policies(db.write, settings.policies_dir, registry, gates=gates):
            console.print(f"    published {version.name} v{version.version} for {version.product}")
        credentials = _demo_users(db, settings.home, console)
        console.print("[bold]3/5[/] submitting the bundled cases")
        catalog = ProductCatalog(registry, settings)
        table = _submit_demo_cases(db, catalog, settings, alerts)
        console.print(table)
        console.print("[bold]4/5[/] verifying the audit chain")
        report = verify(db.engine)
        with db.write() as session:
            record_verification(session, report, ACTOR)
        console.print(f"    {report.summary()}")
    finally:
        db.dispose()
    console.print(f"[bold]5/5[/] sign in at http://{host}:{port}/ with one of:")
    for name, password in credentials.items():
        console.print(f"    {name:<12} {password}")
    if not serve:
        return
    from decision_review.cli.serve import serve as serve_command

    serve_command(host=host, port=port, workers=1, database_url=None, access_log=False, log_level="warning")


def _demo_users(db, home: Path, console: Console) -> dict[str, str]:
    """One user per role with a password; created once, the passwords kept in a private file."""
    from decision_review.users.service import add_user, list_users, set_password

    path = home / CREDENTIALS_FILE
    with db.read() as session:
        existing = {user.name for user in list_users(session)}
    missing = {name: role for name, role in DEMO_USERS.items() if name not in existing}
    if not missing:
        console.print(f"    demo users exist; their passwords are in {path}")
        return _read_credentials(path)
    passwords = {name: secrets.token_urlsafe(12) for name in missing}
    with db.write() as session:
        for name, role in missing.items():
            add_user(session, name, role, actor=ACTOR)
            set_password(session, name, passwords[name], actor=ACTOR)
    credentials = {**_read_credentials(path), **passwords}
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("".join(f"{name} {password}\n" for name, password in credentials.items()))
    console.print(f"    created {', '.join(missing)}; passwords kept in {path}")
    return credentials


def _read_credentials(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    pairs = (line.split(" ", 1) for line in path.read_text().splitlines() if " " in line)
    return dict(pairs)


def _submit_demo_cases(db, catalog, settings: Settings, alerts: int) -> Table:
    """The bundled German credit applicants and `alerts` generated fraud alerts, through the services."""
    from collections import Counter

    from decision_review.cases.batch import submit_frame
    from decision_review.datasets import load_dataset
    from decision_review.datasets.fraud import HISTORY_SEED, generate_alerts

    german = load_dataset("german_credit")
    frames = {"german_credit": german.frame.assign(case_id=german.ids.to_numpy())}
    if alerts:
        frames["fraud_alerts"] = generate_alerts(alerts, seed=HISTORY_SEED).frame
    table = Table("product line", "cases", "approve", "decline", "review", "already there")
    for product, frame in frames.items():
        with db.read() as session:
            live = catalog.live(session, product)
        columns = [live.id_field, *live.engine.model.contract.field_names]
        results = submit_frame(
            db,
            live,
            frame[columns],
            actor=ACTOR,
            max_cases=max(len(frame), settings.max_batch_cases),
            chunk_size=settings.batch_write_chunk,
        )
        outcomes = Counter(r.decision.outcome for r in results if r.decision is not None)
        duplicates = sum(r.duplicate for r in results)
        table.add_row(
            product,
            f"{len(results):,}",
            *(f"{outcomes.get(o, 0):,}" for o in ("approve", "decline", "review")),
            f"{duplicates:,}",
        )
    return table
