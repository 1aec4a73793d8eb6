"""The model registry: ``models/NAME/VERSION/`` folders, immutable once written, digest-checked on load.

Why folders of plain files: a model version is something compliance must be able to inspect and
the product must be able to prove unchanged. Each version holds the booster (xgboost JSON), the
preprocessing and calibration (JSON), the input contract (JSON), a reference sample (JSON), the
card (JSON and Markdown) and the reason codes (YAML). Nothing is pickled: loading runs no code
from the files. The card records a sha256 of every artifact file; loading recomputes them and
refuses a version whose files changed. Training again always writes a new version.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from decision_review.errors import IntegrityError, InvalidInput, NotFound
from decision_review.modeling.card import (
    CARD_JSON,
    CARD_MD,
    INTENDED_USE,
    LIMITATIONS,
    ExplainerSettings,
    ModelCard,
    features_from_contract,
    render_markdown,
)
from decision_review.modeling.estimator import CreditRiskClassifier
from decision_review.modeling.explain import OUTPUT_SPACE, REFERENCE_DESCRIPTIONS, ExplainerConfig
from decision_review.modeling.loaded import LoadedModel
from decision_review.modeling.reasons import (
    REASONS_FILE,
    default_reason_codes,
    read_reason_codes,
    write_reason_codes,
)
from decision_review.modeling.training import TrainedModel, library_versions
from decision_review.schemas import FieldKind, InputContract

CONTRACT_FILE = "contract.json"
REFERENCE_FILE = "reference_sample.json"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MODEL_TYPE = "xgboost gradient-boosted trees (binary:logistic) on one-hot raw fields, Platt-calibrated"


class ModelRegistry:
    """Model versions under `root`.

    >>> registry = ModelRegistry(Path("models"))  # doctest: +SKIP
    >>> registry.list(), registry.versions("german_credit")  # doctest: +SKIP
    (['credit_data', 'german_credit'], [1])
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def list(self) -> list[str]:
        """Names of the models with at least one version."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self._version_numbers(p))

    def versions(self, name: str) -> list[int]:
        """Version numbers of model `name`, oldest first."""
        folder = self._model_folder(name)
        versions = self._version_numbers(folder) if folder.is_dir() else []
        if not versions:
            known = ", ".join(self.list()) or "none"
            raise NotFound(f"no model named {name!r} in registry {self.root}; models there: {known}")
        return versions

    def latest(self, name: str) -> int:
        return self.versions(name)[-1]

    def card(self, name: str, version: int | None = None) -> ModelCard:
        """The model card of a version (latest when `version` is None)."""
        return self._read_card(self._version_folder(name, version))

    def load(self, name: str, version: int | None = None) -> LoadedModel:
        """Load a version after checking every artifact file against the digests in its card."""
        folder = self._version_folder(name, version)
        card = self._read_card(folder)
        self._verify(folder, card)
        where = f"model {card.name} v{card.version}"
        try:
            contract = InputContract.model_validate_json((folder / CONTRACT_FILE).read_text())
            params = {k: v for k, v in card.parameters.items() if k in CreditRiskClassifier().get_params()}
            estimator = CreditRiskClassifier.load(folder, contract, params)
            reference = _read_reference(folder / REFERENCE_FILE, contract)
        except (ValidationError, ValueError, KeyError, OSError) as exc:
            raise IntegrityError(f"{where} in {folder} cannot be loaded: {exc}") from exc
        reasons = read_reason_codes(folder / REASONS_FILE, contract)
        return LoadedModel(
            name=card.name,
            version=card.version,
            path=folder,
            card=card,
            contract=contract,
            estimator=estimator,
            reasons=reasons,
            reference_sample=reference,
        )

    def add(self, name: str, trained: TrainedModel) -> LoadedModel:
        """Write `trained` as the next version of `name` (all files, or nothing) and load it back."""
        if not NAME_PATTERN.fullmatch(name or ""):
            raise InvalidInput(
                f"model name {name!r} is not usable: use 1-64 letters, digits, '_', '.' or '-', "
                "starting with a letter or digit"
            )
        model_folder = self._model_folder(name)
        model_folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=model_folder))
        try:
            files = trained.estimator.save(staging)
            (staging / CONTRACT_FILE).write_text(trained.contract.model_dump_json(indent=2) + "\n")
            _write_reference(staging / REFERENCE_FILE, trained.reference_sample, trained.contract)
            files += [CONTRACT_FILE, REFERENCE_FILE]
            digests = {f: file_digest(staging / f) for f in sorted(files)}
            version = self._publish(name, staging, trained, digests)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
        return self.load(name, version)

    def _publish(self, name: str, staging: Path, trained: TrainedModel, digests: dict[str, str]) -> int:
        """Claim the next free version number by renaming the staging folder onto it (atomic)."""
        model_folder = self._model_folder(name)
        while True:
            taken = [int(p.name) for p in model_folder.iterdir() if p.name.isdigit()]
            version = max(taken, default=0) + 1
            card = build_card(name, version, trained, digests)
            for f in (CARD_JSON, CARD_MD, REASONS_FILE):
                (staging / f).unlink(missing_ok=True)
            (staging / CARD_JSON).write_text(card.model_dump_json(indent=2) + "\n")
            (staging / CARD_MD).write_text(render_markdown(card))
            write_reason_codes(staging / REASONS_FILE, default_reason_codes(trained.contract), name, version)
            for f in [*digests, CARD_JSON, CARD_MD]:
                os.chmod(staging / f, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            os.chmod(staging, 0o755)
            target = model_folder / str(version)
            try:
                target.mkdir()
            except FileExistsError:
                continue
            try:
                os.rename(staging, target)
            except OSError:
                continue
            return version

    def _model_folder(self, name: str) -> Path:
        if not NAME_PATTERN.fullmatch(name or ""):
            raise NotFound(f"no model named {name!r}: model names are letters, digits, '_', '.' and '-'")
        return self.root / name

    @staticmethod
    def _version_numbers(folder: Path) -> list[int]:
        return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit() and (p / CARD_JSON).is_file())

    def _version_folder(self, name: str, version: int | None) -> Path:
        versions = self.versions(name)
        if version is None:
            version = versions[-1]
        if version not in versions:
            raise NotFound(
                f"model {name!r} has no version {version}; versions: {', '.join(map(str, versions))}"
            )
        return self._model_folder(name) / str(version)

    @staticmethod
    def _read_card(folder: Path) -> ModelCard:
        try:
            return ModelCard.model_validate_json((folder / CARD_JSON).read_text())
        except (ValidationError, OSError) as exc:
            raise IntegrityError(
                f"model card {folder / CARD_JSON} is unreadable or malformed: {exc}"
            ) from exc

    @staticmethod
    def _verify(folder: Path, card: ModelCard) -> None:
        where = f"model {card.name} v{card.version} ({folder})"
        if combined_digest(card.files) != card.digest:
            raise IntegrityError(
                f"{where}: the card's file list does not match its digest; the card was edited"
            )
        for name, expected in card.files.items():
            path = folder / name
            if not path.is_file():
                raise IntegrityError(
                    f"{where}: artifact file {name} is missing; restore the version or retrain"
                )
            actual = file_digest(path)
            if actual != expected:
                raise IntegrityError(
                    f"{where}: artifact file {name} does not match the digest recorded in its card "
                    f"(expected {expected[:16]}..., found {actual[:16]}...). The file was changed after "
                    "training; restore it from version control or train a new version."
                )


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def combined_digest(files: dict[str, str]) -> str:
    """One sha256 for the whole artifact: over "name sha256" lines, sorted by name."""
    lines = "".join(f"{name} {files[name]}\n" for name in sorted(files))
    return hashlib.sha256(lines.encode()).hexdigest()


def build_card(name: str, version: int, trained: TrainedModel, digests: dict[str, str]) -> ModelCard:
    estimator = trained.estimator
    return ModelCard(
        name=name,
        version=version,
        created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        digest=combined_digest(digests),
        files=digests,
        model_type=MODEL_TYPE,
        training_data=trained.training_data,
        features=features_from_contract(trained.contract),
        protected_attributes=trained.contract.protected,
        parameters=estimator.get_params(),
        seed=trained.seed,
        calibration=dict(estimator.calibrator_.to_dict().items()),
        held_out=trained.held_out,
        cross_validated=trained.cross_validated,
        explainer=ExplainerSettings(
            default_reference="all_applicants",
            references=dict(REFERENCE_DESCRIPTIONS),
            output_space=OUTPUT_SPACE,
            aggregation=ExplainerConfig.model_fields["aggregation"].default,
            reference_sample_rows=len(trained.reference_sample),
            shap_version=ExplainerConfig.model_fields["shap_version"].default,
            xgboost_version=ExplainerConfig.model_fields["xgboost_version"].default,
        ),
        library_versions=library_versions(),
        intended_use=trained.intended_use or INTENDED_USE,
        limitations=[*trained.limitations, *LIMITATIONS],
    )


def _write_reference(path: Path, sample: pd.DataFrame, contract: InputContract) -> None:
    """Model-input rows as JSON (null for missing): readable, exact, and loaded without running code."""
    columns = list(sample.columns)
    rows = [
        [
            None if pd.isna(v) else (float(v) if contract.field(c).kind is FieldKind.NUMERIC else str(v))
            for c, v in zip(columns, row, strict=True)
        ]
        for row in sample.itertuples(index=False, name=None)
    ]
    path.write_text(json.dumps({"columns": columns, "rows": rows}, separators=(",", ":")) + "\n")


def _read_reference(path: Path, contract: InputContract) -> pd.DataFrame:
    data = json.loads(path.read_text())
    frame = pd.DataFrame(data["rows"], columns=data["columns"])
    for c in frame.columns:
        numeric = contract.field(c).kind is FieldKind.NUMERIC
        frame[c] = frame[c].astype("float64") if numeric else frame[c].astype("str")
    return frame
