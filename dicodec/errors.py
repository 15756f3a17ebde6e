"""Typed errors raised by dicodec.

Every failure a user can cause (a bad file, a wrong option, a missing weight file) surfaces as a
subclass of :class:`DicodecError`, so a pipeline can catch one type and the CLI can print a one-line
message and exit non-zero instead of showing a traceback.
"""

from __future__ import annotations


class DicodecError(Exception):
    """Base class of every error dicodec raises on purpose."""


class BitstreamError(DicodecError):
    """The bytes are not a valid dicodec bitstream."""


class BadMagic(BitstreamError):
    """The data does not start with the dicodec magic bytes."""


class UnsupportedVersion(BitstreamError):
    """The bitstream was written by a newer, incompatible format version."""


class Truncated(BitstreamError):
    """The data ends before a length or field says it should."""


class Corrupt(BitstreamError):
    """A checksum does not match or a field holds an impossible value."""


class LimitExceeded(BitstreamError):
    """A size field is beyond the hard limits of the format (checked before any allocation)."""


class ModelError(DicodecError):
    """A model name is unknown, or its weights are missing or do not match their hash."""


class UnknownModel(ModelError):
    """The model named (in a bitstream or by the user) is not in the registry."""


class WeightsMismatch(ModelError):
    """The weights file's hash differs from the one the registry or the bitstream expects."""


class ModelNotInstalled(ModelError):
    """A released model's weights are not installed and may not or cannot be downloaded now.

    The message says in one line how to install them (``dicodec models fetch`` / ``models add``).
    """


class DownloadError(ModelError):
    """Fetching weights failed: server unreachable, HTTP error, or the transfer kept breaking off."""


class ImageError(DicodecError):
    """An input image cannot be read or has an unsupported layout."""


class VideoError(DicodecError):
    """An input video cannot be read: damaged, no frames, a variable frame rate, an unknown container."""


class UnavailableError(DicodecError):
    """A feature was asked for that this build or these weights do not provide."""


__all__ = [
    "DicodecError",
    "BitstreamError",
    "BadMagic",
    "UnsupportedVersion",
    "Truncated",
    "Corrupt",
    "LimitExceeded",
    "ModelError",
    "UnknownModel",
    "WeightsMismatch",
    "ModelNotInstalled",
    "DownloadError",
    "ImageError",
    "VideoError",
    "UnavailableError",
]
