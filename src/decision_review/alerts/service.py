"""Webhooks (configured by admin or risk users) and the alert conditions they watch.

A webhook watches every product line and queue, or one product line, or one queue of it, for:
- `on_sla_breach`: at least one open case past its service-level time;
- `depth_above`: more than this many open cases.

Configuration changes are audited. Each webhook has a secret, shown once when it is created, with
which every delivery is signed (``X-DR-Signature: sha256=<HMAC-SHA256 of the body>``), so the
receiver can tell a real alert from a forged one.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import case, delete, func, insert, select
from sqlalchemy.orm import Session

from decision_review.audit.chain import EventKind
from decision_review.audit.log import NewEvent, append
from decision_review.errors import Conflict, InvalidInput, NotFound
from decision_review.review.repository import OPEN_STATES
from decision_review.store.repository import utc_now
from decision_review.store.tables import ReviewItem, ReviewState, Webhook, WebhookAlert

_hooks = Webhook.__table__
_alerts = WebhookAlert.__table__
_items = ReviewItem.__table__


@dataclass(frozen=True, slots=True)
class QueueCondition:
    """What one queue looks like now: open cases, how many are past their SLA, the oldest due time."""

    product: str
    queue: str
    depth: int
    breached: int
    oldest_due: dt.datetime | None


def _check_url(url: str) -> str:
    """The URL if deliveries can be sent to it; otherwise InvalidInput naming what is wrong.

    Refused here rather than found out at the first alert: a URL that cannot be parsed, a host
    or port that cannot be reached, and credentials (`user:password@`), which would be shown in
    the webhook list and written to the audit log; deliveries are signed instead.
    """
    problem = _url_problem(url)
    if problem:
        raise InvalidInput(f"webhook url {url[:200]!r}: {problem}")
    return url


def _url_problem(url: str) -> str | None:
    if len(url) > 2000:
        return "is longer than 2,000 characters"
    if not url.isprintable() or " " in url:  # isprintable() refuses every other space already
        return "holds a space or a character that does not print; percent-encode it"
    try:
        parsed = urlsplit(url)
        port = parsed.port  # reading it checks it: a number from 0 to 65535
    except ValueError as exc:
        return f"cannot be read as a URL ({exc})"
    if parsed.scheme not in {"http", "https"}:
        return "must be an http:// or https:// URL"
    if not parsed.hostname:
        return "names no host"
    if port == 0:
        return "port 0 cannot be reached"
    if parsed.username is not None or parsed.password is not None:
        return (
            "must not carry credentials (user:password@): they would be shown in the webhook list and "
            "the audit log; the receiver checks each delivery's X-DR-Signature instead"
        )
    return None


def create_webhook(
    session: Session,
    *,
    name: str,
    url: str,
    product: str | None,
    queue: str | None,
    on_sla_breach: bool,
    depth_above: int | None,
    actor: str,
) -> dict[str, Any]:
    """Add a webhook; returns it with its signing secret (shown this once)."""
    if not on_sla_breach and depth_above is None:
        raise InvalidInput("a webhook must watch something: set on_sla_breach, depth_above, or both")
    if queue is not None and product is None:
        raise InvalidInput("a webhook for one queue must name its product line too")
    if session.scalar(select(func.count()).select_from(_hooks).where(_hooks.c.name == name)):
        raise Conflict(f"a webhook named {name!r} already exists")
    row = {
        "name": name,
        "url": _check_url(url),
        "product": product,
        "queue": queue,
        "on_sla_breach": on_sla_breach,
        "depth_above": depth_above,
        "secret": secrets.token_hex(32),
        "enabled": True,
        "created_by": actor,
        "created_at": utc_now(),
    }
    row["id"] = session.execute(insert(_hooks).returning(_hooks.c.id), row).scalar_one()
    append(
        session,
        [
            NewEvent(
                EventKind.WEBHOOK_CONFIGURED,
                actor=actor,
                product=product,
                payload={
                    "action": "created",
                    **{k: row[k] for k in ("name", "url", "queue", "on_sla_breach", "depth_above")},
                },
            )
        ],
    )
    return row


def list_webhooks(session: Session, products: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Webhooks (without their secrets); a user limited to product lines sees only theirs."""
    rows = session.execute(select(_hooks).order_by(_hooks.c.name)).all()
    return [
        {k: v for k, v in row._mapping.items() if k != "secret"}
        for row in rows
        if not products or row.product in products
    ]


def get_webhook(session: Session, name: str) -> Any:
    row = session.execute(select(_hooks).where(_hooks.c.name == name)).one_or_none()
    if row is None:
        raise NotFound(f"no webhook named {name!r}")
    return row


def delete_webhook(session: Session, name: str, *, actor: str) -> None:
    row = get_webhook(session, name)
    session.execute(delete(_alerts).where(_alerts.c.webhook_id == row.id))
    session.execute(delete(_hooks).where(_hooks.c.id == row.id))
    append(
        session,
        [
            NewEvent(
                EventKind.WEBHOOK_CONFIGURED,
                actor=actor,
                product=row.product,
                payload={"action": "deleted", "name": name, "url": row.url},
            )
        ],
    )


def queue_conditions(session: Session, now: dt.datetime) -> list[QueueCondition]:
    """Depth and SLA breaches of every queue that has open cases (expired claims count as open)."""
    open_states = (*OPEN_STATES, ReviewState.CLAIMED.value, ReviewState.PENDING_APPROVAL.value)
    past_due = func.sum(case((_items.c.sla_due_at < now, 1), else_=0))
    rows = session.execute(
        select(
            _items.c.product,
            _items.c.queue,
            func.count(),
            past_due,
            func.min(_items.c.sla_due_at),
        )
        .where(_items.c.state.in_(open_states))
        .group_by(_items.c.product, _items.c.queue)
    ).all()
    return [
        QueueCondition(p, q, int(depth), int(breached or 0), oldest) for p, q, depth, breached, oldest in rows
    ]
