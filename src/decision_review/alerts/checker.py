"""Checking alert conditions and delivering webhooks, with retries, each delivery audited.

The server runs `AlertChecker.run_forever` in the background (every `alert_check_seconds`). Each
check reads every queue's depth and SLA breaches, matches them against the webhooks, and sends:

- when a condition starts to hold, at once;
- while it still holds, again every `alert_repeat_minutes`;
- nothing more once it has cleared (the alert is marked inactive, and fires anew if it returns).

Several API workers run the same checker: the `webhook_alerts` row of each (webhook, condition) is
claimed with a conditional UPDATE before sending, so exactly one worker sends each alert.

A delivery is a JSON POST, signed with the webhook's secret, retried with doubling backoff on a
connection error or a 5xx/429 answer (`webhook_attempts` tries in all), and recorded as a
`webhook_sent` event with its outcome (delivered or not, attempts, last status).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import and_, case, insert, or_, select, update
from sqlalchemy.exc import IntegrityError as DatabaseIntegrityError
from sqlalchemy.orm import Session

from decision_review.alerts.service import QueueCondition, queue_conditions
from decision_review.audit.chain import EventKind
from decision_review.audit.log import NewEvent, append
from decision_review.settings import Settings
from decision_review.store.jsonvalues import dumps
from decision_review.store.repository import utc_now
from decision_review.store.tables import Webhook, WebhookAlert

log = logging.getLogger(__name__)

_hooks = Webhook.__table__
_alerts = WebhookAlert.__table__


@dataclass(frozen=True, slots=True)
class Delivery:
    webhook: str
    url: str
    alert_key: str
    delivered: bool
    attempts: int
    status_code: int | None
    error: str | None


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _alerts_for(hook: Any, conditions: list[QueueCondition], now: dt.datetime) -> dict[str, dict[str, Any]]:
    """The alerts that hold now for this webhook: key -> message."""
    out: dict[str, dict[str, Any]] = {}
    for c in conditions:
        if (hook.product is not None and c.product != hook.product) or (
            hook.queue is not None and c.queue != hook.queue
        ):
            continue
        base = {
            "product": c.product,
            "queue": c.queue,
            "depth": c.depth,
            "sla_breached": c.breached,
            "at": now,
        }
        if hook.on_sla_breach and c.breached > 0:
            out[f"sla_breach:{c.product}:{c.queue}"] = {
                "alert": "sla_breach",
                **base,
                "oldest_due_at": c.oldest_due,
                "message": f"{c.breached} case(s) in queue {c.queue} of {c.product} are past their SLA",
            }
        if hook.depth_above is not None and c.depth > hook.depth_above:
            out[f"queue_depth:{c.product}:{c.queue}"] = {
                "alert": "queue_depth",
                **base,
                "limit": hook.depth_above,
                "message": f"queue {c.queue} of {c.product} holds {c.depth} open cases "
                f"(limit {hook.depth_above})",
            }
    return out


class AlertChecker:
    """Runs the checks; `post` is the HTTP call (httpx by default), `sleep` the wait between tries."""

    def __init__(
        self,
        write: Callable[[], AbstractContextManager[Session]],
        settings: Settings,
        *,
        post: Callable[[str, bytes, dict[str, str]], int] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._write = write
        self.settings = settings
        self._post = post or self._httpx_post
        self._sleep = sleep

    def _httpx_post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        with httpx.Client(timeout=self.settings.webhook_timeout_seconds) as client:
            return client.post(url, content=body, headers=headers).status_code

    def check_once(self, now: dt.datetime | None = None) -> list[Delivery]:
        """One round: find the alerts due, claim them, deliver them; returns the deliveries made."""
        now = now or utc_now()
        due: list[tuple[Any, str, dict[str, Any]]] = []
        with self._write() as session:
            conditions = queue_conditions(session, now)
            hooks = session.execute(select(_hooks).where(_hooks.c.enabled.is_(True))).all()
            for hook in hooks:
                holding = _alerts_for(hook, conditions, now)
                self._clear(session, hook.id, set(holding))
                for key, message in holding.items():
                    if self._claim(session, hook.id, key, now):
                        due.append((hook, key, message))
        return [self.deliver(hook, key, message) for hook, key, message in due]

    def _clear(self, session: Session, hook_id: int, holding: set[str]) -> None:
        condition = [_alerts.c.webhook_id == hook_id, _alerts.c.active.is_(True)]
        if holding:
            condition.append(_alerts.c.alert_key.not_in(sorted(holding)))
        session.execute(update(_alerts).where(and_(*condition)).values(active=False))

    def _claim(self, session: Session, hook_id: int, key: str, now: dt.datetime) -> bool:
        """True when this worker is the one to send (the row moved under our conditional update)."""
        repeat = dt.timedelta(minutes=self.settings.alert_repeat_minutes)
        exists = session.scalar(
            select(_alerts.c.id).where(_alerts.c.webhook_id == hook_id, _alerts.c.alert_key == key)
        )
        if exists is None:
            try:
                with session.begin_nested():
                    session.execute(
                        insert(_alerts).values(
                            webhook_id=hook_id,
                            alert_key=key,
                            active=True,
                            since=now,
                            last_sent_at=now,
                            sends=1,
                        )
                    )
                return True
            except DatabaseIntegrityError:  # another worker inserted it first: it sends
                return False
        moved = session.execute(
            update(_alerts)
            .where(
                _alerts.c.id == exists,
                or_(
                    _alerts.c.active.is_(False),
                    _alerts.c.last_sent_at.is_(None),
                    _alerts.c.last_sent_at <= now - repeat,
                ),
            )
            .values(
                active=True,
                since=case((_alerts.c.active.is_(True), _alerts.c.since), else_=now),
                last_sent_at=now,
                sends=_alerts.c.sends + 1,
            )
        )
        return moved.rowcount == 1

    def deliver(self, hook: Any, key: str, message: dict[str, Any]) -> Delivery:
        """POST the alert (retrying), then record the delivery in the audit log."""
        body = dumps({**message, "webhook": hook.name}).encode()
        headers = {
            "content-type": "application/json",
            "user-agent": "decision-review",
            "x-dr-signature": sign(hook.secret, body),
            "x-dr-alert": key,
        }
        attempts, status, error = 0, None, None
        delay = self.settings.webhook_backoff_seconds
        for attempt in range(1, self.settings.webhook_attempts + 1):
            attempts = attempt
            try:
                status = self._post(hook.url, body, headers)
                error = None
                if status < 500 and status != 429:
                    break
                error = f"HTTP {status}"
            except httpx.HTTPError as exc:
                status, error = None, f"{type(exc).__name__}: {exc}"
            if attempt < self.settings.webhook_attempts:
                self._sleep(delay)
                delay *= 2
        delivered = status is not None and 200 <= status < 300
        result = Delivery(hook.name, hook.url, key, delivered, attempts, status, error)
        with self._write() as session:
            append(
                session,
                [
                    NewEvent(
                        EventKind.WEBHOOK_SENT,
                        actor="system",
                        product=message.get("product"),
                        payload={
                            "webhook": hook.name,
                            "url": hook.url,
                            "alert": key,
                            "delivered": delivered,
                            "attempts": attempts,
                            "status_code": status,
                            "error": error,
                            "body_sha256": hashlib.sha256(body).hexdigest(),
                        },
                    )
                ],
            )
        if not delivered:
            log.warning(
                "webhook %s (%s) not delivered after %d tries: %s", hook.name, hook.url, attempts, error
            )
        return result

    def test(self, hook: Any) -> Delivery:
        """Send a test message to one webhook now (audited like any delivery)."""
        message = {"alert": "test", "at": utc_now(), "message": "test message from decision-review"}
        return self.deliver(hook, "test", message)

    async def run_forever(self) -> None:
        """The background loop of the server process: a check every `alert_check_seconds`."""
        import anyio

        while True:
            await asyncio.sleep(self.settings.alert_check_seconds)
            try:
                await anyio.to_thread.run_sync(self.check_once)
            except Exception:  # a failed round is logged and retried next time; the server goes on
                log.exception("alert check failed")
