"""Thin, defensive wrapper around CompressAI's rANS coder.

Layers never touch bits (STYLE.md): only the latent codec calls this module. Two things are added on top
of ``compressai.ans``:

* CDF tables are taken as given integer tensors (shipped inside the weights file), never rebuilt from
  floats at load time, so encoder and decoder use the same tables on any machine;
* decoding pads the string with zero bytes. The C++ decoder reads 32-bit words without bounds checks, so
  a hostile or truncated string could make it read past its buffer. A bound on how far it can read is
  derived below and the padding covers it, so garbage input yields garbage symbols, never a crash.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from compressai.ans import RansDecoder, RansEncoder

# Bound on the bytes the decoder may read beyond a string (see module docstring). Each symbol consumes
# at most 16 bits of state; each 4-bit bypass read 4 bits, and the number of bypass reads is bounded by
# 16 per symbol plus 32 per input byte (runs of 0xF nibbles). One 32-bit word is read per 32 consumed
# bits at most, plus the 8-byte initial state: about 10 bytes per symbol and 16 per input byte.
_PAD_PER_SYMBOL = 10
_PAD_PER_BYTE = 16
_PAD_FIXED = 256


class CdfTables:
    """Quantized CDF tables in the form the rANS coder takes (cached Python lists)."""

    def __init__(self, quantized_cdf: torch.Tensor, cdf_length: torch.Tensor, offset: torch.Tensor):
        self.cdfs = quantized_cdf.to("cpu", torch.int32).tolist()
        self.lengths = cdf_length.to("cpu", torch.int32).reshape(-1).tolist()
        self.offsets = offset.to("cpu", torch.int32).reshape(-1).tolist()
        self.num_tables = len(self.cdfs)

    def __getstate__(self) -> dict:
        # Coders may cache their own objects on the tables (grouped_ans keeps its constriction models
        # as ``_ans_*``); those do not pickle, so copies and pickles drop them and rebuild on first use.
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


def encode(symbols: np.ndarray, indexes: np.ndarray, tables: CdfTables) -> bytes:
    """Entropy-code integer ``symbols``, each with the CDF chosen by the matching entry of ``indexes``."""
    enc = RansEncoder()
    return enc.encode_with_indexes(
        symbols.astype(np.int32).reshape(-1).tolist(),
        indexes.astype(np.int32).reshape(-1).tolist(),
        tables.cdfs,
        tables.lengths,
        tables.offsets,
    )


def decode(data: bytes, indexes: np.ndarray, tables: CdfTables) -> np.ndarray:
    """Decode ``len(indexes)`` symbols from ``data``; never reads outside a padded copy of it."""
    flat = indexes.astype(np.int32).reshape(-1)
    if flat.size and (flat.min() < 0 or flat.max() >= tables.num_tables):
        raise ValueError("CDF index out of range")  # programming error, not a property of the data
    pad = _PAD_FIXED + _PAD_PER_SYMBOL * flat.size + _PAD_PER_BYTE * len(data)
    padded = bytes(data) + bytes(pad)
    dec = RansDecoder()
    values = dec.decode_with_indexes(padded, flat.tolist(), tables.cdfs, tables.lengths, tables.offsets)
    return np.asarray(values, dtype=np.int64).reshape(indexes.shape)
