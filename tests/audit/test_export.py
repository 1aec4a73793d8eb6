"""Exports: every format verifies, a sub-range is a contiguous piece of the chain, and every kind
of edit to an export is found, by the package and by the stdlib-only script in the docs."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from decision_review.audit import export as export_module
from decision_review.audit import log
from decision_review.audit.chain import COLUMNS, event_document, event_hash
from decision_review.audit.export import ExportFormat, export_events, record_export, verify_export
from decision_review.audit.log import append
from decision_review.errors import InvalidInput
from tests.audit.tampering import sample_events

DOCS = Path(__file__).resolve().parents[2] / "docs" / "audit-export.md"
DAYS = {"2024-05-01": 4, "2024-05-02": 5, "2024-05-03": 3}


@pytest.fixture(scope="session")
def stdlib_script(tmp_path_factory) -> Path:
    """The verification script exactly as docs/audit-export.md prints it."""
    match = re.search(r"```python\n(#!/usr/bin/env python3\n.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert match, "docs/audit-export.md must contain the stdlib verification script"
    path = tmp_path_factory.mktemp("script") / "verify_export.py"
    path.write_text(match.group(1), encoding="utf-8")
    return path


def run_script(script: Path, *dirs: Path, fmt: str = "jsonl") -> subprocess.CompletedProcess[str]:
    """Run the script isolated from this package: -I (no user site, no cwd) and, except for Parquet
    (which needs pyarrow), -S (no site-packages at all, so decision_review cannot be imported)."""
    flags = ["-I"] if fmt == "parquet" else ["-I", "-S"]
    return subprocess.run(
        [sys.executable, *flags, str(script), *map(str, dirs)], capture_output=True, text=True
    )


@pytest.fixture
def dated_log(engine, sessions, monkeypatch):
    """Events on three days (4, 5 and 3 of them), appended with the clock set to each day."""
    stored, start = [], 0
    for day, n in DAYS.items():
        monkeypatch.setattr(log, "_now_text", lambda day=day: f"{day}T09:00:00.000000Z")
        with sessions.begin() as session:
            stored += append(session, sample_events(n, start=start))
        start += n
    monkeypatch.undo()
    return stored


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_a_full_export_verifies_in_every_format(engine, dated_log, tmp_path, stdlib_script, fmt):
    out = tmp_path / "export"
    manifest = export_events(engine, out, fmt=fmt)
    assert (manifest["count"], manifest["first_seq"], manifest["last_seq"]) == (12, 1, 12)
    assert manifest["prev_hash"] == "0" * 64 and manifest["last_hash"] == dated_log[-1].hash
    assert manifest["chain_head"] == {"seq": 12, "hash": dated_log[-1].hash}
    assert manifest["contiguous"] is True and manifest["tool"] == "decision-review"
    (entry,) = manifest["files"]
    assert entry["sha256"] == _sha256(out / entry["name"]) and entry["rows"] == 12
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert verify_export(out).ok
    result = run_script(stdlib_script, out, fmt=fmt)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"OK: 12 events, seq 1..12, last hash {dated_log[-1].hash}")


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_awkward_text_survives_every_format(engine, sessions, tmp_path, stdlib_script, fmt):
    """Commas, quotes, line breaks, a lone carriage return, control characters and emoji."""
    from decision_review.audit.log import NewEvent

    awkward = NewEvent(
        "override", actor='ana, "the reviewer"\r\nsecond line', case_id="c\r1", product="p\x01",
        payload={"note": 'says "no",\nthen \\ yes \U0001f600', "tab": "\t", "empty": "", "n": -0.0},
    )  # fmt: skip
    with sessions.begin() as session:
        append(session, [*sample_events(2), awkward])
    out = tmp_path / "export"
    export_events(engine, out, fmt=fmt)
    assert verify_export(out).ok
    result = run_script(stdlib_script, out, fmt=fmt)
    assert result.returncode == 0, result.stdout


def test_the_exported_events_are_the_stored_ones(engine, dated_log, tmp_path):
    out = tmp_path / "export"
    export_events(engine, out)
    lines = [json.loads(line) for line in (out / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    assert lines == [event.as_dict() for event in dated_log]
    assert list(lines[0]) == list(COLUMNS)


def test_a_sub_range_is_a_contiguous_piece_that_links_to_the_one_before(
    engine, dated_log, tmp_path, stdlib_script
):
    may1 = export_events(engine, tmp_path / "may1", start="2024-05-01", end="2024-05-01")
    may2 = export_events(engine, tmp_path / "may2", start="2024-05-02", end="2024-05-02", fmt="csv")
    assert (may2["count"], may2["first_seq"], may2["last_seq"]) == (5, 5, 9)
    assert may2["prev_hash"] == dated_log[3].hash == may1["last_hash"]  # the pieces stitch together
    assert may2["range"] == {"from": "2024-05-02T00:00:00.000000Z", "to": "2024-05-03T00:00:00.000000Z"}
    assert verify_export(tmp_path / "may2").ok
    assert run_script(stdlib_script, tmp_path / "may2").returncode == 0


def test_a_filtered_export_proves_its_events_and_their_place_in_the_chain(
    engine, dated_log, tmp_path, stdlib_script
):
    full = tmp_path / "full"
    export_events(engine, full)
    one_case = export_events(engine, tmp_path / "case", case_id="case-6", product="fraud_alerts")
    assert one_case["contiguous"] is False
    assert one_case["filters"] == {"product": "fraud_alerts", "case_id": "case-6"}
    assert (one_case["count"], one_case["first_seq"], one_case["prev_hash"]) == (1, 7, dated_log[5].hash)
    assert verify_export(tmp_path / "case").ok
    assert run_script(stdlib_script, tmp_path / "case", full).returncode == 0
    # against an export that does not hold those events, membership fails
    export_events(engine, tmp_path / "may1", start="2024-05-01", end="2024-05-01")
    result = run_script(stdlib_script, tmp_path / "case", tmp_path / "may1")
    assert result.returncode == 1 and "seq 7: hash" in result.stdout
    kinds = export_events(engine, tmp_path / "overrides", kind="override")
    assert kinds["count"] == 3 and verify_export(tmp_path / "overrides").ok


def test_an_empty_range_gives_an_empty_export_that_verifies(engine, dated_log, tmp_path, stdlib_script):
    manifest = export_events(engine, tmp_path / "june", start="2024-06-01", end="2024-06-30")
    assert (manifest["count"], manifest["first_seq"], manifest["last_hash"]) == (0, None, None)
    assert verify_export(tmp_path / "june").ok
    assert run_script(stdlib_script, tmp_path / "june").returncode == 0


def test_an_export_is_recorded_with_the_digest_of_its_manifest(engine, sessions, dated_log, tmp_path):
    out = tmp_path / "export"
    export_events(engine, out)
    with sessions.begin() as session:
        event = record_export(session, out, actor="compliance:ana")
    assert event.kind == "export_made" and event.actor == "compliance:ana"
    assert event.payload["manifest_sha256"] == _sha256(out / "manifest.json")
    assert event.payload["last_hash"] == dated_log[-1].hash
    assert log.verify(engine).ok


def test_export_refuses_bad_requests_clearly(engine, dated_log, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with pytest.raises(InvalidInput, match="not an empty directory"):
        export_events(engine, tmp_path / "busy")
    with pytest.raises(InvalidInput, match="--from 'yesterday' is not a date"):
        export_events(engine, tmp_path / "a", start="yesterday")
    with pytest.raises(InvalidInput, match="not an event kind"):
        export_events(engine, tmp_path / "a", kind="coffee_break")
    with pytest.raises(InvalidInput, match="the range is empty"):
        export_events(engine, tmp_path / "a", start="2024-05-03", end="2024-05-01")
    with pytest.raises(ValueError, match="'xml' is not a valid ExportFormat"):
        export_events(engine, tmp_path / "a", fmt="xml")


def test_an_interrupted_export_leaves_nothing_behind(engine, dated_log, tmp_path, monkeypatch):
    def failing(path, chunks):
        path.write_text("partial")
        raise OSError("disk full")

    monkeypatch.setitem(export_module.WRITERS, ExportFormat.JSONL, failing)
    with pytest.raises(OSError, match="disk full"):
        export_events(engine, tmp_path / "exports" / "may")
    assert list((tmp_path / "exports").iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Tampering with an export


def _rewrite(out: Path, lines: list[str], fix_digest: bool = True) -> None:
    """Write the events file back; with fix_digest, also update the manifest's digest to match
    (a forger would), so that the chain checks, not the digest, must find the edit."""
    events = out / "events.jsonl"
    events.write_text("".join(lines), encoding="utf-8")
    if fix_digest:
        manifest = json.loads((out / "manifest.json").read_text())
        manifest["files"][0]["sha256"] = _sha256(events)
        (out / "manifest.json").write_text(json.dumps(manifest))


def _edit_manifest(out: Path, **changes) -> None:
    manifest = json.loads((out / "manifest.json").read_text())
    for key, value in changes.items():
        if key == "range_from":
            manifest["range"]["from"] = value
        else:
            manifest[key] = value
    (out / "manifest.json").write_text(json.dumps(manifest))


def _forged_line(after: dict) -> str:
    fields = (after["seq"] + 1, after["ts"], "mallory", "override", "german_credit", "case-1", None, None)
    payload = '{"outcome":"approve"}'
    digest = event_hash(after["hash"], event_document(*fields, payload, after["hash"]))
    values = dict(zip(COLUMNS, (*fields, json.loads(payload), after["hash"], digest), strict=True))
    return json.dumps(values, ensure_ascii=False) + "\n"


def _tamper_export(out: Path, edit: str) -> None:
    lines = (out / "events.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    events = [json.loads(line) for line in lines]
    if edit == "file_without_digest":
        lines[4] = lines[4].replace('"actor":"', '"actor":"x', 1)
        _rewrite(out, lines, fix_digest=False)
    elif edit == "field":
        events[4]["payload"]["score"] = 0.0
        lines[4] = json.dumps(events[4], ensure_ascii=False) + "\n"
        _rewrite(out, lines)
    elif edit == "delete":
        del lines[4]
        _rewrite(out, lines)
    elif edit == "reorder":
        lines[4], lines[7] = lines[7], lines[4]
        _rewrite(out, lines)
    elif edit == "insert_forged":
        lines.insert(5, _forged_line(events[4]))
        _rewrite(out, lines)
    elif edit == "truncate":
        _rewrite(out, lines[:-2])
    elif edit == "manifest_count":
        _edit_manifest(out, count=11)
    elif edit == "manifest_last_hash":
        _edit_manifest(out, last_hash="a" * 64)
    elif edit == "manifest_prev_hash":
        _edit_manifest(out, prev_hash="b" * 64)
    elif edit == "manifest_first_seq":
        _edit_manifest(out, first_seq=2)
    elif edit == "manifest_range":
        _edit_manifest(out, range_from="2024-05-02T00:00:00.000000Z")
    elif edit == "manifest_digest":
        _edit_manifest(out, files=[{"name": "events.jsonl", "sha256": "c" * 64, "bytes": 1, "rows": 12}])
    else:
        raise AssertionError(edit)


# edit -> (what the package reports, what the script reports); both name the place.
EXPORT_EDITS = {
    "file_without_digest": ("events.jsonl: sha256 is", "events.jsonl: sha256 is"),
    "field": ("line 5: seq 5: event content does not match its hash", "line 5 (seq 5): content hashes to"),
    "delete": ("line 5: seq 5: sequence number out of place", "line 5: seq 6, expected seq 5"),
    "reorder": ("line 5: seq 5: sequence number out of place", "line 5: seq 8, expected seq 5"),
    "insert_forged": ("line 7: seq 7: sequence number out of place", "line 7: seq 6, expected seq 7"),
    "truncate": (
        "the file holds 10 events, the manifest says 12",
        "the file holds 10 events, the manifest says 12",
    ),
    "manifest_count": (
        "the file holds 12 events, the manifest says 11",
        "the file holds 12 events, the manifest says 11",
    ),
    "manifest_last_hash": ("the last hash is", "(truncated, or manifest edited)"),
    "manifest_prev_hash": ("line 1: seq 1: prev_hash does not match", "line 1 (seq 1): prev_hash"),
    "manifest_first_seq": ("line 1: seq 2: sequence number out of place", "line 1: seq 1, expected seq 2"),
    "manifest_range": ("line 1: seq 1 has ts 2024-05-01", "line 1 (seq 1): ts 2024-05-01"),
    "manifest_digest": ("events.jsonl: sha256 is", "events.jsonl: sha256 is"),
}


@pytest.fixture
def sqlite_export(sqlite_url, sessions_on, tmp_path, monkeypatch) -> Path:
    """A fresh 12-event export on three days (export files do not depend on the engine)."""
    sessions = sessions_on(sqlite_url)
    start = 0
    for day, n in DAYS.items():
        monkeypatch.setattr(log, "_now_text", lambda day=day: f"{day}T09:00:00.000000Z")
        with sessions.begin() as session:
            append(session, sample_events(n, start=start))
        start += n
    out = tmp_path / "export"
    export_events(sessions.kw["bind"], out)
    return out


@pytest.mark.parametrize("edit", list(EXPORT_EDITS))
def test_every_edit_of_an_export_is_found_at_its_place(sqlite_export, stdlib_script, edit):
    package_says, script_says = EXPORT_EDITS[edit]
    assert verify_export(sqlite_export).ok and run_script(stdlib_script, sqlite_export).returncode == 0
    _tamper_export(sqlite_export, edit)
    check = verify_export(sqlite_export)
    assert not check.ok
    assert package_says in check.problem
    result = run_script(stdlib_script, sqlite_export)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith("BROKEN: ") and script_says in result.stdout
