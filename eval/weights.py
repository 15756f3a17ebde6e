"""Finding the weight files of the learned metrics on disk, without ever downloading them.

LPIPS, DISTS, FID and KID are only comparable with published numbers when they run with the exact
ImageNet-trained backbones their authors used. Silently using random or substitute weights would
produce plausible-looking nonsense, so each learned metric either finds a verified file on disk or
is reported as "not measured (weights not found: ...)".

Two kinds of file are accepted:

* **Converted files** (``*.safetensors``), written once by ``dicodec eval-weights fetch``
  (:mod:`dicodec.eval.weights_fetch`) into the cache folder :func:`cache_dir`. Their tensors are
  checked against a pinned digest (:func:`tensors_sha256`), so a file that is corrupt, truncated or
  converted by other code is rejected, whatever its name.
* **Official files** under the name the official code downloads them as (torchvision's
  ``alexnet-owt-7be5be79.pth``...), whose name embeds a sha256 prefix that is verified.

Search order: ``--weights-dir`` (and its ``checkpoints/`` subfolder), ``$DICODEC_EVAL_WEIGHTS`` (and
its ``checkpoints/``), the dicodec cache (:func:`cache_dir`), the torch hub checkpoint folder
(``torch.hub.get_dir()/checkpoints``, where torchvision, lpips, piq and pytorch-fid cache their
downloads), then for the DISTS head the folder of an installed ``DISTS_pytorch`` package.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

FETCH_COMMAND = "dicodec eval-weights fetch"  # the one command that fills the cache


@dataclass(frozen=True)
class ConvertedFile:
    """A file ``dicodec eval-weights fetch`` writes: its name and the digest of its tensors."""

    filename: str
    tensors_sha256: str  # :func:`tensors_sha256` of the converted tensors, measured once and pinned


@dataclass(frozen=True)
class WeightSpec:
    """One weight file a metric needs: the names it is known under and where it comes from."""

    key: str
    filenames: tuple[str, ...]  # official names, in the order they are tried
    sha256_prefix: str | None  # torch hub convention: the hex after the last '-' in the file name
    origin: str
    used_by: tuple[str, ...]
    converted: ConvertedFile | None = None  # tried before the official names in every folder


WEIGHTS: dict[str, WeightSpec] = {
    w.key: w
    for w in [
        WeightSpec(
            "alexnet",
            ("alexnet-owt-7be5be79.pth",),
            "7be5be79",
            "torchvision AlexNet_Weights.IMAGENET1K_V1 (the backbone LPIPS v0.1 was calibrated on)",
            ("lpips",),
            ConvertedFile(
                "alexnet_imagenet1k_v1.safetensors",
                "99345c1467d7717281e9b6eca5c3f950bef4c9a864ffbd728a2bd7d2fc82c27b",
            ),
        ),
        WeightSpec(
            "vgg16",
            ("vgg16-397923af.pth",),
            "397923af",
            "torchvision VGG16_Weights.IMAGENET1K_V1 (the backbone of LPIPS-VGG and DISTS)",
            ("lpips_vgg", "dists"),
            ConvertedFile(
                "vgg16_imagenet1k_v1.safetensors",
                "4aaa5c55796ae622009ff803a64bb00c2f4e75e3434efa3e9c08cbe90af00eba",
            ),
        ),
        WeightSpec(
            "dists_head",
            ("dists_weights.pt", "DISTS_weights.pt", "weights.pt"),
            None,
            "DISTS alpha/beta: weights.pt of the official DISTS_pytorch package (piq: dists_weights.pt)",
            ("dists",),
            ConvertedFile(
                "dists_alpha_beta.safetensors",
                "96bf05b1bf2a091d8e42a788383727ba15b38cad576dd0d9e674948a26176820",
            ),
        ),
        WeightSpec(
            "fid_inception",
            ("pt_inception-2015-12-05-6726825d.pth",),
            "6726825d",
            "pytorch-fid's port of the TF Inception graph 2015-12-05 used by the reference FID code",
            ("fid", "kid"),
        ),
    ]
}


class WeightsNotFound(FileNotFoundError):
    """A weight file is missing; the message lists every place that was searched."""


def cache_dir() -> Path:
    """Where ``dicodec eval-weights fetch`` writes converted files and where they are looked for.

    ``$DICODEC_HOME/metrics`` if ``DICODEC_HOME`` is set, else ``$XDG_CACHE_HOME/dicodec/metrics``
    (``~/.cache/dicodec/metrics`` when ``XDG_CACHE_HOME`` is unset).
    """
    home = os.environ.get("DICODEC_HOME")
    if home:
        return Path(home).expanduser() / "metrics"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "dicodec" / "metrics"


def search_dirs(weights_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """The folders searched for weight files, in order, without duplicates."""
    dirs: list[Path] = []
    for base in (weights_dir, os.environ.get("DICODEC_EVAL_WEIGHTS")):
        if base:
            dirs += [Path(base), Path(base) / "checkpoints"]
    dirs.append(cache_dir())
    try:
        import torch.hub

        dirs.append(Path(torch.hub.get_dir()) / "checkpoints")
    except Exception:  # pragma: no cover - torch is a hard dependency, but never crash a report
        pass
    dirs.append(Path.home() / ".cache" / "torch" / "hub" / "checkpoints")
    out: list[Path] = []
    for d in dirs:
        d = d.expanduser()
        if d not in out:
            out.append(d)
    return out


@functools.lru_cache(maxsize=64)
def _file_sha256(path: Path, size: int, mtime_ns: int) -> str:
    from dicodec.codec.model_store import sha256_file

    return sha256_file(path)


def sha256_of(path: Path) -> str:
    """sha256 of a file's bytes (cached per path, size and modification time: a replaced file is re-read)."""
    st = path.stat()
    return _file_sha256(path, st.st_size, st.st_mtime_ns)


def tensors_sha256(tensors: Mapping[str, torch.Tensor]) -> str:
    """A digest of named tensors that does not depend on how they were serialised.

    sha256 over, for each name in sorted order, ``name|dtype|shape`` and the raw little-endian
    bytes of the tensor. A safetensors file's own bytes depend on its metadata and on the library
    version that wrote it; this digest changes only when a value, a shape, a dtype or a name does.
    """
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        arr = t.numpy()
        h.update(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())
    return h.hexdigest()


def load_converted(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The tensors of a converted ``.safetensors`` file (no pickle involved)."""
    from safetensors.torch import load_file

    return load_file(os.fspath(path), device="cpu")


@functools.lru_cache(maxsize=16)
def _converted_digest(path: Path, size: int, mtime_ns: int) -> str:
    return tensors_sha256(load_converted(path))  # keyed on size and mtime: a replaced file is re-read


def converted_digest(path: Path) -> str:
    """:func:`tensors_sha256` of a converted file (cached per file version)."""
    st = path.stat()
    return _converted_digest(path, st.st_size, st.st_mtime_ns)


def _check(path: Path, spec: WeightSpec) -> str | None:
    """Why ``path`` must be rejected for ``spec``, or None if it is good."""
    conv = spec.converted
    if conv is not None and path.name == conv.filename:
        try:
            digest = converted_digest(path)
        except Exception as e:  # a truncated or foreign file is rejected, not a crash
            return f"{path} (unreadable: {type(e).__name__}: {' '.join(str(e).split())})"
        if digest != conv.tensors_sha256:
            return f"{path} (tensors sha256 {digest[:16]}... is not the pinned {conv.tensors_sha256[:16]}...)"
        return None
    if spec.sha256_prefix and not sha256_of(path).startswith(spec.sha256_prefix):
        return f"{path} (sha256 does not start with {spec.sha256_prefix})"
    return None


def find_weight(key: str, weights_dir: str | os.PathLike[str] | None = None) -> Path:
    """Path of the weight file ``key`` (see :data:`WEIGHTS`), verified where a hash is known.

    In each folder the converted file is tried first, then the official names.

    Raises:
        WeightsNotFound: no file found, or only files that fail their hash check.
    """
    spec = WEIGHTS[key]
    dirs = search_dirs(weights_dir)
    if key == "dists_head":
        pkg = importlib.util.find_spec("DISTS_pytorch")
        if pkg is not None and pkg.origin:
            dirs.append(Path(pkg.origin).parent)
    names = ((spec.converted.filename,) if spec.converted else ()) + spec.filenames
    bad: list[str] = []
    for d in dirs:
        for name in names:
            p = d / name
            if not p.is_file():
                continue
            reason = _check(p, spec)
            if reason:
                bad.append(reason)
                continue
            return p
    searched = ", ".join(str(d) for d in dirs)
    extra = f"; rejected: {'; '.join(bad)}" if bad else ""
    hint = f"; run '{FETCH_COMMAND}' to get it" if spec.converted else ""
    raise WeightsNotFound(f"{' or '.join(names)} ({spec.origin}) not in {searched}{extra}{hint}")
