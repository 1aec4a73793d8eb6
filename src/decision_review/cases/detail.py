"""One case whole, as an underwriter or compliance officer reads it: inputs, score, reasons with
their SHAP contributions, the rules that fired, model and policy versions, the review state, any
decision waiting for a second reviewer, later outcomes, and the case's full audit history.

The rules are described by the policy version that decided the case (looked up by its digest),
not by whatever is live now: the page must say why *this* case was decided as it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from decision_review.audit.log import find_events
from decision_review.cases import repository
from decision_review.cases.service import decision_views
from decision_review.store.tables import OutcomeLabel, PendingApproval, PublishedPolicy

if TYPE_CHECKING:
    from decision_review.products.service import LiveProduct, ProductCatalog

HISTORY_LIMIT = 1000
_policies = PublishedPolicy.__table__
_pending = PendingApproval.__table__
_outcomes = OutcomeLabel.__table__


def case_detail(
    session: Session,
    catalog: ProductCatalog,
    live: LiveProduct,
    case_id: str,
    *,
    include_protected: bool,
) -> dict[str, Any]:
    case = repository.case_row(session, live.product, case_id)
    protected = None
    if include_protected:
        protected = session.execute(
            select(repository._cases.c.protected).where(repository._cases.c.id == case.pk)
        ).scalar_one()
    decisions = repository.decisions_of(session, case.pk)
    view = decision_views(session, [case.pk]).get(case.pk)
    item = repository.review_items(session, [case.pk]).get(case.pk)
    approvals = session.execute(
        select(_pending).where(_pending.c.case_pk == case.pk).order_by(_pending.c.id)
    ).all()
    outcomes = session.execute(
        select(_outcomes).where(_outcomes.c.case_pk == case.pk).order_by(_outcomes.c.id)
    ).all()
    history = find_events(session, product=live.product, case_id=case_id, limit=HISTORY_LIMIT)
    auto = next((d for d in decisions if d.kind == "auto"), None)
    return {
        "product": live.product,
        "case_id": case.case_id,
        "status": case.status,
        "received_at": case.received_at,
        "inputs": case.inputs,
        "protected": protected,
        "decision": view,
        "decisions": [_decision(d) for d in decisions],
        "rules": _rules(session, catalog, live, auto),
        "review": _review(item),
        "approvals": [_approval(a) for a in approvals],
        "outcomes": [
            {
                "id": o.id,
                "label": o.label,
                "description": o.description,
                "note": o.note,
                "recorded_by": o.recorded_by,
                "recorded_at": o.recorded_at,
            }
            for o in outcomes
        ],
        "history": [e.as_dict() for e in history],
        "auto_decisions_enabled": live.auto_decisions,
    }


def _decision(d: Any) -> dict[str, Any]:
    return {
        "id": d.id,
        "kind": d.kind,
        "outcome": d.outcome,
        "score": d.score,
        "winning_rule": d.winning_rule,
        "rule_hits": list(d.rule_hits or []),
        "reasons": list(d.reasons or []),
        "explanation": d.explanation,
        "model": {"name": d.model_name, "version": d.model_version, "digest": d.model_digest}
        if d.model_name
        else None,
        "policy": {"name": d.policy_name, "version": d.policy_version, "digest": d.policy_digest}
        if d.policy_name
        else None,
        "decided_by": d.decided_by,
        "decided_at": d.decided_at,
        "note": d.note,
        "error": d.error,
    }


def _review(item: Any) -> dict[str, Any] | None:
    if item is None:
        return None
    return {
        "queue": item.queue,
        "priority": item.priority,
        "state": item.state,
        "claimed_by": item.claimed_by,
        "lease_expires_at": item.lease_expires_at,
        "sla_due_at": item.sla_due_at,
        "winning_rule": item.winning_rule,
        "reason": item.reason,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    }


def _approval(a: Any) -> dict[str, Any]:
    return {
        "id": a.id,
        "kind": a.kind,
        "outcome": a.outcome,
        "reasons": list(a.reasons or []),
        "note": a.note,
        "why": a.why,
        "requested_by": a.requested_by,
        "requested_at": a.requested_at,
        "state": a.state,
        "resolved_by": a.resolved_by,
        "resolved_at": a.resolved_at,
        "resolution_note": a.resolution_note,
        "decision_id": a.decision_id,
    }


def _rules(session: Session, catalog: ProductCatalog, live: LiveProduct, auto: Any) -> list[dict[str, Any]]:
    """The rules that fired on the automatic decision, described by the policy version that made it."""
    if auto is None:
        return []
    fired = [*([auto.winning_rule] if auto.winning_rule else []), *(auto.rule_hits or [])]
    spec = live.engine.policy.spec
    if auto.policy_digest and auto.policy_digest != live.engine.policy.digest:
        row = session.execute(
            select(_policies.c.name, _policies.c.version, _policies.c.yaml_text).where(
                _policies.c.digest == auto.policy_digest
            )
        ).first()
        if row is not None:
            engine, _ = catalog.engine_for_text(
                auto.policy_digest, row.yaml_text, f"{row.name}@{row.version}"
            )
            spec = engine.policy.spec
    by_id = {rule.id: rule for rule in spec.rules}
    pseudo = _pseudo_rules(spec)
    out = []
    for rule_id in dict.fromkeys(fired):
        rule = by_id.get(rule_id)
        if rule is not None:
            action, condition, reason, shadow = rule.action.value, rule.condition, rule.reason, rule.shadow
        else:
            action, condition, reason = pseudo.get(rule_id, (None, None, None))
            shadow = False
        out.append(
            {
                "id": rule_id,
                "winning": rule_id == auto.winning_rule,
                "action": action,
                "condition": condition,
                "reason": reason,
                "shadow": shadow,
            }
        )
    return out


def _pseudo_rules(spec: Any) -> dict[str, tuple[str, str, str]]:
    """What the decisions no rule made mean: thresholds, the QA sample, invalid input, the stop switch."""
    from decision_review.engine import AUTO_OFF_REASON, AUTO_OFF_RULE, INVALID_INPUT_RULE
    from decision_review.policy import (
        QA_SAMPLE,
        THRESHOLD_APPROVE,
        THRESHOLD_DECLINE,
        THRESHOLD_NO_SCORE,
        THRESHOLD_REVIEW,
    )

    t = spec.thresholds
    out = {
        THRESHOLD_APPROVE: ("approve", f"score < {t.approve_below}", t.approve_reason),
        THRESHOLD_DECLINE: ("decline", f"score >= {t.decline_at_or_above}", t.decline_reason),
        THRESHOLD_REVIEW: (
            "review",
            f"{t.approve_below} <= score < {t.decline_at_or_above}",
            t.review_reason,
        ),
        THRESHOLD_NO_SCORE: ("review", "no score", t.no_score_reason),
        INVALID_INPUT_RULE: ("review", "the case failed the input contract", spec.on_invalid_input.reason),
        AUTO_OFF_RULE: ("review", "automatic decisions switched off", AUTO_OFF_REASON),
    }
    if spec.qa_sample is not None:
        out[QA_SAMPLE] = ("review", f"QA sample of {spec.qa_sample.rate:g}", spec.qa_sample.reason)
    return out
