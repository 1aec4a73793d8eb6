"""A writer killed with SIGKILL in the middle of a bulk run leaves a chain that verifies, and
every decision it reported as stored has its audit event (and no event lacks its decision)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from decision_review.audit.log import verify
from tests.audit.tampering import query

ROOT = Path(__file__).resolve().parents[2]


def _run_and_kill(url: str, batches_before_kill: int) -> list[int]:
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.audit.crash_writer", url, uuid.uuid4().hex[:8], "300"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reported: list[int] = []
    try:
        for _ in range(batches_before_kill):
            line = writer.stdout.readline()
            assert line, f"the writer stopped early: {writer.stderr.read()}"
            reported += json.loads(line)["decision_ids"]
        time.sleep(random.uniform(0.0, 0.3))  # land somewhere inside the next batch
        os.kill(writer.pid, signal.SIGKILL)
        rest, _ = writer.communicate(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert writer.returncode == -signal.SIGKILL
    # lines printed before the kill landed are reports too: those batches were committed
    reported += [i for line in rest.splitlines() if line.strip() for i in json.loads(line)["decision_ids"]]
    return reported


@pytest.mark.slow
@pytest.mark.parametrize("kills", [1, 2])
def test_sigkill_mid_bulk_leaves_a_verified_chain_and_no_decision_without_its_event(
    engine, migrated_url, kills
):
    reported: list[int] = []
    for _ in range(kills):  # a second writer continues on the chain the first left behind
        reported += _run_and_kill(migrated_url, batches_before_kill=3)
    report = verify(engine)
    assert report.ok, report.summary()
    decision_ids = {row[0] for row in query(migrated_url, "SELECT id FROM decisions")}
    event_ids = {
        json.loads(row[0])["decision_id"]
        for row in query(migrated_url, "SELECT payload FROM audit_events WHERE kind = 'decision_made'")
    }
    case_events = query(migrated_url, "SELECT count(*) FROM audit_events WHERE kind = 'case_received'")[0][0]
    assert set(reported) <= decision_ids  # everything reported as stored is stored ...
    assert decision_ids == event_ids  # ... and a decision exists exactly when its event does
    assert case_events == len(decision_ids) == report.count // 2
