"""The reason codes an underwriter may give, and turning chosen codes into stored reasons.

Three sources, one list per product line:
- the standard codes below, the same for every product;
- the policy's own (`review.reason_codes`: "income verified", "fraud confirmed by cardholder");
- the model's reason codes (one per input field: R01, R02, ...), which are also what the engine
  explains a score with, so a decline's adverse-action reasons can be pre-filled from them.

Why codes and not free text: a regulator asks "on what grounds?" for every refusal; a code from a
documented list answers that the same way for every case, and the note carries the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from decision_review.errors import InvalidInput

STANDARD_REASONS: dict[str, str] = {
    "DATA_CORRECTED": "Case data corrected after checking it with the customer or source documents.",
    "DOCUMENTS_VERIFIED": "Supporting documents checked and found consistent with the case.",
    "CUSTOMER_CONTACTED": "Customer contacted; their answers support this decision.",
    "POLICY_EXCEPTION": "Exception to policy granted within the reviewer's mandate (explained in the note).",
    "QA_CONFIRMED": "Quality-assurance review: the automatic decision is confirmed.",
}


@dataclass(frozen=True, slots=True)
class ReasonOption:
    """One code an underwriter may choose; `field` is set for the model's codes."""

    code: str
    text: str
    source: str  # "standard", "policy" or "model"
    adverse_action: bool
    field: str | None = None

    def stored(self, contribution: float | None = None) -> dict[str, Any]:
        """The reason as a decision stores it."""
        out: dict[str, Any] = {
            "code": self.code,
            "text": self.text,
            "source": self.source,
            "adverse_action": self.adverse_action,
        }
        if self.field is not None:
            out["field"] = self.field
        if contribution is not None:
            out["contribution"] = contribution
        return out


class ReasonCatalog:
    """Every code usable on one product line (standard, then the policy's, then the model's)."""

    def __init__(
        self,
        policy_reasons: Mapping[str, Any],
        model_reasons: Mapping[str, Any],
    ) -> None:
        options: dict[str, ReasonOption] = {}
        for code, text in STANDARD_REASONS.items():
            options[code] = ReasonOption(code, text, "standard", adverse_action=False)
        for code, entry in policy_reasons.items():
            options[code] = ReasonOption(code, entry.text, "policy", adverse_action=entry.adverse_action)
        for field, entry in model_reasons.items():
            if entry.code in options:
                raise InvalidInput(
                    f"reason code {entry.code!r} of the model (field {field!r}) is also a "
                    f"{options[entry.code].source} reason code; give the policy's code another name"
                )
            options[entry.code] = ReasonOption(
                entry.code, entry.text, "model", adverse_action=True, field=field
            )
        self.options = options

    def __iter__(self):
        return iter(self.options.values())

    def resolve(self, codes: Sequence[str], *, what: str) -> list[ReasonOption]:
        """The options for `codes`, in order, each once; an unknown code is an error naming it."""
        unknown = list(dict.fromkeys(c for c in codes if c not in self.options))
        if unknown:
            known = ", ".join(self.options)
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            shown = ", ".join(map(repr, unknown[:10])) + more
            raise InvalidInput(f"{what}: unknown reason code(s) {shown}; known: {known}")
        return [self.options[c] for c in dict.fromkeys(codes)]

    def model_reasons(self, reasons: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """A decision's model reasons (as the engine stored them) that push towards the bad outcome,
        as stored adverse-action reasons: what a decline is pre-filled with."""
        out = []
        for reason in reasons:
            contribution = reason.get("contribution")
            code = reason.get("code")
            if code in self.options and contribution is not None and contribution > 0:
                out.append(self.options[code].stored(contribution))
        return out
