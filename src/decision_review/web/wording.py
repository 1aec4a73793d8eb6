"""The words the pages use for a product line's cases and its bad outcome.

Why a table here: a calibrated score means something only in the product's own words ("about 1 in
7 applicants like this go bad", "about 1 in 13 alerts like this are fraud"), and the policy
language names the outcomes (`outcome_labels`) but not the cases or the bad outcome. A product
line not listed reads as applications. Whether a decline gets an adverse-action notice (a credit
refusal does; blocking a card on a fraud alert is not an application refused) is said here too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Wording:
    cases: str  # plural, as in "about 1 in 7 applicants like this go bad"
    case: str  # one of them, as in "the applicant's fields"
    bad: str  # the bad outcome, after "like this"
    adverse_action_notices: bool


DEFAULT = Wording(cases="applicants", case="applicant", bad="go bad", adverse_action_notices=True)
BY_PRODUCT: dict[str, Wording] = {
    "fraud_alerts": Wording(cases="alerts", case="alert", bad="are fraud", adverse_action_notices=False),
}


def wording(product: str) -> Wording:
    return BY_PRODUCT.get(product, DEFAULT)


def meaning(score: float | None, words: Wording) -> str:
    """The calibrated score in words: "about 1 in 7 applicants like this go bad".

    1 in N with N = round(1 / score) while that reads naturally (score below one half); above it,
    "about 7 in 10", which says the same without "1 in 1".

    >>> meaning(0.14, DEFAULT)
    'about 1 in 7 applicants like this go bad'
    >>> meaning(0.72, BY_PRODUCT["fraud_alerts"])
    'about 7 in 10 alerts like this are fraud'
    """
    if score is None:
        return "no score: the model could not score this case"
    if score <= 0:
        return f"almost no {words.cases} like this {words.bad}"
    if score < 0.5:
        return f"about 1 in {round(1 / score):,} {words.cases} like this {words.bad}"
    tenths = min(10, max(5, round(10 * score)))
    if tenths == 10:
        return f"nearly all {words.cases} like this {words.bad}"
    return f"about {tenths} in 10 {words.cases} like this {words.bad}"
