"""Publishing gates: a policy's own fairness and performance limits, checked on its reference history.

Why in the policy file: the risk team that writes the thresholds also states what the policy must
achieve (AIR >= 0.8 for every group with enough cases, bad rate among automatic approvals, review
share), so a reviewer of the file sees both, and publishing can refuse a policy that breaks them.

The seam for `policy publish` (the policies service): call `check_publishable(policy, registry,
justification=...)`. It runs the backtest on the policy's reference history and returns a
`GateDecision`: `allowed` is False when a gate breaks and no justification was given. The service
checks that the user holds the risk role before accepting a justification, and records
`decision.audit_details()` in the audit event of the publication (refused or not).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from decision_review.backtest.history import History, load_history
from decision_review.backtest.run import BacktestRun, Progress, run_backtest
from decision_review.backtest.schemas import BacktestReport, BacktestSettings
from decision_review.engine import DecisionEngine
from decision_review.errors import InvalidInput
from decision_review.fairness import AttributeReport
from decision_review.fairness.inputs import UNKNOWN
from decision_review.modeling.registry import ModelRegistry
from decision_review.policy import CompiledPolicy
from decision_review.policy.spec import Gates
from decision_review.schemas import InputContract

MIN_JUSTIFICATION = 20
GATE_BOOTSTRAP = 200


class GateCheck(BaseModel):
    """One limit on one subject (all cases, or one protected attribute)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gate: str = Field(description="The policy key: min_air, max_bad_rate_approved, ...")
    subject: str = Field(description="'all cases' or the attribute screened.")
    figure: float | None = Field(description="The measured figure (for min_air: the lowest AIR).")
    limit: float
    passed: bool | None = Field(description="None when the figure cannot be measured (see detail).")
    breaking_groups: list[str] = Field(default_factory=list)
    detail: str = ""


class GateResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    policy_name: str
    policy_version: int
    policy_digest: str
    history: str
    stage: str
    min_group_size: int
    passed: bool = Field(description="No gate breaks (undetermined gates do not break, but are listed).")
    checks: list[GateCheck]
    undetermined: list[str] = Field(default_factory=list)

    @property
    def breaks(self) -> list[GateCheck]:
        return [c for c in self.checks if c.passed is False]


class GateDecision(BaseModel):
    """May this policy be published? What to record in the audit log either way."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed: bool
    justified: bool = Field(description="Published despite broken gates, on a recorded justification.")
    justification: str | None
    gates: GateResult | None
    message: str

    def audit_details(self) -> dict:
        """The audit event's details for the publication (JSON-ready)."""
        gates = self.gates
        return {
            "gates_declared": gates is not None,
            "gates_passed": gates.passed if gates is not None else None,
            "allowed": self.allowed,
            "justified": self.justified,
            "justification": self.justification,
            "history": gates.history if gates is not None else None,
            "breaks": [c.model_dump(mode="json") for c in gates.breaks] if gates is not None else [],
            "undetermined": gates.undetermined if gates is not None else [],
        }


def evaluate_gates(policy: CompiledPolicy, report: BacktestReport) -> GateResult:
    """Check the policy's gates against a backtest report of that policy (matched by digest)."""
    gates = policy.spec.gates
    if gates is None:
        raise InvalidInput(f"policy {policy.name} v{policy.version} declares no gates")
    result = next((p for p in report.policies if p.policy_digest == policy.digest), None)
    if result is None:
        raise InvalidInput(
            f"the backtest report has no replay of policy {policy.name} v{policy.version} "
            f"(digest {policy.digest[:12]}...); run the backtest with this policy"
        )
    checks: list[GateCheck] = []
    every = "all cases"
    if gates.max_bad_rate_approved is not None:
        rate = result.bad_rate_approved
        checks.append(
            GateCheck(
                gate="max_bad_rate_approved",
                subject=every,
                figure=rate.value,
                limit=gates.max_bad_rate_approved,
                passed=None if rate.value is None else rate.value <= gates.max_bad_rate_approved,
                detail=f"{rate.bad} bad of {rate.known} automatic approvals with a known outcome"
                if rate.value is not None
                else "no automatic approval has a known outcome",
            )
        )
    if gates.max_review_share is not None:
        share = result.review
        checks.append(
            GateCheck(
                gate="max_review_share",
                subject=every,
                figure=share.value,
                limit=gates.max_review_share,
                passed=None if share.value is None else share.value <= gates.max_review_share,
                detail=f"{share.count} of {share.total} cases referred",
            )
        )
    if gates.min_approval_rate is not None:
        share = result.approve
        checks.append(
            GateCheck(
                gate="min_approval_rate",
                subject=every,
                figure=share.value,
                limit=gates.min_approval_rate,
                passed=None if share.value is None else share.value >= gates.min_approval_rate,
                detail=f"{share.count} of {share.total} cases approved automatically",
            )
        )
    if gates.min_air is not None:
        stage = result.fairness.stage(gates.stage)
        for attribute in _screened(gates, stage.attributes, report):
            checks.append(_air_check(attribute, gates))
    undetermined = [f"{c.gate} ({c.subject}): {c.detail}" for c in checks if c.passed is None]
    return GateResult(
        policy_name=policy.name,
        policy_version=policy.version,
        policy_digest=policy.digest,
        history=report.history.name,
        stage=gates.stage,
        min_group_size=gates.min_group_size,
        passed=all(c.passed is not False for c in checks),
        checks=checks,
        undetermined=undetermined,
    )


def _screened(
    gates: Gates, attributes: list[AttributeReport], report: BacktestReport
) -> list[AttributeReport]:
    names = gates.attributes if gates.attributes is not None else report.history.attributes
    by_name = {a.attribute: a for a in attributes}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise InvalidInput(
            f"the backtest report has no fairness figures for attribute(s) {', '.join(missing)}; "
            f"it has: {', '.join(by_name)}"
        )
    chosen = [by_name[n] for n in names]
    if gates.intersections:
        pairs = [a for a in attributes if len(a.members) == 2 and set(a.members) <= set(names)]
        if not pairs and len(names) > 1:
            raise InvalidInput("the gates screen intersections, but the backtest report was run without them")
        chosen += pairs
    return chosen


def _air_check(attribute: AttributeReport, gates: Gates) -> GateCheck:
    limit = float(gates.min_air or 0.0)
    size = gates.min_group_size
    reference = next((g for g in attribute.groups if g.reference), None)
    base = {"gate": "min_air", "subject": attribute.attribute, "limit": limit}
    if reference is None:
        return GateCheck(**base, figure=None, passed=None, detail="no reference group has cases")
    if reference.n < size:
        return GateCheck(
            **base,
            figure=None,
            passed=None,
            detail=(
                f"reference group {reference.group!r} has {reference.n} cases (< {size}): AIR not screened"
            ),
        )
    screened = [
        g
        for g in attribute.groups
        if not g.reference and g.n >= size and UNKNOWN not in g.members.values() and g.air.value is not None
    ]
    if not screened:
        return GateCheck(
            **base,
            figure=None,
            passed=None,
            detail=f"no group other than the reference has {size} or more cases",
        )
    breaking = [g for g in screened if g.air.value is not None and g.air.value < limit]
    lowest = min(screened, key=lambda g: g.air.value or 0.0)
    return GateCheck(
        **base,
        figure=lowest.air.value,
        passed=not breaking,
        breaking_groups=[g.group for g in breaking],
        detail=(
            f"lowest AIR {lowest.air.value:.3f} ({lowest.group}) against {reference.group!r}; "
            f"{len(screened)} group(s) with {size}+ cases screened"
        ),
    )


def reference_history(
    policy: CompiledPolicy, contract: InputContract, *, base_dir: str | Path | None = None
) -> History:
    """Load the reference history the policy's gates name (a file is relative to the policy file)."""
    gates = policy.spec.gates
    if gates is None:
        raise InvalidInput(
            f"policy {policy.name} v{policy.version} declares no gates, so no reference history"
        )
    ref = gates.reference_history
    data = None
    if ref.file is not None:
        folder = Path(base_dir) if base_dir is not None else Path(policy.source).parent
        data = folder / ref.file
    return load_history(
        contract=contract,
        data=data,
        dataset=ref.dataset,
        outcome_column=ref.outcome_column,
        amount_column=ref.amount_column,
        currency=ref.currency,
        minor_digits=ref.minor_digits,
        product=ref.product,
        attributes=gates.attributes,
    )


def gate_settings(gates: Gates, n_bootstrap: int = GATE_BOOTSTRAP) -> BacktestSettings:
    return BacktestSettings(
        min_group_size=gates.min_group_size,
        air_threshold=gates.min_air if gates.min_air is not None else 0.8,
        n_bootstrap=n_bootstrap,
        intersections=gates.intersections,
    )


def run_gates(
    engine: DecisionEngine,
    *,
    base_dir: str | Path | None = None,
    n_bootstrap: int = GATE_BOOTSTRAP,
    progress: Progress | None = None,
) -> tuple[GateResult, BacktestRun]:
    """Backtest the engine's policy on its reference history and check its gates."""
    gates = engine.policy.spec.gates
    if gates is None:
        raise InvalidInput(f"policy {engine.policy.name} v{engine.policy.version} declares no gates")
    history = reference_history(engine.policy, engine.model.contract, base_dir=base_dir)
    run = run_backtest(history, engine, settings=gate_settings(gates, n_bootstrap), progress=progress)
    return evaluate_gates(engine.policy, run.report), run


def check_publishable(
    engine: DecisionEngine,
    *,
    justification: str | None = None,
    base_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> GateDecision:
    """Whether the engine's policy may be published: its gates pass, or a justification is given.

    The caller (the policies service) must have checked that the user holds the risk role, and
    records `audit_details()` in the publication's audit event.
    """
    text = justification.strip() if justification is not None else None
    if engine.policy.spec.gates is None:
        return GateDecision(
            allowed=True,
            justified=False,
            justification=text or None,
            gates=None,
            message="the policy declares no gates",
        )
    result, _ = run_gates(engine, base_dir=base_dir, progress=progress)
    if result.passed:
        return GateDecision(
            allowed=True,
            justified=False,
            justification=text or None,
            gates=result,
            message=f"every gate passes on {result.history}",
        )
    broken = "; ".join(
        f"{c.gate} ({c.subject}): {c.figure if c.figure is None else round(c.figure, 4)} against {c.limit:g}"
        + (f", groups {', '.join(c.breaking_groups)}" if c.breaking_groups else "")
        for c in result.breaks
    )
    if not text or len(text) < MIN_JUSTIFICATION:
        return GateDecision(
            allowed=False,
            justified=False,
            justification=text or None,
            gates=result,
            message=(
                f"policy {engine.policy.name} v{engine.policy.version} breaks its gates on {result.history}: "
                f"{broken}. A risk user may publish it anyway by recording a justification "
                f"(at least {MIN_JUSTIFICATION} characters)"
            ),
        )
    return GateDecision(
        allowed=True,
        justified=True,
        justification=text,
        gates=result,
        message=f"published despite broken gates ({broken}) on the recorded justification",
    )


class PublishGate:
    """The gate check `policies.service.publish` takes: a compiled policy in, refusal reasons out.

    An empty list means the policy may be published. A policy that breaks a gate is refused unless
    this gate carries a justification (`with_justification`, for a request made by a risk user).
    `decision` keeps the last `GateDecision`, whose `audit_details()` belong in the publication's
    audit event.

    >>> gate = PublishGate(registry, base_dir="policies").with_justification(reason)  # doctest: +SKIP
    >>> publish(session, text, registry, actor=user, gates=gate)  # doctest: +SKIP
    >>> details = gate.decision.audit_details()  # doctest: +SKIP
    """

    def __init__(
        self, registry: ModelRegistry, *, base_dir: str | Path | None = None, justification: str | None = None
    ) -> None:
        self.registry = registry
        self.base_dir = base_dir
        self.justification = justification
        self.decision: GateDecision | None = None

    def with_justification(self, justification: str | None) -> PublishGate:
        """The same check for one request that records a justification."""
        return PublishGate(self.registry, base_dir=self.base_dir, justification=justification)

    def audit_details(self) -> dict | None:
        """What the last check found, for the publication's audit event (None before any check)."""
        return self.decision.audit_details() if self.decision is not None else None

    def __call__(self, policy: CompiledPolicy) -> list[str]:
        model = self.registry.load(policy.model_name, policy.model_version)
        decision = check_publishable(
            DecisionEngine(model, policy), justification=self.justification, base_dir=self.base_dir
        )
        self.decision = decision
        return [] if decision.allowed else [decision.message]
