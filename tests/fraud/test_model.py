"""The shipped fraud model: trained by the product's command, good enough, blind to protected fields."""

from __future__ import annotations

from decision_review.datasets.fraud import MODEL_INPUTS, PROTECTED_SOURCES, TRAINING_SEED
from decision_review.modeling.registry import combined_digest


def test_card_reports_a_held_out_auc_of_at_least_0_9(fraud_model) -> None:
    card = fraud_model.card
    assert card.training_data.name == "fraud_alerts"
    assert f"seed {TRAINING_SEED}" in card.training_data.attribution
    assert card.held_out.overall.auc >= 0.9
    assert card.cross_validated is not None and card.cross_validated.overall.auc >= 0.9


def test_card_digest_covers_the_files_that_were_loaded(fraud_model) -> None:
    card = fraud_model.card
    assert combined_digest(card.files) == card.digest == fraud_model.digest
    assert {"model.json", "calibration.json", "contract.json"} <= set(card.files)
    assert (fraud_model.path / "card.md").is_file()


def test_protected_sources_are_checked_but_never_model_inputs(fraud_model) -> None:
    contract = fraud_model.contract
    assert contract.model_inputs == list(MODEL_INPUTS)
    assert set(contract.protected_sources) == set(PROTECTED_SOURCES)
    assert not set(contract.model_inputs) & set(PROTECTED_SOURCES)


def test_reason_wording_is_written_for_investigators(fraud_model) -> None:
    """The default is the field name in words ("Txn count 1h"); the shipped text says what it means."""
    reasons = fraud_model.reasons.reasons
    assert set(reasons) == set(MODEL_INPUTS)
    for field, entry in reasons.items():
        default = field.replace("_", " ").capitalize()
        assert entry.text.lower() != default.lower(), field
        assert len(entry.text.split()) >= 4, field
