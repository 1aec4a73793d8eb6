"""Replay a recorded decision: the same inputs through the same model and policy versions.

Why from the audit log and not the decisions table: the `decision_made` event is hash-chained and
carries everything the decision was based on (inputs, score, rule hits, reasons, model and policy
name, version and digest), so a replay that reproduces it shows an examiner that the recorded
decision is what those versions decide, not merely what a mutable table says. The decisions row
is compared with the event as well, so an edit to either shows up.

The policy text comes from the published versions in the database, else from a policy file
whose content digest matches; the model from the registry, whose digest must match the record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from decision_review.audit.chain import EventKind
from decision_review.audit.log import find_events
from decision_review.engine import AUTO_OFF_RULE, DecisionEngine
from decision_review.errors import IntegrityError, NotFound
from decision_review.modeling.registry import ModelRegistry
from decision_review.policy import PolicyDocument, PolicyError, compile_policy, parse_document, read_policy
from decision_review.store.tables import Case, Decision, PublishedPolicy

SCORE_TOLERANCE = 1e-9
CONTRIBUTION_TOLERANCE = 1e-9
COMPARED = ("outcome", "score", "winning_rule", "rule_hits", "reasons")


@dataclass(frozen=True)
class Difference:
    """One way the replay differs from the record."""

    field: str
    recorded: Any
    replayed: Any


@dataclass
class ReplayReport:
    """What a replay found. `reproduced` is True when every compared field matches."""

    decision_id: int
    product: str
    case_id: str
    replayed_decision_id: int
    model: str
    policy: str
    recorded: dict[str, Any]
    replayed: dict[str, Any]
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        return not self.differences


def replay_decision(
    session: Session, decision_id: int, *, registry: ModelRegistry, policies_dir: Path | None = None
) -> ReplayReport:
    """Re-run decision `decision_id`'s recorded inputs through its recorded model and policy.

    A human decision (review or override) has no model output of its own: the case's automatic
    decision is replayed instead, and the report says so.
    """
    row = session.get(Decision, decision_id)
    if row is None:
        raise NotFound(f"no decision with id {decision_id}")
    case = session.get(Case, row.case_pk)
    notes: list[str] = []
    auto = row
    if row.kind != "auto":
        auto = session.scalars(
            select(Decision)
            .where(Decision.case_pk == row.case_pk, Decision.kind == "auto")
            .order_by(Decision.id)
        ).first()
        if auto is None:
            raise NotFound(
                f"decision {decision_id} is a {row.kind} decision and its case has no automatic decision"
            )
        notes.append(
            f"decision {decision_id} is a {row.kind} decision by {row.decided_by}; "
            f"replaying the case's automatic decision {auto.id}"
        )
    event = _decision_event(session, case, auto.id)
    recorded = event["payload"]
    _check_table_matches_log(auto, recorded)
    model_ref, policy_ref = recorded["model"], recorded["policy"]
    if not model_ref or not policy_ref:
        raise NotFound(f"decision {auto.id} records no model or policy, so there is nothing to replay")
    model = registry.load(model_ref["name"], int(model_ref["version"]))
    if model.digest != model_ref["digest"]:
        raise IntegrityError(
            f"model {model_ref['name']} v{model_ref['version']} in {registry.root} has digest "
            f"{model.digest[:12]}..., but decision {auto.id} was made with {model_ref['digest'][:12]}..."
        )
    document = _policy_document(session, policy_ref, policies_dir)
    engine = DecisionEngine(model, compile_policy(document, model.contract))
    cases = pd.DataFrame([{**recorded["inputs"], model.contract.id_field: case.case_id}])
    auto_decisions = recorded.get("winning_rule") != AUTO_OFF_RULE
    if not auto_decisions:
        notes.append("automatic decisions were switched off for the product line when it was decided")
    decided = engine.decide(cases, explain="all", auto_decisions=auto_decisions)
    replayed = _as_record(decided, explained=bool(recorded.get("reasons")))
    return ReplayReport(
        decision_id=decision_id,
        product=case.product,
        case_id=case.case_id,
        replayed_decision_id=auto.id,
        model=f"{model.name} v{model.version} ({model.digest[:12]})",
        policy=f"{document.spec.name} v{document.spec.version} ({document.digest[:12]})",
        recorded={k: recorded.get(k) for k in COMPARED},
        replayed=replayed,
        differences=_differences(recorded, replayed),
        notes=notes,
    )


def _decision_event(session: Session, case: Case, decision_id: int) -> dict[str, Any]:
    after = 0
    while True:
        events = find_events(
            session, product=case.product, case_id=case.case_id, kind=EventKind.DECISION_MADE, after_seq=after
        )
        for event in events:
            if event.payload.get("decision_id") == decision_id:
                return {"seq": event.seq, "payload": event.payload}
        if len(events) < 100:
            raise IntegrityError(
                f"decision {decision_id} of case {case.product}/{case.case_id} has no decision_made event "
                "in the audit log: the decision was not recorded through the audited path"
            )
        after = events[-1].seq


def _check_table_matches_log(row: Decision, recorded: dict[str, Any]) -> None:
    """The decisions row must say what its hash-chained event says."""
    pairs = {
        "outcome": (row.outcome, recorded.get("outcome")),
        "winning_rule": (row.winning_rule, recorded.get("winning_rule")),
        "rule_hits": (list(row.rule_hits or []), recorded.get("rule_hits") or []),
        "policy_digest": (row.policy_digest, (recorded.get("policy") or {}).get("digest")),
        "model_digest": (row.model_digest, (recorded.get("model") or {}).get("digest")),
    }
    mismatched = [name for name, (table, log) in pairs.items() if table != log]
    if not _same_number(row.score, recorded.get("score"), SCORE_TOLERANCE):
        pairs["score"] = (row.score, recorded.get("score"))
        mismatched.append("score")
    if mismatched:
        name = mismatched[0]
        table, log = pairs[name]
        raise IntegrityError(
            f"decision {row.id}: the decisions table says {name} = {table!r} but its audit event says "
            f"{log!r}; the table was changed outside the product (the audit log is the record)"
        )


def _policy_document(session: Session, ref: dict[str, Any], policies_dir: Path | None) -> PolicyDocument:
    """The exact policy text the decision used: published in the database, else a matching file."""
    published = session.scalars(
        select(PublishedPolicy).where(
            PublishedPolicy.name == ref["name"], PublishedPolicy.version == str(ref["version"])
        )
    ).first()
    if published is not None:
        document = parse_document(
            published.yaml_text, source=f"published policy {ref['name']} v{ref['version']}"
        )
        if document.digest == ref["digest"]:
            return document
    if policies_dir is not None and policies_dir.is_dir():
        for path in sorted(policies_dir.glob("*.y*ml")):
            try:
                document = read_policy(path)
            except PolicyError:
                continue
            if document.digest == ref["digest"]:
                return document
    raise NotFound(
        f"policy {ref['name']} v{ref['version']} with digest {ref['digest'][:12]}... is neither published in "
        f"the database nor a file in {policies_dir}: the replay needs the exact policy text"
    )


def _as_record(decided, *, explained: bool) -> dict[str, Any]:
    row = decided.frame.iloc[0]
    return {
        "outcome": row["outcome"],
        "score": None if pd.isna(row["score"]) else float(row["score"]),
        "winning_rule": row["winning_rule"],
        "rule_hits": list(row["rule_hits"]),
        "reasons": [r.model_dump() for r in decided.reasons(0)] if explained else [],
    }


def _differences(recorded: dict[str, Any], replayed: dict[str, Any]) -> list[Difference]:
    out = []
    for name in ("outcome", "winning_rule", "rule_hits"):
        if (recorded.get(name) or ([] if name == "rule_hits" else None)) != replayed[name]:
            out.append(Difference(name, recorded.get(name), replayed[name]))
    if not _same_number(recorded.get("score"), replayed["score"], SCORE_TOLERANCE):
        out.append(Difference("score", recorded.get("score"), replayed["score"]))
    if not _same_reasons(recorded.get("reasons") or [], replayed["reasons"]):
        out.append(Difference("reasons", recorded.get("reasons"), replayed["reasons"]))
    return out


def _same_reasons(recorded: list[dict[str, Any]], replayed: list[dict[str, Any]]) -> bool:
    if len(recorded) != len(replayed):
        return False
    return all(
        a.get("code") == b["code"]
        and a.get("field") == b["field"]
        and _same_number(a.get("contribution"), b["contribution"], CONTRIBUTION_TOLERANCE)
        for a, b in zip(recorded, replayed, strict=True)
    )


def _same_number(a: float | None, b: float | None, tolerance: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=0, abs_tol=tolerance)
