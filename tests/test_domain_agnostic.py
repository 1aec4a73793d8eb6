"""The product is domain-agnostic: outside the German credit data files, no code names a credit field.

Why: the engine, store, API and pages serve every product line (loans, fraud alerts, ...). A German
credit field name in them, even in a docstring example, means either logic that only works for one
data set or documentation that teaches readers the engine is about loans. The field names are read
from the bundled CSV's header, so the test follows the data.

Distinctive names (``credit_amount``, ``age_in_years``, ``creditability``, ...) count wherever they
appear as a word. The German credit columns that are plain English words (``purpose``, ``property``,
``housing``, ``job``, ``telephone``) count only where code would use them as a field: quoted
(``"purpose"``) or compared in a condition (``purpose = 'car (new)'``, ``purpose > 5``), so that
``@property`` and "on purpose" are not hits.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "decision_review"
GERMAN_CSV = PACKAGE / "datasets" / "data" / "german_credit.csv"
SCANNED_SUFFIXES = {".py", ".html", ".htm", ".jinja", ".jinja2", ".j2", ".js"}
# The German credit data itself and the code that loads it are allowed to name its fields.
ALLOWED = ("datasets/bundled.py", "datasets/data/")
FIELD_USE = r"""(?:["'`]{name}["'`]|{name}\s*(?:=|<>|!=|<=|>=|<|>|\bIN\b|\bIS\b|\bLIKE\b|\bBETWEEN\b))"""
WORD = r"(?<![A-Za-z0-9_]){name}(?![A-Za-z0-9_])"


def german_credit_fields() -> list[str]:
    with GERMAN_CSV.open(newline="") as fh:
        return next(csv.reader(fh))


def field_pattern(fields: list[str]) -> re.Pattern[str]:
    """One regex for every field: distinctive names as words, plain English names only as fields."""
    parts = []
    for name in sorted(fields, key=len, reverse=True):
        escaped = re.escape(name)
        distinctive = "_" in name or name == "creditability"
        parts.append(WORD.format(name=escaped) if distinctive else FIELD_USE.format(name=escaped))
    return re.compile("|".join(parts))


def scanned_files(root: Path) -> list[Path]:
    files = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if not path.is_file() or path.suffix not in SCANNED_SUFFIXES:
            continue
        if relative.startswith(ALLOWED) or "german_credit" in path.name or "__pycache__" in relative:
            continue
        files.append(path)
    return files


def hits(files: list[Path], pattern: re.Pattern[str], base: Path) -> list[str]:
    """Each hit as ``path:line: the line``, paths relative to `base`."""
    found = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if pattern.search(line):
                found.append(f"{path.relative_to(base).as_posix()}:{number}: {line.strip()}")
    return found


def test_no_german_credit_field_outside_the_german_credit_files() -> None:
    files = scanned_files(PACKAGE)
    assert any(p.name == "engine.py" for p in files)
    found = hits(files, field_pattern(german_credit_fields()), ROOT)
    assert not found, (
        f"{len(found)} line(s) name a German credit field outside the German credit files; use "
        "neutral examples (or the fraud fields) instead:\n" + "\n".join(found)
    )


def test_the_scan_finds_field_uses_and_ignores_ordinary_words(tmp_path: Path) -> None:
    """The scanner itself: it must catch each way a field is named and nothing else."""
    package = tmp_path / "pkg"
    (package / "datasets" / "data").mkdir(parents=True)
    (package / "web" / "templates").mkdir(parents=True)
    (package / "engine.py").write_text(
        "class A:\n"
        "    @property\n"
        "    def job(self):  # on purpose, a property of the housing market\n"
        "        return 1\n"
        '    """>>> compile_condition("credit_amount > 15000")"""\n'
        "    x = row['purpose']\n"
        "    y = \"purpose = 'car (new)' AND job IN ('x')\"\n"
        "    z = 'the credit amount and age in years'\n"
    )
    (package / "web" / "templates" / "case.html").write_text("<td>{{ case.duration_in_month }}</td>\n")
    (package / "datasets" / "bundled.py").write_text("credit_amount = 1\n")
    (package / "datasets" / "data" / "notes.py").write_text("age_in_years = 1\n")
    pattern = field_pattern(german_credit_fields())
    found = hits(scanned_files(package), pattern, package)
    assert [hit.split(": ", 1)[0] for hit in found] == [
        "engine.py:5",
        "engine.py:6",
        "engine.py:7",
        "web/templates/case.html:1",
    ]
