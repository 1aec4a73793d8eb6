"""A bulk writer to be killed: stores batches of decided cases, one transaction per batch, and
prints each committed batch's decision ids (one JSON line, flushed) only after the commit.

Run: python -m tests.audit.crash_writer DATABASE_URL RUN_ID [BATCH_SIZE]
"""

from __future__ import annotations

import itertools
import json
import sys

from decision_review.audit.decisions import record_decided_cases
from decision_review.store.db import make_engine, make_session_factory
from decision_review.store.repository import NewCase, NewDecision, VersionRef

MODEL = VersionRef("xgb-credit", "2", "sha256:" + "a" * 64)
POLICY = VersionRef("german_credit", "3", "sha256:" + "b" * 64)


def main(url: str, run: str, batch_size: int) -> None:
    sessions = make_session_factory(make_engine(url))
    for batch in itertools.count():
        inputs = [{"duration": 12 + i % 24, "credit_amount": 1000 + i} for i in range(batch_size)]
        cases = [
            NewCase("german_credit", f"{run}-{batch}-{i}", x, {"age_group": "25-45"})
            for i, x in enumerate(inputs)
        ]
        reasons = [{"field": "duration", "code": "R01", "text": "Short", "contribution": -0.1}]
        decisions = [
            NewDecision(
                outcome="approve" if i % 3 else "review",
                score=(i % 100) / 100,
                rule_hits=["low_risk"],
                reasons=reasons,
                model=MODEL,
                policy=POLICY,
            )
            for i in range(batch_size)
        ]
        with sessions.begin() as session:
            stored = record_decided_cases(session, cases, decisions)
        print(json.dumps({"batch": batch, "decision_ids": [s.decision_id for s in stored]}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 200)
