"""Data sets by name: the bundled real data and the generated fraud alerts.

Why a registry of loader functions: callers (CLI, tests, notebooks) ask for a name; the data is
read only when asked for, and the fraud generator is imported only then, so this module stays
cheap to import.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from decision_review.datasets.base import Dataset, derive_protected
from decision_review.errors import NotFound


def _fraud_alerts() -> Dataset:
    return import_module("decision_review.datasets.fraud").load()


def _german_credit() -> Dataset:
    from decision_review.datasets.bundled import german_credit

    return german_credit()


def _credit_data() -> Dataset:
    from decision_review.datasets.bundled import credit_data

    return credit_data()


_LOADERS: dict[str, Callable[[], Dataset]] = {
    "german_credit": _german_credit,
    "credit_data": _credit_data,
    "fraud_alerts": _fraud_alerts,
}


def available_datasets() -> list[str]:
    """Names `load_dataset` accepts."""
    return sorted(_LOADERS)


def load_dataset(name: str) -> Dataset:
    """The named data set: raw fields, target (1 = bad), ids and protected attribute specs.

    >>> load_dataset("german_credit").frame.shape
    (1000, 20)
    """
    try:
        loader = _LOADERS[name]
    except KeyError:
        raise NotFound(f"no data set named {name!r}; available: {', '.join(available_datasets())}") from None
    return loader()


__all__ = ["Dataset", "available_datasets", "derive_protected", "load_dataset"]
