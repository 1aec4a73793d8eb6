"""Reading a policy file: YAML -> validated spec -> conditions checked against the model's contract.

Why the care over YAML: PyYAML follows YAML 1.1, where ``no`` is a boolean, ``2024-01-01`` a
date and a repeated key silently wins; in a policy (a field whose value is ``'no'`` in a golden case,
a rule key given twice) each of those would change a decision without anyone noticing. Our loader
keeps only ``true``/``false`` as booleans, leaves dates as text, rejects repeated keys and
anchors, and remembers line numbers so every error points at the line to fix.

Every problem found is reported at once (not only the first), each naming the file, the line,
the rule id where there is one, and the offending text.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from decision_review.errors import InvalidInput
from decision_review.policy.compiled import CompiledPolicy
from decision_review.policy.conditions import (
    ConditionError,
    compile_condition,
    condition_warnings,
    frame_schema,
)
from decision_review.policy.evaluate import build_table
from decision_review.policy.spec import (
    DEFER_REFERENCES,
    PSEUDO_RULE_IDS,
    FourEyes,
    Gates,
    GoldenCase,
    GoldenExpected,
    HumanReason,
    InvalidInputHandling,
    ModelRef,
    OutcomeLabels,
    PolicySpec,
    QASample,
    Queue,
    ReferenceHistory,
    ReviewSettings,
    Rule,
    Thresholds,
    reference_problems,
)
from decision_review.schemas import FieldKind, InputContract

MAX_POLICY_BYTES = 1_000_000
MAX_GOLDEN_BYTES = 20_000_000
_BOOL = "tag:yaml.org,2002:bool"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a policy file, located as precisely as the file allows."""

    message: str
    line: int | None = None
    rule_id: str | None = None

    def render(self) -> str:
        parts = [f"line {self.line}" if self.line else "", f"rule {self.rule_id!r}" if self.rule_id else ""]
        prefix = ", ".join(p for p in parts if p)
        return f"{prefix}: {self.message}" if prefix else self.message


class PolicyError(InvalidInput):
    """A policy file that cannot be used; `problems` lists every reason (for APIs that show them)."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        if len(problems) == 1:
            text = f"{source}: {problems[0].render()}"
        else:
            text = f"{source}: {len(problems)} problems:\n" + "\n".join(f"  {p.render()}" for p in problems)
        super().__init__(text)


@dataclass(frozen=True)
class PolicyDocument:
    """A policy file that passed the schema, before its conditions meet a model's contract.

    Why a separate step: the file names its model, and only then can the caller fetch that
    model's contract (see ``decision-review policy lint``).
    """

    spec: PolicySpec
    digest: str
    source: str
    base_dir: Path | None
    data: dict[str, Any]
    lines: _Lines


def load_policy(path: str | Path, contract: InputContract) -> CompiledPolicy:
    """Read, validate and compile a policy file against the model's input contract.

    Raises `PolicyError` (an `InvalidInput`) listing every problem.
    """
    return compile_policy(read_policy(path), contract)


def parse_policy(
    text: str, *, source: str, contract: InputContract, base_dir: str | Path | None = None
) -> CompiledPolicy:
    """`load_policy` for policy text already in memory (an upload, a test); `source` names it in errors."""
    return compile_policy(parse_document(text, source=source, base_dir=base_dir), contract)


def read_policy(path: str | Path) -> PolicyDocument:
    """Read and schema-check a policy file (no contract needed yet)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such policy file") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read the policy file ({exc.strerror})") from None
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError(str(path), [Problem(f"the file is larger than {MAX_POLICY_BYTES:,} bytes")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(
            str(path), [Problem(f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})")]
        ) from None
    return parse_document(text, source=str(path), base_dir=path.parent)


def parse_document(text: str, *, source: str, base_dir: str | Path | None = None) -> PolicyDocument:
    """Parse YAML text and validate it against `PolicySpec`."""
    data, root = _load_yaml(text, source)
    lines = _Lines(root)
    if not isinstance(data, dict):
        raise PolicyError(
            source, [Problem("a policy file must be a mapping of keys (name:, version:, rules:, ...)")]
        )
    try:
        spec = PolicySpec.model_validate(data, context={DEFER_REFERENCES: True})
    except ValidationError as exc:
        raise PolicyError(
            source, [_problem_from_pydantic(err, data, lines) for err in exc.errors()]
        ) from None
    problems = [
        Problem(f"{_path_text(loc)}: {message}", lines.line(*loc), _rule_id_at(loc, data))
        for loc, message in reference_problems(spec)
    ]
    if problems:
        raise PolicyError(source, problems)
    return PolicyDocument(
        spec=spec,
        digest=content_digest(data),
        source=source,
        base_dir=Path(base_dir) if base_dir is not None else None,
        data=data,
        lines=lines,
    )


def compile_policy(document: PolicyDocument, contract: InputContract) -> CompiledPolicy:
    """Check every condition and golden case against the contract; collect warnings for lint."""
    spec, lines = document.spec, document.lines
    schema = frame_schema(contract)
    problems: list[Problem] = []
    warnings: list[str] = []
    compiled = []
    for i, rule in enumerate(spec.rules):
        line = lines.line("rules", i, "condition")
        try:
            condition = compile_condition(rule.condition, schema)
        except ConditionError as exc:
            problems.append(Problem(f"{exc.problem}; condition: {rule.condition}", line, rule.id))
            continue
        compiled.append(condition)
        warnings += [Problem(w, line, rule.id).render() for w in condition_warnings(condition, contract)]
    golden = _golden_cases(document, contract, problems)
    problems += _review_problems(spec, contract, lines)
    problems += _gate_problems(spec, contract, lines)
    if problems:
        raise PolicyError(document.source, problems)
    warnings += _policy_warnings(spec)
    return CompiledPolicy(
        spec=spec,
        digest=document.digest,
        source=document.source,
        contract=contract,
        conditions=tuple(compiled),
        table=build_table(spec, compiled, schema, contract.id_field),
        golden_cases=tuple(golden),
        warnings=tuple(warnings),
    )


def content_digest(data: Any) -> str:
    """sha256 (hex) of the file's content as canonical JSON: keys sorted, no spaces, UTF-8.

    Why canonical rather than the raw bytes: comments, indentation, key order and quoting do not
    change what a policy decides, so they do not change its identity; every value does (reasons
    and golden cases included). Defaults are not filled in, so a later release adding an optional
    key does not change the digest of an existing file.
    """
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --- YAML -----------------------------------------------------------------------------------


class _PolicyYamlLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans, dates as text, and no repeated keys or aliases."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases (*name) are not allowed in a policy file", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # unhashable key: the base class reports it
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice (first on line {first + 1})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


# YAML 1.2 core schema for plain scalars: only true/false are booleans; numbers are written the
# way people write them (1e-3 is a number, 1:30 and 1_000 are not); dates stay text.
_PolicyYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in {_BOOL, _TIMESTAMP, _INT, _FLOAT}]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_PolicyYamlLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_PolicyYamlLoader.add_implicit_resolver(_INT, re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
# Decimal always: YAML 1.1 would read 010 as octal 8.
_PolicyYamlLoader.add_constructor(_INT, lambda loader, node: int(loader.construct_scalar(node)))
_PolicyYamlLoader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _load_yaml(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    try:
        loader = _PolicyYamlLoader(text)  # the reader refuses control characters already here
    except yaml.YAMLError as exc:
        raise PolicyError(source, [Problem(f"not valid YAML: {' '.join(str(exc).split())}")]) from None
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise PolicyError(source, [Problem(f"not valid YAML: {problem}", line)]) from None
    except yaml.YAMLError as exc:
        raise PolicyError(source, [Problem(f"not valid YAML: {exc}")]) from None
    except RecursionError:  # the reader recurses once per level of nesting
        raise PolicyError(
            source, [Problem("not valid YAML: nested too deeply (a policy needs only a few levels)")]
        ) from None
    finally:
        loader.dispose()
    return data, root


class _Lines:
    """Line numbers of keys and list items in the YAML document, for error messages."""

    def __init__(self, root: yaml.Node | None) -> None:
        self._root = root

    def line(self, *path: str | int) -> int | None:
        node = self._root
        found = node.start_mark.line + 1 if node is not None else None
        for step in path:
            node = self._child(node, step)
            if node is None:
                break
            found = node.start_mark.line + 1
        return found

    @staticmethod
    def _child(node: yaml.Node | None, step: str | int) -> yaml.Node | None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == step:
                    return value
        if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            return node.value[step]
        return None


# --- schema errors --------------------------------------------------------------------------

_SECTIONS: dict[str, type[BaseModel]] = {
    "model": ModelRef,
    "thresholds": Thresholds,
    "rules": Rule,
    "qa_sample": QASample,
    "on_invalid_input": InvalidInputHandling,
    "golden_cases": GoldenCase,
    "queues": Queue,
    "review": ReviewSettings,
    "outcome_labels": OutcomeLabels,
    "gates": Gates,
}


def _problem_from_pydantic(err: Any, data: dict[str, Any], lines: _Lines) -> Problem:
    loc = tuple(err["loc"])
    where = _path_text(loc)
    if err["type"] == "extra_forbidden":
        key = str(loc[-1])
        known = list(_model_at(loc[:-1]).model_fields)
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(known)})"
        parent = _path_text(loc[:-1])
        message = f"unknown key {key!r}{' in ' + parent if parent else ''}{hint}"
    else:
        message = str(err["msg"]).removeprefix("Value error, ")
        if where:
            message = f"{where}: {message}"
    return Problem(message, lines.line(*loc), _rule_id_at(loc, data))


def _rule_id_at(loc: tuple[Any, ...], data: dict[str, Any]) -> str | None:
    """The id of the rule a location falls in (as written in the file), if any."""
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = data.get("rules")
        if isinstance(rules, list) and loc[1] < len(rules) and isinstance(rules[loc[1]], dict):
            rule_id = rules[loc[1]].get("id")
            return rule_id if isinstance(rule_id, str) else None
    return None


def _path_text(loc: tuple[Any, ...]) -> str:
    text = ""
    for step in loc:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel]:
    """The schema class that applies at a location (for listing the keys it knows)."""
    if not loc:
        return PolicySpec
    model = _SECTIONS.get(str(loc[0]), PolicySpec)
    if model is GoldenCase and len(loc) >= 3 and loc[2] == "expected":
        return GoldenExpected
    if model is ReviewSettings and len(loc) >= 2 and loc[1] == "four_eyes":
        return FourEyes
    if model is ReviewSettings and len(loc) >= 3 and loc[1] == "reason_codes":
        return HumanReason
    if model is Gates and len(loc) >= 2 and loc[1] == "reference_history":
        return ReferenceHistory
    return model


# --- golden cases ---------------------------------------------------------------------------


def _golden_cases(
    document: PolicyDocument, contract: InputContract, problems: list[Problem]
) -> list[GoldenCase]:
    """Inline golden cases plus those of `golden_file`, each checked against the contract."""
    spec, lines = document.spec, document.lines
    located = [(case, lines.line("golden_cases", i)) for i, case in enumerate(spec.golden_cases)]
    if spec.golden_file is not None:
        located += _read_golden_file(document, contract, problems)
    ids: set[str] = set()
    known_rules = {r.id for r in spec.rules} | set(PSEUDO_RULE_IDS)
    for case, line in located:
        where = f"golden case {case.id!r}"
        if case.id in ids:
            problems.append(Problem(f"{where}: id appears more than once", line))
        ids.add(case.id)
        for rule_id in [case.expected.winning_rule, *(case.expected.rule_hits or [])]:
            if rule_id is not None and rule_id not in known_rules:
                problems.append(
                    Problem(f"{where} expects rule {rule_id!r}, which the policy does not have", line)
                )
        for message in _case_problems(case.case, contract):
            problems.append(Problem(f"{where}: {message}", line))
    return [case for case, _ in located]


def _case_problems(case: dict[str, Any], contract: InputContract) -> list[str]:
    found = []
    names = contract.field_names
    for name, value in case.items():
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
            found.append(f"unknown field {name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            continue
        spec = contract.field(name)
        if value is None:
            continue
        if spec.kind is FieldKind.NUMERIC and (isinstance(value, bool) or not isinstance(value, int | float)):
            found.append(f"field {name!r} is numeric, got {value!r}")
        if spec.kind is FieldKind.CATEGORICAL and isinstance(value, bool):
            found.append(f"field {name!r} is text, got {value!r}: write the value in quotes")
    absent = [f.name for f in contract.fields if not f.nullable and case.get(f.name) is None]
    if absent:
        found.append(f"lacks required fields: {', '.join(absent)}")
    return found


def _read_golden_file(
    document: PolicyDocument, contract: InputContract, problems: list[Problem]
) -> list[tuple[GoldenCase, int | None]]:
    name = str(document.spec.golden_file)
    line = document.lines.line("golden_file")
    if document.base_dir is None:
        problems.append(
            Problem(f"golden_file {name!r} cannot be resolved: the policy was not read from a file", line)
        )
        return []
    path = document.base_dir / name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(Problem(f"golden_file {name!r}: cannot read {path} ({exc.strerror})", line))
        return []
    if len(raw) > MAX_GOLDEN_BYTES:
        problems.append(Problem(f"golden_file {name!r} is larger than {MAX_GOLDEN_BYTES:,} bytes", line))
        return []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        problems.append(Problem(f"golden_file {name!r} is not UTF-8 text", line))
        return []
    if path.suffix.lower() == ".csv":
        return _golden_from_csv(text, str(path), contract, problems)
    if path.suffix.lower() in {".yaml", ".yml"}:
        return _golden_from_yaml(text, str(path), problems)
    problems.append(Problem(f"golden_file {name!r} must end in .yaml, .yml or .csv", line))
    return []


def _golden_from_yaml(text: str, source: str, problems: list[Problem]) -> list[tuple[GoldenCase, int | None]]:
    try:
        data, root = _load_yaml(text, source)
    except PolicyError as exc:
        problems += [Problem(f"{source}: {p.render()}") for p in exc.problems]
        return []
    lines = _Lines(root)
    if isinstance(data, dict) and set(data) == {"golden_cases"}:
        data, prefix = data["golden_cases"], ("golden_cases",)
    else:
        prefix = ()
    if not isinstance(data, list):
        problems.append(
            Problem(f"{source}: must be a list of golden cases (or a mapping with golden_cases:)")
        )
        return []
    out = []
    for i, item in enumerate(data):
        line = lines.line(*prefix, i)
        try:
            out.append((GoldenCase.model_validate(item), line))
        except ValidationError as exc:
            for err in exc.errors():
                where = _path_text(tuple(err["loc"]))
                problems.append(Problem(f"{source}, line {line}: golden case [{i}] {where}: {err['msg']}"))
    return out


def _golden_from_csv(
    text: str, source: str, contract: InputContract, problems: list[Problem]
) -> list[tuple[GoldenCase, int | None]]:
    """CSV golden cases: columns id, expected_outcome, optional expected_winning_rule and description,
    and one column per case field (an empty cell is a missing value)."""
    reader = csv.DictReader(text.splitlines())
    columns = reader.fieldnames or []
    required = {"id", "expected_outcome"}
    if not required <= set(columns):
        problems.append(
            Problem(f"{source}: needs columns id and expected_outcome (has: {', '.join(columns)})")
        )
        return []
    meta = {"id", "expected_outcome", "expected_winning_rule", "description"}
    out = []
    for row in reader:
        line = reader.line_num
        case: dict[str, Any] = {}
        for name in columns:
            if name in meta:
                continue
            cell = (row.get(name) or "").strip()
            if not cell:
                case[name] = None
            elif name in contract.field_names and contract.field(name).kind is FieldKind.NUMERIC:
                try:
                    case[name] = float(cell)
                except ValueError:
                    problems.append(
                        Problem(f"{source}, line {line}: field {name!r} is numeric, got {cell!r}")
                    )
            else:
                case[name] = cell
        expected = {
            "outcome": row["expected_outcome"],
            "winning_rule": row.get("expected_winning_rule") or None,
        }
        try:
            golden = GoldenCase(
                id=row["id"],
                description=row.get("description") or "",
                case=case,
                expected=GoldenExpected(**expected),
            )
        except ValidationError as exc:
            for err in exc.errors():
                problems.append(
                    Problem(f"{source}, line {line}: {_path_text(tuple(err['loc']))}: {err['msg']}")
                )
            continue
        out.append((golden, line))
    return out


def _gate_problems(spec: PolicySpec, contract: InputContract, lines: _Lines) -> list[Problem]:
    """Gates may only screen protected attributes the model's contract declares."""
    if spec.gates is None or spec.gates.attributes is None:
        return []
    declared = [a.name for a in contract.protected]
    problems = []
    for i, name in enumerate(spec.gates.attributes):
        if name not in declared:
            close = difflib.get_close_matches(name, declared, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"declared: {', '.join(declared) or 'none'}"
            problems.append(
                Problem(
                    f"gates.attributes: {name!r} is not a protected attribute of model "
                    f"{spec.model.name} v{spec.model.version} ({hint})",
                    lines.line("gates", "attributes", i),
                )
            )
    return problems


def _review_problems(spec: PolicySpec, contract: InputContract, lines: _Lines) -> list[Problem]:
    """The four-eyes amount field must be a numeric field of the model's contract."""
    name = spec.review.four_eyes.amount_field
    if name is None:
        return []
    line = lines.line("review", "four_eyes", "amount_field")
    names = contract.field_names
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return [Problem(f"review.four_eyes.amount_field: unknown field {name!r}{hint}", line)]
    if contract.field(name).kind is not FieldKind.NUMERIC:
        return [Problem(f"review.four_eyes.amount_field: field {name!r} is not numeric", line)]
    return []


# --- warnings -------------------------------------------------------------------------------


def _policy_warnings(spec: PolicySpec) -> list[str]:
    warnings = []
    t = spec.thresholds
    if t.approve_below == t.decline_at_or_above:
        warnings.append(
            f"thresholds: approve_below equals decline_at_or_above ({t.approve_below}): "
            "no case is referred on its score alone"
        )
    used = {spec.default_queue, t.queue, *(r.queue for r in spec.rules)}
    if spec.qa_sample is not None:
        used.add(spec.qa_sample.queue)
    used.add(spec.on_invalid_input.queue)
    for queue in spec.queues:
        if queue not in used:
            warnings.append(f"queue {queue!r} is declared but nothing routes cases to it")
    if spec.qa_sample is not None and spec.qa_sample.rate == 0:
        warnings.append("qa_sample: rate is 0, so no automatic decision is sampled")
    return warnings
