"""Backtests run from the risk pages, kept as files, and policy diffs.

A run replays a candidate policy text (pasted or uploaded) over its own reference history (the
`gates.reference_history` it declares), beside the live policy of its product line as the baseline,
with `decision_review.backtest` (the same code as ``decision-review backtest``), and checks the
candidate's gates. Each run is kept under ``<home>/backtests/<id>/`` (the candidate text, the
report and the gate result as JSON, and the HTML report once someone opens it), so every API
worker can show it and a publication can point to the evidence it was based on.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from decision_review.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from decision_review.backtest import BacktestReport, GateResult
    from decision_review.modeling.registry import ModelRegistry
    from decision_review.products.service import LiveProduct

RUN_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}")
MAX_POLICY_BYTES = 512 * 1024
LISTED_RUNS = 20


@dataclass(frozen=True)
class StoredRun:
    id: str
    folder: Path
    meta: dict[str, Any]

    @property
    def candidate_text(self) -> str:
        return (self.folder / "candidate.yaml").read_text(encoding="utf-8")

    def report(self) -> BacktestReport:
        from decision_review.backtest import BacktestReport

        return BacktestReport.model_validate_json((self.folder / "report.json").read_text(encoding="utf-8"))

    def gates(self) -> GateResult | None:
        from decision_review.backtest import GateResult

        path = self.folder / "gates.json"
        return GateResult.model_validate_json(path.read_text(encoding="utf-8")) if path.exists() else None

    def html(self) -> str:
        """The backtest's own HTML report (drawn on first request, then kept)."""
        from decision_review.backtest.html import render_html

        path = self.folder / "report.html"
        if not path.exists():
            _write(path, render_html(self.report(), gates=self.gates()))
        return path.read_text(encoding="utf-8")


def runs_dir(home: Path) -> Path:
    return Path(home) / "backtests"


def _write(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def check_text(text: str) -> str:
    if not text.strip():
        raise InvalidInput("paste the candidate policy (YAML) or choose its file")
    if len(text.encode("utf-8")) > MAX_POLICY_BYTES:
        raise InvalidInput(f"the policy text is larger than {MAX_POLICY_BYTES // 1024} KiB")
    return text


SWEEP_POINTS = 30


def _sweep(result: Any, candidate: Any) -> Any:
    """The candidate's approve threshold swept from 1% to its decline threshold, with its gates as
    targets (what ``decision-review backtest --sweep`` does with no grid given)."""
    from decision_review.backtest import SweepTargets, threshold_sweep

    gates = candidate.policy.spec.gates
    top = max(float(candidate.policy.decline_at_or_above), 0.02)
    grid = [round(0.01 + (top - 0.01) * i / (SWEEP_POINTS - 1), 4) for i in range(SWEEP_POINTS)]
    targets = SweepTargets(
        max_bad_rate_approved=gates.max_bad_rate_approved,
        max_review_share=gates.max_review_share,
        min_air=gates.min_air,
        min_approval_rate=gates.min_approval_rate,
        min_group_size=gates.min_group_size,
    )
    return threshold_sweep(
        result.replays["candidate"],
        result.history,
        approve_grid=grid,
        targets=targets,
        settings=result.report.settings,
        attributes=gates.attributes,
        intersections=gates.intersections,
    )


def run(
    text: str,
    live: LiveProduct,
    registry: ModelRegistry,
    home: Path,
    *,
    actor: str,
    sweep: bool = False,
    n_bootstrap: int = 200,
) -> StoredRun:
    """Backtest `text` against the live policy of its product line (optionally sweeping its
    thresholds) and keep the result."""
    from decision_review.backtest import evaluate_gates, run_backtest
    from decision_review.backtest.gates import gate_settings, reference_history
    from decision_review.engine import DecisionEngine
    from decision_review.policy import parse_document

    text = check_text(text)
    candidate = DecisionEngine.from_document(parse_document(text, source="candidate policy"), registry)
    policy = candidate.policy
    if policy.product != live.product:
        raise InvalidInput(
            f"the candidate is for product line {policy.product!r} (its `product:`), not {live.product!r}"
        )
    if policy.spec.gates is None:
        raise InvalidInput(
            "the candidate declares no gates, so no reference history to replay: add a `gates:` section "
            "with `reference_history` (docs/policy-language.md)"
        )
    if policy.spec.gates.reference_history.file is not None:
        raise InvalidInput(
            "the candidate's reference history is a file; run file histories with `decision-review backtest`"
        )
    history = reference_history(policy, candidate.model.contract)
    result = run_backtest(
        history, candidate, live.engine, settings=gate_settings(policy.spec.gates, n_bootstrap)
    )
    report = result.report
    if sweep:
        report = report.model_copy(update={"sweep": _sweep(result, candidate)})
    gates = evaluate_gates(policy, report)
    now = dt.datetime.now(dt.UTC)
    run_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
    folder = runs_dir(home) / run_id
    folder.mkdir(parents=True)
    _write(folder / "candidate.yaml", text)
    _write(folder / "report.json", report.model_dump_json())
    _write(folder / "gates.json", gates.model_dump_json())
    meta = {
        "id": run_id,
        "product": live.product,
        "created_by": actor,
        "created_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "candidate": {"name": policy.name, "version": policy.version, "digest": policy.digest},
        "baseline": {"name": live.engine.policy.name, "version": live.engine.policy.version},
        "history": history.name,
        "cases": len(history),
        "gates_passed": gates.passed,
        "sweep": sweep,
    }
    _write(folder / "meta.json", json.dumps(meta, indent=2))
    return StoredRun(run_id, folder, meta)


def load(home: Path, run_id: str) -> StoredRun:
    folder = runs_dir(home) / run_id
    if not RUN_ID.fullmatch(run_id) or not (folder / "meta.json").exists():
        raise NotFound(f"no backtest {run_id!r}")
    return StoredRun(run_id, folder, json.loads((folder / "meta.json").read_text(encoding="utf-8")))


def recent(home: Path, product: str) -> list[StoredRun]:
    """The product line's most recent runs, newest first."""
    root = runs_dir(home)
    if not root.is_dir():
        return []
    out = []
    for folder in sorted(root.iterdir(), reverse=True):
        if not RUN_ID.fullmatch(folder.name) or not (folder / "meta.json").exists():
            continue
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta.get("product") == product:
            out.append(StoredRun(folder.name, folder, meta))
        if len(out) >= LISTED_RUNS:
            break
    return out


# ---------------------------------------------------------------------------------------------
# Diff of two policy texts


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add", "del", "hunk" or "same"
    text: str


def diff(old: str, new: str, old_name: str, new_name: str) -> dict[str, Any]:
    """The line diff of two policy texts and what changed in the policy's terms (thresholds,
    rules added, removed or changed, queues, gates)."""
    from decision_review.policy import parse_document

    lines = []
    for line in difflib.unified_diff(
        old.splitlines(), new.splitlines(), fromfile=old_name, tofile=new_name, lineterm="", n=3
    ):
        if line.startswith(("---", "+++")):
            continue
        kind = (
            "hunk"
            if line.startswith("@@")
            else "add"
            if line.startswith("+")
            else "del"
            if line.startswith("-")
            else "same"
        )
        lines.append(DiffLine(kind, line))
    summary: list[str] = []
    try:
        a = parse_document(old, source=old_name).spec
        b = parse_document(new, source=new_name).spec
    except Exception as exc:  # a text that does not parse still gets its line diff
        return {"lines": lines, "summary": [f"the policy terms could not be compared: {exc}"]}
    for key in ("approve_below", "decline_at_or_above"):
        before, after = getattr(a.thresholds, key), getattr(b.thresholds, key)
        if before != after:
            summary.append(f"threshold {key}: {before} → {after}")
    old_rules = {r.id: r for r in a.rules}
    new_rules = {r.id: r for r in b.rules}
    for rule_id in new_rules.keys() - old_rules.keys():
        summary.append(f"rule added: {rule_id} ({new_rules[rule_id].action.value})")
    for rule_id in old_rules.keys() - new_rules.keys():
        summary.append(f"rule removed: {rule_id}")
    for rule_id in sorted(old_rules.keys() & new_rules.keys()):
        r, s = old_rules[rule_id], new_rules[rule_id]
        changed = [
            f
            for f in ("condition", "action", "queue", "priority", "shadow")
            if getattr(r, f) != getattr(s, f)
        ]
        if changed:
            summary.append(f"rule changed: {rule_id} ({', '.join(changed)})")
    if set(a.queues) != set(b.queues):
        summary.append(f"queues: {', '.join(sorted(a.queues))} → {', '.join(sorted(b.queues))}")
    if a.gates != b.gates:
        summary.append("publishing gates changed")
    if a.model != b.model:
        summary.append(f"model: {a.model.name} v{a.model.version} → {b.model.name} v{b.model.version}")
    return {"lines": lines, "summary": summary or ["no change in thresholds, rules, queues, gates or model"]}
