"""Frames for the fairness tests: German credit with derived protected groups, and a random frame."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd
import pytest

from decision_review.datasets.base import derive_protected
from decision_review.schemas import ProtectedAttribute

AGE_BINS = [0.0, 25.0, 35.0, 50.0, 200.0]
AGE_LABELS = ["<25", "25-34", "35-49", "50+"]


@pytest.fixture(scope="session")
def german_raw() -> pd.DataFrame:
    path = resources.files("decision_review.datasets").joinpath("data", "german_credit.csv")
    with resources.as_file(path) as p:
        return pd.read_csv(p)


@pytest.fixture(scope="session")
def german_attributes(german_raw: pd.DataFrame) -> list[ProtectedAttribute]:
    statuses = german_raw["personal_status_and_sex"].unique()
    sex = {s: ("female" if s.startswith("female") else "male") for s in statuses}
    assert set(sex.values()) == {"female", "male"}, "every status value starts with male or female"
    return [
        ProtectedAttribute(name="sex", source="personal_status_and_sex", mapping=sex, reference_group="male"),
        ProtectedAttribute(
            name="age_band", source="age_in_years", bins=AGE_BINS, labels=AGE_LABELS, reference_group="35-49"
        ),
        ProtectedAttribute(name="foreign_worker", source="foreign_worker", reference_group="no"),
    ]


@pytest.fixture(scope="session")
def german_groups(german_raw: pd.DataFrame, german_attributes: list[ProtectedAttribute]) -> pd.DataFrame:
    return derive_protected(german_raw, german_attributes)


@pytest.fixture(scope="session")
def german_decisions(german_raw: pd.DataFrame) -> pd.DataFrame:
    """A stand-in decision (approve exactly the good payers) and the label, 1 = bad."""
    good = german_raw["creditability"] == "good"
    return pd.DataFrame(
        {
            "final_outcome": np.where(good, "approve", "decline"),
            "bad": (~good).astype(int),
        },
        index=german_raw.index,
    )


def random_frame(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Decisions for four stages with unequal rates by group, some unknown labels, and groups."""
    rng = np.random.default_rng(seed)
    groups = pd.DataFrame(
        {
            "sex": rng.choice(["female", "male"], n, p=[0.35, 0.65]),
            "age_band": rng.choice(["<25", "25-49", "50+"], n, p=[0.2, 0.5, 0.3]),
            "region": rng.choice(["north", "south", "east"], n),
        }
    )
    tilt = np.where(groups["sex"] == "female", -0.1, 0.0) + np.where(groups["age_band"] == "<25", -0.15, 0.0)
    u = rng.random(n)
    model = np.where(u < 0.6 + tilt, "approve", "decline")
    auto = np.where(u < 0.45 + tilt, "approve", np.where(u < 0.8, "review", "decline"))
    human = np.where(auto == "review", np.where(rng.random(n) < 0.5 + tilt, "approve", "decline"), None)
    final = np.where(auto == "review", human, auto)
    bad = (rng.random(n) < 0.25 + 0.3 * (u > 0.7)).astype(float)
    bad[rng.random(n) < 0.2] = np.nan
    decisions = pd.DataFrame(
        {
            "model_outcome": model,
            "auto_outcome": auto,
            "human_outcome": human,
            "final_outcome": final,
            "bad": bad,
            "score": np.clip(0.25 + 0.3 * (u > 0.7) + rng.normal(0, 0.05, n), 0, 1),
            "reviewer": np.where(auto == "review", rng.choice(["ann", "bob", "cy"], n), None),
            "overridden": np.where(auto == "review", rng.random(n) < 0.3, None),
        }
    )
    return decisions, groups


@pytest.fixture(scope="session")
def random_decisions() -> tuple[pd.DataFrame, pd.DataFrame]:
    return random_frame(1500, seed=7)
