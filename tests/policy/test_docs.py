"""docs/policy-language.md must stay true: its examples compile and its QA procedure is the real one."""

from __future__ import annotations

import re

import polars as pl
import pytest

from decision_review.policy import SAFE_FUNCTIONS, compile_condition, frame_schema, parse_policy
from decision_review.policy.sampling import qa_hashes
from decision_review.schemas import InputContract
from tests.fixtures.policy import ROOT

DOC = (ROOT / "docs" / "policy-language.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.S)


def test_the_small_policy_loads(contract: InputContract) -> None:
    small = next(b for b in blocks("yaml") if b.startswith("name: consumer_loans"))
    policy = parse_policy(small, source="docs", contract=contract)
    assert policy.rule_ids == ("ko_minimum_age", "ref_large_amount")


def test_every_example_condition_compiles(contract: InputContract) -> None:
    examples = next(b for b in blocks("yaml") if b.startswith("# knock-outs"))
    conditions = re.findall(r"condition: (?:>-\n((?:  .*\n)+)|(.*?)(?:\s+#.*)?\n)", examples)
    texts = [" ".join(folded.split()) if folded else single for folded, single in conditions]
    assert len(texts) == 9
    schema = frame_schema(contract)
    for text in texts:
        compile_condition(text, schema)


@pytest.mark.parametrize(
    "text",
    [
        "CASE WHEN purpose = 'business' THEN 5000 ELSE 10000 END < credit_amount",
        "purpose LIKE 'car%'",
        "purpose ILIKE 'CAR%'",
        "purpose || '!' = 'business!'",
        "job NOT IN ('unemployed/ unskilled - non-resident')",
        "age_in_years BETWEEN 18 AND 25 and not out_of_range",
        "credit_amount % 2 = 0",
        '"credit_amount" > 1e4',
    ],
)
def test_documented_syntax_compiles(contract: InputContract, text: str) -> None:
    compile_condition(text, frame_schema(contract))


def test_documented_functions_are_the_safe_set() -> None:
    table = DOC.split("### Safe functions")[1].split("###")[0]
    documented = set(re.findall(r"`([A-Z_]+)\(", table))
    assert documented == set(SAFE_FUNCTIONS)


def test_documented_qa_procedure_is_the_implementation() -> None:
    namespace: dict[str, object] = {}
    exec(blocks("python")[0], namespace)  # the documentation's own code, stdlib only
    ids = [f"GC-{i:04d}" for i in range(1, 300)] + ["", "ü€", "x" * 17]
    hashes = qa_hashes(20240601, pl.Series(ids))
    assert [namespace["qa_hash"](20240601, i) for i in ids] == [int(h) for h in hashes]
    assert namespace["qa_hash"](20240601, "GC-0001") == 5682544868822945128
    assert not namespace["in_qa_sample"](20240601, 0.02, "GC-0001")
