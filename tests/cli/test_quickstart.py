"""`decision-review quickstart --no-serve`: the README's first command, on a fresh folder, twice."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DR_HOME": str(home),
        "DR_MODELS_DIR": str(ROOT / "models"),
        "DR_POLICIES_DIR": str(ROOT / "policies"),
        "COLUMNS": "200",
    }
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "decision_review.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=home.parent,
        env=env,
        timeout=600,
    )


def test_quickstart_sets_up_a_working_desk_and_is_idempotent(tmp_path):
    home = tmp_path / "var"
    first = run(home, "quickstart", "--no-serve", "--alerts", "300")
    assert first.returncode == 0, first.stderr
    assert "published german_credit v1" in first.stdout and "published fraud_alerts v1" in first.stdout
    assert "OK:" in first.stdout
    credentials = home / "demo-credentials.txt"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    passwords = dict(line.split(" ", 1) for line in credentials.read_text().splitlines())
    assert set(passwords) == {"underwriter", "compliance", "risk", "admin"}
    assert all(password in first.stdout for password in passwords.values())

    second = run(home, "quickstart", "--no-serve", "--alerts", "300")
    assert second.returncode == 0, second.stderr
    assert "demo users exist" in second.stdout and "published" not in second.stdout.split("3/5")[0]
    german_row = next(line for line in second.stdout.splitlines() if "german_credit" in line)
    assert german_row.count("1,000") == 2, german_row  # 1,000 cases, all already there
    verify = run(home, "audit", "verify")
    assert verify.returncode == 0 and "OK" in verify.stdout
