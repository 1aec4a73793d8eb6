"""Users, their bearer tokens, and who a token belongs to.

Tokens are 256-bit random strings (``dr_`` + 43 URL-safe characters), shown once when issued and
stored only as their sha256. Why sha256 and not bcrypt or argon2: those are slow on purpose to
protect guessable passwords; a 256-bit random token cannot be guessed, so a fast hash loses
nothing, and it lets the database find a token by its hash with one indexed lookup on every API
call (a salted slow hash would need a scan, and ~100 ms per request). The first characters are
kept in clear as `prefix` so a person can tell their tokens apart and revoke one.

Every change (user added or disabled, token issued or revoked) is audited in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from decision_review.audit.chain import EventKind
from decision_review.audit.log import NewEvent, append
from decision_review.errors import Conflict, InvalidInput, NotFound
from decision_review.products.service import published_products
from decision_review.schemas import Role
from decision_review.store.repository import utc_now
from decision_review.store.tables import ApiToken, User

TOKEN_PREFIX = "dr_"
TOKEN_BYTES = 32
SHOWN_PREFIX_LENGTH = 11  # "dr_" and the first 8 random characters
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}")
PRODUCT_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,63}")
TOUCH_EVERY = dt.timedelta(minutes=1)  # how stale last_used_at may get (one write a minute per token)

_users = User.__table__
_tokens = ApiToken.__table__


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user, their role, and the product lines they are limited to (empty: all)."""

    user_id: int
    name: str
    role: Role
    products: tuple[str, ...] = ()
    token_id: int | None = None

    def can_see(self, product: str) -> bool:
        return not self.products or product in self.products

    def visible(self, products: Iterable[str]) -> list[str]:
        return [p for p in products if self.can_see(p)]


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token as issued: `token` is the secret, shown once and never stored."""

    user: str
    token: str
    prefix: str


@dataclass(frozen=True, slots=True)
class UserInfo:
    name: str
    role: str
    products: list[str]
    disabled: bool
    created_at: dt.datetime
    tokens: list[TokenInfo]


@dataclass(frozen=True, slots=True)
class TokenInfo:
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidInput(
            f"user name {name!r} is not usable: 1-100 of letters, digits, '_', '.', '@' or '-', "
            "starting with a letter or digit"
        )
    return name


def _check_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InvalidInput(f"role {role!r} is not a role; roles: {', '.join(Role)}") from None


def _check_products(session: Session, products: Iterable[str]) -> list[str]:
    """Distinct product-line names, each one a policy was published for: a typo would otherwise
    give a user who may see nothing, and say nothing."""
    out = list(dict.fromkeys(products))
    for product in out:
        if not PRODUCT_PATTERN.fullmatch(product):
            raise InvalidInput(
                f"product {product!r} is not a product line name "
                "(a-z, 0-9, '_' or '-', starting with a letter)"
            )
    if out:
        known = published_products(session)
        unknown = [p for p in out if p not in known]
        if unknown:
            raise InvalidInput(
                f"no product line {', '.join(map(repr, unknown))}: no policy was ever published for it "
                f"(product lines: {', '.join(known) or 'none yet'}); publish its policy first"
            )
    return out


def _user_row(session: Session, name: str) -> User:
    user = session.scalars(select(User).where(User.name == name)).one_or_none()
    if user is None:
        raise NotFound(f"no user named {name!r}; `decision-review users list` shows them")
    return user


def add_user(
    session: Session, name: str, role: str, *, products: Iterable[str] = (), actor: str
) -> IssuedToken:
    """Create a user with one role (optionally limited to product lines) and issue their first token."""
    name = _check_name(name)
    role_value = _check_role(role)
    product_list = _check_products(session, products)
    clash = session.scalar(select(_users.c.name).where(func.lower(_users.c.name) == name.lower()))
    if clash == name:
        raise Conflict(f"a user named {name!r} already exists; issue them a new token instead")
    if clash is not None:  # "Ana" beside "ana" would read as one person in the audit log
        raise Conflict(f"a user named {clash!r} already exists; names may not differ only in case")
    now = utc_now()
    user_id = session.execute(
        insert(_users).returning(_users.c.id),
        {
            "name": name,
            "role": role_value.value,
            "products": product_list,
            "created_at": now,
            "disabled": False,
        },
    ).scalar_one()
    token, prefix = _insert_token(session, user_id, now)
    append(
        session,
        [
            NewEvent(
                EventKind.USER_ADDED,
                actor=actor,
                payload={"user": name, "role": role_value.value, "products": product_list},
            ),
            NewEvent(EventKind.TOKEN_ISSUED, actor=actor, payload={"user": name, "prefix": prefix}),
        ],
    )
    return IssuedToken(name, token, prefix)


def _insert_token(session: Session, user_id: int, now: dt.datetime) -> tuple[str, str]:
    token = new_token()
    prefix = token[:SHOWN_PREFIX_LENGTH]
    session.execute(
        insert(_tokens),
        {"user_id": user_id, "token_hash": hash_token(token), "prefix": prefix, "created_at": now},
    )
    return token, prefix


def issue_token(session: Session, name: str, *, actor: str) -> IssuedToken:
    """A new token for an existing, enabled user (their other tokens stay valid)."""
    user = _user_row(session, name)
    if user.disabled:
        raise Conflict(f"user {name!r} is disabled; tokens cannot be issued to a disabled user")
    token, prefix = _insert_token(session, user.id, utc_now())
    append(session, [NewEvent(EventKind.TOKEN_ISSUED, actor=actor, payload={"user": name, "prefix": prefix})])
    return IssuedToken(name, token, prefix)


def revoke_tokens(session: Session, name: str, *, prefix: str | None = None, actor: str) -> list[str]:
    """Revoke one token (by its prefix) or, without a prefix, every live token of the user."""
    user = _user_row(session, name)
    query = select(_tokens.c.id, _tokens.c.prefix).where(
        _tokens.c.user_id == user.id, _tokens.c.revoked_at.is_(None)
    )
    if prefix is not None:
        query = query.where(_tokens.c.prefix == prefix)
    rows = session.execute(query).all()
    if not rows:
        which = f"with prefix {prefix!r}" if prefix else "at all"
        raise NotFound(f"user {name!r} has no live token {which}")
    now = utc_now()
    session.execute(update(_tokens).where(_tokens.c.id.in_([r.id for r in rows])).values(revoked_at=now))
    prefixes = [r.prefix for r in rows]
    append(
        session,
        [
            NewEvent(EventKind.TOKEN_REVOKED, actor=actor, payload={"user": name, "prefix": p})
            for p in prefixes
        ],
    )
    return prefixes


def disable_user(session: Session, name: str, *, actor: str) -> None:
    """Disable a user: every token of theirs stops working at once (and is revoked)."""
    user = _user_row(session, name)
    if user.disabled:
        raise Conflict(f"user {name!r} is already disabled")
    now = utc_now()
    session.execute(update(_users).where(_users.c.id == user.id).values(disabled=True))
    session.execute(
        update(_tokens)
        .where(_tokens.c.user_id == user.id, _tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    append(session, [NewEvent(EventKind.USER_DISABLED, actor=actor, payload={"user": name})])


def list_users(session: Session) -> list[UserInfo]:
    users = session.scalars(select(User).order_by(User.name)).all()
    tokens: dict[int, list[TokenInfo]] = {}
    for row in session.scalars(select(ApiToken).order_by(ApiToken.created_at)):
        tokens.setdefault(row.user_id, []).append(
            TokenInfo(row.prefix, row.created_at, row.last_used_at, row.revoked_at)
        )
    return [
        UserInfo(u.name, u.role, list(u.products), u.disabled, u.created_at, tokens.get(u.id, []))
        for u in users
    ]


@dataclass(frozen=True, slots=True)
class AuthResult:
    """A token's owner, or why the token was refused (for the audit event)."""

    principal: Principal | None
    refusal: str | None = None
    stale_since: dt.datetime | None = None


def authenticate(session: Session, token: str) -> AuthResult:
    """Who holds `token`: one indexed lookup by its hash. Never says which part was wrong to the caller."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return AuthResult(None, "malformed token")
    row = session.execute(
        select(
            _tokens.c.id,
            _tokens.c.revoked_at,
            _tokens.c.last_used_at,
            _users.c.id.label("user_id"),
            _users.c.name,
            _users.c.role,
            _users.c.products,
            _users.c.disabled,
        )
        .join(_users, _users.c.id == _tokens.c.user_id)
        .where(_tokens.c.token_hash == hash_token(token))
    ).one_or_none()
    if row is None:
        return AuthResult(None, "unknown token")
    if row.revoked_at is not None:
        return AuthResult(None, f"revoked token of user {row.name}")
    if row.disabled:
        return AuthResult(None, f"token of disabled user {row.name}")
    try:
        role = Role(row.role)
    except ValueError:
        return AuthResult(None, f"user {row.name} has an unknown role {row.role!r}")
    principal = Principal(row.user_id, row.name, role, tuple(row.products or ()), row.id)
    return AuthResult(principal, stale_since=row.last_used_at or dt.datetime.min.replace(tzinfo=dt.UTC))


def touch_token(session: Session, token_id: int, now: dt.datetime | None = None) -> None:
    """Record that a token was used, at most once a minute (a write per request would cost too much)."""
    now = now or utc_now()
    session.execute(
        update(_tokens)
        .where(
            _tokens.c.id == token_id,
            (_tokens.c.last_used_at.is_(None)) | (_tokens.c.last_used_at < now - TOUCH_EVERY),
        )
        .values(last_used_at=now)
    )


def needs_touch(result: AuthResult, now: dt.datetime | None = None) -> bool:
    now = now or utc_now()
    return result.stale_since is not None and result.stale_since < now - TOUCH_EVERY


# ---------------------------------------------------------------------------------------------
# Passwords: people signing in to the web pages (a token is the machine credential)
#
# Why scrypt from the standard library: a password, unlike a token, can be guessed, so its hash must
# be slow and memory-hard to try; hashlib.scrypt is both and needs no extra dependency. The cost
# parameters travel inside the stored string, so raising them later leaves old hashes readable.
# N=2**15 (32 MiB, about 0.1-0.4 s on a shared two-core machine) is below OWASP's 2**17 for the sake
# of small servers; raise SCRYPT_N where sign-ins are rare and memory is plentiful.

SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_SALT_BYTES = 16
SCRYPT_KEY_BYTES = 32
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
_SCRYPT = "scrypt"


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=SCRYPT_KEY_BYTES, maxmem=256 * n * r + 2**20
    )


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """A salted scrypt hash with its parameters: ``scrypt$n=32768,r=8,p=1$<salt>$<key>`` (base64).

    >>> stored = hash_password("correct horse battery", n=2**10)
    >>> stored.startswith("scrypt$n=1024,r=8,p=1$"), verify_password("correct horse battery", stored)
    (True, True)
    """
    salt = secrets.token_bytes(SCRYPT_SALT_BYTES)
    key = _scrypt(password, salt, n, r, p)
    return f"{_SCRYPT}$n={n},r={r},p={p}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether `password` matches a `hash_password` string (False for a missing or malformed one)."""
    import base64
    import binascii

    if not stored or len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        scheme, params, salt_text, key_text = stored.split("$")
        values = dict(part.split("=", 1) for part in params.split(","))
        n, r, p = int(values["n"]), int(values["r"]), int(values["p"])
        salt, key = base64.b64decode(salt_text), base64.b64decode(key_text)
    except (ValueError, KeyError, binascii.Error):
        return False
    if scheme != _SCRYPT or not (2 <= n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16):
        return False
    return secrets.compare_digest(_scrypt(password, salt, n, r, p), key)


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


def check_new_password(password: str) -> str:
    """The password if it is acceptable; InvalidInput saying why not."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"the password must be at most {MAX_PASSWORD_LENGTH} characters long")
    if password.strip() != password or not password.isprintable():
        raise InvalidInput("the password must not start or end with spaces or contain control characters")
    return password


def set_password(session: Session, name: str, password: str, *, actor: str) -> None:
    """Give a user a password for the web pages (replacing any old one: their page sessions end).

    Audited like issuing a token (`password_set`, who and for whom; never the password or its hash).
    """
    user = _user_row(session, name)
    if user.disabled:
        raise Conflict(f"user {name!r} is disabled; a disabled user cannot be given a password")
    stored = hash_password(check_new_password(password))
    session.execute(update(_users).where(_users.c.id == user.id).values(password_hash=stored))
    append(session, [NewEvent(EventKind.PASSWORD_SET, actor=actor, payload={"user": user.name})])


def password_fingerprint(stored: str | None) -> str:
    """A short digest of the stored hash: a page session carries it, so a new password ends old sessions."""
    return hashlib.sha256((stored or "").encode("utf-8")).hexdigest()[:16]


@functools.cache
def _dummy_hash() -> str:
    """A hash to check unknown names against: a refusal takes as long whether or not the user exists."""
    return hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class PasswordSignIn:
    """Who signed in (and their password's fingerprint), or why not (for the audit event)."""

    principal: Principal | None
    fingerprint: str | None = None
    refusal: str | None = None


def authenticate_password(session: Session, name: str, password: str) -> PasswordSignIn:
    """Check a name and password. The reason for a refusal is for the audit log, not the caller."""
    row = session.execute(
        select(_users.c.id, _users.c.name, _users.c.role, _users.c.products, _users.c.disabled,
               _users.c.password_hash).where(_users.c.name == name)
    ).one_or_none()  # fmt: skip
    if row is None or row.password_hash is None:
        verify_password(password, _dummy_hash())
        return PasswordSignIn(None, refusal="unknown user" if row is None else f"user {name} has no password")
    if not verify_password(password, row.password_hash):
        return PasswordSignIn(None, refusal=f"wrong password for user {name}")
    if row.disabled:
        return PasswordSignIn(None, refusal=f"disabled user {name}")
    try:
        role = Role(row.role)
    except ValueError:
        return PasswordSignIn(None, refusal=f"user {name} has an unknown role {row.role!r}")
    principal = Principal(row.id, row.name, role, tuple(row.products or ()))
    return PasswordSignIn(principal, password_fingerprint(row.password_hash))


def signed_in_principal(session: Session, user_id: int, fingerprint: str) -> Principal | None:
    """The user a page session belongs to, if they are still enabled and their password unchanged."""
    row = session.execute(
        select(_users.c.id, _users.c.name, _users.c.role, _users.c.products, _users.c.disabled,
               _users.c.password_hash).where(_users.c.id == user_id)
    ).one_or_none()  # fmt: skip
    if row is None or row.disabled or row.password_hash is None:
        return None
    if not secrets.compare_digest(password_fingerprint(row.password_hash), fingerprint):
        return None
    try:
        return Principal(row.id, row.name, Role(row.role), tuple(row.products or ()))
    except ValueError:
        return None
