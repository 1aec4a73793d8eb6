"""The quality-assurance sample: a stable hash of (seed, case id) that picks auto-decisions for review.

Why not polars' or Python's own hash: polars does not promise the same hash across versions and
Python salts `hash()` per process, so a replayed batch (or an auditor checking a sample a year
later) would pick different cases. This hash is defined here, byte for byte, and documented in
docs/policy-language.md so it can be recomputed with a few lines of stdlib Python
(`reference_qa_hash` below is exactly that procedure).

The algorithm ("qa-hash-v1"), all arithmetic modulo 2**64:

1. ``data = case_id.encode("utf-8")``
2. ``h = fmix64(seed XOR ((len(data) + 1) * 0x9E3779B97F4A7C15))``
3. for each 8-byte chunk of ``data`` (the last one may be shorter):
   ``h = fmix64(h XOR int.from_bytes(chunk, "little"))``
4. the case is sampled when ``h < int(rate * 2**64)`` (the rate as a share of all 64-bit values)

where ``fmix64`` is MurmurHash3's 64-bit finaliser:
``h ^= h >> 33; h *= 0xFF51AFD7ED558CCD; h ^= h >> 33; h *= 0xC4CEB9FE1A85EC53; h ^= h >> 33``.

The vectorised version groups ids by byte length (usually one group) and hashes each group as a
matrix of little-endian 64-bit words, so it runs at tens of millions of ids a second.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
FMIX_C1 = 0xFF51AFD7ED558CCD
FMIX_C2 = 0xC4CEB9FE1A85EC53
MAX_SEED = MASK64

_C1 = np.uint64(FMIX_C1)
_C2 = np.uint64(FMIX_C2)
_S33 = np.uint64(33)


def rate_threshold(rate: float) -> int:
    """Hashes below this are in the sample: ``int(rate * 2**64)``, exact for any float rate in [0, 1]."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be between 0 and 1, got {rate}")
    return int(rate * 2**64)


def reference_fmix64(h: int) -> int:
    h ^= h >> 33
    h = (h * FMIX_C1) & MASK64
    h ^= h >> 33
    h = (h * FMIX_C2) & MASK64
    h ^= h >> 33
    return h


def reference_qa_hash(seed: int, case_id: str) -> int:
    """The QA hash of one case id, in plain Python: what an auditor runs to check a sample.

    >>> reference_qa_hash(20240601, "GC-0001") < int(0.02 * 2**64)  # is GC-0001 in a 2% sample?
    False
    """
    data = case_id.encode("utf-8")
    h = reference_fmix64(seed ^ (((len(data) + 1) * GOLDEN) & MASK64))
    for start in range(0, len(data), 8):
        h = reference_fmix64(h ^ int.from_bytes(data[start : start + 8], "little"))
    return h


def reference_in_sample(seed: int, rate: float, case_id: str) -> bool:
    """Whether one case is in the QA sample, in plain Python."""
    return reference_qa_hash(seed, case_id) < rate_threshold(rate)


def qa_hashes(seed: int, case_ids: pl.Series) -> np.ndarray:
    """`reference_qa_hash` for every id at once (uint64 array, same order). Ids must not be null."""
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be between 0 and 2**64 - 1, got {seed}")
    if case_ids.null_count():
        raise ValueError("case ids must not be null")
    data, starts, lengths = _utf8_buffers(case_ids)
    out = np.empty(len(case_ids), dtype=np.uint64)
    if not len(out):
        return out
    if lengths.min() == lengths.max():  # the usual case: ids of one fixed width
        out[:] = _hash_equal_length(seed, data, starts, int(lengths[0]), contiguous=True)
        return out
    present = np.bincount(lengths)
    for length in np.flatnonzero(present).tolist():
        rows = np.flatnonzero(lengths == length)
        out[rows] = _hash_equal_length(seed, data, starts[rows], length, contiguous=False)
    return out


def in_sample(seed: int, rate: float, case_ids: pl.Series) -> np.ndarray:
    """Boolean mask of the ids in the QA sample (`reference_in_sample` for every id)."""
    threshold = rate_threshold(rate)
    if threshold == 0:
        return np.zeros(len(case_ids), dtype=bool)
    if threshold > MASK64:
        return np.ones(len(case_ids), dtype=bool)
    return qa_hashes(seed, case_ids) < np.uint64(threshold)


def _fmix64(h: np.ndarray, scratch: np.ndarray) -> None:
    """In place, reusing `scratch`, because these few passes are the whole cost of the sample."""
    np.right_shift(h, _S33, out=scratch)
    h ^= scratch
    h *= _C1
    np.right_shift(h, _S33, out=scratch)
    h ^= scratch
    h *= _C2
    np.right_shift(h, _S33, out=scratch)
    h ^= scratch


def _hash_equal_length(
    seed: int, data: np.ndarray, starts: np.ndarray, length: int, *, contiguous: bool
) -> np.ndarray:
    """Hash ids that all have `length` bytes: one row of little-endian words per id.

    `contiguous`: the ids are consecutive in `data` (all ids of the batch have this length).
    """
    n = len(starts)
    first = reference_fmix64(seed ^ (((length + 1) * GOLDEN) & MASK64))
    h = np.full(n, first, dtype=np.uint64)
    if length == 0:
        return h
    words = (length + 7) // 8
    matrix = np.zeros((n, words * 8), dtype=np.uint8)
    if contiguous:
        begin = int(starts[0])
        matrix[:, :length] = data[begin : begin + n * length].reshape(n, length)
    else:
        matrix[:, :length] = data[starts[:, None] + np.arange(length)]
    as_words = matrix.view("<u8")
    scratch = np.empty_like(h)
    for w in range(words):
        h ^= as_words[:, w].astype(np.uint64, copy=False)
        _fmix64(h, scratch)
    return h


def _utf8_buffers(values: pl.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The UTF-8 bytes of all strings, each one's start offset and byte length (zero-copy where possible)."""
    arrow = values.cast(pl.String).to_arrow()
    if isinstance(arrow, pa.ChunkedArray):
        arrow = arrow.combine_chunks()
    arrow = arrow.cast(pa.large_binary())
    _, offsets_buffer, data_buffer = arrow.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[arrow.offset : arrow.offset + len(arrow) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    return data, offsets[:-1], np.diff(offsets)
