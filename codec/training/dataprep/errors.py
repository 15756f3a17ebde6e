"""The one error data preparation raises on purpose: a missing or inconsistent input folder.

It is a :class:`~dicodec.errors.DicodecError`, so ``dicodec data ...`` reports it on one line and exits 1.
"""

from __future__ import annotations

from dicodec.errors import DicodecError


class DataError(DicodecError):
    """An input of a data command is missing or does not fit (run ``dicodec data prepare`` first)."""
