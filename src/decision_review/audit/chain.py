"""The hash chain of the audit log: canonical JSON, event hashes, and checking a run of events.

Pure on purpose (no database, no files): the same rules check the live log, an export, and the
stdlib-only script in docs/audit-export.md, so they must not depend on where events are kept.

The rule, exactly (docs/audit-export.md repeats it for auditors):

    hash = sha256_hex( prev_hash + canonical_json(event) )   (both as UTF-8 bytes)

where `event` is the object of the ten stored fields other than `hash`
(actor, case_id, kind, model_ref, payload, policy_ref, prev_hash, product, seq, ts), and
`canonical_json` is Python's ``json.dumps(value, sort_keys=True, separators=(",", ":"),
ensure_ascii=False, allow_nan=False)`` encoded as UTF-8: keys sorted by code point, no whitespace,
strings escaped as JSON requires (``\\"``, ``\\\\``, control characters) and otherwise raw UTF-8,
integers as digits, floats as Python's shortest round-trip ``repr`` (``0.1``, ``1e-07``,
``1e+20``, ``2.0``), no NaN or Infinity. The first event's prev_hash is 64 zeros.

Payloads are canonicalised once, when an event is appended, and stored as that text; hashing
then splices the stored text in verbatim (`event_document`), which gives the same bytes as
canonicalising the whole event and is what keeps verification fast.

Example:

    >>> doc = event_document(1, "2024-01-01T00:00:00.000000Z", "system", "case_received",
    ...                      "german_credit", "c-1", None, None, '{"a":1}', GENESIS_HASH)
    >>> doc[:60]
    '{"actor":"system","case_id":"c-1","kind":"case_received","mo'
    >>> len(event_hash(GENESIS_HASH, doc))
    64
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from json.encoder import encode_basestring
from typing import Any

from decision_review.errors import InvalidInput
from decision_review.store.jsonvalues import UTC_TEXT_FORMAT, to_json_value

GENESIS_HASH = "0" * 64
TS_FORMAT = UTC_TEXT_FORMAT

# Stored columns of an event, in the order rows travel through verification and exports.
COLUMNS = (
    "seq",
    "ts",
    "actor",
    "kind",
    "product",
    "case_id",
    "policy_ref",
    "model_ref",
    "payload",
    "prev_hash",
    "hash",
)

# The same event with the five fields that repeat from event to event (actor, kind, product,
# policy_ref, model_ref, in that order) as one JSON array text, `shared`: fewer values per row
# for a driver to convert, and one lookup per event for their quoted forms (ChainVerifier.feed_grouped).
SHARED_FIELDS = ("actor", "kind", "product", "policy_ref", "model_ref")
GROUPED_COLUMNS = ("seq", "ts", "case_id", "shared", "payload", "prev_hash", "hash")


class EventKind(StrEnum):
    """Every kind of event the log records. A regulator asks about each of these."""

    CASE_RECEIVED = "case_received"
    DECISION_MADE = "decision_made"
    REVIEW_CLAIMED = "review_claimed"
    REVIEW_RELEASED = "review_released"
    REVIEW_ESCALATED = "review_escalated"
    INFO_REQUESTED = "info_requested"
    REVIEW_DECIDED = "review_decided"
    OVERRIDE = "override"
    OUTCOME_RECORDED = "outcome_recorded"
    POLICY_PUBLISHED = "policy_published"
    EXPORT_MADE = "export_made"
    VERIFICATION_RUN = "verification_run"
    AUTH_FAILED = "auth_failed"
    ACCESS_DENIED = "access_denied"
    AUTO_DECISIONS_SWITCHED = "auto_decisions_switched"
    USER_ADDED = "user_added"
    USER_DISABLED = "user_disabled"
    TOKEN_ISSUED = "token_issued"
    TOKEN_REVOKED = "token_revoked"
    PASSWORD_SET = "password_set"
    WEBHOOK_SENT = "webhook_sent"
    WEBHOOK_CONFIGURED = "webhook_configured"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVAL_GRANTED = "approval_granted"
    APPROVAL_REFUSED = "approval_refused"


class BreakKind(StrEnum):
    """How a chain can fail to verify; each names a different kind of tampering."""

    SEQUENCE_GAP = "sequence_gap"  # an event is missing, or events were reordered
    PREV_HASH_MISMATCH = "prev_hash_mismatch"  # an event does not link to the one before it
    HASH_MISMATCH = "hash_mismatch"  # an event's content no longer matches its hash
    TRUNCATED = "truncated"  # events at the end are gone (the recorded head is further on)
    BEYOND_HEAD = "beyond_head"  # events exist after the recorded head (inserted outside the log)
    HEAD_MISMATCH = "head_mismatch"  # the recorded head's hash differs from its event's hash
    ANCHOR_MISMATCH = "anchor_mismatch"  # a hash recorded earlier (e.g. in a manifest) is not in the chain


@dataclass(frozen=True, slots=True)
class Break:
    """The first place where the chain does not hold.

    `seq` is the sequence number where it breaks (for a missing event: the number that is
    missing); `expected` and `found` are the hashes (or sequence numbers, for a gap) compared.
    """

    seq: int
    kind: BreakKind
    expected: str
    found: str

    def describe(self) -> str:
        what = {
            BreakKind.SEQUENCE_GAP: "sequence number out of place (event missing, inserted or reordered)",
            BreakKind.PREV_HASH_MISMATCH: "prev_hash does not match the hash of the event before",
            BreakKind.HASH_MISMATCH: "event content does not match its hash (edited)",
            BreakKind.TRUNCATED: "events at the end of the chain are missing (truncated)",
            BreakKind.BEYOND_HEAD: "event found after the recorded chain head (not appended by the log)",
            BreakKind.HEAD_MISMATCH: "the recorded chain head does not match the last event",
            BreakKind.ANCHOR_MISMATCH: "a previously recorded hash is not in the chain",
        }[self.kind]
        return f"seq {self.seq}: {what}; expected {self.expected}, found {self.found}"


# ---------------------------------------------------------------------------------------------
# Canonical JSON


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _check_keys(value: Any) -> None:
    """Refuse non-string keys: json would coerce them and could produce duplicate keys."""
    if isinstance(value, dict):
        for key, sub in value.items():
            if type(key) is not str:
                raise TypeError(f"key {key!r} is a {type(key).__name__}; keys must be strings")
            if type(sub) not in _SCALARS:
                _check_keys(sub)
    elif isinstance(value, (list, tuple)):
        for sub in value:
            if type(sub) not in _SCALARS:
                _check_keys(sub)


# One encoder for every call: `json.dumps` with options builds a new one each time, which was a
# tenth of the cost of the small texts a batch makes by the thousand. Same output.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=to_json_value
)


def canonical_json(value: Any) -> str:
    """The one canonical text of a JSON value (see the module docstring for the exact rule).

    >>> canonical_json({"b": 1.0, "a": ["é", None, True, 10**20, 1e20]})
    '{"a":["é",null,true,100000000000000000000,1e+20],"b":1.0}'
    """
    try:
        _check_keys(value)
        text = _CANONICAL.encode(value)
        text.encode("utf-8")  # lone surrogates cannot be hashed or stored
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"audit payload is not canonical JSON: {exc}") from None
    return text


def _opt(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def event_document(
    seq: int,
    ts: str,
    actor: str,
    kind: str,
    product: str | None,
    case_id: str | None,
    policy_ref: str | None,
    model_ref: str | None,
    payload: str,
    prev_hash: str,
) -> str:
    """canonical_json of the event, with the already-canonical payload text spliced in verbatim."""
    return (
        f'{{"actor":{encode_basestring(actor)},"case_id":{_opt(case_id)},"kind":{encode_basestring(kind)},'
        f'"model_ref":{_opt(model_ref)},"payload":{payload},"policy_ref":{_opt(policy_ref)},'
        f'"prev_hash":{encode_basestring(prev_hash)},"product":{_opt(product)},"seq":{seq},'
        f'"ts":{encode_basestring(ts)}}}'
    )


def event_hash(prev_hash: str, document: str) -> str:
    """sha256 (hex) of prev_hash followed by the event's canonical JSON."""
    return hashlib.sha256((prev_hash + document).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------
# Verification


class ChainVerifier:
    """Checks events fed in order, stopping at the first break.

    Rows are tuples in `COLUMNS` order with the payload as its stored canonical text. Feed the
    chain in chunks (`feed`), then `finish` with the recorded head, if there is one. Starting
    state lets a piece of the chain (an export of a sub-range) be checked from its first event.
    """

    __slots__ = ("broken", "count", "last_hash", "next_seq")

    def __init__(self, first_seq: int = 1, prev_hash: str = GENESIS_HASH) -> None:
        self.next_seq = first_seq
        self.last_hash = prev_hash
        self.count = 0
        self.broken: Break | None = None

    @property
    def last_seq(self) -> int:
        return self.next_seq - 1

    def feed(self, rows: Iterable[tuple[Any, ...]]) -> Break | None:
        """Check the next rows; returns the first break (and keeps it), or None."""
        if self.broken is not None:
            return self.broken
        sha256 = hashlib.sha256
        enc = encode_basestring
        # This loop is the verifier's whole cost. The fields that repeat from event to event
        # (actor, kind, product, refs; ts within a batch) are quoted again only when they differ
        # from the event before: comparing two equal texts costs less than a dict lookup.
        actor_was = kind_was = product_was = policy_was = model_was = ts_was = _UNSEEN
        actor_q = kind_q = product_q = policy_q = model_q = ts_q = ""
        expected_seq = self.next_seq
        last = self.last_hash
        for seq, ts, actor, kind, product, case_id, policy_ref, model_ref, payload, prev_hash, stored in rows:
            if seq != expected_seq:
                self.broken = Break(expected_seq, BreakKind.SEQUENCE_GAP, str(expected_seq), str(seq))
                break
            if prev_hash != last:
                self.broken = Break(seq, BreakKind.PREV_HASH_MISMATCH, last, str(prev_hash))
                break
            try:
                if actor != actor_was:
                    actor_q, actor_was = "null" if actor is None else enc(actor), actor
                if kind != kind_was:
                    kind_q, kind_was = "null" if kind is None else enc(kind), kind
                if model_ref != model_was:
                    model_q, model_was = "null" if model_ref is None else enc(model_ref), model_ref
                if policy_ref != policy_was:
                    policy_q, policy_was = "null" if policy_ref is None else enc(policy_ref), policy_ref
                if product != product_was:
                    product_q, product_was = "null" if product is None else enc(product), product
                if ts != ts_was:
                    ts_q, ts_was = "null" if ts is None else enc(ts), ts
                # prev_hash + event_document, inlined; prev_hash equals `last`, a hex digest
                document = (
                    f'{prev_hash}{{"actor":{actor_q},"case_id":{"null" if case_id is None else enc(case_id)},'
                    f'"kind":{kind_q},"model_ref":{model_q},"payload":{payload},"policy_ref":{policy_q},'
                    f'"prev_hash":"{prev_hash}","product":{product_q},"seq":{seq},"ts":{ts_q}}}'
                )
                computed = sha256(document.encode()).hexdigest()
            except (TypeError, UnicodeEncodeError):  # a field of the wrong type or unencodable text
                computed = "(not hashable: a field has the wrong type)"
            if computed != stored:
                self.broken = Break(seq, BreakKind.HASH_MISMATCH, computed, str(stored))
                break
            last = stored
            expected_seq += 1
        self.count += expected_seq - self.next_seq
        self.next_seq = expected_seq
        self.last_hash = last
        return self.broken

    def feed_grouped(self, rows: Iterable[tuple[Any, ...]]) -> bool:
        """Check rows in GROUPED_COLUMNS order as far as they verify; False where they stop.

        The same checks on the same bytes as `feed`, faster. It never reports a break itself:
        at the first row that does not verify, or whose shared fields are not all text or null,
        it returns False with the state left just before that row, and the caller feeds the
        stored columns from there to `feed`, which decides (so every report is `feed`'s own).
        """
        if self.broken is not None:
            return False
        sha256 = hashlib.sha256
        enc = encode_basestring
        parts_of: dict[str, tuple[str, str, str, str] | None] = {}
        shared_was = ts_was = _UNSEEN
        parts: tuple[str, str, str, str] | None = None
        ts_q = ""
        expected_seq = self.next_seq
        last = self.last_hash
        verified = True
        for seq, ts, case_id, shared, payload, prev_hash, stored in rows:
            if seq != expected_seq or prev_hash != last:
                verified = False
                break
            if shared != shared_was:
                parts = parts_of.get(shared) or parts_of.setdefault(shared, _shared_parts(shared))
                if parts is None:
                    verified = False
                    break
                shared_was = shared
            actor_to_case, kind_to_payload, policy_to_prev, product_to_seq = parts  # type: ignore[misc]
            try:
                if ts != ts_was:
                    ts_q, ts_was = "null" if ts is None else enc(ts), ts
                # exactly `feed`'s document: prev_hash, then the fields in key order
                document = (
                    f"{prev_hash}{actor_to_case}{'null' if case_id is None else enc(case_id)}"
                    f"{kind_to_payload}{payload}{policy_to_prev}{prev_hash}{product_to_seq}{seq}"
                    f',"ts":{ts_q}}}'
                )
                verified = sha256(document.encode()).hexdigest() == stored
            except (TypeError, UnicodeEncodeError):
                verified = False
            if not verified:
                break
            last = stored
            expected_seq += 1
        self.count += expected_seq - self.next_seq
        self.next_seq = expected_seq
        self.last_hash = last
        return verified

    def finish(self, head_seq: int | None = None, head_hash: str | None = None) -> Break | None:
        """Compare where the chain ended with the recorded head (seq and hash), if given."""
        if self.broken is not None or head_seq is None:
            return self.broken
        if self.last_seq < head_seq:
            self.broken = Break(self.next_seq, BreakKind.TRUNCATED, str(head_hash), self.last_hash)
        elif self.last_seq > head_seq:
            self.broken = Break(head_seq + 1, BreakKind.BEYOND_HEAD, str(head_seq), str(self.last_seq))
        elif head_hash is not None and head_hash != self.last_hash:
            self.broken = Break(head_seq, BreakKind.HEAD_MISMATCH, self.last_hash, head_hash)
        return self.broken


_UNSEEN = object()  # equal to nothing a row holds: the "field before" of a chunk's first event


def _shared_parts(shared: Any) -> tuple[str, str, str, str] | None:
    """The constant stretches of an event's document around case_id, payload, prev_hash and seq,
    from the shared fields' JSON array; None unless it holds exactly five texts or nulls (then
    only `feed`, on the stored columns, can say what an event with them hashes to)."""
    try:
        values = json.loads(shared)
    except (TypeError, ValueError):
        return None
    if type(values) is not list or len(values) != len(SHARED_FIELDS):
        return None
    if not all(value is None or type(value) is str for value in values):
        return None
    actor, kind, product, policy_ref, model_ref = (_opt(value) for value in values)
    return (
        f'{{"actor":{actor},"case_id":',
        f',"kind":{kind},"model_ref":{model_ref},"payload":',
        f',"policy_ref":{policy_ref},"prev_hash":"',
        f'","product":{product},"seq":',
    )


def verify_events(
    rows: Iterable[tuple[Any, ...]], *, first_seq: int = 1, prev_hash: str = GENESIS_HASH
) -> Break | None:
    """Check a whole run of events in one call (convenience over `ChainVerifier`)."""
    verifier = ChainVerifier(first_seq, prev_hash)
    verifier.feed(rows)
    return verifier.broken
