"""Protected groups derived per case agree with `derive_protected` (the frame version the
fairness reports use), for every kind of derivation and the awkward values."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from decision_review.cases.service import protected_groups
from decision_review.datasets.base import derive_protected
from decision_review.schemas import ProtectedAttribute

ATTRIBUTES = [
    ProtectedAttribute(name="sex", source="status", mapping={"m : single": "male", "f : single": "female"}),
    ProtectedAttribute(
        name="age_band",
        source="age",
        bins=[18, 25, 35, 50, 65, 121],
        labels=["18-24", "25-34", "35-49", "50-64", "65+"],
    ),
    ProtectedAttribute(name="country", source="country"),
]
values = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["m : single", "f : single", "other", None]),
        "age": st.one_of(st.none(), st.integers(-5, 130), st.floats(-5, 130), st.just(float("nan"))),
        "country": st.one_of(st.none(), st.sampled_from(["DE", "FR", ""])),
    }
)


@given(st.lists(values, min_size=1, max_size=20))
@settings(max_examples=200, deadline=None)
def test_per_case_groups_match_the_frame_derivation(cases):
    frame = pd.DataFrame({name: [c[name] for c in cases] for name in ("status", "age", "country")})
    expected = derive_protected(frame, ATTRIBUTES).to_dict(orient="records")
    assert [protected_groups(c, ATTRIBUTES) for c in cases] == expected
