"""Submitting cases: idempotency on the caller's id (also under a real race), batches with partial
duplicates, CSV and Parquet uploads, the case detail (SHAP contributions add up to the score), and
two product lines side by side. Run on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import math
import threading

import pandas as pd

from tests.api.counts import counts
from tests.api.golden import case, golden

G = "/api/v1/products/german_credit"
F = "/api/v1/products/fraud_alerts"


def test_a_retry_returns_the_stored_decision_and_writes_nothing(api):
    intake = api.as_("intake")
    first = intake.post(f"{G}/cases", json=case("german_credit", "GC-0188", "idem-1"))
    assert first.status_code == 201 and first.json()["duplicate"] is False
    before = counts(api.services)
    retry = case("german_credit", "GC-0188", "idem-1")
    retry["duration_in_month"] = float(retry["duration_in_month"])  # 16.0 is the same value as 16
    again = intake.post(f"{G}/cases", json=retry)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["decision"] == first.json()["decision"]
    assert counts(api.services) == before


def test_racing_submissions_of_one_new_case_store_it_once(live_server):
    record = case("german_credit", "GC-0641", "race-1")
    barrier = threading.Barrier(6)
    statuses: list[int] = []

    def submit() -> None:
        with live_server.client("intake") as client:
            barrier.wait()
            statuses.append(client.post(f"{G}/cases", json=record).status_code)

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 5 + [201]
    services = live_server.app.state.services
    with live_server.client("cora") as cora:
        found = cora.get("/api/v1/audit/events", params={"case_id": "race-1"}).json()["events"]
    assert [e["kind"] for e in found] == ["case_received", "decision_made"]
    assert counts(services)["cases"] == 1


def test_concurrent_single_cases_are_each_answered_correctly(live_server):
    cases = [
        case("german_credit", g, f"many-{i}-{g}") for i, g in enumerate(golden("german_credit")) for _ in (0,)
    ]
    expected = {c["case_id"]: None for c in cases}
    results: dict[str, dict] = {}

    def submit(record: dict) -> None:
        with live_server.client("intake") as client:
            results[record["case_id"]] = client.post(f"{G}/cases", json=record).json()

    threads = [threading.Thread(target=submit, args=(c,)) for c in cases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) == set(expected)
    assert all(r["case_id"] == cid and r["status"] == "created" for cid, r in results.items())


def test_a_batch_with_some_stored_cases(api):
    intake = api.as_("intake")
    stored = [case("german_credit", "GC-0001", "b-1"), case("german_credit", "GC-0188", "b-2")]
    assert intake.post(f"{G}/cases/batch", json={"cases": stored}).status_code == 201
    fresh = [case("german_credit", "GC-0641", "b-3"), case("german_credit", "minor_applicant", "b-4")]
    response = intake.post(f"{G}/cases/batch", json={"cases": stored + fresh})
    body = response.json()
    assert response.status_code == 201
    assert [r["status"] for r in body["results"]] == ["duplicate", "duplicate", "created", "created"]
    assert body["counts"] == {"duplicate": 2, "created": 2}
    assert body["outcomes"] == {"approve": 1, "review": 1, "decline": 2}
    again = intake.post(f"{G}/cases/batch", json={"cases": stored + fresh})
    assert again.status_code == 200 and again.json()["counts"] == {"duplicate": 4}


def test_csv_and_parquet_uploads(api):
    rows = [case("german_credit", "GC-0001", "u-1"), case("german_credit", "GC-0641", "u-2")]
    bad = case("german_credit", "GC-0188", "u-3")
    bad["duration_in_month"] = "sixteen"  # not a number: the engine flags the row
    huge = case("german_credit", "GC-0188", "u-5")
    huge["credit_amount"] = 10**400  # read back from the CSV as a Python int no float can hold
    frame = pd.DataFrame([*rows, bad, huge])
    intake = api.as_("intake")
    csv = intake.post(
        f"{G}/cases/upload", files={"file": ("cases.csv", frame.to_csv(index=False), "text/csv")}
    )
    assert csv.status_code == 201, csv.text
    results = {r["case_id"]: r for r in csv.json()["results"]}
    assert results["u-1"]["decision"]["outcome"] == "approve"
    assert results["u-2"]["decision"]["outcome"] == "decline"
    # german_credit says `on_invalid_input: review`: the bad row goes to the data-quality queue
    for flagged in ("u-3", "u-5"):
        decision = results[flagged]["decision"]
        assert (decision["outcome"], decision["queue"]) == ("review", "data_quality"), flagged
    parquet = io.BytesIO()
    pd.DataFrame([case("german_credit", "GC-0068", "u-4")]).to_parquet(parquet)
    uploaded = intake.post(f"{G}/cases/upload", files={"file": ("more.parquet", parquet.getvalue())})
    assert uploaded.status_code == 201 and uploaded.json()["results"][0]["decision"]["outcome"] == "approve"
    unknown = intake.post(
        f"{G}/cases/upload", files={"file": ("x.csv", "case_id,colour\nz,red\n", "text/csv")}
    )
    assert unknown.status_code == 422 and "colour" in unknown.json()["message"]
    nul = case("german_credit", "GC-0001", "u-6")
    nul["purpose"] = "car\x00"  # PostgreSQL holds a NUL in no text: refused on every store
    before = counts(api.services)
    refused = intake.post(
        f"{G}/cases/upload", files={"file": ("nul.csv", pd.DataFrame([nul]).to_csv(index=False), "text/csv")}
    )
    assert refused.status_code == 422 and "case 'u-6': field 'purpose'" in refused.json()["message"]
    assert "NUL" in refused.json()["message"] and counts(api.services) == before
    spaced = [case("german_credit", "GC-0001", f"u-{n}") for n in (7, 8)]
    spaced[1]["case_id"] = "u-1 "  # u-1 again, with a trailing space: refused, not a second case
    refused = intake.post(
        f"{G}/cases/upload", files={"file": ("ids.csv", pd.DataFrame(spaced).to_csv(index=False), "text/csv")}
    )
    assert (
        refused.status_code == 422 and "row 2: 'case_id' must not begin or end" in refused.json()["message"]
    )
    assert counts(api.services) == before
    numbered = io.BytesIO()
    pd.DataFrame([{**case("german_credit", "GC-0001", "x"), "case_id": 9}]).to_parquet(numbered)
    refused = intake.post(f"{G}/cases/upload", files={"file": ("n.parquet", numbered.getvalue())})
    assert refused.status_code == 422 and "row 1: 'case_id' must be text, got 9" in refused.json()["message"]
    garbage = intake.post(f"{G}/cases/upload", files={"file": ("x.parquet", b"not parquet")})
    assert garbage.status_code == 422 and "could not be read as Parquet" in garbage.json()["message"]


def test_case_detail_explains_the_score(api):
    api.as_("intake").post(f"{G}/cases", json=case("german_credit", "GC-0188", "detail-1"))
    detail = api.as_("ana").get(f"{G}/cases/detail-1").json()
    assert detail["protected"] is None  # underwriters do not see protected attributes
    auto = detail["decisions"][0]
    explanation = auto["explanation"]
    log_odds = explanation["base_value"] + sum(explanation["contributions"].values())
    assert math.isclose(1 / (1 + math.exp(-log_odds)), auto["score"], rel_tol=1e-4)
    assert auto["reasons"] and auto["reasons"][0]["contribution"] == max(
        explanation["contributions"].values()
    )
    assert auto["policy"]["name"] == "german_credit" and auto["model"]["digest"]
    [rule] = detail["rules"]
    assert (rule["id"], rule["action"], rule["winning"]) == ("threshold:review", "review", True)
    assert detail["review"]["queue"] == "standard_review"
    assert [e["kind"] for e in detail["history"]] == ["case_received", "decision_made"]
    compliance = api.as_("cora").get(f"{G}/cases/detail-1").json()
    assert set(compliance["protected"]) == {"sex", "age_band", "foreign_worker"}
    rules = api.as_("ana").get(f"{G}/cases/large_loan_referred").status_code
    assert rules == 404


def test_rules_fired_are_described(api):
    api.as_("intake").post(f"{G}/cases", json=case("german_credit", "minor_applicant"))
    rules = api.as_("ana").get(f"{G}/cases/minor_applicant").json()["rules"]
    assert rules[0]["id"] == "ko_minimum_age" and rules[0]["winning"] and rules[0]["action"] == "decline"
    assert "under 18" in rules[0]["reason"]


def test_two_product_lines_side_by_side(api):
    api.as_("intake").post(f"{G}/cases", json=case("german_credit", "GC-0188", "side-1"))
    fraud = api.as_("intake").post(
        f"{F}/cases", json=case("fraud_alerts", "moderate_score_investigated", "side-1")
    )
    assert fraud.status_code == 201  # the same id in another product line is another case
    assert fraud.json()["decision"]["model"]["name"] == "fraud_alerts"
    products = api.as_("ana").get("/api/v1/products").json()
    assert {p["product"]: p["policy"]["name"] for p in products} == {
        "fraud_alerts": "fraud_alerts",
        "german_credit": "german_credit",
    }
    assert [i["case_id"] for i in api.as_("ana").get(f"{F}/queue").json()["items"]] == ["side-1"]
    export = api.as_("cora").get("/api/v1/audit/events", params={"product": "fraud_alerts"}).json()["events"]
    assert {e["product"] for e in export} == {"fraud_alerts"}


def test_an_upload_over_the_batch_limit_is_refused_before_its_rows_are_read(
    sqlite_api_db, tmp_path, api_catalog
):
    """A few hundred kilobytes of Parquet can hold millions of rows (5,000,000 took 4 GB to read):
    the row count comes from the file's footer and a CSV is read one row past the limit, no further.
    Here the rows past the limit cannot even be read, so only a count taken first can answer."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from fastapi.testclient import TestClient

    from tests.fixtures.api import build_app

    url, user_tokens = sqlite_api_db
    app = build_app(url, tmp_path, api_catalog, max_batch_cases=100)
    headers = {"Authorization": f"Bearer {user_tokens['intake']}"}
    rows = [case("german_credit", "GC-0001", f"big-{i}") for i in range(1000)]
    parquet = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), parquet, compression="none")
    data = bytearray(parquet.getvalue())
    footer = int.from_bytes(data[-8:-4], "little")
    data[4 : len(data) - 8 - footer] = b"\xff" * (len(data) - 12 - footer)  # the pages, not the footer
    lines = pd.DataFrame(rows[:101]).to_csv(index=False) + "too,many,fields\n" * 3 + "a" + ",b" * 40 + "\n"
    with TestClient(app) as client:
        before = counts(app.state.services)
        for name, content in (("big.parquet", bytes(data)), ("big.csv", lines.encode())):
            answer = client.post(f"{G}/cases/upload", files={"file": (name, content)}, headers=headers)
            assert answer.status_code == 422, answer.text
            assert "cases; at most 100 are taken at once" in answer.json()["message"], answer.text
        assert counts(app.state.services) == before
        fits = pd.DataFrame(rows[:100]).to_csv(index=False)
        answer = client.post(f"{G}/cases/upload", files={"file": ("fits.csv", fits)}, headers=headers)
        assert answer.status_code == 201 and len(answer.json()["results"]) == 100
