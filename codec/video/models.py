"""Contextual inter-frame models: weights files and the names a video header gives them.

A ``.dicv`` file names its inter model by string plus the first 8 bytes of its weights' SHA-256, as an
image file names its codec, so a clip never decodes with other weights than it was coded with. No
trained inter model ships yet: a clip is coded with the training-free temporal-mean scheme
(:class:`~dicodec.codec.video.contextual.TemporalMeanInter`) unless an inter model is registered here, by
file (:func:`register_file`, e.g. the output of ``dicodec.codec.training.video_train``) or in memory
(:func:`register`, tests).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file

from dicodec.codec.config import CodecConfig
from dicodec.codec.model_store import sha256_file
from dicodec.codec.video.contextual import ContextualLatentCodec
from dicodec.codec.weights_io import export_state, load_fp32_state, no_init, read_weights_file
from dicodec.errors import ModelError, UnknownModel, WeightsMismatch

ARCH = "dicodec.ContextualLatentCodec"


@dataclass(frozen=True)
class InterEntry:
    """A registered inter model: its name, the image codec it was trained on, its weights hash."""

    name: str
    codec: str
    sha256: str
    module: ContextualLatentCodec

    @property
    def weights_hash(self) -> bytes:
        return bytes.fromhex(self.sha256[:16])


_INTER: dict[str, InterEntry] = {}


def register(name: str, codec: str, module: ContextualLatentCodec, sha256: str) -> InterEntry:
    """Register an (``update()``-d) inter model for the image codec ``codec``."""
    entry = InterEntry(name, codec, sha256, module.eval())
    _INTER[name] = entry
    return entry


def unregister(name: str) -> None:
    _INTER.pop(name, None)


def save(
    model: ContextualLatentCodec, path: str | Path, name: str, codec: str, extra: dict | None = None
) -> str:
    """Write ``model`` (already ``update()``-d) as safetensors; returns the file's sha256."""
    from dicodec.version import __version__

    metadata = {
        "arch": ARCH,
        "name": name,
        "codec": codec,
        "config": json.dumps(model.config.to_dict(), sort_keys=True),
        "context_hidden": str(model.context_hidden),
        "dicodec_version": __version__,
    }
    if extra:
        metadata["training"] = json.dumps(extra, sort_keys=True)
    save_file(export_state(model), str(path), metadata=metadata)  # type: ignore[arg-type]
    return sha256_file(path)


def register_file(path: str | Path) -> str:
    """Load an inter model file written by :func:`save` and register it; returns its name.

    Raises:
        ModelError: not such a file, or damaged.
    """
    path = Path(path)
    meta, state = read_weights_file(path, ARCH)
    try:
        config = CodecConfig(**json.loads(meta["config"]))
        hidden = int(meta["context_hidden"])
        name, codec = meta["name"], meta["codec"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path.name}: its metadata is missing or invalid ({exc})") from exc
    with no_init():
        model = ContextualLatentCodec(config, hidden)
    model.resize_buffers_for(state, "")
    try:
        missing, unexpected = load_fp32_state(model, state, strict=False)
    except RuntimeError as exc:
        raise ModelError(f"{path.name}: {' '.join(str(exc).split())[:200]}") from exc
    missing = {k for k in missing if not k.endswith((".conv.weight", ".conv.bias"))}
    if missing or unexpected:
        raise ModelError(f"{path.name}: missing tensors {sorted(missing)[:3]}, unexpected {unexpected[:3]}")
    model._tables = None
    register(name, codec, model, sha256_file(path))
    return name


def resolve(name_or_file: str | Path) -> str:
    """The registered name of ``name_or_file``: a weights file is registered first (:func:`register_file`),
    anything else is taken as a name (checked when it is used).

    Raises:
        ModelError: an existing file that is not an inter model.
    """
    path = Path(name_or_file)
    if path.is_file():
        return register_file(path)
    return str(name_or_file)


def get(name: str, device: torch.device, weights_hash: bytes | None = None) -> ContextualLatentCodec:
    """The registered inter model ``name`` on ``device``, checked against a file's weights hash.

    Raises:
        UnknownModel: no inter model of that name is registered.
        WeightsMismatch: its weights are not the ones the file was coded with.
    """
    entry = lookup(name)
    if weights_hash is not None and weights_hash != entry.weights_hash:
        raise WeightsMismatch(
            f"file was coded with {name} weights {weights_hash.hex()}, registered are {entry.sha256[:16]}"
        )
    return entry.module.to(device)


def lookup(name: str) -> InterEntry:
    """The registered entry ``name``, or ``UnknownModel`` saying that none ships."""
    if name not in _INTER:
        known = ", ".join(sorted(_INTER)) or "none"
        raise UnknownModel(
            f"inter model {name!r} is not registered (registered: {known}); no inter model ships with "
            "this release, so clips coded with one decode only where its weights file is registered"
        )
    return _INTER[name]
