"""The model card: what a model is, what it was trained on, how well it does, and for whom.

Why JSON plus Markdown: the JSON is what the registry checks (the artifact digest) and what other
code reads (metrics, explainer settings); the Markdown is the same content for a person reviewing
or approving the model. Both are written once when the version is created.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from decision_review.modeling.metrics import Metrics
from decision_review.schemas import FieldKind, InputContract, ProtectedAttribute

CARD_JSON = "card.json"
CARD_MD = "card.md"

INTENDED_USE = (
    "Scores a case with a calibrated probability of the bad outcome the model was trained on, for a "
    "decision engine that auto-decides only confident cases under a written policy and routes the "
    "rest to a human reviewer. The score supports, and does not replace, the reviewer's decision."
)
LIMITATIONS = [
    "Trained on historical cases: it learns past decisions and outcomes, including their biases.",
    "Valid only for cases like the training data: check `out_of_range` and `unseen_category` flags, "
    "and retrain when the population or product changes.",
    "Protected attributes are never model inputs, but other fields can act as proxies for them: "
    "read the per-group metrics below and the fairness reports before and after deployment.",
    "Small data sets give wide error bars: held-out metrics on a few hundred cases vary by several points "
    "of AUC; the cross-validated figures are the steadier estimate.",
    "Explanations are TreeSHAP values of the model, not causes: they say what moved this score, not what "
    "should change in the world.",
    "The artifact folder keeps a sample of training rows (model inputs only, no ids or protected fields) "
    "for the 'near_cutoff' explanation reference: treat the folder with the same care as the training data.",
]


class TrainingData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    attribution: str = ""
    digest: str = Field(
        description="sha256 of the training table (ids, raw fields, target) as canonical CSV."
    )
    rows: int
    bad_rate: float
    fit_rows: int = Field(description="Rows the trees were fitted on.")
    calibration_rows: int = Field(description="Rows held out to fit the Platt calibration.")
    test_rows: int = Field(description="Rows held out for the metrics below, never seen in training.")


class Feature(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: FieldKind
    model_input: bool
    detail: str


class Evaluation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str
    overall: Metrics
    by_group: dict[str, dict[str, Metrics]] = Field(default_factory=dict)
    fold_auc: list[float] = Field(default_factory=list)


class ExplainerSettings(BaseModel):
    """What explanations of this model mean; every explanation also carries its own ExplainerConfig."""

    model_config = ConfigDict(extra="forbid")

    default_reference: str
    references: dict[str, str]
    output_space: str
    aggregation: str
    reference_sample_rows: int
    shap_version: str
    xgboost_version: str


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    card_format: int = 1
    name: str
    version: int
    created_at: str = Field(description="UTC, ISO-8601.")
    digest: str = Field(description="sha256 over the artifact files' digests (see `files`).")
    files: dict[str, str] = Field(description="Artifact file name -> sha256 of its bytes.")
    model_type: str
    training_data: TrainingData
    features: list[Feature]
    protected_attributes: list[ProtectedAttribute]
    parameters: dict[str, float | int | str]
    seed: int
    calibration: dict[str, float | str]
    held_out: Evaluation
    cross_validated: Evaluation | None = None
    explainer: ExplainerSettings
    intended_use: str = INTENDED_USE
    limitations: list[str] = Field(default_factory=lambda: list(LIMITATIONS))
    library_versions: dict[str, str]

    @property
    def auc(self) -> float | None:
        """The headline AUC: cross-validated when available (steadier), else held-out."""
        source = self.cross_validated or self.held_out
        return source.overall.auc


def features_from_contract(contract: InputContract) -> list[Feature]:
    out = []
    for f in contract.fields:
        if f.kind is FieldKind.NUMERIC:
            detail = f"{'whole number' if f.integer else 'number'} {f.minimum:g} to {f.maximum:g}"
        else:
            detail = f"{len(f.categories or [])} categories"
        if f.nullable:
            detail += ", may be missing"
        out.append(Feature(name=f.name, kind=f.kind, model_input=f.model_input, detail=detail))
    return out


def render_markdown(card: ModelCard) -> str:
    """The card for people: same facts as card.json, in reading order."""
    lines = [
        f"# Model card: {card.name} v{card.version}",
        "",
        f"- Created: {card.created_at}",
        f"- Model: {card.model_type}",
        f"- Artifact digest (sha256): `{card.digest}`",
        f"- Seed: {card.seed}",
        "",
        "## Intended use",
        "",
        card.intended_use,
        "",
        "## Training data",
        "",
        f"- Data set: {card.training_data.name} ({card.training_data.rows} rows, bad rate "
        f"{card.training_data.bad_rate:.1%})",
        f"- Split: {card.training_data.fit_rows} fit / {card.training_data.calibration_rows} calibration / "
        f"{card.training_data.test_rows} test",
        f"- Data digest (sha256): `{card.training_data.digest}`",
    ]
    if card.training_data.description:
        lines.append(f"- About: {card.training_data.description}")
    if card.training_data.attribution:
        lines.append(f"- Source: {card.training_data.attribution}")
    lines += ["", "## Fields", "", "| field | kind | model input | detail |", "|---|---|---|---|"]
    lines += [
        f"| {f.name} | {f.kind.value} | {'yes' if f.model_input else 'no'} | {f.detail} |"
        for f in card.features
    ]
    lines += ["", "## Protected attributes (monitoring only, never model inputs)", ""]
    for p in card.protected_attributes:
        how = "mapping" if p.mapping else (f"bands {', '.join(p.labels or [])}" if p.bins else "value as is")
        lines.append(f"- {p.name}: from `{p.source}` ({how}); reference group {p.reference_group!r}")
    lines += ["", "## Performance", ""]
    for evaluation in [card.cross_validated, card.held_out]:
        if evaluation is None:
            continue
        lines += _evaluation_markdown(evaluation)
    lines += ["", "## Parameters", "", "| parameter | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in card.parameters.items()]
    lines += [
        "",
        f"Calibration: {card.calibration.get('formula')} with a = {card.calibration.get('a'):.6g}, "
        f"b = {card.calibration.get('b'):.6g}",
        "",
        "## Explanations",
        "",
        f"- Output space: {card.explainer.output_space}",
        f"- Aggregation: {card.explainer.aggregation}",
        f"- Default reference: {card.explainer.default_reference}",
    ]
    lines += [f"- `{name}`: {text}" for name, text in card.explainer.references.items()]
    lines += [
        f"- Reference sample kept for `near_cutoff`: {card.explainer.reference_sample_rows} rows",
        "",
        "## Limitations",
        "",
    ]
    lines += [f"- {item}" for item in card.limitations]
    lines += ["", "## Library versions", ""]
    lines += [f"- {k} {v}" for k, v in card.library_versions.items()]
    lines += ["", "## Files", "", "| file | sha256 |", "|---|---|"]
    lines += [f"| {name} | `{digest}` |" for name, digest in card.files.items()]
    return "\n".join(lines) + "\n"


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def _evaluation_markdown(evaluation: Evaluation) -> list[str]:
    m = evaluation.overall
    lines = [
        f"### {evaluation.description}",
        "",
        f"AUC {_fmt(m.auc)}, KS {_fmt(m.ks)}, Brier {_fmt(m.brier)}, ECE {_fmt(m.ece)} "
        f"on {m.rows} cases (bad rate {m.bad_rate:.1%}, mean predicted {m.mean_predicted:.1%})",
    ]
    if evaluation.fold_auc:
        lines.append(f"Fold AUCs: {', '.join(f'{a:.3f}' for a in evaluation.fold_auc)}")
    lines += [
        "",
        "Calibration table:",
        "",
        "| P(bad) bin | cases | mean predicted | observed bad rate |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {b.lower:.1f}-{b.upper:.1f} | {b.count} | {b.mean_predicted:.3f} | {b.observed_bad_rate:.3f} |"
        for b in m.calibration
    ]
    if evaluation.by_group:
        lines += [
            "",
            "By protected group:",
            "",
            "| attribute | group | cases | bad rate | mean predicted | AUC | KS | Brier | ECE |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for attribute, groups in evaluation.by_group.items():
            for group, g in groups.items():
                lines.append(
                    f"| {attribute} | {group} | {g.rows} | {g.bad_rate:.3f} | {g.mean_predicted:.3f} | "
                    f"{_fmt(g.auc)} | {_fmt(g.ks)} | {_fmt(g.brier)} | {_fmt(g.ece)} |"
                )
    lines.append("")
    return lines
