"""Replay: a recorded decision re-run through its recorded model and policy versions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text, update

from decision_review.audit.decisions import record_decided_cases
from decision_review.audit.replay import replay_decision
from decision_review.engine import DecisionEngine
from decision_review.errors import IntegrityError, NotFound
from decision_review.store.repository import NewCase, NewDecision, VersionRef
from decision_review.store.tables import Decision

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"


@pytest.fixture(scope="module")
def engine_gc(model_registry) -> DecisionEngine:
    return DecisionEngine.from_policy_file(POLICIES / "german_credit.yaml", model_registry)


def store(
    sessions, engine_gc: DecisionEngine, frame: pd.DataFrame, *, auto_decisions: bool = True
) -> list[int]:
    """Decide `frame` and record cases, decisions and events the audited way; the decision ids."""
    decided = engine_gc.decide(frame, auto_decisions=auto_decisions)
    model = VersionRef(engine_gc.model.name, str(engine_gc.model.version), engine_gc.model.digest)
    policy = VersionRef(engine_gc.policy.name, str(engine_gc.policy.version), engine_gc.policy.digest)
    fields = engine_gc.model.contract.field_names
    cases, decisions = [], []
    for i, (_, row) in enumerate(decided.frame.iterrows()):
        inputs = {name: frame.iloc[i][name] for name in fields}
        cases.append(NewCase("german_credit", row["case_id"], {k: _plain(v) for k, v in inputs.items()}))
        decisions.append(
            NewDecision(
                outcome=row["outcome"],
                score=float(row["score"]),
                winning_rule=row["winning_rule"],
                rule_hits=list(row["rule_hits"]),
                reasons=[r.model_dump() for r in decided.reasons(i)],
                model=model,
                policy=policy,
            )
        )
    with sessions.begin() as session:
        stored = record_decided_cases(session, cases, decisions)
    return [s.decision_id for s in stored]


def _plain(value):
    return value.item() if hasattr(value, "item") else value


@pytest.fixture
def cases(german_dataset) -> pd.DataFrame:
    frame = german_dataset.frame.head(25).copy()
    frame.insert(0, "case_id", german_dataset.ids.head(25).to_numpy())
    return frame


def test_every_recorded_decision_is_reproduced(sessions, engine_gc, model_registry, cases):
    ids = store(sessions, engine_gc, cases)
    with sessions() as session:
        reports = [replay_decision(session, i, registry=model_registry, policies_dir=POLICIES) for i in ids]
    assert all(r.reproduced for r in reports), [r.differences for r in reports if not r.reproduced]
    outcomes = {r.recorded["outcome"] for r in reports}
    assert {"approve", "review"} <= outcomes
    explained = [r for r in reports if r.recorded["reasons"]]
    assert explained and all(len(r.replayed["reasons"]) == len(r.recorded["reasons"]) for r in explained)


def test_a_decision_made_with_auto_decisions_off_is_reproduced(sessions, engine_gc, model_registry, cases):
    (first,) = store(sessions, engine_gc, cases.head(1), auto_decisions=False)
    with sessions() as session:
        report = replay_decision(session, first, registry=model_registry, policies_dir=POLICIES)
    assert report.reproduced and report.recorded["winning_rule"] == "auto_decisions_off"
    assert any("switched off" in note for note in report.notes)


def test_an_edited_decision_row_is_caught(sessions, engine_gc, model_registry, cases):
    ids = store(sessions, engine_gc, cases.head(3))
    with sessions.begin() as session:
        session.execute(update(Decision).where(Decision.id == ids[0]).values(outcome="approve", score=0.01))
    with sessions() as session, pytest.raises(IntegrityError, match="the decisions table says"):
        replay_decision(session, ids[0], registry=model_registry, policies_dir=POLICIES)


def test_a_changed_policy_text_is_a_clear_error(sessions, engine_gc, model_registry, cases, tmp_path):
    ids = store(sessions, engine_gc, cases.head(1))
    edited = tmp_path / "policies"
    edited.mkdir()
    text_ = (POLICIES / "german_credit.yaml").read_text().replace("approve_below: 0.15", "approve_below: 0.2")
    (edited / "german_credit.yaml").write_text(text_)
    with sessions() as session, pytest.raises(NotFound, match="needs the exact policy text"):
        replay_decision(session, ids[0], registry=model_registry, policies_dir=edited)


def test_unknown_decision(sessions, model_registry):
    with sessions() as session, pytest.raises(NotFound, match="no decision with id 999"):
        replay_decision(session, 999, registry=model_registry, policies_dir=POLICIES)


def test_replay_command(sqlite_url, sessions_on, engine_gc, cases):
    sessions = sessions_on(sqlite_url)
    ids = store(sessions, engine_gc, cases.head(2))

    def replay(*args):
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "decision_review.cli.main",
                "audit",
                "replay",
                *args,
                "--database-url",
                sqlite_url,
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "COLUMNS": "200"},  # usage errors on one line each
            timeout=300,
        )

    ok = replay(str(ids[0]))
    assert ok.returncode == 0, ok.stderr
    assert "reproduced" in ok.stdout
    with sessions.begin() as session:
        session.execute(text("UPDATE decisions SET score = 0.5 WHERE id = :i"), {"i": ids[1]})
    broken = replay(str(ids[1]))
    assert broken.returncode == 2 and "the decisions table says score" in broken.stderr
    beyond = replay(str(2**64))  # no id is that large: a usage error, not SQLite's OverflowError
    assert beyond.returncode == 2 and "Traceback" not in beyond.stderr, beyond.stderr
    assert "less than or equal to 9223372036854775807" in beyond.stderr
