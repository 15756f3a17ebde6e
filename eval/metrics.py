"""Weight-free image quality metrics and the metric registry.

Every metric the evaluation can report is declared once in :data:`METRICS` with its direction, unit
and whether a Bjontegaard delta makes sense for it; the runner, the CSV/JSON writers, the plots and
the report all read this table, so adding a metric is one entry plus one function.

Full-reference metrics here need no learned weights:

* PSNR on RGB (all three channels pooled) and on BT.601 luma, peak 255.
* MS-SSIM (Wang, Simoncelli, Bovik 2003) from ``pytorch-msssim``: 5 scales, 11x11 Gaussian window.
  Five scales need more than 160 px on the short side; smaller images get ``None`` (n/a) rather
  than an MS-SSIM with fewer scales, which would be a different metric silently mixed into averages.
* From ``piq``, with piq's defaults (which follow each paper's reference code, including its
  downsampling of large images): HaarPSI (Reisenhofer et al. 2018), MDSI (Nafchi et al. 2016),
  GMSD (Xue et al. 2014), VIF-p (Sheikh & Bovik 2006, pixel domain) and FSIM (Zhang et al. 2011).
  Each runs in under 0.5 s on a 1 MP image on 2 CPU cores (measured after warm-up: HaarPSI 0.07 s,
  MDSI 0.03 s, GMSD 0.03 s, VIF-p 0.41 s, FSIM 0.11 s). VIF-p needs at least 41x41 pixels.
* Texture statistics for generative decoders: the ratio of decoded to source gradient energy and
  of decoded to source Laplacian energy, both on luma. An MSE-optimised decoder blurs and drives
  them below 1; a generative decoder that synthesises plausible detail should stay near 1; values
  above 1 mean added noise, ringing or hallucinated texture. They are diagnostics, not quality
  scores, so no BD numbers are computed for them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from .colors import luma

Scope = Literal["pair", "noref", "set", "video"]


@dataclass(frozen=True)
class MetricInfo:
    """How to label, orient and aggregate one metric."""

    name: str
    label: str
    unit: str
    higher_is_better: bool | None  # None: a ratio whose ideal value is 1.0
    bd: bool  # Bjontegaard deltas need a metric that improves monotonically with rate
    scope: Scope  # pair: source vs decoded; noref: decoded only; set: over all patches; video: clip-level
    needs_weights: bool
    description: str

    @property
    def axis_label(self) -> str:
        unit = f" [{self.unit}]" if self.unit else ""
        if self.higher_is_better is None:
            direction = "1.0 = source"
        else:
            direction = "higher is better" if self.higher_is_better else "lower is better"
        return f"{self.label}{unit} ({direction})"


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in [
        MetricInfo(
            "psnr_rgb", "PSNR-RGB", "dB", True, True, "pair", False, "PSNR over R, G, B pooled, peak 255"
        ),
        MetricInfo(
            "psnr_y", "PSNR-Y", "dB", True, True, "pair", False, "PSNR of BT.601 full-range luma, peak 255"
        ),
        MetricInfo("ms_ssim", "MS-SSIM", "", True, True, "pair", False, "pytorch-msssim, 5 scales, RGB"),
        MetricInfo("ms_ssim_db", "MS-SSIM (dB)", "", True, True, "pair", False, "-10 log10(1 - MS-SSIM)"),
        MetricInfo("haarpsi", "HaarPSI", "", True, True, "pair", False, "piq.haarpsi"),
        MetricInfo("mdsi", "MDSI", "", False, True, "pair", False, "piq.mdsi"),
        MetricInfo("gmsd", "GMSD", "", False, True, "pair", False, "piq.gmsd"),
        MetricInfo("vif_p", "VIF-p", "", True, True, "pair", False, "piq.vif_p"),
        MetricInfo("fsim", "FSIM", "", True, True, "pair", False, "piq.fsim (FSIMc on RGB)"),
        MetricInfo("lpips", "LPIPS-Alex", "", False, True, "pair", True, "lpips v0.1, AlexNet"),
        MetricInfo("lpips_vgg", "LPIPS-VGG", "", False, True, "pair", True, "lpips v0.1, VGG16"),
        MetricInfo("dists", "DISTS", "", False, True, "pair", True, "DISTS (Ding et al. 2020), VGG16"),
        MetricInfo("niqe", "NIQE", "", False, False, "noref", False, "NIQE of the decoded image"),
        MetricInfo("grad_ratio", "Gradient energy ratio", "", None, False, "pair", False, "decoded/source"),
        MetricInfo("lap_ratio", "Laplacian energy ratio", "", None, False, "pair", False, "decoded/source"),
        MetricInfo("fid", "FID (patches)", "", False, True, "set", True, "Inception pool3, 256 px patches"),
        MetricInfo("kid", "KID (patches)", "", False, True, "set", True, "unbiased polynomial-kernel MMD^2"),
        MetricInfo("flicker", "Temporal flicker", "luma levels", False, False, "video", False, "see docs"),
    ]
}

PIQ_METRICS = ("haarpsi", "mdsi", "gmsd", "vif_p", "fsim")
DEFAULT_IMAGE_METRICS = tuple(m for m in METRICS if m != "flicker")
# LPIPS-Alex is the one learned metric on by default for clips: per frame it costs a fraction of a
# second on 2 CPU cores, while the two VGG16 metrics (LPIPS-VGG, DISTS) cost seconds per frame and
# would dominate a CPU sweep of 30-frame clips; ask for them with --video-metrics.
DEFAULT_VIDEO_METRICS = (
    "psnr_rgb",
    "psnr_y",
    "ms_ssim",
    "ms_ssim_db",
    "lpips",
    "grad_ratio",
    "lap_ratio",
    "flicker",
)
MS_SSIM_MIN_SIDE = 161  # 5 scales of an 11-tap window: the short side must exceed (11 - 1) * 2**4
VIF_MIN_SIDE = 41  # piq.vif_p's own limit


def parse_metrics(spec: str | Iterable[str]) -> list[str]:
    """Expand a ``--metrics`` value ("all", "fast", or a comma list) into known metric names."""
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    out: list[str] = []
    for item in items:
        if item == "all":
            names: Iterable[str] = METRICS
        elif item == "fast":
            names = ("psnr_rgb", "psnr_y", "ms_ssim", "ms_ssim_db", "grad_ratio", "lap_ratio", "flicker")
        elif item == "psnr":
            names = ("psnr_rgb", "psnr_y")
        elif item in METRICS:
            names = (item,)
        else:
            raise ValueError(f"unknown metric {item!r}; known: all, fast, psnr, {', '.join(METRICS)}")
        out.extend(n for n in names if n not in out)
    return out


# --------------------------------------------------------------------------- pixel metrics


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error over every sample, in float64."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(np.mean(d * d))


def psnr_from_mse(m: float | torch.Tensor, peak: float = 255.0) -> float | torch.Tensor:
    """``10 log10(peak^2 / MSE)``, the one PSNR of dicodec (evaluation, training logs, scripts).

    A number gives ``inf`` for identical inputs (MSE 0). A tensor of MSEs (training: per crop, on the
    device, inside no graph) is floored at ``1e-10 peak^2`` instead, so that one perfect crop cannot
    put ``inf`` into a batch mean.
    """
    if isinstance(m, torch.Tensor):
        return 10.0 * torch.log10(peak * peak / m.clamp_min(1e-10 * peak * peak))
    return math.inf if m <= 0.0 else 10.0 * math.log10(peak * peak / m)


def psnr_rgb(src: np.ndarray, dec: np.ndarray) -> float:
    """PSNR with the MSE pooled over all pixels and the three channels (the CompressAI convention)."""
    return psnr_from_mse(mse(src, dec))


def psnr_y(src: np.ndarray, dec: np.ndarray) -> float:
    """PSNR of unrounded BT.601 full-range luma (``0.299 R + 0.587 G + 0.114 B``), peak 255."""
    return psnr_from_mse(mse(luma(src), luma(dec)))


def _to_tensor(img: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 HxWx3 -> float (1, 3, H, W) in [0, 1]."""
    t = torch.from_numpy(np.require(img, requirements=["C", "W"])).to(device=device, dtype=torch.float32)
    return t.permute(2, 0, 1).unsqueeze(0) / 255.0


def ms_ssim(src: np.ndarray, dec: np.ndarray, device: str | torch.device = "cpu") -> float | None:
    """MS-SSIM on RGB with pytorch-msssim's defaults; ``None`` below :data:`MS_SSIM_MIN_SIDE` px."""
    from pytorch_msssim import ms_ssim as _ms_ssim

    if min(src.shape[:2]) < MS_SSIM_MIN_SIDE:
        return None
    x, y = _to_tensor(src, device) * 255.0, _to_tensor(dec, device) * 255.0
    with torch.no_grad():
        return float(_ms_ssim(x, y, data_range=255.0, size_average=True))


def ms_ssim_db(value: float | None) -> float | None:
    """``-10 log10(1 - MS-SSIM)``: spreads the 0.9..1 range the way CompressAI's plots do."""
    if value is None:
        return None
    return math.inf if value >= 1.0 else -10.0 * math.log10(1.0 - value)


def piq_metric(
    name: str, src: np.ndarray, dec: np.ndarray, device: str | torch.device = "cpu"
) -> float | None:
    """One of :data:`PIQ_METRICS`; ``None`` where the image is too small for the method."""
    import piq

    if name == "vif_p" and min(src.shape[:2]) < VIF_MIN_SIDE:
        return None
    x, y = _to_tensor(dec, device), _to_tensor(src, device)
    fn = {"haarpsi": piq.haarpsi, "mdsi": piq.mdsi, "gmsd": piq.gmsd, "vif_p": piq.vif_p, "fsim": piq.fsim}[
        name
    ]
    with torch.no_grad():
        return float(fn(x, y, data_range=1.0))


# --------------------------------------------------------------------------- texture statistics


def gradient_energy(y: np.ndarray) -> float:
    """Mean squared forward difference ``E[(dI/dx)^2 + (dI/dy)^2]`` on a float image."""
    gx = np.diff(y, axis=1)
    gy = np.diff(y, axis=0)
    return float(np.mean(gx * gx) + np.mean(gy * gy))


def laplacian_energy(y: np.ndarray) -> float:
    """Mean squared 4-neighbour Laplacian (valid region, no border handling to bias it)."""
    lap = y[1:-1, :-2] + y[1:-1, 2:] + y[:-2, 1:-1] + y[2:, 1:-1] - 4.0 * y[1:-1, 1:-1]
    return float(np.mean(lap * lap)) if lap.size else 0.0


def energy_ratio(src: np.ndarray, dec: np.ndarray, kind: Literal["grad", "lap"]) -> float | None:
    """Decoded/source texture energy on luma; ``None`` when the source is flat (ratio undefined)."""
    fn = gradient_energy if kind == "grad" else laplacian_energy
    e_src = fn(luma(src))
    if e_src <= 1e-12:
        return None
    return fn(luma(dec)) / e_src


# --------------------------------------------------------------------------- dispatch


def compute_pair_metrics(
    src: np.ndarray,
    dec: np.ndarray,
    names: Iterable[str],
    device: str | torch.device = "cpu",
) -> dict[str, float | None]:
    """Weight-free full-reference metrics of ``dec`` against ``src`` (both uint8 HxWx3).

    Metrics in ``names`` that are not weight-free pair metrics are ignored here (the learned and
    no-reference ones live in :mod:`dicodec.eval.learned` and :mod:`dicodec.eval.niqe`).
    """
    if src.shape != dec.shape:
        raise ValueError(f"decoded shape {dec.shape} differs from source shape {src.shape}")
    wanted = set(names)
    out: dict[str, float | None] = {}
    if "psnr_rgb" in wanted:
        out["psnr_rgb"] = psnr_rgb(src, dec)
    if "psnr_y" in wanted:
        out["psnr_y"] = psnr_y(src, dec)
    if wanted & {"ms_ssim", "ms_ssim_db"}:
        v = ms_ssim(src, dec, device)
        if "ms_ssim" in wanted:
            out["ms_ssim"] = v
        if "ms_ssim_db" in wanted:
            out["ms_ssim_db"] = ms_ssim_db(v)
    for name in PIQ_METRICS:
        if name in wanted:
            out[name] = piq_metric(name, src, dec, device)
    if "grad_ratio" in wanted:
        out["grad_ratio"] = energy_ratio(src, dec, "grad")
    if "lap_ratio" in wanted:
        out["lap_ratio"] = energy_ratio(src, dec, "lap")
    return out


def na_reason(name: str, shape: tuple[int, ...]) -> str | None:
    """Why a weight-free metric is n/a for an image of this shape (``None`` if it is defined)."""
    side = min(shape[:2])
    if name in ("ms_ssim", "ms_ssim_db") and side < MS_SSIM_MIN_SIDE:
        return f"MS-SSIM needs >= {MS_SSIM_MIN_SIDE} px on the short side (5 scales); reported n/a"
    if name == "vif_p" and side < VIF_MIN_SIDE:
        return f"VIF-p needs >= {VIF_MIN_SIDE} px on the short side; reported n/a"
    if name == "niqe" and side <= 193:
        return "NIQE needs > 193 px on the short side (two 96 px patch scales); reported n/a"
    return None


def caveat(name: str, shape: tuple[int, ...]) -> str | None:
    """A warning about a metric that is defined but unreliable for an image of this shape."""
    if name == "niqe" and min(shape[:2]) > 193:
        if (shape[0] // 96) * (shape[1] // 96) <= 36:
            return (
                "NIQE fits a 36-d Gaussian to the 96 px patches of each image; with <= 36 patches "
                "(below ~1 MP) the sample covariance is rank-deficient and scores are noisy"
            )
    return None


def format_notes(notes: dict[str, dict[str, list[str]]]) -> dict[str, list[str]]:
    """``{metric: {message: [items]}}`` -> ``{metric: ["message: item, item"]}`` for the report."""
    return {m: [f"{msg}: {', '.join(items)}" for msg, items in per.items()] for m, per in notes.items()}
