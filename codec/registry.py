"""Registry of codec models: a name (with a version) -> config, weights file, sha256, decode modes.

Bitstreams name their model by this string plus a hash of the weights file, never by position in a
list (the mistake STYLE.md points out in CompressAI's ``examples/codec.py``), so a file written today
decodes with the same weights tomorrow or fails with a clear error.
Every codec of the model zoo (:mod:`dicodec.codec.zoo`, ``weights/zoo.json``) is registered, retired
ones included: their weights are found, or fetched, by :mod:`dicodec.codec.model_store` when a
module is first loaded, so registering costs nothing and no file is touched before it is needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from dicodec.codec import model_store, zoo
from dicodec.codec.config import PRESETS, CodecConfig
from dicodec.errors import ModelError, UnavailableError, UnknownModel, WeightsMismatch

WEIGHTS_DIR = Path(__file__).with_name("weights")


@dataclass(frozen=True)
class ModelEntry:
    """One registered codec.

    Args:
        name: registry name carrying a version, e.g. ``"hp32-v1"``; written into bitstreams.
        preset: architecture preset in :data:`~dicodec.codec.config.PRESETS`.
        weights: path of the safetensors file; ``None`` for in-memory test models and for zoo models
            outside the package (their file is found in the cache, or fetched, when loaded).
        sha256: full hex digest of the weights file; its first 8 bytes go into bitstreams.
        description: one line for ``dicodec models``.
        decode_modes: what ``decode(mode=...)`` accepts with these weights.
        bitstream_version: format version the model writes.
        generative_name: zoo name of the paired DiT decoder (zoo entries only).
        from_zoo: the entry is the zoo's, so its files are located through the model store.
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
    generative_name: str = ""
    from_zoo: bool = False
    auto_generative_up_to: int | None = None  # see zoo.ZooModel

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


def _load_zoo() -> None:
    """Register every codec of the zoo; the files inside the package get their paths now."""
    models = zoo.models()
    for model in models.values():
        if model.kind != "codec":
            continue
        decoder = models.get(model.generative)
        _REGISTRY.setdefault(
            model.name,
            ModelEntry(
                name=model.name,
                preset=model.preset,
                weights=WEIGHTS_DIR / model.file if model.shipped else None,
                sha256=model.sha256,
                description=model.description,
                decode_modes=model.decode_modes,
                bitstream_version=model.bitstream_version,
                default=model.default,
                generative_weights=WEIGHTS_DIR / decoder.file if decoder and decoder.shipped else None,
                generative_sha256=decoder.sha256 if decoder else "",
                generative_name=decoder.name if decoder else "",
                from_zoo=True,
                auto_generative_up_to=model.auto_generative_up_to,
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
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise UnknownModel(f"unknown model {name!r} (registered: {known})")
    return _REGISTRY[name]


def _weights_file(name: str, path: Path | None, from_zoo: bool, offline: bool | None) -> Path:
    """The file to load for zoo model ``name`` (installed first if need be), else ``path``."""
    model = zoo.models().get(name) if from_zoo else None
    if model is not None:
        return model_store.ensure(model, offline=offline)
    if path is None:
        raise ModelError(f"model {name} has no weights file")
    return path


def _hint_if_cached(exc: WeightsMismatch, path: Path, name: str) -> WeightsMismatch:
    """A damaged cache file: say which file to delete so that it can be installed again."""
    if path.parent != WEIGHTS_DIR and name in zoo.models():
        return WeightsMismatch(f"{exc}; delete {path} and install it again ('dicodec models fetch {name}')")
    return exc


def load(
    name: str | None = None, device: torch.device | str = "cpu", offline: bool | None = None
) -> torch.nn.Module:
    """The codec for ``name`` on ``device``, loaded once per process and hash-checked.

    A zoo model that is not installed is downloaded first, unless ``offline`` (default: the
    ``DICODEC_OFFLINE`` environment variable) forbids it.

    Raises:
        ModelNotInstalled: not installed, and it may not or cannot be downloaded.
        WeightsMismatch: the file is not the one the registry names.
    """
    from dicodec.codec.weights_io import load_codec_file

    entry = get_entry(name)
    key = (entry.name, "codec", str(device))
    if key not in _LOADED:
        model = _IN_MEMORY.get((entry.name, "codec"))
        if model is None:
            path = _weights_file(entry.name, entry.weights, entry.from_zoo, offline)
            try:
                model = load_codec_file(path, expected_sha256=entry.sha256, device=device)
            except WeightsMismatch as exc:
                raise _hint_if_cached(exc, path, entry.name) from exc
            if model.config != entry.config:
                raise ModelError(f"{path.name} holds a {model.config} model, not preset {entry.preset!r}")
        _LOADED[key] = model.to(device).eval()
    return _LOADED[key]


def generative_decoders(name: str) -> list[str]:
    """Zoo names of every DiT decoder released for codec ``name``, oldest first."""
    return sorted(m.name for m in zoo.models().values() if m.kind == "generative" and m.codec == name)


def load_generative(
    name: str | None = None,
    device: torch.device | str = "cpu",
    offline: bool | None = None,
    decoder: str | None = None,
) -> torch.nn.Module:
    """The generative (DiT-IC) decoder paired with codec ``name``, loaded once and hash-checked.

    Args:
        decoder: zoo name of another decoder released for this codec (e.g. ``dit-ic-s-v1``, which
            dicodec 0.3 paired with ``hp32-v3`` before ``dit-ic-s-v2``); default: the zoo's pairing.

    Raises:
        UnavailableError: the model has no generative decoder, or ``decoder`` is not one of its own.
        ModelNotInstalled: its file is not installed and may not or cannot be downloaded.
    """
    entry = get_entry(name)
    if decoder is not None and decoder != entry.generative_name:
        if decoder not in generative_decoders(entry.name):
            known = ", ".join(generative_decoders(entry.name)) or "none"
            raise UnavailableError(f"{decoder!r} is not a decoder of {entry.name} (released: {known})")
        return _load_decoder(entry.name, zoo.models()[decoder], device, offline)
    key = (entry.name, "generative", str(device))
    if key not in _LOADED:
        module = _IN_MEMORY.get((entry.name, "generative"))
        if module is None:
            if entry.generative_name:
                return _load_decoder(entry.name, zoo.models()[entry.generative_name], device, offline)
            if entry.generative_weights is None:
                raise UnavailableError(f"model {entry.name} has no generative decoder weights")
            from dicodec.codec.weights_io import load_decoder_file

            module = load_decoder_file(
                entry.generative_weights, expected_sha256=entry.generative_sha256, device=device
            )
        _LOADED[key] = module.to(device).eval()
    return _LOADED[key]


def _load_decoder(codec: str, model: zoo.ZooModel, device: torch.device | str, offline: bool | None):
    from dicodec.codec.weights_io import load_decoder_file

    key = (codec, f"generative:{model.name}", str(device))
    if key not in _LOADED:
        path = model_store.ensure(model, offline=offline)
        try:
            module = load_decoder_file(path, expected_sha256=model.sha256, device=device)
        except WeightsMismatch as exc:
            raise _hint_if_cached(exc, path, model.name) from exc
        _LOADED[key] = module.to(device).eval()
    return _LOADED[key]
