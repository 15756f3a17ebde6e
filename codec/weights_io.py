"""Saving and loading weights files as safetensors (no pickle), with hash checks: codec and DiT decoder.

What a shipped file holds:

* float parameters of the transforms as fp16 (halves the size; decoding quality is unchanged because the
  synthesis runs in float32 after loading);
* the integer tensors that define entropy decoding exactly: int16 weights and int64 biases of the exact
  networks, int32 CDF tables. The float copies of the exact networks' weights are left out: decoding
  never reads them;
* metadata: architecture name, config JSON, package version (as STYLE.md asks, like DC-AE / CompressAI
  zoo files).

A generative (DiT) decoder file holds its tensors as fp16 except the latent normalisation statistics,
and its decoder and DiT configs in the metadata.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from dicodec.codec.config import CodecConfig
from dicodec.codec.dit import DiTConfig
from dicodec.codec.fixed_point import ExactConv2d
from dicodec.codec.generative_decoder import GenerativeConfig, GenerativeDecoder
from dicodec.codec.model import ImageCodec
from dicodec.errors import ModelError, WeightsMismatch

ARCH = "dicodec.ImageCodec"
DECODER_ARCH = "dicodec.GenerativeDecoder"
# Old checkpoint key -> new key (CompressAI ``rename_key`` idea); empty until a rename happens.
KEY_MIGRATIONS: dict[str, str] = {}
_DECODER_FP32_KEYS = ("latent_mean", "latent_std")  # normalisation statistics stay exact


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _exact_float_keys(model: ImageCodec) -> set[str]:
    keys = set()
    for name, module in model.named_modules():
        if isinstance(module, ExactConv2d):
            keys |= {f"{name}.conv.weight", f"{name}.conv.bias"}
    return keys


def export_state(model: ImageCodec) -> dict[str, torch.Tensor]:
    """The tensors of a shipped file (model must be ``update()``-d)."""
    skip = _exact_float_keys(model)
    out = {}
    for key, value in model.state_dict().items():
        if key in skip:
            continue
        value = value.detach().cpu()
        out[key] = value.half() if value.is_floating_point() else value.contiguous()
    return out


def save_codec(model: ImageCodec, path: str | Path, name: str, extra: dict | None = None) -> str:
    """Write ``model`` (already ``update()``-d) to ``path``; returns the file's sha256."""
    from dicodec import __version__

    metadata = {
        "arch": ARCH,
        "name": name,
        "config": json.dumps(model.config.to_dict(), sort_keys=True),
        "dicodec_version": __version__,
    }
    if extra:
        metadata["training"] = json.dumps(extra, sort_keys=True)
    save_file(export_state(model), str(path), metadata=metadata)
    return sha256_file(path)


def read_metadata(path: str | Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


def load_codec_file(path: str | Path, expected_sha256: str | None = None) -> ImageCodec:
    """Build an :class:`ImageCodec` from a safetensors file, verifying its hash first.

    Raises:
        ModelError: missing or unreadable file, wrong architecture, or missing tensors.
        WeightsMismatch: the file's sha256 differs from ``expected_sha256``.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"weights file not found: {path}")
    if expected_sha256 is not None:
        actual = sha256_file(path)
        if actual != expected_sha256:
            raise WeightsMismatch(
                f"weights file {path.name} has sha256 {actual[:16]}..., expected "
                f"{expected_sha256[:16]}...: the file is damaged or was replaced"
            )
    try:
        meta = read_metadata(path)
        state = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types on damaged headers
        raise ModelError(f"cannot read weights file {path}: {exc}") from exc
    if meta.get("arch") != ARCH:
        raise ModelError(f"{path.name}: architecture {meta.get('arch')!r} is not {ARCH!r}")
    config = CodecConfig(**json.loads(meta["config"]))
    model = ImageCodec(config)
    state = {KEY_MIGRATIONS.get(k, k): v for k, v in state.items()}
    model.latent_codec.resize_buffers_for(state, "latent_codec.")
    reference = model.state_dict()
    for key, value in state.items():
        if key in reference and reference[key].is_floating_point():
            state[key] = value.float()
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = set(missing) - _exact_float_keys(model)
    if missing or unexpected:
        raise ModelError(f"{path.name}: missing tensors {sorted(missing)[:3]}, unexpected {unexpected[:3]}")
    model.latent_codec._tables = None
    return model.eval()


def save_decoder(decoder: GenerativeDecoder, path: str | Path, name: str, extra: dict | None = None) -> str:
    """Write a generative decoder as fp16 safetensors with arch/config metadata; returns the file's sha256."""
    from dicodec import __version__

    state = {
        k: (v.detach().cpu().float() if k in _DECODER_FP32_KEYS else v.detach().cpu().half()).contiguous()
        for k, v in decoder.state_dict().items()
    }
    metadata = {
        "arch": DECODER_ARCH,
        "name": name,
        "config": json.dumps(decoder.config.to_dict(), sort_keys=True),
        "dit_config": json.dumps(decoder.dit.config.to_dict(), sort_keys=True),
        "dicodec_version": __version__,
    }
    if extra:
        metadata["training"] = json.dumps(extra, sort_keys=True)
    save_file(state, str(path), metadata=metadata)
    return sha256_file(path)


def load_decoder_file(path: str | Path, expected_sha256: str | None = None) -> GenerativeDecoder:
    """Build a :class:`GenerativeDecoder` from a file written by :func:`save_decoder` (hash-checked)."""
    if expected_sha256 is not None and sha256_file(path) != expected_sha256:
        raise WeightsMismatch(f"{Path(path).name}: sha256 differs from the expected one")
    meta = read_metadata(path)
    if meta.get("arch") != DECODER_ARCH:
        raise ModelError(f"{Path(path).name}: architecture {meta.get('arch')!r} is not {DECODER_ARCH!r}")
    config = GenerativeConfig(**json.loads(meta["config"]))
    decoder = GenerativeDecoder(config, DiTConfig(**json.loads(meta["dit_config"])))
    decoder.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
    return decoder.eval()
