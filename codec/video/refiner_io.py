"""Weights files of the video refiner (video DiT + conditioning adaptor): safetensors, named, hash-checked.

In the style of :mod:`dicodec.codec.video.models` (inter models) and of the image decoder's files
(:func:`dicodec.codec.weights_io.save_decoder`): one fp16 file holds both networks (keys ``dit.*`` and
``adaptor.*``), the latent normalisation statistics stay fp32 (they define the units), and the metadata
carries the architecture tag, the refiner's name, the image codec it was trained on (its latents are
the only ones it knows), the config JSON and the package version. Loading verifies the sha256 before a
byte is parsed (:func:`~dicodec.codec.weights_io.read_weights_file`). No refiner ships yet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from safetensors.torch import save_file
from torch import nn

from dicodec.codec.model_store import sha256_file
from dicodec.codec.video.refiner import ConditioningAdaptor, VideoDiT, VideoDiTConfig
from dicodec.codec.weights_io import load_fp32_state, no_init, read_weights_file
from dicodec.errors import ModelError

ARCH = "dicodec.VideoRefiner"
_FP32_KEYS = ("dit.latent_mean", "dit.latent_std")


@dataclass(frozen=True)
class RefinerFile:
    """A loaded refiner file: its name, the image codec it belongs to, its sha256 and both networks."""

    name: str
    codec: str
    sha256: str
    refiner: VideoDiT
    adaptor: ConditioningAdaptor

    @property
    def weights_hash(self) -> bytes:
        """First 8 bytes of the sha256, as a ``.dicv`` header names its models."""
        return bytes.fromhex(self.sha256[:16])


def _pair(refiner: VideoDiT, adaptor: ConditioningAdaptor) -> nn.ModuleDict:
    return nn.ModuleDict({"dit": refiner, "adaptor": adaptor})


def save_refiner(
    refiner: VideoDiT,
    adaptor: ConditioningAdaptor,
    path: str | Path,
    name: str,
    codec: str,
    extra: dict | None = None,
) -> str:
    """Write both networks as fp16 safetensors (statistics fp32); returns the file's sha256."""
    from dicodec.version import __version__

    if refiner.config != adaptor.config:
        raise ValueError("the refiner and the adaptor were built from different configs")
    state = {
        k: (v.detach().cpu().float() if k in _FP32_KEYS else v.detach().cpu().half()).contiguous()
        for k, v in _pair(refiner, adaptor).state_dict().items()
    }
    metadata = {
        "arch": ARCH,
        "name": name,
        "codec": codec,
        "config": json.dumps(refiner.config.to_dict(), sort_keys=True),
        "dicodec_version": __version__,
    }
    if extra:
        metadata["training"] = json.dumps(extra, sort_keys=True)
    save_file(state, str(path), metadata=metadata)
    return sha256_file(path)


def load_refiner_file(path: str | Path, expected_sha256: str | None = None) -> RefinerFile:
    """Build the refiner and adaptor of a file written by :func:`save_refiner` (strict, hash-checked).

    Raises:
        ModelError: missing or unreadable file, another architecture, damaged metadata, tensors that
            do not fit the config.
        WeightsMismatch: the file's sha256 differs from ``expected_sha256``.
    """
    path = Path(path)
    meta, state = read_weights_file(path, ARCH, expected_sha256)
    try:
        config = VideoDiTConfig(**json.loads(meta["config"]))
        name, codec = meta["name"], meta["codec"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path.name}: its metadata is missing or invalid ({exc})") from exc
    with no_init():  # every tensor comes from the file
        refiner, adaptor = VideoDiT(config), ConditioningAdaptor(config)
    try:
        load_fp32_state(_pair(refiner, adaptor), state)
    except RuntimeError as exc:  # missing, unexpected or misshapen tensors
        raise ModelError(f"{path.name}: {' '.join(str(exc).split())[:200]}") from exc
    sha = expected_sha256 or sha256_file(path)
    return RefinerFile(name, codec, sha, refiner.eval(), adaptor.eval())
