"""Registry of codec models: a name (with a version) -> config, weights file, sha256, decode modes.

Bitstreams name their model by this string plus a hash of the weights file, never by position in a
list (the mistake STYLE.md points out in CompressAI's ``examples/codec.py``), so a file written today
decodes with the same weights tomorrow or fails with a clear error.
The shipped entries are read from ``weights/zoo.json`` next to the weight files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from dicodec.codec.config import PRESETS, CodecConfig
from dicodec.errors import ModelError, UnknownModel

WEIGHTS_DIR = Path(__file__).with_name("weights")
ZOO_FILE = WEIGHTS_DIR / "zoo.json"


@dataclass(frozen=True)
class ModelEntry:
    """One registered codec.

    Args:
        name: registry name carrying a version, e.g. ``"hp32-v1"``; written into bitstreams.
        preset: architecture preset in :data:`~dicodec.codec.config.PRESETS`.
        weights: path of the safetensors file (``None`` for in-memory test models).
        sha256: full hex digest of the weights file; its first 8 bytes go into bitstreams.
        description: one line for ``dicodec models``.
        decode_modes: what ``decode(mode=...)`` accepts with these weights.
        bitstream_version: format version the model writes.
    """

    name: str
    preset: str
    weights: Path | None
    sha256: str
    description: str = ""
    decode_modes: tuple[str, ...] = ("fast",)
    bitstream_version: str = "1.0"
    default: bool = False
    training: dict = field(default_factory=dict, compare=False)
    generative_weights: Path | None = None  # GenerativeDecoder file paired with these codec weights
    generative_sha256: str = ""

    @property
    def config(self) -> CodecConfig:
        return PRESETS[self.preset]

    @property
    def weights_hash(self) -> bytes:
        return bytes.fromhex(self.sha256[:16])


_REGISTRY: dict[str, ModelEntry] = {}
_IN_MEMORY: dict[tuple[str, str], torch.nn.Module] = {}  # (name, "codec" | "generative") -> module
_LOADED: dict[tuple[str, str, str], torch.nn.Module] = {}  # (name, part, device) -> module


def _forget(name: str) -> None:
    for key in [k for k in _LOADED if k[0] == name]:
        del _LOADED[key]


def register_codec(
    entry: ModelEntry, model: torch.nn.Module | None = None, generative: torch.nn.Module | None = None
) -> ModelEntry:
    """Add ``entry``; ``model`` / ``generative`` register in-memory modules (tests, experiments)."""
    _REGISTRY[entry.name] = entry
    for part, module in (("codec", model), ("generative", generative)):
        if module is not None:
            _IN_MEMORY[(entry.name, part)] = module
    _forget(entry.name)
    return entry


def register_files(codec_file: str | Path, decoder_file: str | Path | None = None, suffix: str = "") -> str:
    """Register a weights file outside the zoo (and a decoder file to pair with it); returns its name.

    For scripts that measure candidate weights before they ship (``scripts/rd_quick.py``,
    ``scripts/profile_decode.py``): the name is the one stored in the file plus ``suffix``, the preset
    the one whose config the file holds, the hashes those of the files as they are.
    """
    from dicodec.codec.weights_io import read_metadata, sha256_file

    meta = read_metadata(codec_file)
    config = CodecConfig(**json.loads(meta["config"]))  # files older than a config field get its default
    preset = next((k for k, v in PRESETS.items() if v == config), None)
    if preset is None:
        raise ModelError(f"{Path(codec_file).name}: its config matches no preset")
    entry = ModelEntry(
        name=meta.get("name", "unnamed") + suffix,
        preset=preset,
        weights=Path(codec_file),
        sha256=sha256_file(codec_file),
        decode_modes=("fast", "generative") if decoder_file else ("fast",),
        generative_weights=Path(decoder_file) if decoder_file else None,
        generative_sha256=sha256_file(decoder_file) if decoder_file else "",
    )
    register_codec(entry)
    return entry.name


def unregister_codec(name: str) -> None:
    _REGISTRY.pop(name, None)
    for part in ("codec", "generative"):
        _IN_MEMORY.pop((name, part), None)
    _forget(name)


# Models whose weights no longer ship (name -> what to do instead), so that decoding an old file says
# why it cannot, rather than only that the name is unknown.
RETIRED: dict[str, str] = {}


def _load_zoo() -> None:
    if not ZOO_FILE.is_file():
        return
    for name, item in json.loads(ZOO_FILE.read_text()).items():
        if "retired" in item:
            RETIRED[name] = item["retired"]
            continue
        generative = item.get("generative")  # optional DiT decoder file paired with the codec
        _REGISTRY.setdefault(
            name,
            ModelEntry(
                name=name,
                preset=item["preset"],
                weights=WEIGHTS_DIR / item["file"],
                sha256=item["sha256"],
                description=item.get("description", ""),
                decode_modes=tuple(item.get("decode_modes", ["fast"])),
                bitstream_version=item.get("bitstream_version", "1.0"),
                default=bool(item.get("default", False)),
                training=item.get("training", {}),
                generative_weights=WEIGHTS_DIR / generative["file"] if generative else None,
                generative_sha256=generative["sha256"] if generative else "",
            ),
        )


_load_zoo()


def entries() -> list[ModelEntry]:
    return list(_REGISTRY.values())


def default_name() -> str:
    for entry in _REGISTRY.values():
        if entry.default:
            return entry.name
    raise ModelError("no default model is registered (codec/weights/zoo.json is missing)")


def get_entry(name: str | None) -> ModelEntry:
    name = name or default_name()
    if name not in _REGISTRY:
        if name in RETIRED:
            raise UnknownModel(f"model {name!r} is no longer shipped: {RETIRED[name]}")
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise UnknownModel(f"unknown model {name!r} (registered: {known})")
    return _REGISTRY[name]


def load(name: str | None = None, device: torch.device | str = "cpu") -> torch.nn.Module:
    """The codec for ``name`` on ``device``, loaded once per process and hash-checked."""
    from dicodec.codec.weights_io import load_codec_file

    entry = get_entry(name)
    key = (entry.name, "codec", str(device))
    if key not in _LOADED:
        model = _IN_MEMORY.get((entry.name, "codec"))
        if model is None:
            model = load_codec_file(entry.weights, expected_sha256=entry.sha256, device=device)
            if model.config != entry.config:
                raise ModelError(
                    f"{entry.weights.name} holds a {model.config} model, not preset {entry.preset!r}"
                )
        _LOADED[key] = model.to(device).eval()
    return _LOADED[key]


def load_generative(name: str | None = None, device: torch.device | str = "cpu") -> torch.nn.Module:
    """The generative (DiT-IC) decoder paired with codec ``name``, loaded once and hash-checked.

    Raises:
        UnavailableError: the model ships no generative decoder.
    """
    from dicodec.errors import UnavailableError

    entry = get_entry(name)
    key = (entry.name, "generative", str(device))
    if key not in _LOADED:
        decoder = _IN_MEMORY.get((entry.name, "generative"))
        if decoder is None:
            if entry.generative_weights is None:
                raise UnavailableError(f"model {entry.name} has no generative decoder weights")
            from dicodec.codec.generative import load_decoder_file

            decoder = load_decoder_file(
                entry.generative_weights, expected_sha256=entry.generative_sha256, device=device
            )
        _LOADED[key] = decoder.to(device).eval()
    return _LOADED[key]
