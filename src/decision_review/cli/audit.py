"""`decision-review audit` (verify, export, verify-export) and `decision-review db` (upgrade, current).

Thin adapters: parse options, call the audit and store modules, print a plain result. A verify or
export is itself an event a regulator cares about, so both are recorded in the log afterwards
(`--no-record` skips that, for a read-only replica). Exit status: 0 OK, 1 the chain or export
does not verify, 2 a usage or configuration error (printed by cli.main).
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from decision_review.audit.chain import EventKind
from decision_review.audit.export import ExportFormat, export_events, record_export, verify_export
from decision_review.audit.log import read_head, record_verification, verify
from decision_review.errors import InvalidInput
from decision_review.settings import Settings
from decision_review.store.db import (
    current_revision,
    head_revision,
    make_engine,
    make_session_factory,
    migrate,
    resolve_url,
    snapshot,
)
from decision_review.store.tables import MAX_BIGINT

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="SQLAlchemy URL; default: DATABASE_URL, else the embedded SQLite file."
    ),
]
Actor = Annotated[
    str | None,
    typer.Option("--actor", help="Who runs this, as recorded in the audit log (default: cli:<login>)."),
]
NoRecord = Annotated[
    bool,
    typer.Option("--no-record", help="Do not append the event recording this run (read-only databases)."),
]

audit_app = typer.Typer(help="Verify and export the tamper-evident audit log.", no_args_is_help=True)
db_app = typer.Typer(help="Create and upgrade the database schema.", no_args_is_help=True)
out = Console(highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the `audit` and `db` command groups to the main app."""
    app.add_typer(audit_app, name="audit")
    app.add_typer(db_app, name="db")


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _revision(target: str | Engine) -> str | None:
    """The schema revision, or a clear error when the database cannot be reached."""
    try:
        return current_revision(target)
    except OperationalError as exc:
        url = target if isinstance(target, str) else target.url.render_as_string(hide_password=False)
        raise InvalidInput(f"cannot open the database {_shown(url)}: {str(exc.orig).strip()}") from None


@contextmanager
def _engine(database_url: str | None) -> Iterator[Engine]:
    """An engine on a database that has the audit log; a clear error if it was never migrated."""
    url = resolve_url(database_url, Settings())
    engine = make_engine(url)
    try:
        if _revision(engine) is None:
            raise InvalidInput(
                f"no decision-review database at {_shown(url)}: run `decision-review db upgrade` first"
            )
        yield engine
    finally:
        engine.dispose()


@contextmanager
def _progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr when it is a terminal (rich stays silent otherwise)."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda done: progress.update(task, completed=done)


@audit_app.command("verify")
def verify_command(
    database_url: DatabaseUrl = None,
    anchor: Annotated[
        list[str] | None,
        typer.Option(
            "--anchor",
            help="SEQ:HASH recorded earlier (a manifest's last_seq:last_hash) that must still be there.",
        ),
    ] = None,
    actor: Actor = None,
    no_record: NoRecord = False,
) -> None:
    """Walk the whole chain; print OK with the count and head hash, or the first broken link."""
    anchors = [_parse_anchor(text) for text in anchor or []]
    with _engine(database_url) as engine:
        with snapshot(engine) as connection:
            total = read_head(connection).seq
        with _progress("verifying", total) as advance:
            report = verify(engine, anchors=anchors, progress=advance)
        rate = report.count / report.seconds if report.seconds > 0 else 0.0
        out.print(report.summary())
        out.print(f"checked {report.count} events in {report.seconds:.2f} s ({rate:,.0f} events/s)")
        if not no_record:
            with make_session_factory(engine).begin() as session:
                record_verification(session, report, _actor(actor))
    if not report.ok:
        raise typer.Exit(1)


def _parse_anchor(text: str) -> tuple[int, str]:
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise InvalidInput(f"--anchor {text!r}: expected SEQ:HASH, e.g. 1042:<64 hex characters>")
    return int(seq), digest.lower()


@audit_app.command("export")
def export_command(
    out_dir: Annotated[
        Path, typer.Option("--out", help="Directory to create (must not exist, or be empty).")
    ],
    start: Annotated[
        str | None,
        typer.Option("--from", help="First day (2024-05-01) or UTC time included; default: the start."),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", help="Last day included (2024-05-31), or a time excluded; default: now."),
    ] = None,
    case_id: Annotated[str | None, typer.Option("--case", help="Only the events of this case id.")] = None,
    product: Annotated[
        str | None, typer.Option("--product", help="Only the events of this product line.")
    ] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", help=f"Only events of this kind ({', '.join(EventKind)}).")
    ] = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="Events file format.")] = ExportFormat.JSONL,
    database_url: DatabaseUrl = None,
    actor: Actor = None,
    no_record: NoRecord = False,
) -> None:
    """Export events and a manifest that lets anyone verify them (docs/audit-export.md)."""
    with _engine(database_url) as engine:
        manifest = export_events(
            engine, out_dir, start=start, end=end, product=product, case_id=case_id, kind=kind, fmt=fmt
        )
        if not no_record:
            with make_session_factory(engine).begin() as session:
                record_export(session, out_dir, _actor(actor))
    span = (
        f"seq {manifest['first_seq']}..{manifest['last_seq']}" if manifest["count"] else "no events in range"
    )
    out.print(f"exported {manifest['count']} events ({span}) to {out_dir}")
    out.print(f"manifest: {out_dir / 'manifest.json'}; last hash {manifest['last_hash']}")


@audit_app.command("verify-export")
def verify_export_command(
    directory: Annotated[
        Path,
        typer.Argument(help="An export directory (with manifest.json).", exists=True, file_okay=False),
    ],
) -> None:
    """Check an export: file digests, the chain inside it, and the manifest's claims (exit 1 if
    broken; a path that is not a directory is a usage error, exit 2, not a broken export)."""
    check = verify_export(directory)
    out.print(check.summary())
    if not check.ok:
        raise typer.Exit(1)


@audit_app.command("replay")
def replay_command(
    decision_id: Annotated[
        int,
        typer.Argument(min=1, max=MAX_BIGINT, help="The decision's id (as in the API and the audit log)."),
    ],
    database_url: DatabaseUrl = None,
    models_dir: Annotated[
        Path | None, typer.Option("--models-dir", help="Model registry [default: DR_MODELS_DIR or ./models].")
    ] = None,
    policies_dir: Annotated[
        Path | None,
        typer.Option(
            "--policies-dir", help="Where to look for unpublished policy files [default: DR_POLICIES_DIR]."
        ),
    ] = None,
) -> None:
    """Re-run a decision's recorded inputs through its recorded model and policy; show any difference."""
    from decision_review.audit.replay import replay_decision  # the engine loads only for this command
    from decision_review.modeling.registry import ModelRegistry

    settings = Settings()
    with _engine(database_url) as engine, make_session_factory(engine)() as session:
        report = replay_decision(
            session,
            decision_id,
            registry=ModelRegistry(models_dir or settings.models_dir),
            policies_dir=policies_dir or settings.policies_dir,
        )
    out.print(f"decision {report.decision_id}: case {report.product}/{report.case_id}")
    out.print(f"  model {report.model}; policy {report.policy}")
    for note in report.notes:
        out.print(f"  note: {note}")
    for name in ("outcome", "score", "winning_rule", "rule_hits"):
        out.print(f"  {name}: recorded {report.recorded.get(name)!r}, replayed {report.replayed[name]!r}")
    codes = [r["code"] for r in report.replayed["reasons"]]
    out.print(f"  reasons: {len(report.replayed['reasons'])} replayed {codes}")
    if report.reproduced:
        out.print("reproduced: the recorded model and policy decide this case exactly as recorded")
        return
    for difference in report.differences:
        out.print(
            f"DIFFERS {difference.field}: recorded {difference.recorded!r}, replayed {difference.replayed!r}"
        )
    raise typer.Exit(1)


@db_app.command("upgrade")
def upgrade_command(database_url: DatabaseUrl = None) -> None:
    """Create or upgrade the schema to the latest migration (safe to run again)."""
    url = resolve_url(database_url, Settings())
    _revision(url)
    migrate(url)
    out.print(f"database {_shown(url)} is at revision {current_revision(url)} (latest {head_revision()})")


@db_app.command("current")
def current_command(database_url: DatabaseUrl = None) -> None:
    """Print the schema revision of the database (or that it was never migrated)."""
    url = resolve_url(database_url, Settings())
    revision = _revision(url)
    shown = revision if revision is not None else "none (run `decision-review db upgrade`)"
    out.print(f"database {_shown(url)}: revision {shown}; latest {head_revision()}")
