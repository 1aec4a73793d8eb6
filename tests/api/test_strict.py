"""The NUL check of JSON bodies reads the raw text: it must agree with the parsed value, whatever
backslashes and escapes the strings hold."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from decision_review.api.strict import has_escaped_nul

# Strings made mostly of the characters that make escapes tricky: backslashes, 'u', zeros, NULs.
tricky_text = st.text(alphabet=st.sampled_from(["\\", "u", "0", "\x00", "a", '"', "é"]), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(tricky_text, children, max_size=4),
    max_leaves=12,
)


def holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(holds_nul(k) or holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(holds_nul(v) for v in value)
    return False


@given(json_values, st.booleans())
def test_escaped_nul_found_exactly_when_a_string_holds_one(value, ascii_only):
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert has_escaped_nul(body) == holds_nul(value)


def test_an_escaped_backslash_before_u0000_is_not_a_nul():
    assert not has_escaped_nul(json.dumps({"note": "C:\\u0000"}).encode())
    assert has_escaped_nul(json.dumps({"note": "C:\\\x00"}).encode())
