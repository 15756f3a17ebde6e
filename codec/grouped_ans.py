"""Entropy coder of bitstream 3.x: symbols grouped by CDF table, each group one vectorised ANS call.

Why a second coder: CompressAI's rANS (``rans.py``, bitstreams 1.x and 2.x) takes and returns Python
lists, one integer object per symbol. Decoding the five slices of a 1080p latent (650k symbols) spent
~30 ms on the 2-core CPU in that marshalling (``indexes.tolist()``, the list-to-vector copy, the
result list and ``np.asarray`` of it) against ~1 ms of actual decoding, and ~65 ms of the H200 decode
(``scripts/bench.py``); the issue's 40 ms goal cannot be met with it.

This coder uses constriction's ANS (Bamler, "Understanding Entropy Coding With Asymmetric Numeral
Systems (ANS): a Statistician's Perspective", 2022; 32-bit words, 64-bit state, 24-bit probabilities),
whose Python API takes numpy arrays. Within a slice every symbol's table index is known to the decoder
before it decodes the slice (it comes from the hyperprior and the earlier slices), so symbols are
grouped by table and each group is one call with one fixed model: ~40 calls per slice instead of one
model per symbol. The same integer CDF tables as the 2.x coder define the models. Their probabilities
are multiples of 2^-16, so constriction's 24-bit quantisation represents them exactly and the rate is
the 2.x rate (measured within 0.1% per slice, escapes aside).

Layout of one string (normative text: ``docs/bitstream.md`` section 8.2): the constriction word
array as little-endian u32, without the zero bytes at the end of the last word (it is never zero, so
the reader restores them by padding to a whole word; this saves 1.5 bytes a string on average).
Pushed onto the ANS stack in this order, so that they pop in the reverse one: the escape values
(one ``Uniform(2^15)`` symbol each, in element order), then the groups of tables ``T-1 .. 0`` (each
group's symbols in element order). Escapes are CompressAI's rule: a value
outside a table's range codes the table's last symbol, and its overflow goes in the escape list.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from dicodec.codec.rans import CdfTables
from dicodec.errors import UnavailableError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import constriction

ESCAPE_RANGE = 1 << 15  # escape values are coded uniformly in [0, 2^15)

# Words of a fixed test message (see _self_test); a constriction release that quantises or codes
# differently would write different files, so the coder refuses to run instead.
_SELF_TEST_WORDS = (1709082467, 533969050, 4024243791, 2600767979, 411537)


def _models(tables: CdfTables) -> list:
    """One constriction model per CDF table, built once per table set and kept on it."""
    models = getattr(tables, "_ans_models", None)
    if models is None:
        models = []
        for cdf, length in zip(tables.cdfs, tables.lengths, strict=True):
            pmf = np.diff(np.asarray(cdf[:length], dtype=np.float64)) / 65536.0
            models.append(constriction.stream.model.Categorical(pmf, perfect=False))
        tables._ans_models = models
        tables._ans_offsets = np.asarray(tables.offsets, dtype=np.int64)
        tables._ans_max = np.asarray(tables.lengths, dtype=np.int64) - 2  # the escape symbol
    return models


@functools.cache
def _self_test() -> None:
    """Check once per process that constriction codes the way the 3.x bitstreams were written."""
    pmf = np.array([30000, 20000, 10000, 5000, 536], dtype=np.float64) / 65536.0
    model = constriction.stream.model.Categorical(pmf, perfect=False)
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse(np.arange(40, dtype=np.int32) % 5, model)
    words = tuple(int(w) for w in coder.get_compressed())
    if words != _SELF_TEST_WORDS:
        raise UnavailableError(
            f"the installed constriction {getattr(constriction, '__version__', '?')} codes differently "
            "from the one dicodec's 3.x bitstreams were written with; install constriction 0.5.x"
        )


def _group_order(flat_index: np.ndarray, num_tables: int) -> tuple[np.ndarray, np.ndarray]:
    """Element positions sorted by table (stable: element order within a group) and group sizes."""
    key = flat_index.astype(np.uint8 if num_tables <= 256 else np.uint16)  # radix sort for small keys
    return np.argsort(key, kind="stable"), np.bincount(flat_index, minlength=num_tables)


def _check_indexes(flat: np.ndarray, tables: CdfTables) -> None:
    if flat.size and (flat.min() < 0 or flat.max() >= tables.num_tables):
        raise ValueError("CDF index out of range")  # programming error, not a property of the data


def encode(symbols: np.ndarray, indexes: np.ndarray, tables: CdfTables) -> bytes:
    """Entropy-code integer ``symbols``, each with the CDF chosen by the matching entry of ``indexes``."""
    _self_test()
    models = _models(tables)
    flat_index = indexes.astype(np.intp).reshape(-1)
    _check_indexes(flat_index, tables)
    value = symbols.astype(np.int64).reshape(-1) - tables._ans_offsets[flat_index]
    top = tables._ans_max[flat_index]
    below, above = value < 0, value >= top
    escaped = below | above
    coder = constriction.stream.stack.AnsCoder()
    if escaped.any():
        raw = np.where(below, -2 * value - 1, 2 * (value - top))[escaped]
        if raw.max() >= ESCAPE_RANGE:
            raise ValueError(f"symbol too far outside its table to code ({raw.max()} >= {ESCAPE_RANGE})")
        coder.encode_reverse(raw.astype(np.int32), constriction.stream.model.Uniform(ESCAPE_RANGE))
        value = np.where(escaped, top, value)
    order, counts = _group_order(flat_index, tables.num_tables)
    grouped = value[order].astype(np.int32)
    ends = np.cumsum(counts)
    for table in range(tables.num_tables - 1, -1, -1):
        if counts[table]:
            coder.encode_reverse(grouped[ends[table] - counts[table] : ends[table]], models[table])
    return coder.get_compressed().astype("<u4").tobytes().rstrip(b"\0")


def decode(data: bytes, indexes: np.ndarray, tables: CdfTables) -> np.ndarray:
    """Decode ``indexes.size`` symbols from ``data`` (shaped like ``indexes``).

    Raises:
        ValueError: ``data`` is no string :func:`encode` can write (words left over after the last
            symbol).
    """
    _self_test()
    models = _models(tables)
    flat_index = indexes.astype(np.intp).reshape(-1)
    _check_indexes(flat_index, tables)
    data = bytes(data).rstrip(b"\0")  # a zero last word is no string encode() writes: read it as none
    words = np.frombuffer(data + bytes(-len(data) % 4), dtype="<u4").astype(np.uint32)
    coder = constriction.stream.stack.AnsCoder(words)
    order, counts = _group_order(flat_index, tables.num_tables)
    parts = [coder.decode(models[t], int(counts[t])) for t in range(tables.num_tables) if counts[t]]
    value = np.empty(flat_index.size, dtype=np.int64)
    if parts:
        value[order] = np.concatenate(parts)
    top = tables._ans_max[flat_index]
    escaped = value == top
    count = int(escaped.sum())
    if count:
        raw = coder.decode(constriction.stream.model.Uniform(ESCAPE_RANGE), count).astype(np.int64)
        value[escaped] = np.where(raw & 1, -(raw + 1) // 2, raw // 2 + top[escaped])
    if not coder.is_empty():
        raise ValueError("entropy string has data left after its last symbol")
    return (value + tables._ans_offsets[flat_index]).reshape(indexes.shape)
