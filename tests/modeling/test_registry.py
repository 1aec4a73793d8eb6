"""The registry: listing, immutable versions, digest checks, clear errors for what does not exist."""

from __future__ import annotations

import json

import pytest

from decision_review.errors import IntegrityError, InvalidInput, NotFound
from decision_review.modeling.registry import ModelRegistry


def test_shipped_registry_lists_both_models(model_registry):
    assert {"credit_data", "german_credit"} <= set(model_registry.list())  # others may ship more
    assert model_registry.versions("german_credit") == [1]
    card = model_registry.card("german_credit", 1)
    assert card.name == "german_credit" and card.version == 1
    assert set(card.files) == {
        "model.json",
        "preprocess.json",
        "calibration.json",
        "contract.json",
        "reference_sample.json",
    }
    assert card.library_versions["xgboost"] and card.explainer.shap_version
    assert card.explainer.default_reference == "all_applicants"


def test_no_artifact_is_pickled(model_registry):
    for path in (model_registry.root / "german_credit" / "1").iterdir():
        head = path.read_bytes()[:2]
        assert head != b"\x80\x04" and head != b"\x80\x05", f"{path.name} looks like a pickle"
        if path.suffix == ".json":
            json.loads(path.read_text())


def test_unknown_model_or_version_names_what_exists(model_registry):
    with pytest.raises(NotFound, match=r"no model named 'nope'.*models there: credit_data, .*german_credit"):
        model_registry.load("nope")
    with pytest.raises(NotFound, match="has no version 7; versions: 1"):
        model_registry.load("german_credit", 7)


def test_load_latest_and_new_versions_leave_old_ones_untouched(registry_copy, small_training):
    before = {p.name: p.read_bytes() for p in (registry_copy.root / "german_credit" / "1").iterdir()}
    added = registry_copy.add("german_credit", small_training)
    assert added.version == 2 and registry_copy.load("german_credit").version == 2
    after = {p.name: p.read_bytes() for p in (registry_copy.root / "german_credit" / "1").iterdir()}
    assert before == after
    assert not [p for p in (registry_copy.root / "german_credit").iterdir() if p.name.startswith(".")]


def test_tampered_artifact_fails_to_load_with_a_clear_message(registry_copy):
    path = registry_copy.root / "german_credit" / "1" / "calibration.json"
    data = json.loads(path.read_text())
    data["b"] += 0.5  # a quiet change that would shift every score
    path.write_text(json.dumps(data))
    with pytest.raises(
        IntegrityError, match=r"artifact file calibration.json does not match the digest recorded"
    ):
        registry_copy.load("german_credit", 1)


def test_edited_card_file_list_is_caught(registry_copy):
    folder = registry_copy.root / "german_credit" / "1"
    card = json.loads((folder / "card.json").read_text())
    card["files"]["model.json"] = "0" * 64
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(IntegrityError, match="the card was edited"):
        registry_copy.load("german_credit", 1)


def test_missing_artifact_file_is_caught(registry_copy):
    (registry_copy.root / "german_credit" / "1" / "model.json").unlink()
    with pytest.raises(IntegrityError, match=r"model\.json is missing"):
        registry_copy.load("german_credit", 1)


def test_reason_file_edits_are_validated_not_digested(registry_copy):
    path = registry_copy.root / "german_credit" / "1" / "reasons.yaml"
    path.write_text(path.read_text().replace("text: Credit history", "text: Record of past repayments"))
    model = registry_copy.load("german_credit", 1)
    assert model.reasons.reasons["credit_history"].text == "Record of past repayments"
    path.write_text(path.read_text() + "  age_in_years:\n    code: R99\n    text: Age\n")
    with pytest.raises(InvalidInput, match=r"\['age_in_years'\] are sources of protected attributes"):
        registry_copy.load("german_credit", 1)


def test_bad_model_name_is_refused(tmp_path, small_training):
    with pytest.raises(InvalidInput, match="not usable"):
        ModelRegistry(tmp_path).add("../escape", small_training)
