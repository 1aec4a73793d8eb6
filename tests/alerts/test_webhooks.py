"""Alert webhooks against a real HTTP receiver on loopback: SLA breaches and queue depth are
delivered (signed, retried with backoff), not repeated until the repeat interval, sent by exactly
one of several checkers, and every delivery is audited. Run on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from decision_review.alerts.checker import AlertChecker
from decision_review.store.repository import utc_now
from tests.api.golden import case

G = "/api/v1/products/german_credit"


class Receiver:
    """An HTTP server that records what it receives and answers with scripted statuses."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.received: list[tuple[dict, bytes]] = []
        self.statuses = list(statuses or [])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def checker(api, **settings) -> AlertChecker:
    values = {"webhook_backoff_seconds": 0.0, "webhook_attempts": 3, **settings}
    return AlertChecker(api.services.db.write, api.services.settings.model_copy(update=values))


def hook(api, receiver, **body) -> dict:
    response = api.as_("rita").post("/api/v1/webhooks", json={"name": "ops", "url": receiver.url, **body})
    assert response.status_code == 201, response.text
    return response.json()


def sent_events(api) -> list[dict]:
    params = {"kind": "webhook_sent"}
    return [e["payload"] for e in api.as_("cora").get("/api/v1/audit/events", params=params).json()["events"]]


def test_an_sla_breach_is_delivered_signed_once_per_interval(api, receiver):
    created = hook(api, receiver, product="german_credit", on_sla_breach=True)
    api.as_("intake").post(f"{G}/cases", json=case("german_credit", "GC-0188", "sla-1"))
    alerts = checker(api)
    assert alerts.check_once() == []  # due in 48 hours: nothing to say yet
    later = utc_now() + dt.timedelta(hours=49)
    [delivery] = alerts.check_once(now=later)
    assert delivery.delivered and delivery.alert_key == "sla_breach:german_credit:standard_review"
    headers, body = receiver.received[-1]
    expected = hmac.new(created["secret"].encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-dr-signature"] == f"sha256={expected}"
    message = json.loads(body)
    assert (message["alert"], message["queue"], message["sla_breached"]) == (
        "sla_breach",
        "standard_review",
        1,
    )
    assert alerts.check_once(now=later + dt.timedelta(minutes=5)) == []  # still true, not repeated yet
    assert len(alerts.check_once(now=later + dt.timedelta(minutes=61))) == 1  # repeated after the interval
    assert [p["delivered"] for p in sent_events(api)] == [True, True]


def test_depth_over_the_limit_and_retries_with_backoff(api):
    flaky = Receiver([503, 500, 200])
    try:
        hook(api, flaky, on_sla_breach=False, depth_above=1)
        for i in range(2):
            api.as_("intake").post(f"{G}/cases", json=case("german_credit", "GC-0188", f"depth-{i}"))
        waits: list[float] = []
        alerts = AlertChecker(
            api.services.db.write,
            api.services.settings.model_copy(update={"webhook_backoff_seconds": 0.5, "webhook_attempts": 4}),
            sleep=waits.append,
        )
        [delivery] = alerts.check_once()
        assert (delivery.delivered, delivery.attempts, delivery.status_code) == (True, 3, 200)
        assert waits == [0.5, 1.0]
        assert len(flaky.received) == 3 and json.loads(flaky.received[-1][1])["depth"] == 2
        assert sent_events(api)[-1]["attempts"] == 3
    finally:
        flaky.close()


def test_an_undeliverable_alert_is_audited_as_such(api):
    down = Receiver([500] * 10)
    try:
        hook(api, down, on_sla_breach=False, depth_above=0)
        api.as_("intake").post(f"{G}/cases", json=case("german_credit", "GC-0188", "down-1"))
        [delivery] = checker(api).check_once()
        assert (delivery.delivered, delivery.attempts, delivery.error) == (False, 3, "HTTP 500")
        payload = sent_events(api)[-1]
        assert (payload["delivered"], payload["status_code"]) == (False, 500)
    finally:
        down.close()


def test_several_workers_checking_at_once_send_each_alert_once(api, receiver):
    hook(api, receiver, on_sla_breach=False, depth_above=0)
    api.as_("intake").post(f"{G}/cases", json=case("german_credit", "GC-0188", "once-1"))
    workers = [checker(api) for _ in range(4)]
    barrier = threading.Barrier(len(workers))
    results: list[int] = []

    def run(worker: AlertChecker) -> None:
        barrier.wait()
        results.append(len(worker.check_once()))

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0, 0, 0, 1] and len(receiver.received) == 1


def test_webhooks_are_configured_by_risk_and_admin_and_audited(api, receiver):
    hook(api, receiver, on_sla_breach=True)
    test = api.as_("adam").post("/api/v1/webhooks/ops/test")
    assert test.status_code == 200 and test.json()["delivered"]
    assert json.loads(receiver.received[-1][1])["alert"] == "test"
    assert "secret" not in api.as_("adam").get("/api/v1/webhooks").json()[0]
    assert api.as_("ana").get("/api/v1/webhooks").status_code == 403
    assert api.as_("adam").delete("/api/v1/webhooks/ops").status_code == 204
    configured = api.as_("cora").get("/api/v1/audit/events", params={"kind": "webhook_configured"}).json()
    assert [(e["actor"], e["payload"]["action"]) for e in configured["events"]] == [
        ("rita", "created"),
        ("adam", "deleted"),
    ]


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://[::1/hook", "cannot be read as a URL"),
        ("http://hooks.example:99999/", "Port out of range"),
        ("http://:8080/hook", "names no host"),
        ("http://hooks example.com/", "a space"),
        ("ftp://hooks.example/", "http:// or https://"),
        ("https://ops:s3cret@hooks.example/alerts", "must not carry credentials"),
    ],
)
def test_a_url_alerts_cannot_reach_is_refused_when_the_webhook_is_made(api, url, words):
    answer = api.as_("adam").post("/api/v1/webhooks", json={"name": "bad", "url": url, "on_sla_breach": True})
    assert answer.status_code == 422 and words in answer.json()["message"], answer.text
    assert api.as_("adam").get("/api/v1/webhooks").json() == []
    assert "s3cret" not in api.as_("cora").get("/api/v1/audit/events").text
