"""The shape of a policy file (``policies/*.yaml``), checked by pydantic before anything runs.

Why a strict schema (``extra="forbid"`` everywhere): a policy decides people's loans; a misspelt
key (``condtion:``, ``aprove_below:``) silently falling back to a default would change decisions
without anyone noticing. Every key is documented in docs/policy-language.md.

This module checks the file's structure and its internal references (queues, rule ids,
thresholds). Conditions are checked against the model's input contract in `conditions`, golden
cases' fields in `loader`; both need the contract, which the file only names.
"""

from __future__ import annotations

import math
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from decision_review.policy.sampling import MAX_SEED

RULE_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"
NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"
MAX_CONDITION_LENGTH = 2000
MIN_PRIORITY, MAX_PRIORITY = 1, 5
DEFAULT_PRIORITY = 3

# Pseudo rule ids for decisions no rule made. A rule id cannot contain ':' and cannot be "qa_sample".
THRESHOLD_APPROVE = "threshold:approve"
THRESHOLD_DECLINE = "threshold:decline"
THRESHOLD_REVIEW = "threshold:review"
THRESHOLD_NO_SCORE = "threshold:no_score"
QA_SAMPLE = "qa_sample"
PSEUDO_RULE_IDS = (THRESHOLD_APPROVE, THRESHOLD_DECLINE, THRESHOLD_REVIEW, THRESHOLD_NO_SCORE, QA_SAMPLE)

RuleId = Annotated[str, StringConstraints(pattern=RULE_ID_PATTERN)]
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
# Numbers and flags are strict: `approve_below: true` or `shadow: "no"` are errors, not 1.0 and True.
Priority = Annotated[int, Field(ge=MIN_PRIORITY, le=MAX_PRIORITY, strict=True)]
Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False, strict=True)]
Version = Annotated[int, Field(ge=1, strict=True)]
Flag = Annotated[bool, Field(strict=True)]
OutcomeLabel = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class Action(StrEnum):
    """What a rule does when its condition holds. Precedence: decline, then review, then approve."""

    DECLINE = "decline"
    REVIEW = "review"
    APPROVE = "approve"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelRef(_Strict):
    """The registered model whose calibrated score and input contract the policy uses."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    version: Version


class Queue(_Strict):
    """A review queue: where underwriters pick up cases, and how soon they must decide them.

    The service-level time is given in whole hours (credit: days of work) or whole minutes
    (fraud: the fraudster may still be spending), exactly one of the two.
    """

    sla_hours: Annotated[int, Field(ge=1, le=24 * 90, strict=True)] | None = None
    sla_minutes: Annotated[int, Field(ge=1, le=24 * 90 * 60, strict=True)] | None = None
    description: str = ""

    @model_validator(mode="after")
    def _one_sla(self) -> Self:
        if (self.sla_hours is None) == (self.sla_minutes is None):
            raise ValueError("give the queue's service-level time as sla_hours or sla_minutes (exactly one)")
        return self

    @property
    def sla(self) -> timedelta:
        """How long a case may wait in this queue before its SLA is breached."""
        return (
            timedelta(hours=self.sla_hours)
            if self.sla_hours is not None
            else timedelta(minutes=self.sla_minutes)
        )


class Thresholds(_Strict):
    """Score cut-offs for cases no rule decided: approve below, decline at or above, review between."""

    approve_below: Probability
    decline_at_or_above: Probability
    queue: str | None = Field(default=None, description="Queue of the review band; default_queue if unset.")
    priority: Priority = DEFAULT_PRIORITY
    approve_reason: Text = "Estimated risk is below the policy's approval threshold."
    decline_reason: Text = "Estimated risk is at or above the policy's decline threshold."
    review_reason: Text = (
        "Estimated risk is between the approval and decline thresholds; an underwriter decides."
    )
    no_score_reason: Text = "No risk score is available for this case; an underwriter decides."

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.approve_below > self.decline_at_or_above:
            raise ValueError(
                f"approve_below ({self.approve_below}) is above decline_at_or_above "
                f"({self.decline_at_or_above}): a score cannot be both approved and declined; "
                "lower approve_below or raise decline_at_or_above"
            )
        return self


class Rule(_Strict):
    """One rule: when `condition` (a SQL expression) holds, `action` applies, for `reason`."""

    id: RuleId
    condition: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_CONDITION_LENGTH)
    ]
    action: Action
    reason: Text
    queue: str | None = None
    priority: Priority | None = None
    shadow: Flag = Field(
        default=False,
        description="Evaluated and recorded in rule_hits, never decides: to watch a candidate rule first.",
    )
    description: str = ""

    @model_validator(mode="after")
    def _review_only_routing(self) -> Self:
        if self.action is not Action.REVIEW and (self.queue is not None or self.priority is not None):
            raise ValueError(
                f"queue and priority only apply to review rules; this rule's action is {self.action.value}"
            )
        return self

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == QA_SAMPLE:
            raise ValueError(f"{QA_SAMPLE!r} is reserved for the QA sample; choose another rule id")
        return value


class QASample(_Strict):
    """A deterministic random share of automatic decisions sent to review for quality assurance."""

    rate: Probability
    seed: Annotated[int, Field(ge=0, le=MAX_SEED, strict=True)]
    queue: str | None = None
    priority: Priority = MAX_PRIORITY
    outcomes: list[Literal["approve", "decline"]] = Field(
        default_factory=lambda: ["approve", "decline"], min_length=1
    )
    reason: Text = "Selected at random for quality assurance of automatic decisions."

    @field_validator("outcomes")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("outcomes must not repeat")
        return value


class InvalidInputHandling(_Strict):
    """What the engine does with a case that fails the input contract: an error, or a review."""

    action: Literal["error", "review"] = "error"
    queue: str | None = None
    priority: Priority = 2
    reason: Text = "The case's data failed validation; an underwriter checks and corrects it."

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """``on_invalid_input: review`` is short for ``on_invalid_input: {action: review}``."""
        return {"action": value} if isinstance(value, str) else value


class GoldenExpected(_Strict):
    outcome: Literal["approve", "decline", "review"]
    winning_rule: str | None = None
    rule_hits: list[str] | None = None


class GoldenCase(_Strict):
    """An example case with the decision the policy must reach (run by ``decision-review policy test``)."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    description: str = ""
    case: dict[str, Any]
    expected: GoldenExpected

    @field_validator("case")
    @classmethod
    def _plain_values(cls, case: dict[str, Any]) -> dict[str, Any]:
        """Field values are text, finite numbers, true/false or empty; nothing nested."""
        for name, value in case.items():
            plain = value is None or isinstance(value, str | int | bool)
            if not plain and not (isinstance(value, float) and math.isfinite(value)):
                raise ValueError(
                    f"field {name!r}: {value!r} is not text, a finite number, true/false or empty"
                )
        return case


class OutcomeLabels(_Strict):
    """Display names of the three outcomes for this product line (fraud: close, block, investigate).

    Why only names: decisions, the store and the API keep the engine's approve/decline/review, so
    every product line is counted the same way; reports and pages show the product's words. The
    decline is always the adverse outcome, and the four-fifths screen reads on the approve rate
    (for fraud: the close rate).
    """

    approve: OutcomeLabel = "approve"
    decline: OutcomeLabel = "decline"
    review: OutcomeLabel = "review"

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        names = [self.approve, self.decline, self.review]
        if len({n.lower() for n in names}) != 3:
            raise ValueError(f"outcome labels must differ from each other, got {names}")
        return self


class ReferenceHistory(_Strict):
    """The historical cases a policy's gates are checked on: a bundled data set or a file.

    `file` is relative to the policy file. The columns say where the history keeps the known
    outcome (1 bad, 0 good, empty unknown) and the amount at stake (whole units or minor units of
    `currency`, as integers; `minor_digits` 2 for cents).
    """

    dataset: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    file: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None
    outcome_column: str | None = None
    amount_column: str | None = None
    currency: Annotated[str, StringConstraints(min_length=1, max_length=10)] | None = None
    minor_digits: Annotated[int, Field(ge=0, le=4, strict=True)] = 0
    product: str | None = Field(default=None, description="Only the history rows of this product line.")

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.dataset is None) == (self.file is None):
            raise ValueError("give the reference history as dataset or file (exactly one)")
        return self


class Gates(_Strict):
    """Limits a policy must meet on its reference history before it may be published.

    Each limit is optional (at least one is required). The AIR limit applies to every group of
    the screened attributes with at least `min_group_size` cases in the gated stage, against the
    reference group the model's protected-attribute definitions designate.
    """

    reference_history: ReferenceHistory
    attributes: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] | None = Field(
        default=None, description="Protected attributes to screen; every one the model declares when unset."
    )
    intersections: Flag = False
    stage: Literal["auto", "model"] = "auto"
    min_group_size: Annotated[int, Field(ge=1, strict=True)] = 50
    min_air: Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False, strict=True)] | None = None
    max_bad_rate_approved: Probability | None = None
    max_review_share: Probability | None = None
    min_approval_rate: Probability | None = None

    @model_validator(mode="after")
    def _some_limit(self) -> Self:
        limits = (self.min_air, self.max_bad_rate_approved, self.max_review_share, self.min_approval_rate)
        if all(limit is None for limit in limits):
            raise ValueError(
                "gates need at least one limit: min_air, max_bad_rate_approved, max_review_share "
                "or min_approval_rate"
            )
        return self


REASON_CODE_PATTERN = r"^[A-Z][A-Z0-9_]{1,31}$"
ReasonCodeId = Annotated[str, StringConstraints(pattern=REASON_CODE_PATTERN)]
Amount = (
    Annotated[int, Field(ge=0, strict=True)] | Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]
)


class FourEyes(_Strict):
    """Human decisions that take effect only when a second, different reviewer approves them.

    `overrides_of`: overrides of these automatic outcomes. `amount_field` / `amount_above`: any
    human decision (review or override) on a case whose amount field is above the limit. The field
    is checked against the model's input contract when the policy loads (it must be numeric).
    """

    overrides_of: list[Literal["approve", "decline"]] = Field(default_factory=list)
    amount_field: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    amount_above: Amount | None = None

    @model_validator(mode="after")
    def _amount_pair(self) -> Self:
        if (self.amount_field is None) != (self.amount_above is None):
            raise ValueError("give amount_field and amount_above together (or neither)")
        if len(set(self.overrides_of)) != len(self.overrides_of):
            raise ValueError("overrides_of must not repeat an outcome")
        return self


class HumanReason(_Strict):
    """A reason an underwriter may give (besides the model's reason codes).

    `adverse_action: true` marks a reason an adverse-action notice may quote for a decline.
    """

    text: Text
    adverse_action: Flag = False


class ReviewSettings(_Strict):
    """How people work this product's cases: override window, four-eyes, and their reason codes."""

    override_window_hours: Annotated[int, Field(ge=0, le=24 * 365, strict=True)] | None = Field(
        default=None, description="How long an automatic decision may be overridden (the setting's if unset)."
    )
    four_eyes: FourEyes = Field(default_factory=FourEyes)
    reason_codes: dict[ReasonCodeId, HumanReason] = Field(default_factory=dict)


class PolicySpec(_Strict):
    """A whole policy file. See docs/policy-language.md for every key with examples."""

    name: Name
    version: Version
    product: Name | None = Field(default=None, description="Product line; the policy name when unset.")
    description: str = ""
    model: ModelRef
    thresholds: Thresholds
    queues: Annotated[dict[Name, Queue], Field(min_length=1)]
    default_queue: Name | None = None
    rules: list[Rule] = Field(default_factory=list)
    qa_sample: QASample | None = None
    on_invalid_input: InvalidInputHandling = Field(default_factory=InvalidInputHandling)
    golden_cases: list[GoldenCase] = Field(default_factory=list)
    golden_file: str | None = Field(
        default=None, description="YAML or CSV of golden cases, relative to this file."
    )
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    outcome_labels: OutcomeLabels = Field(default_factory=OutcomeLabels)
    gates: Gates | None = None

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        """product defaults to the name; default_queue to the only queue, when there is one."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("product") is None and "name" in data:
            data["product"] = data["name"]
        queues = data.get("queues")
        if data.get("default_queue") is None and isinstance(queues, dict) and len(queues) == 1:
            data["default_queue"] = next(iter(queues))
        return data

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Self:
        if info.context and info.context.get(DEFER_REFERENCES):
            return self  # the loader reports these itself, with line numbers
        problems = reference_problems(self)
        if problems:
            raise ValueError("; ".join(f"{_loc_text(loc)}: {message}" for loc, message in problems))
        return self

    def queue_for(self, queue: str | None) -> str:
        """The queue a review goes to: the one named, else the default queue."""
        return queue if queue is not None else str(self.default_queue)


# Validation context key: skip `reference_problems` inside pydantic (the loader reports them itself).
DEFER_REFERENCES = "defer_reference_checks"


def reference_problems(spec: PolicySpec) -> list[tuple[tuple[str | int, ...], str]]:
    """Cross-references a single key cannot check: queues named, rule ids unique, a default queue.

    Each problem is (location in the file, message).
    """
    problems: list[tuple[tuple[str | int, ...], str]] = []
    declared = ", ".join(spec.queues)

    def check_queue(loc: tuple[str | int, ...], queue: str | None) -> None:
        if queue is not None and queue not in spec.queues:
            problems.append((loc, f"queue {queue!r} is not declared under queues ({declared})"))

    if spec.default_queue is None:
        problems.append(
            (
                ("default_queue",),
                f"default_queue is required when there are several queues ({declared}): "
                "it receives review cases that name no queue",
            )
        )
    check_queue(("default_queue",), spec.default_queue)
    check_queue(("thresholds", "queue"), spec.thresholds.queue)
    if spec.qa_sample is not None:
        check_queue(("qa_sample", "queue"), spec.qa_sample.queue)
    check_queue(("on_invalid_input", "queue"), spec.on_invalid_input.queue)
    first_seen: dict[str, int] = {}
    for i, rule in enumerate(spec.rules):
        if rule.id in first_seen:
            problems.append(
                (
                    ("rules", i, "id"),
                    f"rule id {rule.id!r} is used twice (first by rules[{first_seen[rule.id]}])",
                )
            )
        first_seen.setdefault(rule.id, i)
        check_queue(("rules", i, "queue"), rule.queue)
    return problems


def _loc_text(loc: tuple[str | int, ...]) -> str:
    text = ""
    for step in loc:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text
