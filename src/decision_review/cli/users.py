"""``decision-review users ...``: add users (printing their token once), list, issue and revoke
tokens, disable users. Every change is audited with the actor ``cli:<login>``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from decision_review.errors import InvalidInput
from decision_review.settings import Settings

users_app = typer.Typer(help="Users, roles and API tokens.", no_args_is_help=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL; default: DATABASE_URL, else the SQLite file."),
]


def register(app: typer.Typer) -> None:
    """Add the `users` command group to the main app."""
    app.add_typer(users_app, name="users")


@contextmanager
def _session(database_url: str | None) -> Iterator:
    from decision_review.store.db import make_engine, make_session_factory, migrate, resolve_url

    url = resolve_url(database_url, Settings())
    migrate(url)
    engine = make_engine(url)
    try:
        with make_session_factory(engine).begin() as session:
            yield session
    finally:
        engine.dispose()


def _actor() -> str:
    from decision_review.cli.audit import _actor as cli_actor

    return cli_actor(None)


def _show_token(issued) -> None:
    typer.echo(f"token for {issued.user} (shown once, store it now):")
    typer.echo(issued.token)


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, _ . @ -).")],
    role: Annotated[str, typer.Option("--role", help="intake, underwriter, compliance, risk or admin.")],
    product: Annotated[
        list[str] | None, typer.Option("--product", help="Limit the user to this product line (repeatable).")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add a user with one role and print their first API token (once)."""
    from decision_review.users.service import add_user

    with _session(database_url) as session:
        issued = add_user(session, name, role, products=product or [], actor=_actor())
    _show_token(issued)


@users_app.command("token")
def token(name: Annotated[str, typer.Argument(help="User name.")], database_url: DatabaseUrl = None) -> None:
    """Issue another token for a user (the others stay valid) and print it once."""
    from decision_review.users.service import issue_token

    with _session(database_url) as session:
        issued = issue_token(session, name, actor=_actor())
    _show_token(issued)


@users_app.command("list")
def list_command(database_url: DatabaseUrl = None) -> None:
    """List users, their roles, product lines and token prefixes."""
    from decision_review.users.service import list_users

    with _session(database_url) as session:
        users = list_users(session)
    if not users:
        typer.echo("no users yet: decision-review users add NAME --role ROLE")
    for user in users:
        products = ", ".join(user.products) or "all product lines"
        state = " (disabled)" if user.disabled else ""
        live = [t.prefix for t in user.tokens if t.revoked_at is None]
        typer.echo(f"{user.name}: {user.role}, {products}{state}; live tokens: {', '.join(live) or 'none'}")


@users_app.command("revoke-token")
def revoke_token(
    name: Annotated[str, typer.Argument(help="User name.")],
    prefix: Annotated[str | None, typer.Option("--prefix", help="Token prefix (`users list`).")] = None,
    all_tokens: Annotated[bool, typer.Option("--all", help="Revoke every live token of the user.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke one token (by prefix) or all of a user's tokens."""
    from decision_review.users.service import revoke_tokens

    if (prefix is None) == (not all_tokens):
        raise InvalidInput("give --prefix PREFIX or --all (exactly one)")
    with _session(database_url) as session:
        revoked = revoke_tokens(session, name, prefix=prefix, actor=_actor())
    typer.echo(f"revoked {len(revoked)} token(s) of {name}: {', '.join(revoked)}")


@users_app.command("disable")
def disable(name: Annotated[str, typer.Argument(help="User name.")], database_url: DatabaseUrl = None):
    """Disable a user: every token of theirs stops working at once."""
    from decision_review.users.service import disable_user

    with _session(database_url) as session:
        disable_user(session, name, actor=_actor())
    typer.echo(f"disabled {name}; their tokens are revoked")


@users_app.command("set-password")
def set_password(
    name: Annotated[str, typer.Argument(help="User name.")],
    stdin: Annotated[
        bool, typer.Option("--stdin", help="Read the password from the first line of standard input.")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Set the password a person signs in to the web pages with (asked twice, not shown)."""
    import sys

    from decision_review.users.service import MIN_PASSWORD_LENGTH, check_new_password
    from decision_review.users.service import set_password as store_password

    if stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt(
            f"new password for {name} (at least {MIN_PASSWORD_LENGTH} characters)",
            hide_input=True,
            confirmation_prompt=True,
        )
    check_new_password(password)
    with _session(database_url) as session:
        store_password(session, name, password, actor=_actor())
    typer.echo(f"password set for {name}; their earlier page sessions have ended")
