"""The batch routes' JSON renderer: the same JSON as the standard library writes, NaN as null."""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from decision_review.api.responses import FastJSONResponse

scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text()
finite_json = st.recursive(
    scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)


@given(finite_json)
def test_renders_what_the_standard_library_reads_back(value: object) -> None:
    assert json.loads(FastJSONResponse(value).body) == value


def test_text_is_utf8_not_escaped() -> None:
    body = FastJSONResponse({"reason": "Kündigung"}).body
    assert "Kündigung".encode() in body


def test_nan_and_infinity_become_null_not_an_error() -> None:
    body = json.loads(FastJSONResponse({"score": math.nan, "limit": math.inf}).body)
    assert body == {"score": None, "limit": None}
