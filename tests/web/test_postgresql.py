"""The underwriter's and compliance officer's core path on PostgreSQL: the pages call the same
services on both engines (each tested on both by its own area); this shows the pages on top of
them hold on PostgreSQL too."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from decision_review.audit.export import verify_export
from tests.web.test_underwriter_pages import queued_ids

pytestmark = pytest.mark.pg


def test_claim_decide_and_export_on_postgresql(pg_pages, tmp_path):
    ana = pg_pages.client("ana")
    claimed = ana.post("/queue/claim-next", {"product": "german_credit", "queue": "standard_review"})
    assert claimed.status_code == 303 and claimed.headers["location"].endswith("/GC-0188")
    page = ana.get(claimed.headers["location"]).text
    assert "applicants like this go bad" in page and 'class="chart waterfall"' in page
    refused = ana.post(  # a NUL: PostgreSQL holds it in no text column, so the page refuses it
        "/cases/german_credit/GC-0188/decision",
        {"outcome": "approve", "reason_codes": ["INCOME_VERIFIED"], "note": "Payslips\x00"},
    )
    assert refused.status_code == 400 and "NUL" in refused.text
    decided = ana.post(
        "/cases/german_credit/GC-0188/decision",
        {"outcome": "approve", "reason_codes": ["INCOME_VERIFIED"], "note": "Payslips checked."},
    )
    assert decided.status_code == 303
    assert "GC-0188" not in queued_ids(ana.get("/queue?product=german_credit").text)
    cora = pg_pages.client("cora")
    assert "Decided on review: approve by ana" in cora.get("/compliance/audit?case_id=GC-0188").text
    assert "/overview" in cora.get("/overview").text and cora.get("/compliance/fairness").status_code == 200
    export = cora.post("/compliance/audit/export", {"product": "german_credit", "format": "jsonl"})
    assert export.status_code == 200
    zipfile.ZipFile(io.BytesIO(export.content)).extractall(tmp_path)
    assert verify_export(tmp_path).ok
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert any(e["kind"] == "review_decided" and e["case_id"] == "GC-0188" for e in events)
