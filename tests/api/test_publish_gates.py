"""Publishing through the API runs the policy's fairness and performance gates on its reference history.

The bundled German credit policy breaks its own age-band gate (docs/backtest.md): a new version is
refused without a justification, and published with one, the gate results kept in the audit event.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from decision_review.store.tables import AuditEvent

ROOT = Path(__file__).resolve().parents[2]
PUBLISH = "/api/v1/products/german_credit/policies"


def version_two() -> str:
    text = (ROOT / "policies" / "german_credit.yaml").read_text()
    assert "\nversion: 1\n" in text
    return text.replace("\nversion: 1\n", "\nversion: 2\n", 1)


def test_a_policy_breaking_a_gate_needs_a_justification(sqlite_api):
    risk = sqlite_api.as_("rita")
    refused = risk.post(PUBLISH, json={"yaml": version_two()})
    assert refused.status_code == 422, refused.text
    assert "gate" in refused.json()["message"] and "age_band" in refused.json()["message"]
    assert risk.get("/api/v1/products/german_credit/policies/live").json()["version"] == "1"

    reason = "Age-band gap is driven by referrals to review, not declines; accepted by the credit committee."
    published = risk.post(PUBLISH, json={"yaml": version_two(), "justification": reason})
    assert published.status_code == 201, published.text
    assert risk.get("/api/v1/products/german_credit/policies/live").json()["version"] == "2"

    with sqlite_api.services.db.read() as session:
        payloads = session.scalars(
            select(AuditEvent.payload).where(AuditEvent.kind == "policy_published").order_by(AuditEvent.seq)
        ).all()
    gates = _json(payloads[-1])["gates"]
    assert gates["justified"] is True and gates["justification"] == reason
    assert any(b["subject"].startswith("age_band") or "age_band" in json.dumps(b) for b in gates["breaks"])


def test_bootstrap_publishes_the_bundled_policies_with_their_gate_results(
    sqlite_url, sessions_on, model_registry
):
    from decision_review.backtest.gates import PublishGate
    from decision_review.policies.service import BOOTSTRAP_JUSTIFICATION, bootstrap_policies

    sessions = sessions_on(sqlite_url)
    gates = PublishGate(model_registry, base_dir=ROOT / "policies")
    published = bootstrap_policies(sessions.begin, ROOT / "policies", model_registry, gates=gates)
    assert {p.product for p in published} == {"german_credit", "fraud_alerts"}
    with sessions() as session:
        events = session.execute(
            select(AuditEvent.product, AuditEvent.actor, AuditEvent.payload).where(
                AuditEvent.kind == "policy_published"
            )
        ).all()
    by_product = {product: (actor, _json(payload)["gates"]) for product, actor, payload in events}
    actor, german = by_product["german_credit"]
    assert actor == "system" and german["gates_declared"] and german["gates_passed"] is False
    assert german["justified"] and german["justification"] == BOOTSTRAP_JUSTIFICATION
    assert by_product["fraud_alerts"][1]["gates_passed"] is True


def _json(payload):
    return json.loads(payload) if isinstance(payload, str) else payload
