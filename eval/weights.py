"""Finding the official weight files of the learned metrics, without ever downloading them.

LPIPS, DISTS, FID and KID are only comparable with published numbers when they run with the exact
ImageNet-trained backbones their authors used. This machine has no hub access, and silently using
random or substitute weights would produce plausible-looking nonsense, so each learned metric
either finds its official file on disk (by the file name the official code downloads it under,
which also embeds a sha256 prefix that we verify) or is reported as "not measured (weights not
found: ...)".

Search order: ``--weights-dir`` (and its ``checkpoints/`` subfolder), ``$DICODEC_EVAL_WEIGHTS``, the
torch hub checkpoint folder (``torch.hub.get_dir()/checkpoints``, i.e. ``$TORCH_HOME/hub/checkpoints``
or ``~/.cache/torch/hub/checkpoints``, where torchvision, lpips, piq and pytorch-fid cache their
downloads), then for the DISTS head the folder of an installed ``DISTS_pytorch`` package.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WeightSpec:
    """One official weight file: the names it is known under and where it comes from."""

    key: str
    filenames: tuple[str, ...]
    sha256_prefix: str | None  # torch hub convention: the hex after the last '-' in the file name
    origin: str
    used_by: tuple[str, ...]


WEIGHTS: dict[str, WeightSpec] = {
    w.key: w
    for w in [
        WeightSpec(
            "alexnet",
            ("alexnet-owt-7be5be79.pth",),
            "7be5be79",
            "torchvision AlexNet_Weights.IMAGENET1K_V1 (the backbone LPIPS v0.1 was calibrated on)",
            ("lpips",),
        ),
        WeightSpec(
            "vgg16",
            ("vgg16-397923af.pth",),
            "397923af",
            "torchvision VGG16_Weights.IMAGENET1K_V1 (the DISTS backbone)",
            ("dists",),
        ),
        WeightSpec(
            "dists_head",
            ("dists_weights.pt", "DISTS_weights.pt", "weights.pt"),
            None,
            "DISTS alpha/beta: weights.pt of the official DISTS_pytorch package (piq: dists_weights.pt)",
            ("dists",),
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
    """An official weight file is missing; the message lists every place that was searched."""


def search_dirs(weights_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """The folders searched for weight files, in order, without duplicates."""
    dirs: list[Path] = []
    for base in (weights_dir, os.environ.get("DICODEC_EVAL_WEIGHTS")):
        if base:
            dirs += [Path(base), Path(base) / "checkpoints"]
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
def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def find_weight(key: str, weights_dir: str | os.PathLike[str] | None = None) -> Path:
    """Path of the official weight file ``key`` (see :data:`WEIGHTS`), hash-checked when possible.

    Raises:
        WeightsNotFound: no file found, or only files whose sha256 does not match their name.
    """
    spec = WEIGHTS[key]
    dirs = search_dirs(weights_dir)
    if key == "dists_head":
        pkg = importlib.util.find_spec("DISTS_pytorch")
        if pkg is not None and pkg.origin:
            dirs.append(Path(pkg.origin).parent)
    bad: list[str] = []
    for d in dirs:
        for name in spec.filenames:
            p = d / name
            if not p.is_file():
                continue
            if spec.sha256_prefix and not sha256_of(p).startswith(spec.sha256_prefix):
                bad.append(f"{p} (sha256 does not start with {spec.sha256_prefix})")
                continue
            return p
    searched = ", ".join(str(d) for d in dirs)
    extra = f"; rejected: {'; '.join(bad)}" if bad else ""
    raise WeightsNotFound(f"{' or '.join(spec.filenames)} ({spec.origin}) not in {searched}{extra}")
