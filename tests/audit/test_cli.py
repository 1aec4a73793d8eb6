"""The `audit` and `db` commands as a user runs them (real subprocesses, real databases)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from decision_review.store.db import head_revision
from tests.audit.tampering import query, sample_events, tamper

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DR_DATABASE_URL", "DR_HOME"}
    }
    environment.update(env or {}, PYTHONPATH=str(ROOT), COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "decision_review.cli.main", *args], cwd=cwd, env=environment,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_fresh_checkout_upgrade_verify_export_on_the_default_sqlite_file(tmp_path):
    result = cli("audit", "verify", cwd=tmp_path)
    assert result.returncode == 2
    assert "error: no decision-review database at sqlite:///var/decision-review.db" in result.stderr
    assert "decision-review db upgrade" in result.stderr
    assert "Traceback" not in result.stderr

    result = cli("db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "decision-review.db").is_file()
    latest = head_revision()
    assert f"is at revision {latest} (latest {latest})" in result.stdout

    result = cli("audit", "verify", "--actor", "compliance:ana", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: 0 events verified; head seq 0")

    result = cli("audit", "export", "--out", "exports/all", "--format", "csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "exported 1 events (seq 1..1)" in result.stdout
    result = cli("audit", "verify-export", "exports/all", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("OK: 1 events")
    mistyped = cli("audit", "verify-export", "exports/al", cwd=tmp_path)  # a usage error, not BROKEN
    assert mistyped.returncode == 2 and "does not exist" in mistyped.stderr
    assert "BROKEN" not in mistyped.stdout

    url = f"sqlite:///{tmp_path / 'var' / 'decision-review.db'}"
    kinds = query(url, "SELECT kind, actor FROM audit_events ORDER BY seq")
    assert [k for k, _ in kinds] == ["verification_run", "export_made"]
    assert kinds[0][1] == "compliance:ana" and kinds[1][1].startswith("cli")


@pytest.mark.parametrize("engine_name", ["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def test_verify_reports_the_first_broken_link_with_exit_status_1(engine_name, request, sessions_on, tmp_path):
    url = request.getfixturevalue("sqlite_url" if engine_name == "sqlite" else "pg_url")
    from decision_review.audit.log import append

    with sessions_on(url).begin() as session:
        append(session, sample_events(6))
    result = cli("audit", "verify", "--database-url", url, "--no-record", cwd=tmp_path)
    assert result.returncode == 0 and "OK: 6 events verified" in result.stdout
    head = query(url, "SELECT hash FROM audit_events WHERE seq = 6")[0][0]
    result = cli(
        "audit", "verify", "--database-url", url, "--anchor", f"6:{head}", "--no-record", cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout

    tamper(url, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 4")
    result = cli("audit", "verify", "--database-url", url, cwd=tmp_path)
    assert result.returncode == 1
    assert "BROKEN at seq 4: event content does not match its hash (edited)" in result.stdout
    recorded = json.loads(
        query(url, "SELECT payload FROM audit_events WHERE kind = 'verification_run'")[0][0]
    )
    assert recorded["ok"] is False and recorded["broken"]["seq"] == 4


def test_bad_options_are_clear_errors(sqlite_url, tmp_path):
    result = cli("audit", "verify", "--database-url", sqlite_url, "--anchor", "12:abc", cwd=tmp_path)
    assert result.returncode == 2 and "--anchor '12:abc': expected SEQ:HASH" in result.stderr
    result = cli(
        "audit", "export", "--database-url", sqlite_url, "--out", "x", "--from", "May 1", cwd=tmp_path
    )
    assert result.returncode == 2 and "--from 'May 1' is not a date" in result.stderr
    result = cli("db", "current", "--database-url", "mysql://u@h/db", cwd=tmp_path)
    assert result.returncode == 2 and "only SQLite" in result.stderr
    assert not (tmp_path / "x").exists()
