"""Published policies: versions per product line, the live one, lint and golden tests, publishing.

A policy decides nothing until it is published. Publishing a text checks it exactly as
``decision-review policy lint`` and ``policy test`` do (schema, conditions against the model's
contract, every golden case through the real engine and model), then runs the product's gates when
the caller passes a gate check (the backtest issue wires one: `publish(..., gates=...)`), stores
the text with its digest, makes it the live version of its product line and records a
`policy_published` event, all in one transaction.

Bootstrap: at server start (`bootstrap_policies`), each policy file in the policies folder whose
product line has nothing published yet is published as it is, by actor ``system``, through the
same checks and with the same audit event. A product line already published is never touched by
the files again: from then on only a publish changes what is live.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from decision_review.audit.chain import EventKind
from decision_review.audit.log import NewEvent, append
from decision_review.errors import Conflict, InvalidInput, NotFound
from decision_review.policy import (
    CompiledPolicy,
    PolicyError,
    check_golden,
    compile_policy,
    golden_records,
    parse_document,
)
from decision_review.store.repository import SYSTEM, utc_now
from decision_review.store.tables import PublishedPolicy

if TYPE_CHECKING:
    from decision_review.engine import DecisionEngine
    from decision_review.modeling.registry import ModelRegistry

log = logging.getLogger(__name__)

_policies = PublishedPolicy.__table__

# A gate check: the compiled policy in, the reasons it may not be published out (empty: it may).
# The backtest's `PublishGate` is one; it also offers `with_justification(text)` (the same check for
# a request that records why a broken gate is accepted) and `audit_details()` (what the check found,
# kept in the publication's audit event). Plain callables without them work too.
GateCheck = Callable[[CompiledPolicy], Sequence[str]]

BOOTSTRAP_JUSTIFICATION = (
    "Bundled policy published by the system at first start so the product line can run; its gate "
    "results are recorded here for the risk team to review before relying on it."
)


def justified(gates: GateCheck | None, justification: str | None) -> GateCheck | None:
    """The gate check for one request, with its justification (if any) when the check takes one.

    A fresh check per request: what it found (`audit_details`) belongs to that request alone.
    """
    if gates is None or not hasattr(gates, "with_justification"):
        return gates
    return gates.with_justification(justification or None)


def _gate_details(gates: GateCheck | None) -> dict[str, Any] | None:
    details = getattr(gates, "audit_details", None)
    return details() if callable(details) else None


@dataclass(frozen=True)
class PolicyVersion:
    product: str
    name: str
    version: str
    digest: str
    published_by: str
    published_at: dt.datetime
    live: bool
    note: str | None
    yaml_text: str | None = None


@dataclass(frozen=True)
class GoldenOutcome:
    id: str
    passed: bool
    problems: list[str]


@dataclass
class CheckReport:
    """What lint (and test) found: `problems` make the policy unusable, `warnings` do not."""

    ok: bool
    problems: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    golden: list[GoldenOutcome] = field(default_factory=list)


def _row_version(row: Any, with_text: bool = False) -> PolicyVersion:
    return PolicyVersion(
        product=row.product,
        name=row.name,
        version=row.version,
        digest=row.digest,
        published_by=row.published_by,
        published_at=row.published_at,
        live=row.live,
        note=row.note,
        yaml_text=row.yaml_text if with_text else None,
    )


def list_versions(session: Session, product: str) -> list[PolicyVersion]:
    """Every published version of a product line's policy, newest first."""
    rows = session.execute(
        select(_policies).where(_policies.c.product == product).order_by(_policies.c.published_at.desc())
    ).all()
    if not rows:
        raise NotFound(f"no policy has been published for product line {product!r}")
    return [_row_version(row) for row in rows]


def get_version(session: Session, product: str, version: str) -> PolicyVersion:
    row = session.execute(
        select(_policies).where(_policies.c.product == product, _policies.c.version == str(version))
    ).one_or_none()
    if row is None:
        raise NotFound(f"product line {product!r} has no published policy version {version!r}")
    return _row_version(row, with_text=True)


def live_version(session: Session, product: str) -> PolicyVersion:
    row = session.execute(
        select(_policies).where(_policies.c.product == product, _policies.c.live.is_(True))
    ).one_or_none()
    if row is None:
        raise NotFound(f"no live policy for product line {product!r}")
    return _row_version(row, with_text=True)


# ---------------------------------------------------------------------------------------------
# Checking


def _problems(exc: PolicyError) -> list[dict[str, Any]]:
    return [{"line": p.line, "rule_id": p.rule_id, "message": p.message} for p in exc.problems]


def _summary(policy: CompiledPolicy) -> dict[str, Any]:
    spec = policy.spec
    return {
        "name": policy.name,
        "version": policy.version,
        "product": policy.product,
        "model": {"name": policy.model_name, "version": policy.model_version},
        "digest": policy.digest,
        "rules": len(spec.rules),
        "queues": {name: int(q.sla.total_seconds() // 60) for name, q in spec.queues.items()},
        "approve_below": policy.approve_below,
        "decline_at_or_above": policy.decline_at_or_above,
        "golden_cases": len(policy.golden_cases),
    }


def _engine(text: str, source: str, registry: ModelRegistry, **options: Any) -> DecisionEngine:
    from decision_review.engine import DecisionEngine

    document = parse_document(text, source=source)
    ref = document.spec.model
    try:
        model = registry.load(ref.name, ref.version)
    except NotFound as exc:
        raise InvalidInput(
            f"{source}: the policy uses model {ref.name!r} version {ref.version}: {exc}"
        ) from None
    return DecisionEngine(model, compile_policy(document, model.contract), **options)


def run_golden(engine: DecisionEngine) -> list[GoldenOutcome]:
    """Decide the policy's golden cases with its real model and compare with their expectations."""
    import pandas as pd
    import polars as pl

    policy = engine.policy
    if not policy.golden_cases:
        return []
    frame = engine.decide(pd.DataFrame(golden_records(policy)), explain="none").frame
    decided = frame[frame["outcome"] != "error"]
    errors = dict(zip(frame["case_id"], frame["error"], strict=True))
    table = pl.DataFrame(
        {
            policy.contract.id_field: decided["case_id"].tolist(),
            "outcome": decided["outcome"].tolist(),
            "winning_rule": decided["winning_rule"].tolist(),
            "rule_hits": [list(hits) for hits in decided["rule_hits"]],
        },
        schema_overrides={"rule_hits": pl.List(pl.String)},
    )
    out = []
    for result in check_golden(policy, table):
        problems = list(result.problems)
        if errors.get(result.id):
            problems.append(f"input error: {errors[result.id]}")
        out.append(GoldenOutcome(result.id, result.passed, problems))
    return out


def check_text(
    text: str, registry: ModelRegistry, *, run_cases: bool, source: str = "uploaded policy"
) -> CheckReport:
    """Lint a policy text (and run its golden cases when `run_cases`) without publishing anything."""
    try:
        engine = _engine(text, source, registry)
    except PolicyError as exc:
        return CheckReport(ok=False, problems=_problems(exc))
    except InvalidInput as exc:
        return CheckReport(ok=False, problems=[{"line": None, "rule_id": None, "message": str(exc)}])
    report = CheckReport(ok=True, warnings=list(engine.policy.warnings), summary=_summary(engine.policy))
    if run_cases:
        report.golden = run_golden(engine)
        if not report.golden:
            report.ok = False
            report.problems.append(
                {
                    "line": None,
                    "rule_id": None,
                    "message": "the policy has no golden cases (add golden_cases:)",
                }
            )
        elif not all(g.passed for g in report.golden):
            report.ok = False
    return report


# ---------------------------------------------------------------------------------------------
# Publishing


def publish(
    session: Session,
    text: str,
    registry: ModelRegistry,
    *,
    actor: str,
    note: str | None = None,
    product: str | None = None,
    gates: GateCheck | None = None,
    source: str = "uploaded policy",
) -> PolicyVersion:
    """Check, store and make live a new version of a product line's policy (audited).

    Refused (nothing written) when: the text does not lint; a golden case fails or there are none;
    a gate fails; `product` is given and the policy is for another product line; its version is
    not above every version already published for the product line; or the same content was
    published before.
    """
    engine = _engine(text, source, registry)
    policy = engine.policy
    if product is not None and policy.product != product:
        raise InvalidInput(
            f"{source}: the policy is for product line {policy.product!r}, not {product!r} "
            "(its `product:` key)"
        )
    golden = run_golden(engine)
    if not golden:
        raise InvalidInput(f"{source}: the policy has no golden cases; add golden_cases: before publishing")
    failed = [g for g in golden if not g.passed]
    if failed:
        details = "; ".join(f"{g.id}: {', '.join(g.problems)}" for g in failed[:10])
        raise InvalidInput(f"{source}: {len(failed)} of {len(golden)} golden cases fail: {details}")
    if gates is not None:
        refusals = list(gates(policy))
        if refusals:
            raise InvalidInput(f"{source}: the policy fails its gates: " + "; ".join(refusals))
    _check_new_version(session, policy)
    now = utc_now()
    previous = session.execute(
        select(_policies.c.id, _policies.c.version).where(
            _policies.c.product == policy.product, _policies.c.live.is_(True)
        )
    ).one_or_none()
    if previous is not None:
        session.execute(update(_policies).where(_policies.c.id == previous.id).values(live=False))
    session.execute(
        insert(_policies).values(
            product=policy.product,
            name=policy.name,
            version=str(policy.version),
            digest=policy.digest,
            yaml_text=text,
            published_by=actor,
            published_at=now,
            live=True,
            note=note,
        )
    )
    append(
        session,
        [
            NewEvent(
                EventKind.POLICY_PUBLISHED,
                actor=actor,
                product=policy.product,
                policy_ref=f"{policy.name}@{policy.version}",
                model_ref=f"{policy.model_name}@{policy.model_version}",
                payload={
                    "digest": policy.digest,
                    "previous_live_version": previous.version if previous is not None else None,
                    "golden_cases_passed": len(golden),
                    "gates_run": gates is not None,
                    "gates": _gate_details(gates),
                    "warnings": list(policy.warnings),
                    "note": note,
                    "source": source,
                },
            )
        ],
    )
    return PolicyVersion(
        policy.product, policy.name, str(policy.version), policy.digest, actor, now, True, note, text
    )


def _check_new_version(session: Session, policy: CompiledPolicy) -> None:
    same = session.execute(
        select(_policies.c.product, _policies.c.version).where(_policies.c.digest == policy.digest)
    ).first()
    if same is not None:
        raise Conflict(
            f"this exact policy was already published as {same.product} version {same.version}; "
            "change it and raise its version to publish again"
        )
    versions = session.scalars(
        select(_policies.c.version).where(
            (_policies.c.product == policy.product) | (_policies.c.name == policy.name)
        )
    ).all()
    highest = max((int(v) for v in versions if str(v).isdigit()), default=0)
    if policy.version <= highest:
        raise Conflict(
            f"policy {policy.name} version {policy.version} is not above version {highest}, the highest "
            f"published for product line {policy.product!r}; raise `version:` to {highest + 1}"
        )


def bootstrap_policies(
    write: Callable[[], AbstractContextManager[Session]],
    policies_dir: Path,
    registry: ModelRegistry,
    *,
    gates: GateCheck | None = None,
) -> list[PolicyVersion]:
    """Publish, as ``system``, each policy file whose product line has nothing published yet.

    The gates run and their results go into the audit event; a bundled policy that breaks one is
    still published, on `BOOTSTRAP_JUSTIFICATION`, so a first start never leaves a product line
    without a policy. Each file is its own transaction. A file that cannot be published is logged
    and skipped (the other product lines still start); a product line another worker published at
    the same moment is left as that worker published it.
    """
    from sqlalchemy.exc import IntegrityError as DatabaseIntegrityError

    published = []
    for path in sorted(Path(policies_dir).glob("*.yaml")):
        try:
            text = path.read_text(encoding="utf-8")
            product = parse_document(text, source=str(path)).spec.product
            with write() as session:
                exists = session.scalar(
                    select(func.count()).select_from(_policies).where(_policies.c.product == product)
                )
                if exists:
                    continue
                published.append(
                    publish(
                        session,
                        text,
                        registry,
                        actor=SYSTEM,
                        note=f"bootstrap from {path.name}",
                        gates=justified(gates, BOOTSTRAP_JUSTIFICATION),
                        source=str(path),
                    )
                )
        except (DatabaseIntegrityError, Conflict):
            log.info("policy file %s: already published by another worker", path)
        except (InvalidInput, OSError) as exc:
            log.error("policy file %s was not published: %s", path, exc)
    return published
