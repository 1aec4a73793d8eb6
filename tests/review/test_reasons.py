"""Reason codes an underwriter gives: each unknown one named once, however often it was sent."""

from __future__ import annotations

import pytest

from decision_review.errors import InvalidInput
from decision_review.review.reasons import STANDARD_REASONS, ReasonCatalog


def test_unknown_codes_are_named_once_each_and_capped():
    catalog = ReasonCatalog({}, {})
    known = next(iter(STANDARD_REASONS))
    codes = [known, *["NO_SUCH"] * 10_000, *[f"X{i}" for i in range(12)]]
    with pytest.raises(InvalidInput) as caught:
        catalog.resolve(codes, what="deciding case 'c'")
    message = str(caught.value)
    assert message.count("'NO_SUCH'") == 1 and "'X8'" in message and "and 3 more" in message
    assert "'X9'" not in message and len(message) < 2_000


def test_known_codes_resolve_in_order_each_once():
    catalog = ReasonCatalog({}, {})
    first, second = list(STANDARD_REASONS)[:2]
    assert [o.code for o in catalog.resolve([second, first, second], what="x")] == [second, first]
