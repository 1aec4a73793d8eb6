"""Batches: a JSON list of cases, or a CSV or Parquet file, decided and stored in one go.

JSON cases are checked one by one like single submissions; a case that does not fit comes back as
*invalid* with its problems (nothing of it stored) while the others go ahead. A file's rows are
checked by the engine instead (a row whose values do not fit becomes an error row, or a review
when the policy says `on_invalid_input: review`), because a file's types come from its reader, not
from JSON. Either way the whole batch is refused, with nothing written, when case ids repeat
within it or when an id was stored before with different inputs (409).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from decision_review.cases.service import CaseResult, Transactions, submit_cases
from decision_review.cases.validation import CaseInvalid, check_case_id, validate_case
from decision_review.errors import InvalidInput
from decision_review.schemas import FieldKind, InputContract

if TYPE_CHECKING:
    import pandas as pd

    from decision_review.engine import ExplainMode
    from decision_review.products.service import LiveProduct


def _check_size(count: int, limit: int) -> None:
    if count == 0:
        raise InvalidInput("the batch holds no cases")
    if count > limit:
        raise InvalidInput(
            f"the batch holds {count:,} cases; at most {limit:,} are taken at once "
            "(DR_MAX_BATCH_CASES): split it"
        )


def _check_distinct(ids: Sequence[Any]) -> None:
    repeated = [str(i) for i, n in Counter(ids).items() if n > 1]
    if repeated:
        shown = ", ".join(repr(i) for i in repeated[:10])
        raise InvalidInput(f"case ids repeat within the batch: {shown}; each case is submitted once")


def submit_records(
    tx: Transactions,
    live: LiveProduct,
    records: Sequence[Any],
    *,
    actor: str,
    explain: ExplainMode = "needed",
    max_cases: int,
    chunk_size: int,
) -> list[CaseResult]:
    """Submit JSON cases: invalid ones reported, the rest decided and stored; one result each, in order."""
    import pandas as pd

    _check_size(len(records), max_cases)
    contract = live.engine.model.contract
    id_field = contract.id_field
    _check_distinct(
        [r.get(id_field) if isinstance(r, dict) else None for r in records if isinstance(r, dict)]
    )
    results: list[CaseResult | None] = []
    valid: list[dict[str, Any]] = []
    for record in records:
        try:
            valid.append(validate_case(record, contract))
            results.append(None)
        except CaseInvalid as exc:
            results.append(CaseResult(exc.case_id or "", "invalid", error=str(exc), problems=exc.problems))
    if valid:
        frame = pd.DataFrame({name: [c[name] for c in valid] for name in [id_field, *contract.field_names]})
        decided = iter(
            submit_cases(
                tx,
                live,
                frame,
                actor=actor,
                explain=explain,
                conflicts="reject",
                chunk_size=chunk_size,
                records=valid,
            )
        )
        results = [r if r is not None else next(decided) for r in results]
    return results  # type: ignore[return-value]


def read_upload(
    content: bytes, filename: str | None, content_type: str | None, contract: InputContract, *, max_cases: int
) -> pd.DataFrame:
    """A CSV or Parquet upload as a frame with exactly the id and contract columns.

    CSV: categorical fields are read as text (a code like ``007`` stays ``007``); numbers as the
    reader infers them, so a value that is not a number is left for the engine to flag.

    At most `max_cases` rows are ever read: a compressed Parquet file of a few hundred kilobytes
    can hold millions of rows (5,000,000 took 4 GB and 6 s to read), so its row count and columns
    are checked from its footer first, and a CSV is read no further than one row past the limit.
    """
    import pandas as pd
    import pyarrow.parquet as pq

    source = filename or "(unnamed)"
    name = (filename or "").lower()
    kind = (content_type or "").lower()
    if name.endswith((".parquet", ".pq")) or "parquet" in kind:
        fmt = "Parquet"
    elif name.endswith((".csv", ".txt")) or "csv" in kind or kind.startswith("text/"):
        fmt = "CSV"
    else:
        raise InvalidInput(f"upload {source}: give a .csv or .parquet file")
    if not content:
        raise InvalidInput(f"upload {source} is empty")
    text_fields = {f.name: "string" for f in contract.fields if f.kind is FieldKind.CATEGORICAL}
    try:
        if fmt == "CSV":
            frame = pd.read_csv(
                io.BytesIO(content), dtype={contract.id_field: "string", **text_fields}, nrows=max_cases + 1
            )
        else:
            parquet = pq.ParquetFile(io.BytesIO(content))
            if parquet.metadata.num_rows > max_cases:
                _too_many(source, f"{parquet.metadata.num_rows:,}", max_cases)
            _refuse_columns(_column_problems([str(c) for c in parquet.schema_arrow.names], contract), source)
            frame = pd.read_parquet(io.BytesIO(content))
    except InvalidInput:
        raise
    except Exception as exc:  # every reader error is the file's fault: say so, in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"upload {source} could not be read as {fmt}: {first}") from None
    if len(frame) > max_cases:
        _too_many(source, f"more than {max_cases:,}", max_cases)
    frame.columns = [str(c) for c in frame.columns]
    return _fit_columns(frame, contract, source)


def _too_many(source: str, count: str, limit: int) -> None:
    raise InvalidInput(
        f"upload {source} holds {count} cases; at most {limit:,} are taken at once "
        "(DR_MAX_BATCH_CASES): split it"
    )


def _column_problems(columns: Sequence[str], contract: InputContract) -> list[str]:
    """What is wrong with a file's columns: no id column, unknown ones, required ones missing."""
    import difflib

    id_field = contract.id_field
    names = contract.field_names
    problems = []
    if id_field not in columns:
        problems.append(f"there is no {id_field!r} column: every case needs its own id")
    for column in columns:
        if column != id_field and column not in names:
            close = difflib.get_close_matches(column, names, n=1, cutoff=0.6)
            problems.append(
                f"unknown column {column!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
            )
    missing = [f.name for f in contract.fields if f.name not in columns and not f.nullable]
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    return problems


def _refuse_columns(problems: list[str], source: str) -> None:
    if problems:
        shown = problems[:10] + ([f"and {len(problems) - 10} more problems"] if len(problems) > 10 else [])
        raise InvalidInput(f"upload {source}: " + "; ".join(shown))


def _fit_columns(frame: pd.DataFrame, contract: InputContract, source: str) -> pd.DataFrame:
    id_field = contract.id_field
    names = contract.field_names
    _refuse_columns(_column_problems(list(frame.columns), contract), source)
    for spec in contract.fields:
        if spec.name not in frame.columns:
            frame[spec.name] = None
    ids = frame[id_field]
    bad = []
    for row, (value, missing) in enumerate(zip(ids.tolist(), ids.isna().tolist(), strict=True), start=1):
        problem = check_case_id(None if missing else value, id_field)
        if problem:
            bad.append(f"row {row}: {problem}")
    if bad:
        more = f" (and {len(bad) - 5} more rows)" if len(bad) > 5 else ""
        raise InvalidInput(f"upload {source}: " + "; ".join(bad[:5]) + more)
    frame[id_field] = ids.astype(str)
    return frame[[id_field, *names]]


def submit_frame(
    tx: Transactions,
    live: LiveProduct,
    frame: pd.DataFrame,
    *,
    actor: str,
    explain: ExplainMode = "needed",
    max_cases: int,
    chunk_size: int,
) -> list[CaseResult]:
    """Submit an uploaded file's cases (the engine checks each row's values)."""
    _check_size(len(frame), max_cases)
    _check_distinct(frame[live.id_field].tolist())
    return submit_cases(
        tx, live, frame, actor=actor, explain=explain, conflicts="reject", chunk_size=chunk_size
    )
