"""Checking a submitted case's shape against the model's input contract, before anything is decided.

Why here and not only in the engine: the engine never raises for bad data (a bad row becomes an
error row or a review, as the policy says), which is right for files of a million rows. A case
submitted as JSON, though, can be refused at the door with a message naming each wrong field, so
the caller fixes it and nothing is written. Out-of-range values and unseen categories are not
shape errors: the engine flags them and the policy routes them.
"""

from __future__ import annotations

import difflib
import math
import unicodedata
from collections.abc import Mapping
from typing import Any

from decision_review.errors import InvalidInput
from decision_review.modeling.contract import too_large_for_float
from decision_review.schemas import FieldKind, InputContract
from decision_review.store.repository import NUL_IN_TEXT

MAX_CASE_ID_LENGTH = 200
MAX_TEXT_LENGTH = 1000


class CaseInvalid(InvalidInput):
    """A case that does not fit the contract; `problems` lists each field's problem."""

    def __init__(self, case_id: str | None, problems: list[dict[str, Any]]) -> None:
        self.case_id = case_id
        self.problems = problems
        where = f"case {case_id!r}" if case_id else "the case"
        text = "; ".join(p["message"] for p in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(f"{where}: {text}{more}")


def check_case_id(value: Any, id_field: str) -> str | None:
    """The problem with a case id, or None when it is usable.

    Why strict: the id is the idempotency key. ``"A-1"``, ``"A-1 "`` and ``"A-1"`` with a
    zero-width space are three different cases to the store, so a resubmission carrying an
    invisible difference would be decided a second time instead of returning the first decision.
    Such ids are refused, naming the character, rather than silently stored.
    """
    if value is None:
        return f"{id_field!r} is required: every case needs its own id"
    if not isinstance(value, str):
        return f"{id_field!r} must be text, got {_describe(value)}"
    if not value.strip() or len(value) > MAX_CASE_ID_LENGTH:
        return f"{id_field!r} must be 1 to {MAX_CASE_ID_LENGTH} characters, not blank"
    hidden = _first_unprintable(value)
    if hidden is not None:
        position, char = hidden
        return (
            f"{id_field!r} holds U+{ord(char):04X} ({_char_name(char)}) at position {position + 1}, "
            "which does not print; ids may hold printable characters and the plain space only"
        )
    if value != value.strip():
        return f"{id_field!r} must not begin or end with a space ({value!r})"
    if "/" in value:
        return f"{id_field!r} must not contain '/' (a case is addressed by its id in URLs)"
    return None


_UNNAMED = {"Cc": "a control character", "Cs": "a lone surrogate", "Co": "a private-use character"}


def _char_name(char: str) -> str:
    return unicodedata.name(char, "") or _UNNAMED.get(unicodedata.category(char), "an unassigned code point")


def _first_unprintable(value: str) -> tuple[int, str] | None:
    """The first character Python does not count as printable: Unicode's "Other" (controls, format
    characters such as zero-width spaces and bidirectional overrides, surrogates, private-use and
    unassigned code points) and "Separator" categories, except the plain space."""
    if value.isprintable():
        return None
    return next((p, c) for p, c in enumerate(value) if not c.isprintable())


def validate_case(record: Any, contract: InputContract) -> dict[str, Any]:
    """The case with every contract field present (missing optional ones as null), or CaseInvalid.
    What it returns is ready to store as it is (finite numbers, no NUL in any text).

    Numeric fields take JSON numbers (not text, not true/false); categorical fields take text;
    fields the contract does not know are refused (a misspelt field would otherwise be ignored
    and the case decided as if it were missing).
    """
    if not isinstance(record, Mapping):
        raise CaseInvalid(
            None, [{"field": None, "message": f"a case must be a JSON object, got {_describe(record)}"}]
        )
    id_field = contract.id_field
    case_id = record.get(id_field)
    problems: list[dict[str, Any]] = []
    id_problem = check_case_id(case_id, id_field)
    if id_problem:
        problems.append({"field": id_field, "message": id_problem})
    known = contract.field_set
    for key in record:
        if key != id_field and key not in known:
            close = difflib.get_close_matches(str(key), contract.field_names, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append({"field": key, "message": f"unknown field {key!r}{hint}"})
    out: dict[str, Any] = {id_field: case_id}
    for spec in contract.fields:
        value = record.get(spec.name)
        if value is None:
            if not spec.nullable:
                problems.append({"field": spec.name, "message": f"field {spec.name!r} is required"})
            out[spec.name] = None
            continue
        if spec.kind is FieldKind.NUMERIC:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                problems.append(
                    {
                        "field": spec.name,
                        "message": f"field {spec.name!r} must be a number, got {_describe(value)}",
                    }
                )
            elif isinstance(value, float) and not math.isfinite(value):
                problems.append(
                    {"field": spec.name, "message": f"field {spec.name!r} must be a finite number"}
                )
            elif too_large_for_float(value):
                problems.append({"field": spec.name, "message": f"field {spec.name!r} is too large a number"})
        elif not isinstance(value, str):
            problems.append(
                {"field": spec.name, "message": f"field {spec.name!r} must be text, got {_describe(value)}"}
            )
        elif len(value) > MAX_TEXT_LENGTH:
            problems.append(
                {
                    "field": spec.name,
                    "message": f"field {spec.name!r} is longer than {MAX_TEXT_LENGTH} characters",
                }
            )
        elif "\x00" in value:
            problems.append({"field": spec.name, "message": f"field {spec.name!r} {NUL_IN_TEXT}"})
        out[spec.name] = value
    if problems:
        raise CaseInvalid(case_id if isinstance(case_id, str) else None, problems)
    return out


def _describe(value: Any) -> str:
    kind = {bool: "true/false", str: "text", list: "a list", dict: "an object"}.get(type(value))
    if kind is None:
        kind = "a number" if isinstance(value, int | float) else type(value).__name__
    shown = repr(value)
    return f"{shown[:40]}{'...' if len(shown) > 40 else ''} ({kind})"
