"""dicodec: a generative neural image and video codec.

>>> import dicodec
>>> data = dicodec.encode(image, quality=60)      # numpy / PIL / torch in, bytes out
>>> image = dicodec.decode(data)                   # bytes in, numpy uint8 HxWx3 out
>>> codec = dicodec.Codec(device="cuda")           # loaded once: encode, decode, encode_many, decode_many
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
from dicodec.session import Codec, Result

__version__ = "0.7.0"

__all__ = [
    "encode",
    "decode",
    "inspect",
    "list_models",
    "load_codec",
    "Codec",
    "Result",
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
