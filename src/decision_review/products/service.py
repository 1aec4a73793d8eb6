"""Product lines: which policy and model decide each one, and the switch that stops auto-decisions.

A product line is live when it has a live published policy (`policies.service`). `ProductCatalog`
turns that into a ready `DecisionEngine`, built once per policy digest and kept for the life of
the process: a request never loads a model. Which version is live is read from the database on
every request (one indexed row), so a policy published by one API worker is used by all of them
from their next request on.

The stop switch (human oversight): a risk or admin user turns automatic decisions off for a
product line, and from then on every new case goes to review, until it is turned back on. Both
changes are audited; the queue shows the switch's state.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.orm import Session

from decision_review.audit.chain import EventKind
from decision_review.audit.log import NewEvent, append
from decision_review.errors import NotFound
from decision_review.review.reasons import ReasonCatalog
from decision_review.store.repository import utc_now
from decision_review.store.tables import ProductControl, PublishedPolicy

if TYPE_CHECKING:
    from decision_review.engine import DecisionEngine
    from decision_review.modeling.registry import ModelRegistry
    from decision_review.policy.spec import FourEyes
    from decision_review.settings import Settings

_policies = PublishedPolicy.__table__
_controls = ProductControl.__table__


@dataclass(frozen=True)
class ReviewRules:
    """How the product's cases are worked, from its live policy (and the settings' defaults)."""

    override_window: dt.timedelta
    four_eyes: FourEyes
    reasons: ReasonCatalog


@dataclass(frozen=True)
class LiveProduct:
    """A product line as it decides right now: its engine, live policy version and stop switch."""

    product: str
    engine: DecisionEngine
    policy_id: int
    policy_version: str
    auto_decisions: bool
    review: ReviewRules

    @property
    def id_field(self) -> str:
        return self.engine.model.contract.id_field


@dataclass(frozen=True)
class Control:
    product: str
    auto_decisions_enabled: bool
    changed_by: str | None
    changed_at: dt.datetime | None
    note: str | None


class ProductCatalog:
    """Engines per product line, built from the live published policy and cached by its digest."""

    def __init__(self, registry: ModelRegistry, settings: Settings) -> None:
        self.registry = registry
        self.settings = settings
        self._engines: dict[str, tuple[DecisionEngine, ReviewRules]] = {}
        self._lock = threading.Lock()

    def live(self, session: Session, product: str) -> LiveProduct:
        """The product's live engine and switch; NotFound when nothing is published for it."""
        row = session.execute(
            select(
                _policies.c.id,
                _policies.c.version,
                _policies.c.digest,
                _controls.c.auto_decisions_enabled,
            )
            .select_from(_policies.outerjoin(_controls, _controls.c.product == _policies.c.product))
            .where(_policies.c.product == product, _policies.c.live.is_(True))
        ).one_or_none()
        if row is None:
            raise NotFound(f"no product line {product!r} (no live policy is published for it)")
        engine, rules = self._cached(session, row.id, row.digest)
        auto = True if row.auto_decisions_enabled is None else bool(row.auto_decisions_enabled)
        return LiveProduct(product, engine, row.id, row.version, auto, rules)

    def engine_for_text(self, digest: str, yaml_text: str, source: str) -> tuple[DecisionEngine, ReviewRules]:
        """Build (or reuse) the engine of a policy text with this digest."""
        with self._lock:
            cached = self._engines.get(digest)
        if cached is not None:
            return cached
        from decision_review.engine import DecisionEngine
        from decision_review.policy import parse_document

        engine = DecisionEngine.from_document(
            parse_document(yaml_text, source=source),
            self.registry,
            explain_reference=self.settings.explain_reference,
            max_reasons=self.settings.max_reasons,
        )
        spec = engine.policy.spec.review
        window = (
            spec.override_window_hours
            if spec.override_window_hours is not None
            else self.settings.override_window_hours
        )
        rules = ReviewRules(
            override_window=dt.timedelta(hours=window),
            four_eyes=spec.four_eyes,
            reasons=ReasonCatalog(spec.reason_codes, engine.model.reasons.reasons),
        )
        with self._lock:
            return self._engines.setdefault(digest, (engine, rules))

    def _cached(self, session: Session, policy_id: int, digest: str) -> tuple[DecisionEngine, ReviewRules]:
        with self._lock:
            cached = self._engines.get(digest)
        if cached is not None:
            return cached
        row = session.execute(
            select(_policies.c.name, _policies.c.version, _policies.c.yaml_text).where(
                _policies.c.id == policy_id
            )
        ).one()
        return self.engine_for_text(digest, row.yaml_text, f"published policy {row.name}@{row.version}")


def live_products(session: Session) -> list[str]:
    """Product lines with a live policy, by name."""
    return list(
        session.scalars(
            select(_policies.c.product).where(_policies.c.live.is_(True)).order_by(_policies.c.product)
        )
    )


def published_products(session: Session | Connection) -> list[str]:
    """Product lines a policy was ever published for, live or not, by name: the ones users may be
    limited to and the audit log may hold events of."""
    return list(session.scalars(select(_policies.c.product).distinct().order_by(_policies.c.product)))


def control(session: Session, product: str) -> Control:
    row = session.execute(select(_controls).where(_controls.c.product == product)).one_or_none()
    if row is None:
        return Control(product, True, None, None, None)
    return Control(product, row.auto_decisions_enabled, row.changed_by, row.changed_at, row.note)


def set_auto_decisions(
    session: Session, product: str, *, enabled: bool, note: str, actor: str, now: dt.datetime | None = None
) -> Control:
    """Turn automatic decisions on or off for a product line (audited). Setting the state it is
    already in changes nothing and records nothing."""
    if product not in live_products(session):
        raise NotFound(f"no product line {product!r} (no live policy is published for it)")
    now = now or utc_now()
    current = control(session, product)
    if current.auto_decisions_enabled == enabled:
        return current
    values = {"auto_decisions_enabled": enabled, "changed_by": actor, "changed_at": now, "note": note}
    if current.changed_at is None:
        session.execute(insert(_controls).values(product=product, **values))
    else:
        session.execute(update(_controls).where(_controls.c.product == product).values(**values))
    append(
        session,
        [
            NewEvent(
                EventKind.AUTO_DECISIONS_SWITCHED,
                actor=actor,
                product=product,
                payload={
                    "auto_decisions_enabled": enabled,
                    "was_enabled": current.auto_decisions_enabled,
                    "note": note,
                },
            )
        ],
    )
    return Control(product, enabled, actor, now, note)
