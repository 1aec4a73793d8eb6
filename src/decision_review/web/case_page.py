"""Everything the case page shows, assembled from the services: the case as `cases.detail` gives
it, the score in the product's words and against the thresholds of the policy that decided it,
the SHAP contributions as a waterfall (labelled by reason text), the forms the reviewer may use
now, and the fairness context of the case's groups.

Nothing here decides anything: the forms post to routes that call `review.service`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from decision_review.cases.detail import case_detail
from decision_review.products.service import LiveProduct, ProductCatalog
from decision_review.schemas import Role
from decision_review.store.repository import utc_now
from decision_review.store.tables import PublishedPolicy, ReviewState
from decision_review.users.permissions import Permission
from decision_review.web import charts, wording
from decision_review.web.auth import PageUser

WATERFALL_FIELDS = 8  # the largest contributions drawn one by one; the rest as one bar
# The key under which `review.service` stores what a reason of a human decision is for ("decision"
# or "adverse_action"). Read only through `reason_use`.
REASON_USE = "use"
_policies = PublishedPolicy.__table__


@dataclass(frozen=True, slots=True)
class FieldRow:
    name: str
    value: Any
    description: str
    model_input: bool
    reason_text: str | None


def _deciding_policy(session: Session, catalog: ProductCatalog, live: LiveProduct, digest: str | None) -> Any:
    """The compiled policy that decided the case (the live one, or the published version by digest)."""
    if digest is None or digest == live.engine.policy.digest:
        return live.engine.policy
    row = session.execute(
        select(_policies.c.name, _policies.c.version, _policies.c.yaml_text).where(
            _policies.c.digest == digest
        )
    ).first()
    if row is None:
        return live.engine.policy
    engine, _ = catalog.engine_for_text(digest, row.yaml_text, f"{row.name}@{row.version}")
    return engine.policy


def outcome_labels(policy: Any) -> dict[str, str]:
    labels = policy.spec.outcome_labels
    return {"approve": labels.approve, "decline": labels.decline, "review": labels.review, "error": "error"}


def waterfall_steps(
    explanation: dict[str, Any], inputs: dict[str, Any], texts: dict[str, str]
) -> list[charts.Step]:
    """The largest contributions one by one (labelled by their reason text), the rest as one step."""
    contributions = sorted(
        explanation.get("contributions", {}).items(), key=lambda item: abs(item[1]), reverse=True
    )
    steps = [
        charts.Step(texts.get(field, wording_of_field(field)), _shown(inputs.get(field)), float(value))
        for field, value in contributions[:WATERFALL_FIELDS]
    ]
    rest = contributions[WATERFALL_FIELDS:]
    if rest:
        steps.append(
            charts.Step(f"{len(rest)} other fields together", "several", float(sum(v for _, v in rest)))
        )
    return steps


def reason_use(reason: dict[str, Any]) -> str | None:
    """What a stored reason is for: "decision", "adverse_action", or None (the engine's reasons)."""
    return reason.get(REASON_USE)


def wording_of_field(field: str) -> str:
    return field.replace("_", " ")


def _shown(value: Any) -> str:
    return "missing" if value is None else str(value)


def history_line(event: dict[str, Any], labels: dict[str, str]) -> str:
    """One audit event as a sentence for the case history."""
    p = event.get("payload") or {}
    kind = event["kind"]
    label = labels.get(str(p.get("outcome")), p.get("outcome"))
    if kind == "case_received":
        return "Case received."
    if kind == "decision_made":
        rule = p.get("winning_rule")
        score = p.get("score")
        scored = f", score {score:.1%}" if isinstance(score, int | float) else ""
        return f"Decided automatically: {label} ({rule}{scored})."
    if kind == "review_claimed":
        return "Claimed for review" + (" (lease renewed)." if p.get("renewed") else ".")
    if kind == "review_released":
        return "Released back to the queue."
    if kind == "review_decided":
        codes = ", ".join(r.get("code", "") for r in p.get("reasons", []) if reason_use(r) == "decision")
        approved = f", approved by {p['approved_by']}" if p.get("approved_by") else ""
        return (
            f"Decided on review: {label} by {p.get('decided_by')}{approved} ({codes}). Note: {p.get('note')}"
        )
    if kind == "override":
        to = labels.get(str(p.get("to_outcome")), p.get("to_outcome"))
        frm = labels.get(str(p.get("from_outcome")), p.get("from_outcome"))
        return f"Automatic {frm} overridden to {to} by {p.get('decided_by')}. Note: {p.get('note')}"
    if kind == "approval_requested":
        return f"Waiting for a second reviewer: {label}. Why: {p.get('why')}"
    if kind == "approval_granted":
        return f"Second reviewer approved the {label}. Note: {p.get('note')}"
    if kind == "approval_refused":
        return f"Second reviewer refused the {label}. Note: {p.get('note')}"
    if kind == "review_escalated":
        return f"Escalated to {p.get('to_queue')} (priority {p.get('priority')}). Note: {p.get('note')}"
    if kind == "info_requested":
        return f"Information requested: {', '.join(p.get('requested', []))}. Note: {p.get('note')}"
    if kind == "outcome_recorded":
        return f"Outcome recorded: {'bad' if p.get('label') == 1 else 'good'}."
    return kind.replace("_", " ").capitalize() + "."


def build(
    session: Session,
    catalog: ProductCatalog,
    live: LiveProduct,
    user: PageUser,
    case_id: str,
    *,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The case page's context (see the template `case.html`)."""
    now = now or utc_now()
    detail = case_detail(session, catalog, live, case_id, include_protected=True)
    decisions = detail["decisions"]
    auto = next((d for d in decisions if d["kind"] == "auto"), None)
    current = decisions[-1] if decisions else None
    digest = auto["policy"]["digest"] if auto and auto["policy"] else None
    policy = _deciding_policy(session, catalog, live, digest)
    labels = outcome_labels(live.engine.policy)
    words = wording.wording(live.product)
    model = live.engine.model
    reason_texts = {field: entry.text for field, entry in model.reasons.reasons.items()}
    contract = model.contract
    inputs = detail["inputs"]
    fields = [
        FieldRow(f.name, inputs.get(f.name), f.description, f.model_input, reason_texts.get(f.name))
        for f in contract.fields
    ]
    score = auto["score"] if auto else None
    explanation = auto.get("explanation") if auto else None
    waterfall = None
    steps: list[charts.Step] = []
    if explanation and explanation.get("contributions"):
        steps = waterfall_steps(explanation, inputs, reason_texts)
        thresholds = [
            (labels["review"], charts.logit(float(policy.approve_below))),
            (labels["decline"], charts.logit(float(policy.decline_at_or_above))),
        ]
        waterfall = charts.waterfall(
            float(explanation["base_value"]),
            steps,
            title=f"What moved the score of case {case_id}",
            thresholds=thresholds,
        )
    band = charts.score_band(score, float(policy.approve_below), float(policy.decline_at_or_above), labels)

    review = detail["review"]
    state = review["state"] if review else None
    lease = review["lease_expires_at"] if review else None
    held = state == ReviewState.CLAIMED and lease is not None and lease > now
    held_by = review["claimed_by"] if held else None
    if review and state == ReviewState.CLAIMED and not held:
        state = "queued (claim expired)"
    pending = next((a for a in detail["approvals"] if a["state"] == "pending"), None)
    works = user.may(Permission.WORK_REVIEWS)
    catalog_reasons = list(live.review.reasons)
    prefilled = {r["code"] for r in live.review.reasons.model_reasons(auto["reasons"] if auto else [])}
    window = live.review.override_window
    overridable = (
        works
        and current is not None
        and current["kind"] == "auto"
        and current["outcome"] in ("approve", "decline")
        and window > dt.timedelta(0)
        and now - current["decided_at"] <= window
        and pending is None
    )
    open_states = {ReviewState.QUEUED, ReviewState.ESCALATED, ReviewState.INFO_REQUESTED}
    return {
        "detail": detail,
        "case_id": case_id,
        "product": live.product,
        "labels": labels,
        "words": words,
        "meaning": wording.meaning(score, words),
        "score": score,
        "band_svg": band,
        "waterfall_svg": waterfall,
        "steps": steps,
        "base_value": float(explanation["base_value"]) if waterfall else None,
        "final_logodds": (float(explanation["base_value"]) + sum(s.contribution for s in steps))
        if waterfall
        else None,
        "policy": policy,
        "fields": fields,
        "auto": auto,
        "current": current,
        "review": review,
        "state": state,
        "held_by": held_by,
        "held_by_me": held_by == user.name,
        "can_claim": works
        and review is not None
        and (state in open_states or (held and held_by == user.name) or str(state).startswith("queued (")),
        "can_decide": works and held_by == user.name,
        "pending": pending,
        "can_resolve": works and pending is not None and pending["requested_by"] != user.name,
        "overridable": overridable,
        "override_window_hours": window.total_seconds() / 3600,
        "reason_options": [o for o in catalog_reasons if o.source != "model"],
        # the model's reasons for this case first (pre-checked), then the policy's, then the rest
        "adverse_options": sorted(
            (o for o in catalog_reasons if o.adverse_action),
            key=lambda o: (o.code not in prefilled, o.source == "model"),
        ),
        "prefilled": prefilled,
        "queues": list(live.engine.policy.spec.queues),
        "history": [{"event": e, "line": history_line(e, labels)} for e in reversed(detail["history"])],
        "protected": detail["protected"] or {},
        "show_notice_link": user.principal.role is Role.COMPLIANCE,
        "four_eyes": live.review.four_eyes,
    }
