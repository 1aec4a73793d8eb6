"""Reason codes: the plain-language reason an adverse-action notice quotes for each model field.

Why a YAML file per model version, outside the artifact digest: the wording belongs to the risk
and compliance teams and changes without retraining; the scores do not depend on it. The file is
validated against the model's contract when loaded: every model input has a reason, nothing else
does, and protected sources can never be reasons (they are not model inputs, and a reason naming
one is refused outright).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from decision_review.errors import InvalidInput
from decision_review.schemas import InputContract

REASONS_FILE = "reasons.yaml"


class ReasonEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(min_length=1, max_length=32)
    text: str = Field(min_length=1, max_length=200)


class ReasonCodes(BaseModel):
    """Field name -> (code, text), one entry per model input."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reasons: dict[str, ReasonEntry]

    def validate_against(self, contract: InputContract, where: str) -> ReasonCodes:
        protected = set(contract.protected_sources)
        inputs = contract.model_inputs
        named_protected = sorted(protected & set(self.reasons))
        if named_protected:
            raise InvalidInput(
                f"{where}: {named_protected} are sources of protected attributes and can never be reasons; "
                "remove them from the file"
            )
        not_inputs = sorted(set(self.reasons) - set(inputs))
        if not_inputs:
            raise InvalidInput(f"{where}: {not_inputs} are not model inputs; the model's inputs are {inputs}")
        missing = [f for f in inputs if f not in self.reasons]
        if missing:
            raise InvalidInput(
                f"{where}: no reason for model input(s) {missing}; add a code and text for each"
            )
        codes = [e.code for e in self.reasons.values()]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise InvalidInput(
                f"{where}: reason code(s) {dupes} are used for more than one field; make each unique"
            )
        return self


def default_reason_codes(contract: InputContract) -> ReasonCodes:
    """R01, R02, ... in contract order, the text being the field's description or its name in words.

    The field name in words ("Duration in month") is the usual form of an adverse-action reason
    ("Length of employment", "Amount of credit"); the risk team refines the wording in the file.
    """
    entries = {}
    for i, name in enumerate(contract.model_inputs, start=1):
        spec = contract.field(name)
        text = spec.description or _words(name)
        entries[name] = ReasonEntry(code=f"R{i:02d}", text=text)
    return ReasonCodes(reasons=entries)


def _words(name: str) -> str:
    words = name.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:]


def write_reason_codes(path: Path, codes: ReasonCodes, model: str, version: int) -> None:
    header = (
        f"# Reason codes for model {model}, version {version}.\n"
        "# One entry per model input field: `code` is what systems store, `text` is what an adverse-action\n"
        "# notice quotes when this field pushed the score towards the bad outcome. Edit the wording freely;\n"
        "# every model input needs an entry, codes must be unique, and protected attributes can never\n"
        "# appear here. This file is not part of the model's digest: editing it does not change scores.\n"
    )
    body = yaml.safe_dump(
        {"reasons": {k: v.model_dump() for k, v in codes.reasons.items()}},
        sort_keys=False,
        allow_unicode=True,
        width=110,
    )
    path.write_text(header + body)


def read_reason_codes(path: Path, contract: InputContract) -> ReasonCodes:
    """Load and validate a reason-code file (YAML safe_load: plain data only)."""
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InvalidInput(
            f"reason-code file {path} is missing; restore it or write one entry per model input"
        ) from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"reason-code file {path} is not valid YAML: {exc}") from None
    try:
        codes = ReasonCodes.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise InvalidInput(f"reason-code file {path}: {problems}") from None
    return codes.validate_against(contract, f"reason-code file {path}")
