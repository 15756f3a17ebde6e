"""dicodec: a generative neural image and video codec.

>>> import dicodec
>>> data = dicodec.encode(image, quality=60)      # numpy / PIL / torch in, bytes out
>>> image = dicodec.decode(data)                   # bytes in, numpy uint8 HxWx3 out
>>> image = dicodec.read_image("photo.jpg")        # a file as the RGB the CLI would code
>>> data = dicodec.encode_video("clip.mp4", quality=60)  # or an iterable of HxWx3 frames
>>> for frame in dicodec.decode_video(data): ...    # frames decoded one at a time
>>> codec = dicodec.Codec(device="cuda")           # loaded once: encode, decode, encode_many, decode_many
"""

from dicodec.api import (
    add_model,
    decode,
    decode_video,
    encode,
    encode_video,
    fetch_model,
    inspect,
    inspect_video,
    list_models,
    load_codec,
)
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
    VideoError,
    WeightsMismatch,
)
from dicodec.images import read_image
from dicodec.session import Codec, Result
from dicodec.version import __version__

__all__ = [
    "encode",
    "decode",
    "inspect",
    "encode_video",
    "decode_video",
    "inspect_video",
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
    "VideoError",
    "UnavailableError",
    "__version__",
]
