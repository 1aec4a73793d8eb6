"""Bundled data and the bring-your-own-data path: what a risk team sees when loading a table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from decision_review.datasets import available_datasets, load_dataset
from decision_review.datasets.bundled import data_path
from decision_review.datasets.tables import dataset_from_table, read_table
from decision_review.errors import InvalidInput, NotFound


def test_german_credit_has_all_raw_fields_target_ids_and_protected_groups(german_dataset):
    ds = german_dataset
    assert ds.frame.shape == (1000, 20)
    assert "creditability" not in ds.frame.columns
    assert ds.target.sum() == 300  # 300 bad of 1,000 in the Statlog data
    assert ds.ids.iloc[0] == "GC-0001" and ds.ids.iloc[-1] == "GC-1000" and ds.ids.is_unique
    groups = ds.protected
    assert list(groups.columns) == ["sex", "age_band", "foreign_worker"]
    assert groups["sex"].value_counts().to_dict() == {"male": 690, "female": 310}
    raw = pd.read_csv(data_path("german_credit.csv"))
    young = raw["age_in_years"] < 25
    assert (groups.loc[young, "age_band"] == "<25").all()
    assert set(groups["age_band"]) == {"<25", "25-34", "35-49", "50-64", "65+"}


def test_ids_are_stable_between_loads():
    assert load_dataset("german_credit").ids.equals(load_dataset("german_credit").ids)


def test_credit_data_goes_through_the_bring_your_own_path(credit_dataset):
    frame = read_table(data_path("credit_data.csv"))
    byod = dataset_from_table(
        frame, name="credit_data", target="Status", bad_value="bad", protected=["Age", "Marital"]
    )
    pd.testing.assert_frame_equal(byod.frame, credit_dataset.frame)
    assert byod.target.sum() == 1254
    assert credit_dataset.frame["Income"].isna().sum() == 381  # missing values kept, not dropped
    assert [p.name for p in credit_dataset.protected_attributes] == ["Age", "Marital"]
    age = credit_dataset.protected_attributes[0]
    assert (
        age.bins is not None and len(age.labels) == len(age.bins) - 1
    )  # numeric: bands computed and recorded
    assert credit_dataset.ids.iloc[0] == "CD-0001"


def test_unknown_data_set_names_what_exists():
    with pytest.raises(NotFound, match="german_credit"):
        load_dataset("no_such_data")
    assert {"german_credit", "credit_data", "fraud_alerts"} <= set(available_datasets())


def test_parquet_and_str_columns_give_the_same_dataset(tmp_path, credit_dataset):
    frame = read_table(data_path("credit_data.csv"))
    path = tmp_path / "credit.parquet"
    frame.to_parquet(path)
    ds = dataset_from_table(
        read_table(path), name="credit_data", target="Status", bad_value="bad", protected=["Age", "Marital"]
    )
    pd.testing.assert_frame_equal(ds.frame, credit_dataset.frame)


def test_numeric_target_matches_bad_value_as_a_number(tmp_path):
    frame = pd.DataFrame({"x": np.arange(40.0), "y": [0, 1] * 20})
    ds = dataset_from_table(frame, name="t", target="y", bad_value="1")
    assert ds.target.tolist() == [0, 1] * 20


def test_id_column_is_used_and_must_be_unique():
    frame = pd.DataFrame({"ref": ["a", "b", "c", "d"], "x": [1, 2, 3, 4], "y": ["g", "b", "g", "b"]})
    ds = dataset_from_table(frame, name="t", target="y", bad_value="b", id_column="ref")
    assert ds.ids.tolist() == ["a", "b", "c", "d"] and "ref" not in ds.frame.columns
    frame.loc[1, "ref"] = "a"
    with pytest.raises(InvalidInput, match="not unique"):
        dataset_from_table(frame, name="t", target="y", bad_value="b", id_column="ref")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"target": "Nope", "bad_value": "bad"},
            r"--target: unknown column\(s\) 'Nope'; the data has: 'Status'",
        ),
        ({"target": "Job", "bad_value": "fixed"}, "row\\(s\\) with no value"),
        ({"target": "Time", "bad_value": "60"}, "must have exactly two values.*it has 11"),
        (
            {"target": "Status", "bad_value": "awful"},
            r"does not occur in target column 'Status'; its values are",
        ),
        (
            {"target": "Status", "bad_value": "bad", "protected": ["Agee"]},
            r"--protected: unknown column\(s\) 'Agee'",
        ),
        ({"target": "Status", "bad_value": "bad", "drop": ["Status"]}, "given both as --target and --drop"),
    ],
)
def test_bad_options_are_clear_errors(kwargs, message):
    frame = read_table(data_path("credit_data.csv"))
    with pytest.raises(InvalidInput, match=message):
        dataset_from_table(frame, name="credit_data", **kwargs)


def test_target_with_missing_values_is_refused():
    frame = pd.DataFrame({"x": [1, 2, 3], "y": ["good", None, "bad"]})
    with pytest.raises(InvalidInput, match="1 row"):
        dataset_from_table(frame, name="t", target="y", bad_value="bad")


def test_free_text_column_must_be_dropped():
    frame = pd.DataFrame({"note": [f"note {i}" for i in range(300)], "x": range(300), "y": [0, 1] * 150})
    with pytest.raises(InvalidInput, match="--drop it"):
        dataset_from_table(frame, name="t", target="y", bad_value="1")
    ds = dataset_from_table(frame, name="t", target="y", bad_value="1", drop=["note"])
    assert list(ds.frame.columns) == ["x"]


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        (b"", ".csv", "is empty"),
        (b"a,b\n", ".csv", "no data rows"),
        (b"not parquet at all", ".parquet", "could not be read as Parquet"),
        (b'a,b\n1,"unterminated\n', ".csv", "could not be read as CSV"),
        (b"a,b\n1,2\n", ".xlsx", "unsupported type"),
    ],
)
def test_malformed_files_are_clear_errors(tmp_path, content, suffix, message):
    path = tmp_path / f"data{suffix}"
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match=message):
        read_table(path)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidInput, match="does not exist"):
        read_table(tmp_path / "nothing.csv")
