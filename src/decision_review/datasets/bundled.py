"""The two real credit data sets shipped inside the package (attribution in data/README.md).

German credit keeps all 20 raw fields; three of them are protected sources (sex is recovered from
`personal_status_and_sex`, age bands from `age_in_years`, and `foreign_worker` itself). They stay
in the frame so policies may use them (a minimum-age knock-out) and fairness reports can derive
groups, but the model never sees them (see `decision_review.modeling.contract`).
"""

from __future__ import annotations

from dataclasses import replace
from importlib import resources

import pandas as pd

from decision_review.datasets.base import Dataset
from decision_review.datasets.tables import dataset_from_table, generated_ids, read_table
from decision_review.schemas import ProtectedAttribute

GERMAN_ATTRIBUTION = (
    "Statlog (German Credit Data), Hans Hofmann, UCI Machine Learning Repository, CC BY 4.0 "
    "(decoded text form of the attributes)."
)
CREDIT_DATA_ATTRIBUTION = (
    "credit_data from the R package modeldata (MIT licence): a consumer credit scoring sample."
)

# Age bands: right-open intervals. 35-49 is the reference group: prime working age, the band that
# age-discrimination analyses usually compare younger and older applicants with.
AGE_BINS = [0.0, 25.0, 35.0, 50.0, 65.0, 200.0]
AGE_LABELS = ["<25", "25-34", "35-49", "50-64", "65+"]

GERMAN_PROTECTED = [
    ProtectedAttribute(
        name="sex",
        source="personal_status_and_sex",
        mapping={
            "male : divorced/separated": "male",
            "male : single": "male",
            "male : married/widowed": "male",
            "female : divorced/separated/married": "female",
            "female : single": "female",
        },
        reference_group="male",
    ),
    ProtectedAttribute(
        name="age_band", source="age_in_years", bins=AGE_BINS, labels=AGE_LABELS, reference_group="35-49"
    ),
    # Non-foreign applicants are the comparison group; foreign workers are the group protected.
    ProtectedAttribute(name="foreign_worker", source="foreign_worker", reference_group="no"),
]


def data_path(filename: str) -> resources.abc.Traversable:
    """Where a bundled file lives inside the installed package."""
    return resources.files("decision_review.datasets").joinpath("data", filename)


CREDIT_INTENDED_USE = (
    "Scores a credit application with a calibrated probability of the bad outcome (default or serious "
    "arrears) for a decision engine that auto-decides only confident cases under a written policy and "
    "routes the rest to a human reviewer. The score supports, and does not replace, a credit decision."
)
CREDIT_LIMITATIONS = (
    "It has never seen applicants who were refused, so their risk is extrapolated (no reject inference).",
)


def german_credit() -> Dataset:
    """1,000 applicants, 20 raw fields, `creditability` bad = 1; ids GC-0001 .. GC-1000."""
    with resources.as_file(data_path("german_credit.csv")) as path:
        raw = pd.read_csv(path)
    target = (raw["creditability"] == "bad").astype("int8").rename("bad")
    frame = raw.drop(columns=["creditability"])
    for col in frame.columns:
        frame[col] = frame[col].astype("float64" if pd.api.types.is_numeric_dtype(frame[col]) else "str")
    return Dataset(
        name="german_credit",
        frame=frame,
        target=target,
        ids=generated_ids("german_credit", len(frame)),
        protected_attributes=GERMAN_PROTECTED,
        description="Statlog German credit: 1,000 consumer loan applicants, 30% bad.",
        attribution=GERMAN_ATTRIBUTION,
        intended_use=CREDIT_INTENDED_USE,
        limitations=CREDIT_LIMITATIONS,
    )


def credit_data() -> Dataset:
    """4,454 applicants with missing values, `Status` bad = 1; Age and Marital protected.

    Built by the bring-your-own-data path, exactly as ``decision-review train --data ...`` does.
    """
    with resources.as_file(data_path("credit_data.csv")) as path:
        frame = read_table(path)
    dataset = dataset_from_table(
        frame,
        name="credit_data",
        target="Status",
        bad_value="bad",
        protected=["Age", "Marital"],
        description="modeldata credit_data: 4,454 consumer credit applicants, 28% bad, with missing values.",
        attribution=CREDIT_DATA_ATTRIBUTION,
    )
    return replace(dataset, intended_use=CREDIT_INTENDED_USE, limitations=CREDIT_LIMITATIONS)
