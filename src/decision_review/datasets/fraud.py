"""Synthetic card-transaction fraud alerts with a known ground truth.

Why a generator: there is no public fraud data set we may bundle, and a backtest can only be
judged against a truth that is known. Customers get habits (amount, merchant categories, hour of
day, travel, devices); each alert is a transaction drawn from its customer's habits, and fraud
patterns (card-testing bursts, account takeover, high-value merchant spending, friendly fraud)
are injected at a configurable rate. docs/fraud-data.md describes the process exactly; keep the
two in step.

Why blocks with their own seeds: customer ``i`` is drawn from ``(seed, customer block of i)`` and
alert ``j`` from ``(seed, alert block of j)``, so a larger ``n_rows`` only appends alerts and a
larger ``n_customers`` only appends customers: the first rows and the first customers never
change, and every block is generated with whole-array numpy operations.

Example::

    >>> alerts = generate_alerts(1_000, seed=7)
    >>> alerts.frame["case_id"].iloc[0], len(alerts.frame)
    ('FA-0000001', 1000)
    >>> set(alerts.pattern) <= set(PATTERNS), alerts.to_dataset().name
    (True, 'fraud_alerts')
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from decision_review.datasets.base import Dataset
from decision_review.errors import InvalidInput
from decision_review.schemas import ProtectedAttribute

NAME = "fraud_alerts"
DESCRIPTION = "Synthetic card-transaction fraud alerts with a known ground truth (docs/fraud-data.md)"
TRAINING_SEED = 7
# The backtest history uses another seed: with the training seed its first rows would be the
# training set itself (alerts are prefix-stable), and a backtest on them would flatter the model.
HISTORY_SEED = 8
DEFAULT_FRAUD_RATE = 0.004
DEFAULT_CUSTOMERS = 100_000
DEFAULT_START = datetime(2025, 1, 1, tzinfo=UTC)
ALERTS_PER_DAY = 5_000
BLOCK_ROWS = 50_000
CUSTOMER_BLOCK = 10_000
HISTORY_SUFFIXES = (".csv", ".parquet")

# Raw alert fields the card platform sends, in frame order: name -> meaning.
FIELDS: dict[str, str] = {
    "amount_minor": "transaction amount in the card's billing currency (EUR), integer cents",
    "merchant_category": "merchant category group (an MCC group name)",
    "hour_of_day": "hour of the transaction, 0-23, UTC",
    "card_present": "1 if the card was read by a terminal, 0 for card-not-present (online, phone)",
    "transaction_country": "ISO 3166 alpha-2: terminal country if card present, else the device's IP country",
    "is_foreign": "1 if transaction_country differs from the customer's home country",
    "distance_from_home_km": "km between the transaction location and the customer's home",
    "device_is_new": "1 if a card-not-present transaction came from a device never seen for this customer",
    "credentials_changed_7d": "1 if the online-banking password, e-mail or phone changed in the last 7 days",
    "txn_count_1h": "card transactions in the hour up to and including this one",
    "txn_count_24h": "card transactions in the 24 hours up to and including this one",
    "amount_to_customer_median": "amount divided by the customer's usual (median) amount, 3 decimals",
    "customer_tenure_days": "days since the card account was opened",
    "customer_age": "cardholder's age in years (monitoring only: never a model input)",
    "home_country": "cardholder's country of residence, ISO alpha-2 (monitoring only: never a model input)",
}
PROTECTED_SOURCES = ("customer_age", "home_country")
MODEL_INPUTS = tuple(name for name in FIELDS if name not in PROTECTED_SOURCES)

# Age bands as for the credit data sets (35-49, prime working age, is the comparison group);
# home country compared with the issuer's home market, where most cardholders live.
PROTECTED_ATTRIBUTES = [
    ProtectedAttribute(
        name="age_band",
        source="customer_age",
        bins=[18, 25, 35, 50, 65, 121],
        labels=["18-24", "25-34", "35-49", "50-64", "65+"],
        reference_group="35-49",
    ),
    ProtectedAttribute(name="home_country", source="home_country", reference_group="DE"),
]

FRAUD_PATTERNS = ("card_testing", "account_takeover", "high_value_merchant", "friendly_fraud")
PATTERNS = ("none", *FRAUD_PATTERNS)
# Share of fraud *rows* (not incidents) each pattern accounts for.
DEFAULT_PATTERN_SHARES: dict[str, float] = {
    "card_testing": 0.30,
    "account_takeover": 0.35,
    "high_value_merchant": 0.25,
    "friendly_fraud": 0.10,
}
_CT, _ATO, _HV, _FF = 1, 2, 3, 4  # segment kinds; 0 is a legitimate alert

# Merchant category groups: (name, share of a typical customer's spending alerts,
# amount relative to the customer's median, probability the card is present).
_CATEGORY_TABLE = (
    ("grocery", 0.260, 1.0, 0.95),
    ("restaurants", 0.140, 0.8, 0.90),
    ("fuel", 0.090, 1.3, 0.97),
    ("retail", 0.130, 1.5, 0.85),
    ("online_retail", 0.130, 1.4, 0.0),
    ("digital_goods", 0.060, 0.3, 0.0),
    ("travel", 0.040, 6.0, 0.25),
    ("entertainment", 0.050, 1.0, 0.60),
    ("utilities", 0.050, 1.8, 0.05),
    ("electronics", 0.025, 5.0, 0.50),
    ("jewellery", 0.008, 8.0, 0.85),
    ("money_transfer", 0.012, 4.0, 0.10),
    ("gambling", 0.010, 1.5, 0.15),
)
MERCHANT_CATEGORIES = tuple(row[0] for row in _CATEGORY_TABLE)
_CAT = {name: i for i, name in enumerate(MERCHANT_CATEGORIES)}
_CAT_WEIGHT = np.array([row[1] for row in _CATEGORY_TABLE])
_CAT_AMOUNT = np.array([row[2] for row in _CATEGORY_TABLE])
_CAT_PRESENT = np.array([row[3] for row in _CATEGORY_TABLE])
# Age tilts of category preferences: the young shop online more, the old less.
_YOUNG_TILT = {"online_retail": 1.8, "digital_goods": 1.8, "gambling": 1.5}
_OLD_TILT = {"online_retail": 0.5, "digital_goods": 0.4, "gambling": 0.5}

# Countries: (code, share of cardholders living there, share of foreign spending going there,
# latitude, longitude, cross-border region whose residents spend abroad more often, largest
# distance within the country in km, which caps domestic distances).
_COUNTRY_TABLE = (
    ("DE", 0.38, 0.08, 51.2, 10.4, False, 850),
    ("FR", 0.14, 0.10, 46.6, 2.4, False, 950),
    ("IT", 0.10, 0.10, 42.8, 12.6, False, 1100),
    ("ES", 0.09, 0.12, 40.2, -3.7, False, 1000),
    ("NL", 0.07, 0.05, 52.2, 5.3, True, 300),
    ("PL", 0.07, 0.03, 52.1, 19.4, False, 650),
    ("BE", 0.05, 0.02, 50.6, 4.6, True, 250),
    ("AT", 0.05, 0.06, 47.6, 14.1, True, 550),
    ("PT", 0.03, 0.03, 39.6, -8.0, False, 550),
    ("LU", 0.02, 0.01, 49.8, 6.1, True, 80),
    ("GB", 0.0, 0.08, 54.0, -2.0, False, 0),
    ("CH", 0.0, 0.06, 46.8, 8.2, False, 0),
    ("US", 0.0, 0.07, 39.8, -98.6, False, 0),
    ("HR", 0.0, 0.05, 45.1, 15.2, False, 0),
    ("GR", 0.0, 0.05, 39.1, 21.8, False, 0),
    ("TR", 0.0, 0.05, 39.0, 35.2, False, 0),
    ("CZ", 0.0, 0.04, 49.8, 15.5, False, 0),
    ("DK", 0.0, 0.02, 56.0, 10.0, False, 0),
    ("TH", 0.0, 0.02, 15.9, 100.9, False, 0),
)
COUNTRIES = tuple(row[0] for row in _COUNTRY_TABLE)
HOME_COUNTRIES = tuple(row[0] for row in _COUNTRY_TABLE if row[1] > 0)

# Pattern-specific category mixes.
_BIG_PURCHASE_MIX = {
    "electronics": 0.35,
    "jewellery": 0.15,
    "travel": 0.30,
    "money_transfer": 0.10,
    "retail": 0.10,
}
_VERIFICATION_MIX = {"digital_goods": 0.5, "online_retail": 0.3, "travel": 0.2}
_CARD_TESTING_MIX = {"digital_goods": 0.7, "online_retail": 0.2, "entertainment": 0.1}
_TAKEOVER_MIX = {
    "electronics": 0.30,
    "online_retail": 0.25,
    "money_transfer": 0.25,
    "digital_goods": 0.10,
    "jewellery": 0.10,
}
_HIGH_VALUE_MIX = {"electronics": 0.35, "jewellery": 0.30, "money_transfer": 0.20, "gambling": 0.15}

# Why a legitimate alert was raised (the upstream rule that fired), with its base weight:
# ordinary habits, a large purchase, spending abroad, a new device, a burst of payments, an odd
# hour, a merchant's small card check. Travel and new-device weights scale with the customer's
# own propensity (relative to the population mean), so frequent travellers and device changers
# raise more false alarms.
LEGIT_TRIGGERS = ("ordinary", "large_purchase", "travel", "new_device", "velocity", "odd_hour", "card_check")
_TRIGGER_WEIGHT = np.array([0.50, 0.14, 0.12, 0.10, 0.07, 0.05, 0.02])
_MEAN_TRAVEL_P = 1.2 / 21.2  # mean of Beta(1.2, 20)
_MEAN_NEW_DEVICE_P = 1.2 / 21.2
_ONLINE_MIX = {"online_retail": 0.6, "digital_goods": 0.2, "travel": 0.1, "electronics": 0.1}

ProgressCallback = Callable[[int], None]


INTENDED_USE = (
    "Scores a card-transaction alert with a calibrated probability that it is fraud, for a decision "
    "engine that closes clearly genuine alerts, blocks clearly fraudulent ones under a written policy "
    "and sends the rest to investigators. The score supports, and does not replace, an investigator."
)
LIMITATIONS = (
    "Trained on generated alerts (docs/fraud-data.md): the fraud patterns are the generator's; real "
    "fraud adapts, so retrain on confirmed outcomes before relying on it.",
    "Fraud is rare (about 0.4%): the calibration table's low-score bins hold almost every alert.",
)


@dataclass(frozen=True)
class GeneratedAlerts:
    """Generated alerts, with the ground truth kept beside (never inside) the alert fields.

    `frame` has ``case_id``, ``alert_time`` (UTC), ``customer_id`` and the raw `FIELDS`;
    `is_fraud` (1 = fraud) and `pattern` (one of `PATTERNS`) align with it row by row.
    """

    frame: pd.DataFrame
    is_fraud: pd.Series
    pattern: pd.Series
    seed: int
    fraud_rate: float
    n_customers: int
    start: datetime

    def to_dataset(self) -> Dataset:
        """The training shape: raw fields only; ids and target beside them."""
        return Dataset(
            name=NAME,
            frame=self.frame[list(FIELDS)].copy(),
            target=self.is_fraud.copy(),
            ids=self.frame["case_id"].copy(),
            protected_attributes=list(PROTECTED_ATTRIBUTES),
            description=DESCRIPTION,
            attribution=f"generated by decision_review.datasets.fraud (seed {self.seed}, "
            f"fraud rate {self.fraud_rate:g}); process in docs/fraud-data.md",
            intended_use=INTENDED_USE,
            limitations=LIMITATIONS,
        )

    def history(self) -> pd.DataFrame:
        """The backtest shape: every alert column plus ``is_fraud`` and ``pattern``."""
        return self.frame.assign(is_fraud=self.is_fraud, pattern=self.pattern)


def generate_alerts(
    n_rows: int,
    *,
    seed: int = TRAINING_SEED,
    fraud_rate: float = DEFAULT_FRAUD_RATE,
    n_customers: int | None = None,
    start: datetime | None = None,
    pattern_shares: Mapping[str, float] | None = None,
    progress: ProgressCallback | None = None,
) -> GeneratedAlerts:
    """Generate `n_rows` alerts; the same arguments always give the identical frame.

    `fraud_rate` is the expected share of fraud rows; `pattern_shares` splits it between
    `FRAUD_PATTERNS` (relative weights, default `DEFAULT_PATTERN_SHARES`). `n_customers`
    defaults to `DEFAULT_CUSTOMERS` whatever `n_rows` is, so the first alerts of a longer run
    equal a shorter run's. `start` is the UTC midnight of the first day (naive means UTC);
    `ALERTS_PER_DAY` alerts fall on each day. `progress` is called with the rows done so far.
    """
    _check_int("number of rows", n_rows, minimum=1)
    _check_int("seed", seed, minimum=0)
    _check_rate(fraud_rate)
    n_customers = DEFAULT_CUSTOMERS if n_customers is None else n_customers
    _check_int("number of customers", n_customers, minimum=1)
    start = _check_start(DEFAULT_START if start is None else start)
    kind_cdf = _segment_kind_cdf(fraud_rate, _check_shares(pattern_shares))

    customers = _Customers.generate(seed, n_customers)
    blocks: list[dict[str, np.ndarray]] = []
    for b in range(math.ceil(n_rows / BLOCK_ROWS)):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, b)))
        block = _alert_block(rng, b * BLOCK_ROWS, customers, kind_cdf)
        keep = min(BLOCK_ROWS, n_rows - b * BLOCK_ROWS)
        blocks.append({key: value[:keep] for key, value in block.items()})
        if progress is not None:
            progress(b * BLOCK_ROWS + keep)
    columns = {key: np.concatenate([block[key] for block in blocks]) for key in blocks[0]}
    return _assemble(columns, customers, seed, fraud_rate, start)


def load(n_rows: int = 200_000, seed: int = TRAINING_SEED) -> Dataset:
    """The training set: `n_rows` generated alerts at the default fraud rate.

    The injected pattern is not a field (nobody knows it when deciding); it is in
    ``generate_alerts(n_rows, seed=seed).pattern``, aligned with the same case ids.
    """
    return generate_alerts(n_rows, seed=seed).to_dataset()


def write_history(
    path: str | os.PathLike[str],
    n_rows: int = 1_000_000,
    seed: int = HISTORY_SEED,
    fraud_rate: float = DEFAULT_FRAUD_RATE,
    *,
    progress: ProgressCallback | None = None,
) -> GeneratedAlerts:
    """Write a backtest history (`.csv` or `.parquet`, by suffix) and return what was written.

    The file appears whole or not at all: it is written beside the target and renamed.
    CSV times are ISO-8601 with a ``Z``; Parquet keeps them as UTC timestamps.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in HISTORY_SUFFIXES:
        raise InvalidInput(
            f"history file {str(target)!r}: unknown suffix {target.suffix or '(none)'!r}; "
            f"use one of {', '.join(HISTORY_SUFFIXES)}"
        )
    if not target.parent.is_dir():
        raise InvalidInput(f"history file {str(target)!r}: folder {str(target.parent)!r} does not exist")
    alerts = generate_alerts(n_rows, seed=seed, fraud_rate=fraud_rate, progress=progress)
    history = alerts.history()
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        if suffix == ".csv":
            history.to_csv(partial, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
        else:
            history.to_parquet(partial, index=False)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return alerts


# --- customers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Customers:
    """Each customer's habits, one array entry per customer (index = customer number - 1)."""

    age: np.ndarray
    home: np.ndarray  # index into COUNTRIES
    tenure0: np.ndarray  # tenure in days on the first day of the history
    median_minor: np.ndarray  # usual amount, cents
    category_cdf: np.ndarray  # (n, categories) cumulative preference
    hour_centre: np.ndarray
    hour_spread: np.ndarray
    travel_p: np.ndarray
    new_device_p: np.ndarray
    daily_txns: np.ndarray
    activity_cdf: np.ndarray  # who raises legitimate alerts (busy customers more often)
    takeover_cdf: np.ndarray  # who account takeover targets (older customers more often)

    @staticmethod
    def generate(seed: int, n: int) -> _Customers:
        parts = [
            _customer_block(np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, b))))
            for b in range(math.ceil(n / CUSTOMER_BLOCK))
        ]
        cols = {key: np.concatenate([p[key] for p in parts])[:n] for key in parts[0]}
        activity = cols.pop("activity")
        takeover_weight = np.where(cols["age"] >= 65, 2.5, 1.0)
        return _Customers(**cols, activity_cdf=_cdf(activity), takeover_cdf=_cdf(takeover_weight))


def _customer_block(rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = CUSTOMER_BLOCK
    age = np.clip(np.rint(rng.normal(45, 16, n)), 18, 90).astype(np.int64)
    young, old = age < 30, age >= 65
    home_share = np.array([row[1] for row in _COUNTRY_TABLE])
    home = _pick(_cdf(home_share), rng.random(n))
    tenure0 = np.minimum(np.rint(rng.exponential(1800, n)) + 30, (age - 18) * 365 + 30).astype(np.int64)
    median_minor = np.rint(np.exp(rng.normal(math.log(3500), 0.55, n))).astype(np.int64)

    base = np.tile(_CAT_WEIGHT, (n, 1))
    for name, factor in _YOUNG_TILT.items():
        base[young, _CAT[name]] *= factor
    for name, factor in _OLD_TILT.items():
        base[old, _CAT[name]] *= factor
    base /= base.sum(axis=1, keepdims=True)
    preference = rng.gamma(8.0 * base)  # Dirichlet(8 * base), row by row
    preference /= preference.sum(axis=1, keepdims=True)

    evening = rng.random(n) < 0.2
    hour_centre = np.where(evening, rng.normal(20, 1.5, n), rng.normal(13.5, 2.0, n))
    hour_spread = rng.uniform(1.5, 3.5, n)
    cross_border = np.array([row[5] for row in _COUNTRY_TABLE])[home]
    travel_p = np.minimum(rng.beta(1.2, 20, n) * np.where(cross_border, 2.5, 1.0), 0.6)
    new_device_p = rng.beta(1.2, 20, n) * np.select([young, old], [2.0, 0.6], 1.0)
    daily_txns = np.exp(rng.normal(math.log(2.5), 0.6, n))
    activity = np.exp(rng.normal(0, 0.8, n))
    return {
        "age": age,
        "home": home,
        "tenure0": tenure0,
        "median_minor": median_minor,
        "category_cdf": _row_cdf(preference),
        "hour_centre": hour_centre,
        "hour_spread": hour_spread,
        "travel_p": travel_p,
        "new_device_p": new_device_p,
        "daily_txns": daily_txns,
        "activity": activity,
    }


# --- alerts ------------------------------------------------------------------------------------


# Incident lengths: card testing 3 + (geometric(0.35) - 1) rows, account takeover 1 + Poisson(0.4),
# high-value spending 1 + Bernoulli(0.25), friendly fraud 1.
_MEAN_INCIDENT_ROWS = np.array([3 + (1 / 0.35 - 1), 1.4, 1.25, 1.0])


def _segment_kind_cdf(fraud_rate: float, shares: dict[str, float]) -> np.ndarray:
    """Probabilities of the segment kinds (legit, then FRAUD_PATTERNS) as a cdf.

    The block is a run of segments: a legitimate alert (one row) or a fraud incident (several
    rows for bursts). With row shares s_p and mean incident lengths L_p, the fraud-row share
    F/(q_0 + F), F = sum q_p L_p, equals `fraud_rate` when q_p = s_p F / L_p and
    F = r / (1 - r + r sum s_p / L_p): solved exactly, so no incident overlaps another.
    """
    lengths = _MEAN_INCIDENT_ROWS
    s = np.array([shares[p] for p in FRAUD_PATTERNS])
    total = fraud_rate / (1 - fraud_rate + fraud_rate * float(np.sum(s / lengths)))
    q = s * total / lengths
    return _cdf(np.concatenate([[max(0.0, 1.0 - q.sum())], q]))


def _alert_block(rng: np.random.Generator, first_row: int, c: _Customers, kind_cdf: np.ndarray) -> dict:
    """One block of BLOCK_ROWS alerts (always full size, so a shorter run is a prefix)."""
    n = BLOCK_ROWS
    # Segments: their kinds, lengths, customers; then each row's segment and position in it.
    kind = _pick(kind_cdf, rng.random(n))
    length = np.ones(n, dtype=np.int64)
    length[kind == _CT] = 2 + rng.geometric(0.35, int(np.sum(kind == _CT)))
    length[kind == _ATO] = 1 + rng.poisson(0.4, int(np.sum(kind == _ATO)))
    length[kind == _HV] = 1 + rng.binomial(1, 0.25, int(np.sum(kind == _HV)))
    ends = np.cumsum(length)
    n_seg = int(np.searchsorted(ends, n)) + 1
    kind, length, seg_start = kind[:n_seg], length[:n_seg], (ends - length)[:n_seg]
    seg = np.repeat(np.arange(n_seg), length)[:n]
    pos = np.arange(n) - seg_start[seg]

    seg_cust = _pick(c.activity_cdf, rng.random(n_seg))
    is_ct, is_ato = kind == _CT, kind == _ATO
    seg_cust[is_ct] = rng.integers(0, len(c.age), int(is_ct.sum()))  # card numbers are enumerated
    seg_cust[is_ato] = _pick(c.takeover_cdf, rng.random(int(is_ato.sum())))
    cust = seg_cust[seg]

    rows = _legit_alerts(rng, c, cust)
    _inject_fraud(rng, rows, c, kind, seg, seg_start)

    # Times: each segment starts at its first row's hour on that row's day; rows of one incident
    # follow seconds (card testing) or minutes apart.
    row_kind = kind[seg]
    seg_second = rows["hour"][seg_start] * 3600 + rng.integers(0, 3600, n_seg)
    gap = np.where(row_kind == _CT, rng.integers(5, 120, n), rng.integers(60, 2400, n))
    gap[pos == 0] = 0
    elapsed = np.cumsum(gap)
    row_day = (first_row + seg_start[seg]) // ALERTS_PER_DAY
    seconds = row_day * 86_400 + seg_second[seg] + elapsed - elapsed[seg_start[seg]]

    home, country = c.home[cust], rows["country"]
    distance = np.where(
        country == home,
        np.minimum(rows["domestic_km"], _EXTENT_KM[home]),
        _DISTANCE_KM[home, country] * rng.uniform(0.8, 1.2, n),
    )
    amount_minor = np.maximum(np.rint(rows["amount"]), 1).astype(np.int64)
    return {
        "customer": cust,
        "seconds": seconds,
        "amount_minor": amount_minor,
        "merchant_category": rows["category"],
        "card_present": rows["card_present"].astype(np.int64),
        "transaction_country": country,
        "is_foreign": (country != home).astype(np.int64),
        "distance_from_home_km": np.rint(distance).astype(np.int64),
        "device_is_new": rows["new_device"].astype(np.int64),
        "credentials_changed_7d": rows["credentials"].astype(np.int64),
        "txn_count_1h": rows["count_1h"].astype(np.int64),
        "txn_count_24h": rows["count_24h"].astype(np.int64),
        "amount_to_customer_median": np.round(amount_minor / c.median_minor[cust], 3),
        "kind": row_kind,
    }


def _legit_alerts(rng: np.random.Generator, c: _Customers, cust: np.ndarray) -> dict[str, np.ndarray]:
    """Legitimate alerts: habitual transactions, each raised by one upstream trigger."""
    n = len(cust)
    home = c.home[cust]
    weights = np.tile(_TRIGGER_WEIGHT, (n, 1))
    weights[:, 2] *= c.travel_p[cust] / _MEAN_TRAVEL_P
    weights[:, 3] *= c.new_device_p[cust] / _MEAN_NEW_DEVICE_P
    trigger = _pick_rows(_row_cdf(weights), rng.random(n))
    big, travel, device = trigger == 1, trigger == 2, trigger == 3
    velocity, odd_hour, check = trigger == 4, trigger == 5, trigger == 6

    category = _pick_rows(c.category_cdf[cust], rng.random(n))
    for chosen, mix in ((big, _BIG_PURCHASE_MIX), (device, _ONLINE_MIX), (check, _VERIFICATION_MIX)):
        category[chosen] = _pick(_mix_cdf(mix), rng.random(int(chosen.sum())))
    amount = c.median_minor[cust] * _CAT_AMOUNT[category] * np.exp(rng.normal(0, 0.6, n))
    amount[big] *= np.exp(rng.normal(math.log(3), 0.5, int(big.sum())))
    amount[check] = rng.integers(50, 200, int(check.sum()))
    card_present = ~(device | check) & (rng.random(n) < _CAT_PRESENT[category])
    foreign = travel | (rng.random(n) < c.travel_p[cust])
    country = home.copy()
    country[foreign] = _pick_rows(_DESTINATION_CDF[home[foreign]], rng.random(int(foreign.sum())))
    # At home: 8% day trips or business trips; card present near home; online, the IP
    # geolocation of a phone or laptop is coarse.
    trip = rng.random(n) < 0.08
    log_km = np.select([trip, card_present], [math.log(200), math.log(6)], math.log(30))
    domestic_km = np.exp(rng.normal(log_km, np.select([trip, card_present], [0.7, 1.0], 1.2)))
    new_device = device | (~card_present & (rng.random(n) < c.new_device_p[cust]))
    credentials = rng.random(n) < np.where(device, 0.25, 0.01)  # a new phone often means a reset
    count_24h = 1 + rng.poisson(c.daily_txns[cust] * rng.gamma(2.0, 0.5, n))
    count_1h = 1 + rng.binomial(count_24h - 1, 0.1)
    burst = np.zeros(n, dtype=np.int64)
    burst[velocity] = 2 + rng.poisson(3.0, int(velocity.sum()))  # tickets, renewals together
    hour = rng.normal(c.hour_centre[cust], c.hour_spread[cust])
    hour[odd_hour] = rng.normal(3, 2, int(odd_hour.sum()))
    return {
        "customer": cust,
        "category": category,
        "amount": amount,
        "card_present": card_present,
        "country": country,
        "domestic_km": domestic_km,
        "new_device": new_device,
        "credentials": credentials,
        "count_1h": count_1h + burst,
        "count_24h": count_24h + burst,
        "hour": np.mod(np.rint(hour), 24).astype(np.int64),
    }


def _inject_fraud(
    rng: np.random.Generator,
    rows: dict[str, np.ndarray],
    c: _Customers,
    kind: np.ndarray,
    seg: np.ndarray,
    seg_start: np.ndarray,
) -> None:
    """Overwrite the fraud rows of `rows` (legitimate so far) with their pattern's values, in place.

    Incident-level draws (country, device, card presence, hour) are shared by an incident's rows.
    Friendly fraud is left exactly as the legitimate alert it replaced. Only the few fraud rows
    are drawn for, so the cost does not grow with the legitimate alerts.
    """
    incident = np.flatnonzero((kind == _CT) | (kind == _ATO) | (kind == _HV))
    m = len(incident)
    i_ct, i_ato, i_hv = (kind[incident] == k for k in (_CT, _ATO, _HV))
    first = seg_start[incident]
    victim_home = c.home[rows["customer"][first]]

    def per_pattern(ct: object, ato: object, hv: object) -> np.ndarray:
        return np.select([i_ct, i_ato, i_hv], [ct, ato, hv])

    foreign = rng.random(m) < per_pattern(0.6, 0.45, 0.25)
    country = np.where(foreign, _pick_rows(_DESTINATION_CDF[victim_home], rng.random(m)), victim_home)
    device = rng.random(m) < per_pattern(0.8, 0.7, 0.3)
    present = i_hv & (rng.random(m) < 0.55)
    credentials = i_ato & (rng.random(m) < 0.4)
    testing_category = _pick(_mix_cdf(_CARD_TESTING_MIX), rng.random(m))
    night = np.mod(np.rint(rng.normal(3, 3, m)), 24)
    odd_hour = np.where(rng.random(m) < 0.5, rng.integers(0, 24, m), night)
    shop_hour = np.clip(np.rint(rng.normal(15, 3, m)), 8, 21)
    # Half of the takeovers happen at the victim's usual hour (the fraudster lives in the same zone).
    takeover_hour = np.where(rng.random(m) < 0.5, rows["hour"][first], odd_hour)
    hour = per_pattern(odd_hour, takeover_hour, shop_hour).astype(np.int64)

    # The rows of those incidents: r indexes the block, i the incident each row belongs to.
    r = np.flatnonzero(np.isin(seg, incident))
    i = np.searchsorted(incident, seg[r])
    k = len(r)
    ct, ato, hv = i_ct[i], i_ato[i], i_hv[i]
    pos = r - first[i]
    median = c.median_minor[rows["customer"][r]]
    rows["category"][r] = np.select(
        [ct, ato],
        [testing_category[i], _pick(_mix_cdf(_TAKEOVER_MIX), rng.random(k))],
        _pick(_mix_cdf(_HIGH_VALUE_MIX), rng.random(k)),
    )
    rows["amount"][r] = np.select(
        [ct, ato],
        [
            np.where(rng.random(k) < 0.3, 100, rng.integers(50, 2_000, k)),
            median * np.exp(rng.normal(math.log(3), 0.8, k)),
        ],
        np.exp(rng.normal(math.log(35_000), 0.9, k)),
    )
    rows["card_present"][r] = present[i]
    rows["country"][r] = country[i]
    rows["domestic_km"][r] = np.exp(
        rng.normal(np.where(hv, math.log(20), math.log(100)), np.where(hv, 1.2, 1.0))
    )
    rows["new_device"][r] = ~present[i] & device[i]
    rows["credentials"][r] = np.where(ato, credentials[i], rows["credentials"][r])
    # The incident's earlier rows count towards its velocity too.
    extra_1h = pos + rng.poisson(np.select([ct, ato], [1.5, 1.0], 0.4))
    rows["count_1h"][r] += extra_1h
    rows["count_24h"][r] += extra_1h + rng.poisson(np.select([ct, ato], [1.0, 1.5], 0.0))
    rows["hour"][r] = hour[i]


def _assemble(
    cols: dict[str, np.ndarray], c: _Customers, seed: int, rate: float, start: datetime
) -> GeneratedAlerts:
    """Turn the numeric block columns into the alert frame (strings, times, ids)."""
    n = len(cols["kind"])
    cust = cols["customer"]
    day0 = np.datetime64(start.replace(tzinfo=None), "us")
    times = day0 + cols["seconds"].astype("timedelta64[s]")
    frame = pd.DataFrame(
        {
            "case_id": pd.Series(_ids("FA-", np.arange(1, n + 1)), dtype="str"),
            "alert_time": pd.DatetimeIndex(times).tz_localize("UTC"),
            "customer_id": _labels(_ids("CU-", np.arange(1, len(c.age) + 1)), cust),
            "amount_minor": cols["amount_minor"],
            "merchant_category": _labels(MERCHANT_CATEGORIES, cols["merchant_category"]),
            "hour_of_day": (cols["seconds"] // 3600) % 24,
            "card_present": cols["card_present"],
            "transaction_country": _labels(COUNTRIES, cols["transaction_country"]),
            "is_foreign": cols["is_foreign"],
            "distance_from_home_km": cols["distance_from_home_km"],
            "device_is_new": cols["device_is_new"],
            "credentials_changed_7d": cols["credentials_changed_7d"],
            "txn_count_1h": cols["txn_count_1h"],
            "txn_count_24h": cols["txn_count_24h"],
            "amount_to_customer_median": cols["amount_to_customer_median"],
            "customer_tenure_days": c.tenure0[cust] + cols["seconds"] // 86_400,
            "customer_age": c.age[cust],
            "home_country": _labels(COUNTRIES, c.home[cust]),
        }
    )
    is_fraud = pd.Series((cols["kind"] != 0).astype(np.int64), name="is_fraud")
    pattern = pd.Series(_labels(PATTERNS, cols["kind"]), name="pattern")
    return GeneratedAlerts(frame, is_fraud, pattern, seed, rate, len(c.age), start)


# --- small vectorised helpers ------------------------------------------------------------------


def _cdf(weights: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(np.asarray(weights, dtype=float))
    cdf /= cdf[-1]
    cdf[-1] = 1.0
    return cdf


def _row_cdf(weights: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(weights, axis=1)
    cdf /= cdf[:, -1:]
    cdf[:, -1] = 1.0
    return cdf


def _pick(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index drawn from one distribution for each uniform `u`."""
    return np.searchsorted(cdf, u, side="right").astype(np.int64)


def _pick_rows(cdfs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index drawn from each row's own distribution (`cdfs` is one cdf per row)."""
    return np.sum(cdfs <= u[:, None], axis=1).astype(np.int64)


def _mix_cdf(mix: Mapping[str, float]) -> np.ndarray:
    weights = np.zeros(len(MERCHANT_CATEGORIES))
    for name, weight in mix.items():
        weights[_CAT[name]] = weight
    return _cdf(weights)


def _labels(names: tuple[str, ...] | pa.Array, codes: np.ndarray) -> pd.Series:
    """Strings looked up by code, built in Arrow (pandas 3 `str` columns are Arrow-backed)."""
    return pd.Series(pa.array(names).take(pa.array(codes)), dtype="str")


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    """Fixed-width ids such as FA-0000001, built as bytes (a million f-strings take a second)."""
    width = max(7, len(str(int(numbers.max()))))
    chars = np.empty((len(numbers), len(prefix) + width), dtype=np.uint8)
    chars[:, : len(prefix)] = np.frombuffer(prefix.encode(), dtype=np.uint8)
    for k in range(width):
        chars[:, len(prefix) + width - 1 - k] = (numbers // 10**k) % 10 + ord("0")
    binary = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(chars.shape[1]), len(numbers), [None, pa.py_buffer(chars)]
    )
    return binary.cast(pa.string())


def _haversine_km() -> np.ndarray:
    lat = np.radians([row[3] for row in _COUNTRY_TABLE])
    lon = np.radians([row[4] for row in _COUNTRY_TABLE])
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    h = np.sin(dlat / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlon / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(h))


def _destination_cdf() -> np.ndarray:
    """For each home country, where its residents' foreign spending goes (never home itself)."""
    weights = np.tile([row[2] for row in _COUNTRY_TABLE], (len(_COUNTRY_TABLE), 1))
    np.fill_diagonal(weights, 0.0)
    return _row_cdf(weights)


_DISTANCE_KM = _haversine_km()
_EXTENT_KM = np.array([row[6] for row in _COUNTRY_TABLE], dtype=float)
_DESTINATION_CDF = _destination_cdf()


# --- argument checks ---------------------------------------------------------------------------


def _check_int(name: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidInput(f"{name} must be a whole number of at least {minimum}, got {value!r}")


def _check_rate(rate: object) -> None:
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
        raise InvalidInput(f"fraud rate must be a number from 0 to 1 (e.g. 0.004 for 0.4%), got {rate!r}")


def _check_start(start: datetime) -> datetime:
    if not isinstance(start, datetime):
        raise InvalidInput(f"start must be a datetime, got {start!r}")
    start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
    if (start.hour, start.minute, start.second, start.microsecond) != (0, 0, 0, 0):
        raise InvalidInput(
            f"start must be a UTC midnight (the first day of the history), got {start.isoformat()}"
        )
    return start


def _check_shares(shares: Mapping[str, float] | None) -> dict[str, float]:
    if shares is None:
        return dict(DEFAULT_PATTERN_SHARES)
    unknown = sorted(set(shares) - set(FRAUD_PATTERNS))
    if unknown:
        raise InvalidInput(
            f"pattern shares: unknown pattern(s) {unknown}; known: {', '.join(FRAUD_PATTERNS)}"
        )
    values = {p: float(shares.get(p, 0.0)) for p in FRAUD_PATTERNS}
    if any(not v >= 0 for v in values.values()) or sum(values.values()) <= 0:
        raise InvalidInput(f"pattern shares must be non-negative with a positive sum, got {dict(shares)!r}")
    total = sum(values.values())
    return {p: v / total for p, v in values.items()}
