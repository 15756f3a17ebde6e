"""dicodec: a generative neural image and video codec.

>>> import dicodec
>>> data = dicodec.encode(image, quality=60)      # numpy / PIL / torch in, bytes out
>>> image = dicodec.decode(data)                   # bytes in, numpy uint8 HxWx3 out
>>> image = dicodec.read_image("photo.jpg")        # a file as the RGB the CLI would code
>>> codec = dicodec.Codec(device="cuda")           # loaded once: encode, decode, encode_many, decode_many
"""

from dicodec.api import add_model, decode, encode, fetch_model, inspect, list_models, load_codec
from dicodec.errors import (
    BadMagic,
    BitstreamError,
    Corrupt,
    DicodecError,
    DownloadError,
    ImageError,
    LimitExceeded,
    ModelError,
    ModelNotInstalled,
    Truncated,
    UnavailableError,
    UnknownModel,
    UnsupportedVersion,
    WeightsMismatch,
)
from dicodec.images import read_image
from dicodec.session import Codec, Result
from dicodec.version import __version__

__all__ = [
    "encode",
    "decode",
    "inspect",
    "list_models",
    "fetch_model",
    "add_model",
    "load_codec",
    "read_image",
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
    "ModelNotInstalled",
    "DownloadError",
    "ImageError",
    "UnavailableError",
    "__version__",
]
