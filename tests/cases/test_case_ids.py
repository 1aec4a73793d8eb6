"""Case ids are idempotency keys: an id that differs from another only by what does not print
(a trailing space, a zero-width space, a no-break space, a bidirectional override) is refused by
name, so a resubmission can never become a second case unseen."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from decision_review.cases.validation import MAX_CASE_ID_LENGTH, check_case_id

# Any code point of any category (none left out by default).
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
printable = st.characters(codec=None).filter(lambda c: c.isprintable() and c not in " /")
good_ids = st.text(printable, min_size=1, max_size=30)
# The look-alikes met in practice first (hypothesis rarely draws them), then any other.
LOOK_ALIKES = ["\u200b", "\u00a0", "\u202e", "\ufeff", "\u2028", "\t", "\x85", "\ud800", "\ue000"]
unprintable = st.one_of(
    st.sampled_from(LOOK_ALIKES),
    st.characters(codec=None, exclude_categories=()).filter(lambda c: not c.isprintable()),
)


@given(any_text)
def test_every_accepted_id_prints_as_itself(value):
    if check_case_id(value, "case_id") is None:
        assert value.isprintable() and value == value.strip() and "/" not in value
        assert 1 <= len(value) <= MAX_CASE_ID_LENGTH


@given(good_ids, unprintable, st.integers(min_value=0, max_value=30))
def test_a_character_that_does_not_print_is_refused_by_its_code_point(value, char, at):
    assert check_case_id(value, "case_id") is None
    position = min(at, len(value))
    problem = check_case_id(value[:position] + char + value[position:], "case_id")
    assert problem is not None and f"U+{ord(char):04X}" in problem and f"position {position + 1}" in problem


@given(good_ids, st.sampled_from([" ", "  "]), st.booleans())
def test_a_leading_or_trailing_space_is_refused(value, space, before):
    padded = space + value if before else value + space
    assert "begin or end with a space" in check_case_id(padded, "case_id")


def test_readable_ids_in_any_script_pass():
    for value in ("A-1001", "app 2026 0001", "Müller-7", "日本-1", "заявка-3", "x" * MAX_CASE_ID_LENGTH):
        assert check_case_id(value, "case_id") is None, value
