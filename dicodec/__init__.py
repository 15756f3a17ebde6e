"""dicodec: a generative neural image and video codec.

>>> import dicodec
>>> data = dicodec.encode(image, quality=60)      # numpy / PIL / torch in, bytes out
>>> image = dicodec.decode(data)                   # bytes in, numpy uint8 HxWx3 out
"""

from dicodec.api import decode, encode, inspect, list_models, load_codec
from dicodec.errors import (
    BadMagic,
    BitstreamError,
    Corrupt,
    DicodecError,
    ImageError,
    LimitExceeded,
    ModelError,
    Truncated,
    UnavailableError,
    UnknownModel,
    UnsupportedVersion,
    WeightsMismatch,
)

__version__ = "0.7.0"

__all__ = [
    "encode",
    "decode",
    "inspect",
    "list_models",
    "load_codec",
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
    "ImageError",
    "UnavailableError",
    "__version__",
]
