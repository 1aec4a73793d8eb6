"""The examples in the fairness package's docstrings run and show what they claim."""

from __future__ import annotations

import doctest

import pytest

from decision_review.fairness import report


@pytest.mark.parametrize("module", [report], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
