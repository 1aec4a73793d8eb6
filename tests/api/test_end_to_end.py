"""The whole loop through HTTP against a real server: submit, queue, a claim race, decide with
reasons, an override that needs a second reviewer, and a compliance export that shows every step
with the right actor (and verifies)."""

from __future__ import annotations

import io
import json
import threading
import zipfile

from decision_review.audit.export import verify_export
from tests.api.golden import golden

PRODUCT = "german_credit"
BASE = f"/api/v1/products/{PRODUCT}"


def _race(server, case_id: str, names: list[str]) -> dict[str, int]:
    barrier = threading.Barrier(len(names))
    status: dict[str, int] = {}

    def claim(name: str) -> None:
        with server.client(name) as client:
            barrier.wait()
            status[name] = client.post(f"{BASE}/cases/{case_id}/claim").status_code

    threads = [threading.Thread(target=claim, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return status


def test_submit_review_override_and_export(live_server, tmp_path):
    intake, ana, bob, cora = (live_server.client(n) for n in ("intake", "ana", "bob", "cora"))

    # Submit every golden case: the engine decides at once, reviews go to the queue.
    outcomes = {}
    for case_id, case in golden(PRODUCT).items():
        response = intake.post(f"{BASE}/cases", json=case)
        assert response.status_code == 201, response.text
        outcomes[case_id] = response.json()["decision"]["outcome"]
    assert outcomes["GC-0001"] == "approve" and outcomes["minor_applicant"] == "decline"
    queue = ana.get(f"{BASE}/queue").json()
    queued = [item["case_id"] for item in queue["items"]]
    assert set(queued) == {c for c, o in outcomes.items() if o == "review"}
    assert queued[0] == "large_loan_referred"  # priority 2 before priority 3 and 5
    assert all(item["sla_due_at"] for item in queue["items"])

    # Two underwriters race to claim the same case: exactly one wins.
    status = _race(live_server, "GC-0188", ["ana", "bob"])
    assert sorted(status.values()) == [200, 409], status
    winner = "ana" if status["ana"] == 200 else "bob"
    winner_client, loser_client = (ana, bob) if winner == "ana" else (bob, ana)
    refused = loser_client.post(
        f"{BASE}/cases/GC-0188/decision",
        json={"outcome": "approve", "reason_codes": ["INCOME_VERIFIED"], "note": "looks fine"},
    )
    assert refused.status_code == 409 and winner in refused.json()["message"]

    # The winner declines with reasons; the adverse-action reasons are pre-filled from the model.
    decided = winner_client.post(
        f"{BASE}/cases/GC-0188/decision",
        json={
            "outcome": "decline",
            "reason_codes": ["AFFORDABILITY_INSUFFICIENT"],
            "note": "Payslips show income below the repayments.",
        },
    )
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["status"] == "decided"
    adverse = [r for r in body["reasons"] if r["use"] == "adverse_action"]
    model = [r for r in adverse if r["source"] == "model"]
    assert model and all(r["contribution"] > 0 for r in model)
    assert [r["code"] for r in adverse if r["source"] == "policy"] == ["AFFORDABILITY_INSUFFICIENT"]
    again = winner_client.post(
        f"{BASE}/cases/GC-0188/decision",
        json={"outcome": "decline", "reason_codes": ["AFFORDABILITY_INSUFFICIENT"], "note": "again"},
    )
    assert again.status_code == 409 and "already been decided" in again.json()["message"]

    # An override of an automatic approval needs a second, different underwriter.
    override = {
        "outcome": "decline",
        "reason_codes": ["INCOME_NOT_VERIFIED"],
        "note": "Income proof forged.",
        "adverse_action_reasons": ["INCOME_NOT_VERIFIED"],
    }
    pending = ana.post(f"{BASE}/cases/GC-0001/override", json=override)
    assert pending.status_code == 200 and pending.json()["status"] == "pending_approval", pending.text
    assert intake.get(f"{BASE}/cases/GC-0001/decision").json()["outcome"] == "approve"  # not yet in force
    own = ana.post(f"{BASE}/cases/GC-0001/approval", json={"grant": True, "note": "mine"})
    assert own.status_code == 409 and "second, different reviewer" in own.json()["message"]
    granted = bob.post(f"{BASE}/cases/GC-0001/approval", json={"grant": True, "note": "Checked the forgery."})
    assert granted.status_code == 200 and granted.json()["status"] == "overridden", granted.text
    in_force = intake.get(f"{BASE}/cases/GC-0001/decision").json()
    assert (in_force["outcome"], in_force["kind"], in_force["decided_by"]) == ("decline", "override", "ana")

    # Compliance exports the log and verifies it; the export shows every step and who took it.
    verified = cora.post("/api/v1/audit/verify")
    assert verified.status_code == 200 and verified.json()["ok"], verified.text
    export = cora.post("/api/v1/audit/exports", json={"product": PRODUCT, "format": "jsonl"})
    assert export.status_code == 200 and export.headers["content-type"] == "application/zip"
    folder = tmp_path / "export"
    zipfile.ZipFile(io.BytesIO(export.content)).extractall(folder)
    assert verify_export(folder).ok
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    gc188 = [(e["kind"], e["actor"]) for e in events if e["case_id"] == "GC-0188"]
    assert gc188 == [
        ("case_received", "intake"),
        ("decision_made", "system"),
        ("review_claimed", winner),
        ("review_decided", winner),
    ]
    gc001 = [(e["kind"], e["actor"]) for e in events if e["case_id"] == "GC-0001"]
    assert gc001 == [
        ("case_received", "intake"),
        ("decision_made", "system"),
        ("approval_requested", "ana"),
        ("approval_granted", "bob"),
        ("override", "bob"),
    ]
    override_event = next(e for e in events if e["kind"] == "override")
    assert (
        override_event["payload"]["decided_by"] == "ana" and override_event["payload"]["approved_by"] == "bob"
    )
    for client in (intake, ana, bob, cora):
        client.close()
