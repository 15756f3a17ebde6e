"""LPIPS, DISTS and the Inception feature extractor behind FID/KID, with verified ImageNet weights only.

* LPIPS v0.1 (Zhang, Isola, Efros, Shechtman, Wang, "The Unreasonable Effectiveness of Deep Features
  as a Perceptual Metric", CVPR 2018), on AlexNet (``lpips``, the variant most papers quote) and on VGG16
  (``lpips_vgg``): the linear heads ship in the ``lpips`` wheel; the trunk is torchvision's ImageNet
  network, loaded from disk (never downloaded) into ``lpips.LPIPS``.
* DISTS (Ding, Ma, Wang, Simoncelli, "Image Quality Assessment: Unifying Structure and Texture
  Similarity", TPAMI 2020): re-implemented from the official ``DISTS_pytorch`` code (VGG16 whose
  max-pools are replaced by L2 pooling, per-channel structure and texture terms weighted by the
  alpha/beta head), because piq's and the official class both download at construction. As in the
  official repository's ``prepare_image``, images whose short side exceeds 256 px are first resized
  (bilinear) so that it is 256 px.
* FID/KID features: pool3 of the TF-ported FID Inception (the network of the reference FID code),
  built from piq's FID Inception blocks and loaded from disk.

The AlexNet/VGG16 trunks and the DISTS head come from the files ``dicodec eval-weights fetch``
converts (:mod:`dicodec.eval.weights_fetch`) or from the official files, found and verified by
:mod:`dicodec.eval.weights`. A metric without its files is reported as ``not measured (weights not
found: ...)``. ``random_backbones=True`` exists only so the tests can exercise the plumbing here;
its numbers mean nothing and are labelled as such.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .metrics import METRICS
from .weights import WeightsNotFound, find_weight, load_converted, sha256_of

LEARNED_METRICS = ("lpips", "lpips_vgg", "dists", "fid", "kid")
PAIR_LEARNED_METRICS = ("lpips", "lpips_vgg", "dists")  # one number per (source, decoded) image pair
# network -> the weight keys (see dicodec.eval.weights.WEIGHTS) it is built from
NETWORK_WEIGHTS: dict[str, tuple[str, ...]] = {
    "lpips": ("alexnet",),
    "lpips_vgg": ("vgg16",),
    "dists": ("vgg16", "dists_head"),
    "inception": ("fid_inception",),
}


# --------------------------------------------------------------------------- DISTS network


class L2Pooling(torch.nn.Module):
    """DISTS's anti-aliased L2 pooling: sqrt(Hanning-blur(x^2)) with stride 2."""

    def __init__(self, channels: int, filter_size: int = 5, stride: int = 2) -> None:
        super().__init__()
        self.padding = (filter_size - 2) // 2
        self.stride = stride
        a = np.hanning(filter_size)[1:-1]
        g = torch.tensor(a[:, None] * a[None, :], dtype=torch.float32)
        g = g / g.sum()
        self.register_buffer("filter", g[None, None].repeat(channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.conv2d(x**2, self.filter, stride=self.stride, padding=self.padding, groups=x.shape[1])
        return (out + 1e-12).sqrt()


class DISTS(torch.nn.Module):
    """DISTS (Ding et al. 2020), official architecture; ``forward`` returns the distance (lower = better)."""

    CHANNELS = (3, 64, 128, 256, 512, 512)

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models.vgg import cfgs, make_layers

        feats = make_layers(cfgs["D"])  # VGG16's conv trunk only: its 100M-parameter classifier is unused
        bounds = [(0, 4), (5, 9), (10, 16), (17, 23), (24, 30)]
        pools = {1: (4, 64), 2: (9, 128), 3: (16, 256), 4: (23, 512)}
        self.stages = torch.nn.ModuleList()
        for k, (lo, hi) in enumerate(bounds):
            stage = torch.nn.Sequential()
            if k in pools:
                idx, ch = pools[k]
                stage.add_module(str(idx), L2Pooling(ch))
            for i in range(lo, hi):
                stage.add_module(str(i), feats[i])
            self.stages.append(stage)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, -1, 1, 1))
        n = sum(self.CHANNELS)
        self.alpha = torch.nn.Parameter(torch.full((1, n, 1, 1), 0.1))
        self.beta = torch.nn.Parameter(torch.full((1, n, 1, 1), 0.1))

    def load_vgg(self, state: dict[str, torch.Tensor]) -> None:
        """Load torchvision VGG16 ``features.*`` tensors into the stages (same layer indices)."""
        mine = self.stages.state_dict()
        for key in mine:
            if key.endswith("filter"):
                continue
            idx, rest = key.split(".", 2)[1], key.split(".", 2)[2]
            mine[key] = state[f"features.{idx}.{rest}"]
        self.stages.load_state_dict(mine)

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = (x - self.mean) / self.std
        out = [x]
        for stage in self.stages:
            h = stage(h)
            out.append(h)
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        fx, fy = self._features(x), self._features(y)
        c1 = c2 = 1e-6
        w_sum = self.alpha.sum() + self.beta.sum()
        alpha = torch.split(self.alpha / w_sum, list(self.CHANNELS), dim=1)
        beta = torch.split(self.beta / w_sum, list(self.CHANNELS), dim=1)
        dist1 = dist2 = 0.0
        for k in range(len(self.CHANNELS)):
            xm = fx[k].mean([2, 3], keepdim=True)
            ym = fy[k].mean([2, 3], keepdim=True)
            s1 = (2 * xm * ym + c1) / (xm**2 + ym**2 + c1)
            dist1 = dist1 + (alpha[k] * s1).sum(1, keepdim=True)
            xv = ((fx[k] - xm) ** 2).mean([2, 3], keepdim=True)
            yv = ((fy[k] - ym) ** 2).mean([2, 3], keepdim=True)
            cov = (fx[k] * fy[k]).mean([2, 3], keepdim=True) - xm * ym
            s2 = (2 * cov + c2) / (xv + yv + c2)
            dist2 = dist2 + (beta[k] * s2).sum(1, keepdim=True)
        return 1 - (dist1 + dist2).flatten()


def _dists_resize(img: np.ndarray) -> np.ndarray:
    """The official DISTS preprocessing: short side to 256 px (bilinear) when it is larger."""
    h, w = img.shape[:2]
    short = min(h, w)
    if short <= 256:
        return img
    size = (256, int(256 * w / h)) if h <= w else (int(256 * h / w), 256)  # (h, w), torchvision rule
    return np.array(Image.fromarray(img).resize((size[1], size[0]), Image.Resampling.BILINEAR))


# --------------------------------------------------------------------------- model builders


def _load_state(path: Path) -> dict[str, Any]:
    """A converted ``.safetensors`` file, or an official torch file (weights-only unpickling)."""
    if path.suffix == ".safetensors":
        return load_converted(path)
    return torch.load(path, map_location="cpu", weights_only=True)


def build_lpips(trunk_path: Path | None, net: str = "alex") -> torch.nn.Module:
    """``lpips.LPIPS`` v0.1 (``net`` "alex" or "vgg") with its shipped heads and the trunk from a file.

    Args:
        trunk_path: torchvision-layout ``features.N.*`` tensors (converted or official file);
            None keeps the random trunk (tests only).
        net: the LPIPS trunk, "alex" (AlexNet) or "vgg" (VGG16).
    """
    import lpips

    with warnings.catch_warnings():  # lpips still passes torchvision's deprecated ``pretrained=`` flag
        warnings.simplefilter("ignore")
        model = lpips.LPIPS(net=net, version="0.1", pretrained=True, pnet_rand=True, verbose=False)
    if trunk_path is not None:
        state = _load_state(trunk_path)
        trunk = model.net.state_dict()
        for key in trunk:  # "slice2.3.weight" holds torchvision's "features.3.weight"
            _, idx, rest = key.split(".", 2)
            trunk[key] = state[f"features.{idx}.{rest}"]
        model.net.load_state_dict(trunk)
    return model.eval()


def build_dists(vgg_path: Path | None, head_path: Path | None) -> DISTS:
    """DISTS with torchvision's VGG16 trunk and the official alpha/beta head (random where a path is None)."""
    model = DISTS()
    if vgg_path is not None:
        model.load_vgg(_load_state(vgg_path))
    if head_path is not None:
        head = _load_state(head_path)
        n = sum(DISTS.CHANNELS)
        if not isinstance(head, dict) or any(
            tuple(head.get(k, torch.empty(0)).shape) != (1, n, 1, 1) for k in ("alpha", "beta")
        ):
            raise WeightsNotFound(
                f"{head_path} is not a DISTS alpha/beta file (expected (1, {n}, 1, 1) tensors)"
            )
        model.alpha.data = head["alpha"].float()
        model.beta.data = head["beta"].float()
    return model.eval()


def build_inception(path: Path | None) -> torch.nn.Module:
    """The FID Inception (pool3 output), weights from ``path`` (random init when None)."""
    import torchvision
    from piq.feature_extractors import fid_inception as fi

    net = torchvision.models.inception_v3(
        weights=None, aux_logits=False, num_classes=1008, init_weights=False
    )
    net.Mixed_5b = fi.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = fi.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = fi.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = fi.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = fi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = fi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = fi.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = fi.FIDInceptionE1(1280)
    net.Mixed_7c = fi.FIDInceptionE2(2048)
    if path is not None:
        net.load_state_dict(_load_state(path))

    class _FromFile(fi.InceptionV3):
        # piq's wrapper builds its network with a download; hand it ours instead.
        @staticmethod
        def fid_inception_v3() -> torch.nn.Module:
            return net

    return _FromFile(output_blocks=[3], resize_input=True, normalize_input=True).eval()


# --------------------------------------------------------------------------- the metric holder


class LearnedMetrics:
    """Lazily built learned metrics on one device, each with a status line for the report.

    Args:
        weights_dir: extra folder to search for official weight files (see :mod:`dicodec.eval.weights`).
        device: torch device for the networks.
        random_backbones: tests only: random weights instead of official files (numbers meaningless).
    """

    def __init__(
        self,
        weights_dir: str | os.PathLike[str] | None = None,
        device: str | torch.device = "cpu",
        random_backbones: bool = False,
    ) -> None:
        self.weights_dir = weights_dir
        self.device = torch.device(device)
        self.random_backbones = random_backbones
        self._models: dict[str, torch.nn.Module | None] = {}
        self.status: dict[str, str] = {}
        self.files: dict[str, dict[str, str]] = {}

    def _find(self, metric: str, keys: tuple[str, ...]) -> list[Path] | None:
        paths = []
        for key in keys:
            try:
                p = find_weight(key, self.weights_dir)
            except WeightsNotFound as e:
                self.status[metric] = f"not measured (weights not found: {e})"
                return None
            paths.append(p)
            self.files.setdefault(metric, {})[p.name] = f"{p} sha256={sha256_of(p)}"
        return paths

    def _model(self, metric: str) -> torch.nn.Module | None:
        if metric in self._models:
            return self._models[metric]
        keys = NETWORK_WEIGHTS[metric]
        model: torch.nn.Module | None = None
        try:
            if self.random_backbones:
                torch.manual_seed(0)
                paths: list[Path | None] | None = [None] * len(keys)
            else:
                found = self._find(metric, keys)
                paths = list(found) if found is not None else None
            if paths is not None:
                if metric in ("lpips", "lpips_vgg"):
                    model = build_lpips(paths[0], "alex" if metric == "lpips" else "vgg")
                elif metric == "dists":
                    model = build_dists(paths[0], paths[1])
                else:
                    model = build_inception(paths[0])
                model = model.to(self.device)
                how = (
                    "RANDOM backbone (plumbing test only, not a real score)"
                    if self.random_backbones
                    else "official weights: " + ", ".join(p.name for p in paths if p is not None)
                )
                self.status[metric] = f"measured ({how})"
        except Exception as e:  # a corrupt or mismatched file must not abort a long run
            self.status[metric] = f"not measured (could not load weights: {type(e).__name__}: {e})"
            model = None
        self._models[metric] = model
        return model

    def available(self, metric: str) -> bool:
        """Whether ``metric`` (one of :data:`LEARNED_METRICS`) can be computed; builds its model once."""
        return self._model("inception" if metric in ("fid", "kid") else metric) is not None

    def reason(self, metric: str) -> str:
        """The report line for ``metric``: measured with which weights, or why not."""
        key = "inception" if metric in ("fid", "kid") else metric
        self._model(key)
        return self.status.get(key, "not measured")

    def _tensor(self, img: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.require(img, requirements=["C", "W"])).to(self.device, torch.float32)
        return t.permute(2, 0, 1).unsqueeze(0) / 255.0

    @torch.no_grad()
    def lpips(self, src: np.ndarray, dec: np.ndarray, net: str = "alex") -> float | None:
        """LPIPS distance of two uint8 HxWx3 images (full resolution), or None if unavailable.

        Args:
            net: "alex" (the ``lpips`` metric) or "vgg" (``lpips_vgg``).
        """
        model = self._model("lpips" if net == "alex" else "lpips_vgg")
        if model is None:
            return None
        return float(model(self._tensor(dec), self._tensor(src), normalize=True).flatten()[0])

    def lpips_vgg(self, src: np.ndarray, dec: np.ndarray) -> float | None:
        """LPIPS-VGG distance (see :meth:`lpips`), or None if unavailable."""
        return self.lpips(src, dec, net="vgg")

    @torch.no_grad()
    def dists(self, src: np.ndarray, dec: np.ndarray) -> float | None:
        """DISTS distance with the official resizing, or None if unavailable."""
        model = self._model("dists")
        if model is None:
            return None
        return float(model(self._tensor(_dists_resize(dec)), self._tensor(_dists_resize(src)))[0])

    def pair_metrics(self, src: np.ndarray, dec: np.ndarray, names: Iterable[str]) -> dict[str, float | None]:
        """The :data:`PAIR_LEARNED_METRICS` among ``names`` for one uint8 HxWx3 pair (None: not measured).

        The image evaluation calls it per image and the video evaluation per frame, so both report
        the same implementation with the same preprocessing (full resolution for LPIPS, DISTS's
        256 px resize); each network is built on first use and kept for the rest of the run.
        """
        wanted = set(names)
        fns = {"lpips": self.lpips, "lpips_vgg": self.lpips_vgg, "dists": self.dists}
        return {m: fns[m](src, dec) for m in PAIR_LEARNED_METRICS if m in wanted}

    @torch.no_grad()
    def inception_features(self, patches: np.ndarray, batch: int = 16) -> np.ndarray | None:
        """(N, 2048) float32 pool3 features of uint8 (N, H, W, 3) patches, or None if unavailable."""
        model = self._model("inception")
        if model is None:
            return None
        out = []
        for i in range(0, len(patches), batch):
            x = torch.from_numpy(np.require(patches[i : i + batch], requirements=["C", "W"])).to(
                self.device, torch.float32
            )
            x = x.permute(0, 3, 1, 2) / 255.0
            out.append(model(x)[0].flatten(1).cpu().numpy())
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 2048), np.float32)


def metric_status(metrics: list[str], learned: LearnedMetrics, notes: dict[str, list[str]]) -> dict[str, Any]:
    """Per metric: "measured" or "not measured (...)", plus caveats collected during the run."""
    out: dict[str, Any] = {}
    for m in metrics:
        status = learned.reason(m) if METRICS[m].needs_weights else "measured"
        out[m] = {"status": status, "notes": notes.get(m, [])}
        files = learned.files.get("inception" if m in ("fid", "kid") else m)
        if files and status.startswith("measured"):
            out[m]["weights"] = files
    return out
