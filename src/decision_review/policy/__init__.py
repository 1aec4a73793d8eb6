"""The policy language: YAML policy files whose rules are SQL conditions, evaluated vectorised.

Read docs/policy-language.md for the file format, the condition language and the precedence.

>>> policy = load_policy("policies/german_credit.yaml", contract)  # doctest: +SKIP
>>> decisions = policy.evaluate(cases)  # doctest: +SKIP
"""

from decision_review.policy.compiled import CompiledPolicy
from decision_review.policy.conditions import (
    ENGINE_DTYPES,
    SAFE_FUNCTIONS,
    CompiledCondition,
    ConditionError,
    compile_condition,
    frame_schema,
)
from decision_review.policy.evaluate import OUTPUT_SCHEMA
from decision_review.policy.golden import GoldenResult, check_golden, golden_records
from decision_review.policy.loader import (
    PolicyDocument,
    PolicyError,
    Problem,
    compile_policy,
    content_digest,
    load_policy,
    parse_document,
    parse_policy,
    read_policy,
)
from decision_review.policy.sampling import in_sample, reference_in_sample, reference_qa_hash
from decision_review.policy.spec import (
    PSEUDO_RULE_IDS,
    QA_SAMPLE,
    THRESHOLD_APPROVE,
    THRESHOLD_DECLINE,
    THRESHOLD_NO_SCORE,
    THRESHOLD_REVIEW,
    Action,
    GoldenCase,
    GoldenExpected,
    PolicySpec,
    Rule,
)

__all__ = [
    "ENGINE_DTYPES",
    "OUTPUT_SCHEMA",
    "PSEUDO_RULE_IDS",
    "QA_SAMPLE",
    "SAFE_FUNCTIONS",
    "THRESHOLD_APPROVE",
    "THRESHOLD_DECLINE",
    "THRESHOLD_NO_SCORE",
    "THRESHOLD_REVIEW",
    "Action",
    "CompiledCondition",
    "CompiledPolicy",
    "ConditionError",
    "GoldenCase",
    "GoldenExpected",
    "GoldenResult",
    "PolicyDocument",
    "PolicyError",
    "PolicySpec",
    "Problem",
    "Rule",
    "check_golden",
    "compile_condition",
    "compile_policy",
    "content_digest",
    "frame_schema",
    "golden_records",
    "in_sample",
    "load_policy",
    "parse_document",
    "parse_policy",
    "read_policy",
    "reference_in_sample",
    "reference_qa_hash",
]
