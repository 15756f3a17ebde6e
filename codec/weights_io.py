"""Saving and loading weights files as safetensors (no pickle), with hash checks: codec and DiT decoder.

What a shipped codec file holds:

* float parameters of the transforms as fp16 (halves the size; decoding quality is unchanged because the
  synthesis runs in float32 after loading);
* the integer tensors that define entropy decoding exactly: int16 weights and int64 biases of the exact
  networks, int32 CDF tables. The float copies of the exact networks' weights are left out: decoding
  never reads them;
* metadata: architecture name, config JSON, package version (as STYLE.md asks, like DC-AE / CompressAI
  zoo files).

A generative (DiT) decoder file holds its tensors as fp16 except the latent normalisation statistics,
and its decoder and DiT configs in the metadata.

Every weights file is opened by one guarded reader, :func:`read_weights_file`: a missing file, a hash
that differs, a damaged header, a wrong architecture or metadata that does not parse all become a
:class:`~dicodec.errors.DicodecError` subclass (exit code 1 in the CLI), never a bare exception.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from dicodec.codec.config import CodecConfig
from dicodec.codec.dit import DiTConfig
from dicodec.codec.fixed_point import ExactConv2d
from dicodec.codec.generative_decoder import GenerativeConfig, GenerativeDecoder
from dicodec.codec.model import ImageCodec
from dicodec.codec.model_store import sha256_file
from dicodec.errors import ModelError, WeightsMismatch

ARCH = "dicodec.ImageCodec"
DECODER_ARCH = "dicodec.GenerativeDecoder"
# Old checkpoint key -> new key (CompressAI ``rename_key`` idea); empty until a rename happens.
KEY_MIGRATIONS: dict[str, str] = {}
_DECODER_FP32_KEYS = ("latent_mean", "latent_std")  # normalisation statistics stay exact

__all__ = [
    "ARCH",
    "DECODER_ARCH",
    "load_codec_file",
    "load_decoder_file",
    "load_fp32_state",
    "no_init",
    "read_metadata",
    "read_weights_file",
    "save_codec",
    "save_decoder",
    "sha256_file",
]


# The in-place initialisers of torch.nn.init that module constructors call (Conv2d's kaiming_uniform_,
# DiT's xavier_uniform_ / normal_ / zeros_ ...).
_INIT_FUNCTIONS = (
    "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_",
)  # fmt: skip
_NO_INIT_LOCK = threading.Lock()


@contextlib.contextmanager
def no_init() -> Iterator[None]:
    """Build modules without initialising their parameters, for a model whose every value a file replaces.

    Random initialisation writes every parameter, and in a fresh process each written page is a page
    fault: building ``hp32-v6`` took 0.19-0.35 s and ``dit-ic-s-v5`` more on the 2-core CPU, all of it
    thrown away by the load. Inside this block ``torch.nn.init``'s in-place initialisers do nothing
    (the way Hugging Face's ``no_init_weights`` builds models to load), so parameters hold whatever
    ``torch.empty`` gave them until :func:`load_fp32_state` replaces them. Buffers (built with
    ``torch.zeros`` and the like) are built as usual. The patch is process-wide, so it is held
    under a lock and only around a constructor.
    """
    with _NO_INIT_LOCK:
        saved = {n: getattr(torch.nn.init, n) for n in _INIT_FUNCTIONS if hasattr(torch.nn.init, n)}

        def skip(tensor: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
            return tensor

        try:
            for name in saved:
                setattr(torch.nn.init, name, skip)
            yield
        finally:
            for name, function in saved.items():
                setattr(torch.nn.init, name, function)


def load_fp32_state(
    model: torch.nn.Module,
    state: dict[str, torch.Tensor],
    strict: bool = True,
    device: torch.device | str | None = None,
):
    """Load ``state`` into ``model`` by adopting one copy of each tensor instead of copying twice.

    ``load_state_dict`` copies into the parameters the constructor allocated, a second pass over the
    weights (0.1-0.37 s of a fresh process for ``hp32-v6``). Here each file tensor is copied once, to
    the dtype the model keeps (float32 from the file's fp16; other tensors as they are), and
    ``assign=True`` makes that copy the parameter or buffer. The copy is needed anyway: safetensors'
    tensors are views of the memory-mapped file, which must not stay behind a loaded model (a
    replaced or truncated file would change its weights after the hash check, or crash it).
    With ``device`` (a GPU) the file's tensors go there first and are widened there: half the bytes
    to copy and no float32 pass on the host. Tensors the file lacks stay where the model has them.
    Returns what ``load_state_dict`` returns (missing and unexpected keys); a tensor of the wrong
    shape raises ``RuntimeError`` as there.
    """
    reference = model.state_dict()
    for key, value in state.items():
        target = reference.get(key)
        dtype = target.dtype if target is not None and target.is_floating_point() else value.dtype
        moved = value if device is None else value.to(device)
        state[key] = moved.to(dtype, copy=moved is value)  # one copy in every case, never the file's
    return model.load_state_dict(state, strict=strict, assign=True)


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
    from dicodec.version import __version__

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


def read_weights_file(
    path: str | Path, arch: str, expected_sha256: str | None = None
) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """The metadata and tensors of a weights file of architecture ``arch``, checked in the order that
    costs least: the file exists, its sha256 (before a byte is parsed), its header, its architecture.

    Raises:
        ModelError: missing or unreadable file, or another architecture.
        WeightsMismatch: the file's sha256 differs from ``expected_sha256``.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"weights file not found: {path}")
    if expected_sha256 is not None:
        try:
            actual = sha256_file(path)
        except OSError as exc:
            raise ModelError(f"cannot read weights file {path}: {exc.strerror or exc}") from exc
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
    if meta.get("arch") != arch:
        raise ModelError(f"{path.name}: architecture {meta.get('arch')!r} is not {arch!r}")
    return meta, state


def _config(path: Path, meta: dict[str, str], key: str, cls: type):
    """``cls(**json.loads(meta[key]))``, or a ModelError naming the file when the metadata is damaged."""
    try:
        return cls(**json.loads(meta[key]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path.name}: its {key} metadata is missing or invalid ({exc})") from exc


def load_codec_file(
    path: str | Path, expected_sha256: str | None = None, device: torch.device | str | None = None
) -> ImageCodec:
    """Build an :class:`ImageCodec` from a safetensors file, verifying its hash first.

    The float copies of the exact networks' weights, which the file leaves out, are left uninitialised
    (decoding never reads them; writing them would cost a pass over 21 MB of ``hp32-v7``): training
    on a loaded model starts with ``ExactConv2d.thaw()``, as ``warm_start`` does. ``device``: where
    the file's tensors are put (:func:`load_fp32_state`); the caller moves the model there.

    Raises:
        ModelError: missing or unreadable file, wrong architecture, or missing tensors.
        WeightsMismatch: the file's sha256 differs from ``expected_sha256``.
    """
    path = Path(path)
    meta, state = read_weights_file(path, ARCH, expected_sha256)
    config = _config(path, meta, "config", CodecConfig)
    with no_init():  # every parameter decoding reads comes from the file
        model = ImageCodec(config)
    state = {KEY_MIGRATIONS.get(k, k): v for k, v in state.items()}
    model.latent_codec.resize_buffers_for(state, "latent_codec.")
    if model.detail_codec is not None:
        model.detail_codec.resize_buffers_for(state, "detail_codec.")
    try:
        missing, unexpected = load_fp32_state(model, state, strict=False, device=device)
    except RuntimeError as exc:  # a tensor of the wrong shape
        raise ModelError(f"{path.name}: {' '.join(str(exc).split())[:200]}") from exc
    missing = set(missing) - _exact_float_keys(model)
    if missing or unexpected:
        raise ModelError(f"{path.name}: missing tensors {sorted(missing)[:3]}, unexpected {unexpected[:3]}")
    for latent_codec in model.latent_codecs():
        latent_codec._tables = None
    return model.eval()


def save_decoder(decoder: GenerativeDecoder, path: str | Path, name: str, extra: dict | None = None) -> str:
    """Write a generative decoder as fp16 safetensors with arch/config metadata; returns its sha256."""
    from dicodec.version import __version__

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


def load_decoder_file(
    path: str | Path, expected_sha256: str | None = None, device: torch.device | str | None = None
) -> GenerativeDecoder:
    """Build a :class:`GenerativeDecoder` from a file written by :func:`save_decoder` (hash-checked;
    ``device``: where the file's tensors go, as in :func:`load_fp32_state`).

    Raises:
        ModelError: missing or unreadable file, wrong architecture, or tensors that do not fit.
        WeightsMismatch: the file's sha256 differs from ``expected_sha256``.
    """
    path = Path(path)
    meta, state = read_weights_file(path, DECODER_ARCH, expected_sha256)
    config = _config(path, meta, "config", GenerativeConfig)
    dit_config = _config(path, meta, "dit_config", DiTConfig)
    with no_init():  # every tensor comes from the file (strict load)
        decoder = GenerativeDecoder(config, dit_config)
    try:
        load_fp32_state(decoder, state, device=device)
    except RuntimeError as exc:  # missing, unexpected or misshapen tensors
        raise ModelError(f"{path.name}: {' '.join(str(exc).split())[:200]}") from exc
    return decoder.eval()
