"""Rule conditions: SQL expressions over one case, checked before they ever run.

Why SQL through polars: risk analysts already write SQL, and `polars.sql_expr` turns a condition
into a vectorised expression (millions of cases a second) that reads no files and runs no user
code. Polars accepts far more than a policy needs, though (aggregates, window functions, clocks,
subqueries), so a condition first passes our own small lexer: it allows only the documented
operators, keywords and `SAFE_FUNCTIONS`, and names only columns of the model's input contract or
`ENGINE_FIELDS`. Polars then parses it, and it is run once on an empty frame with the real column
types, which surfaces type mismatches (a text field compared with a number) when the policy
loads, not mid-batch.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from decision_review.schemas import FieldKind, InputContract

# Functions a condition may call: row-wise, deterministic, and unable to fail on any input value.
SAFE_FUNCTIONS: dict[str, str] = {
    "ABS": "ABS(x): absolute value",
    "SIGN": "SIGN(x): -1, 0 or 1",
    "ROUND": "ROUND(x) or ROUND(x, digits): rounded value",
    "FLOOR": "FLOOR(x): largest whole number not above x",
    "CEIL": "CEIL(x): smallest whole number not below x",
    "CEILING": "CEILING(x): same as CEIL",
    "LEAST": "LEAST(a, b, ...): smallest of the values (missing values are skipped)",
    "GREATEST": "GREATEST(a, b, ...): largest of the values (missing values are skipped)",
    "COALESCE": "COALESCE(a, b, ...): first value that is not missing",
    "NULLIF": "NULLIF(a, b): missing when a = b, else a (guards a division: x / NULLIF(y, 0))",
    "LOWER": "LOWER(s): text in lower case",
    "UPPER": "UPPER(s): text in upper case",
    "LENGTH": "LENGTH(s): number of characters",
    "TRIM": "TRIM(s): text without leading and trailing spaces",
    "STARTS_WITH": "STARTS_WITH(s, prefix): true when s begins with prefix",
    "ENDS_WITH": "ENDS_WITH(s, suffix): true when s ends with suffix",
}

KEYWORDS = frozenset(
    {
        "AND",
        "OR",
        "NOT",
        "IN",
        "BETWEEN",
        "IS",
        "NULL",
        "TRUE",
        "FALSE",
        "LIKE",
        "ILIKE",
        "CASE",
        "WHEN",
        "THEN",
        "ELSE",
        "END",
    }
)
# Keywords that would take a condition beyond one case's values; named in the error so the analyst
# learns why, rather than seeing "unknown column 'SELECT'".
FORBIDDEN_KEYWORDS = frozenset(
    {
        *("SELECT", "FROM", "WHERE", "WITH", "UNION", "INTERSECT", "EXCEPT", "EXISTS", "ANY", "ALL", "SOME"),
        *("OVER", "PARTITION", "WINDOW", "FILTER", "ORDER", "GROUP", "BY", "HAVING", "LIMIT", "OFFSET"),
        *("JOIN", "INTO", "VALUES", "TABLE", "CREATE", "DROP", "INSERT", "UPDATE", "DELETE", "ALTER"),
        *("INTERVAL", "DATE", "TIME", "TIMESTAMP", "ARRAY", "STRUCT", "MAP", "DISTINCT", "LATERAL", "UNNEST"),
        *("ESCAPE", "SIMILAR", "RLIKE", "REGEXP", "COLLATE", "AS", "CAST", "TRY_CAST"),
    }
)

# Engine-provided columns (`schemas.ENGINE_FIELDS`) and their polars types; the engine builds its
# frame with these.
ENGINE_DTYPES: dict[str, pl.DataType] = {
    "score": pl.Float64(),
    "out_of_range": pl.Boolean(),
    "unseen_category": pl.Boolean(),
    "missing_count": pl.Int64(),
}


def _type_words(dtype: pl.DataType) -> str:
    """A column type as the risk team says it (polars' integer widths vary by version and
    function: LENGTH gives UInt32 in one release, Int64 in another; both are whole numbers)."""
    if dtype.is_integer():
        return "a whole number"
    if dtype.is_float():
        return "a number"
    if dtype == pl.String():
        return "text"
    if dtype == pl.Boolean():
        return "true/false"
    return str(dtype)


_TOKEN = re.compile(
    r"""
     (?P<ws>\s+)
    |(?P<comment>--|/\*)
    |(?P<string>'(?:[^']|'')*')
    |(?P<qident>"(?:[^"]|"")+")
    |(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op><=|>=|<>|!=|\|\||[=<>+\-*/%])
    |(?P<lparen>\()
    |(?P<rparen>\))
    |(?P<comma>,)
    """,
    re.VERBOSE,
)


class ConditionError(ValueError):
    """A condition that cannot be accepted: `problem` says why, `fragment` is the offending text."""

    def __init__(self, problem: str, fragment: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fragment = fragment


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    position: int


@dataclass(frozen=True)
class CompiledCondition:
    """A checked condition: its text, the polars expression, and what it refers to."""

    text: str
    expr: pl.Expr
    columns: tuple[str, ...]
    compared_literals: tuple[str, ...] = field(default=())


def frame_schema(contract: InputContract) -> dict[str, pl.DataType]:
    """Column types a policy is checked and evaluated with: the contract's fields, then the engine's.

    Numeric fields are Float64 (whole-number fields too), categorical ones String; the engine
    builds its frame with exactly these types.
    """
    schema: dict[str, pl.DataType] = {
        f.name: pl.Float64() if f.kind is FieldKind.NUMERIC else pl.String() for f in contract.fields
    }
    schema.update(ENGINE_DTYPES)
    return schema


def tokenize(text: str) -> list[Token]:
    """Split a condition into tokens, rejecting any character the policy language does not use."""
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            char = text[position]
            if char == "'":
                raise ConditionError("text literal is not closed (a quote ' is missing)", text[position:])
            raise ConditionError(f"character {char!r} is not part of the policy language", char)
        kind = match.lastgroup or ""
        if kind == "comment":
            raise ConditionError(
                "comments are not allowed inside a condition (use the rule's description)", match.group()
            )
        if kind != "ws":
            tokens.append(Token(kind, match.group(), position))
        position = match.end()
    return tokens


def compile_condition(text: str, schema: Mapping[str, pl.DataType]) -> CompiledCondition:
    """Check a condition against the allowed language and the column types, and compile it.

    Raises `ConditionError` naming the offending text: an unknown column (with the closest
    known name), a function outside `SAFE_FUNCTIONS`, a forbidden keyword, a syntax error, a
    type mismatch, or a result that is not true/false.

    >>> compile_condition("amount > 15000", {"amount": pl.Float64()}).columns
    ('amount',)
    """
    tokens = tokenize(text)
    columns = _referenced_columns(tokens, schema)
    try:
        expr = pl.sql_expr(text)
    except Exception as exc:  # polars raises several types for bad SQL; all mean "cannot parse"
        raise ConditionError(f"cannot parse the condition: {_first_line(exc)}", text) from None
    for name in expr.meta.root_names():
        if name not in schema:
            raise ConditionError(f"unknown column {name!r}{_suggestion(name, schema)}", name)
        if name not in columns:  # a name polars reads as a column although our lexer did not
            columns += (name,)
    empty = pl.DataFrame(schema={name: schema[name] for name in columns} or {"__none": pl.Boolean()})
    try:
        dtype = empty.select(expr.alias("__condition")).schema["__condition"]
    except Exception as exc:  # type errors surface as ComputeError/InvalidOperationError/SchemaError
        types = "; ".join(f"{name} is {_type_words(schema[name])}" for name in columns)
        hint = f" (column types: {types})" if types else ""
        raise ConditionError(f"type mismatch: {_first_line(exc)}{hint}", text) from None
    if dtype != pl.Boolean():
        what = _type_words(dtype) if dtype != pl.Null() else "always missing"
        example = f"{columns[0]} > 10" if columns else "score >= 0.5"
        raise ConditionError(
            f"the condition must be true or false, but it gives {what}; compare it with something, "
            f"e.g. {example}",
            text,
        )
    return CompiledCondition(
        text=text, expr=expr, columns=columns, compared_literals=_compared_literals(tokens)
    )


def condition_warnings(condition: CompiledCondition, contract: InputContract) -> list[str]:
    """Things a reviewer should notice but that do not make the condition wrong."""
    warnings: list[str] = []
    if not condition.columns:
        warnings.append("the condition names no column, so it is the same for every case")
    protected = {p.source: p.name for p in contract.protected}
    for name in condition.columns:
        if name in protected:
            warnings.append(
                f"uses {name}, the source of protected attribute {protected[name]!r}: make sure the "
                "rule has a documented lawful basis (such as a minimum legal age); fairness reports show "
                "its effect"
            )
    categories: dict[str, str] = {}
    for name in condition.columns:
        if name in contract.field_names and contract.field(name).kind is FieldKind.CATEGORICAL:
            for value in contract.field(name).categories or []:
                categories.setdefault(value.lower(), value)
    if categories:
        for literal in condition.compared_literals:
            if literal.lower() not in categories:
                close = difflib.get_close_matches(literal.lower(), list(categories), n=1, cutoff=0.6)
                hint = f" (did you mean {categories[close[0]]!r}?)" if close else ""
                fields = ", ".join(_categorical(condition, contract))
                warnings.append(
                    f"{literal!r} is not a value the model saw for {fields}{hint}; "
                    "if it is a typo the rule never fires"
                )
    return warnings


def _categorical(condition: CompiledCondition, contract: InputContract) -> list[str]:
    return [
        n
        for n in condition.columns
        if n in contract.field_names and contract.field(n).kind is FieldKind.CATEGORICAL
    ]


def _referenced_columns(tokens: list[Token], schema: Mapping[str, pl.DataType]) -> tuple[str, ...]:
    """Columns the condition names, in order of first use; rejects anything else that looks like a name."""
    columns: list[str] = []
    for i, token in enumerate(tokens):
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        if token.kind == "qident":
            name = token.text[1:-1].replace('""', '"')
        elif token.kind == "ident":
            upper = token.text.upper()
            if following is not None and following.kind == "lparen":
                if upper in SAFE_FUNCTIONS or upper in KEYWORDS:
                    continue
                if upper in FORBIDDEN_KEYWORDS:
                    raise ConditionError(_forbidden(upper), token.text)
                raise ConditionError(
                    f"function {token.text!r} is not allowed; allowed functions: {', '.join(SAFE_FUNCTIONS)}",
                    token.text,
                )
            if token.text in schema:
                name = token.text
            elif upper in KEYWORDS:
                continue
            elif upper in FORBIDDEN_KEYWORDS:
                raise ConditionError(_forbidden(upper), token.text)
            elif following is not None and following.kind == "string":
                raise ConditionError(
                    f"typed literals such as {token.text} '...' are not supported", token.text
                )
            else:
                name = token.text
        else:
            continue
        if name not in schema:
            raise ConditionError(f"unknown column {name!r}{_suggestion(name, schema)}", name)
        if name not in columns:
            columns.append(name)
    return tuple(columns)


def _compared_literals(tokens: list[Token]) -> tuple[str, ...]:
    """Text literals compared for equality or listed in IN (...): candidates for a category typo check."""
    literals: list[str] = []
    depth_in: list[int] = []
    depth = 0
    for i, token in enumerate(tokens):
        if token.kind == "lparen":
            depth += 1
            if i > 0 and tokens[i - 1].kind == "ident" and tokens[i - 1].text.upper() == "IN":
                depth_in.append(depth)
        elif token.kind == "rparen":
            if depth_in and depth_in[-1] == depth:
                depth_in.pop()
            depth -= 1
        elif token.kind == "string":
            before = tokens[i - 1].text if i > 0 else ""
            after = tokens[i + 1].text if i + 1 < len(tokens) else ""
            compared = before in {"=", "<>", "!="} or after in {"=", "<>", "!="}
            if compared or (depth_in and depth_in[-1] == depth):
                literals.append(token.text[1:-1].replace("''", "'"))
    return tuple(literals)


def _forbidden(keyword: str) -> str:
    return (
        f"{keyword} is not allowed: a condition is an expression over one case's fields "
        "(no subqueries, tables, aggregates, window functions, casts or dates)"
    )


def _suggestion(name: str, known: Mapping[str, object]) -> str:
    by_lower = {k.lower(): k for k in known}
    if name.lower() in by_lower:
        return f" (did you mean {by_lower[name.lower()]!r}? names are case-sensitive)"
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
