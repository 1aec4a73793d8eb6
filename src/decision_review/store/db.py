"""Engines, sessions and migrations for the two supported databases.

SQLite (a file in WAL mode) is the embedded default, so a fresh machine runs with nothing
installed; PostgreSQL (via psycopg 3) is the production store, selected by `DATABASE_URL`.

What this module settles for every caller, once:
- SQLite connections run in WAL mode with foreign keys on, `synchronous=FULL` (a commit that
  returned is on disk) and a busy timeout, and every transaction begins with `BEGIN IMMEDIATE`:
  a writer takes the database's write lock at its first statement instead of failing half-way
  with "database is locked" when another writer got there first. Long reads (verify, export)
  use `snapshot()`, which begins a plain deferred transaction and so never blocks writers.
- PostgreSQL URLs may be given as ``postgresql://`` or ``postgres://``; they are run through
  psycopg 3 (``postgresql+psycopg://``).
- JSON columns are written by one serialiser (`jsonvalues.dumps`): Decimals, datetimes and numpy
  numbers become JSON the same way on both engines, NaN is refused on both.

Example:

    >>> engine = make_engine("sqlite:///var/example.db")      # doctest: +SKIP
    >>> migrate(engine)                                        # doctest: +SKIP
    >>> with make_session_factory(engine).begin() as session:  # doctest: +SKIP
    ...     ...
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from decision_review.errors import InvalidInput
from decision_review.settings import Settings
from decision_review.store.jsonvalues import dumps

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY_OPTION = "dr_read_only"  # execution option: begin a deferred (read) transaction on SQLite


def resolve_url(url: str | None = None, settings: Settings | None = None) -> str:
    """The URL to use: the one given, else the settings' (DATABASE_URL or the default SQLite file)."""
    if url:
        return normalise_url(url)
    return normalise_url((settings or Settings()).effective_database_url)


def normalise_url(url: str) -> str:
    """Run plain PostgreSQL URLs through psycopg 3; refuse engines this package does not support."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise InvalidInput(f"database URL {url!r} is not a valid URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend in {"postgresql", "postgres"}:
        if parsed.drivername in {"postgresql", "postgres", "postgresql+psycopg2"}:
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed.render_as_string(hide_password=False)
    if backend == "sqlite":
        return url
    raise InvalidInput(
        f"database URL {parsed.render_as_string()!r}: only SQLite (sqlite:///path) and PostgreSQL "
        "(postgresql://user@host/db) are supported"
    )


def is_postgresql(bind: Engine | Connection | Session) -> bool:
    engine = bind.get_bind() if isinstance(bind, Session) else bind
    return engine.dialect.name == "postgresql"


def make_engine(url: str | None = None, *, settings: Settings | None = None, **kwargs: Any) -> Engine:
    """An engine for `url` (or the settings' URL) with the per-engine setup described above.

    For a SQLite file the parent folder is created, so the default `var/decision-review.db`
    works on a fresh checkout.
    """
    url = resolve_url(url, settings)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database, **kwargs)
    return create_engine(url, json_serializer=dumps, pool_pre_ping=True, **kwargs)


def _sqlite_engine(url: str, database: str | None, **kwargs: Any) -> Engine:
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, json_serializer=dumps, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event (below) issue BEGIN itself, instead of pysqlite's own
        # deferred BEGIN before the first write (the documented SQLAlchemy recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "foreign_keys=ON",
            "synchronous=FULL",
            f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to `engine`; objects stay readable after commit (expire_on_commit=False)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only connection seeing one consistent state of the database for its whole life.

    Why: verifying or exporting the audit log reads many chunks; they must all see the same
    chain, while writers keep appending. PostgreSQL: REPEATABLE READ, READ ONLY. SQLite (WAL): a
    deferred read transaction, which holds its snapshot and does not block writers.
    """
    with engine.connect() as connection:
        if is_postgresql(connection):
            connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        else:
            connection.execution_options(**{READ_ONLY_OPTION: True})
        with connection.begin():
            yield connection


# ---------------------------------------------------------------------------------------------
# Migrations


def _alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def migrate(target: str | Engine | None = None, revision: str = "head") -> None:
    """Bring the database to `revision` (the latest by default); safe to run again.

    `target` is a URL, an engine, or None for the settings' URL.
    """
    engine = target if isinstance(target, Engine) else make_engine(target)
    try:
        with engine.begin() as connection:
            command.upgrade(_alembic_config(connection), revision)
    finally:
        if not isinstance(target, Engine):
            engine.dispose()


def downgrade(target: str | Engine, revision: str) -> None:
    """Step the schema back to `revision` (``base`` removes every table this package made)."""
    engine = target if isinstance(target, Engine) else make_engine(target)
    try:
        with engine.begin() as connection:
            command.downgrade(_alembic_config(connection), revision)
    finally:
        if not isinstance(target, Engine):
            engine.dispose()


def current_revision(target: str | Engine | None = None) -> str | None:
    """The revision the database is at, or None for a database that was never migrated."""
    engine = target if isinstance(target, Engine) else make_engine(target)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        if not isinstance(target, Engine):
            engine.dispose()


def head_revision() -> str:
    """The latest revision this version of the package knows."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None, "the package ships at least one migration"
    return head
