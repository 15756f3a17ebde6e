"""What an evaluation run is told to do: :class:`EvalConfig`, the options of ``dicodec eval``.

A module of its own so that the image runner (:mod:`~dicodec.eval.runner`) and the video runner
(:mod:`~dicodec.eval.video`) can both read it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .image_codecs import DEFAULT_QUALITIES
from .metrics import DEFAULT_IMAGE_METRICS, DEFAULT_VIDEO_METRICS


@dataclass
class EvalConfig:
    """Everything that determines an evaluation run (what the CLI options map to)."""

    codecs: list[str] = field(default_factory=lambda: ["dicodec", "jpeg", "webp", "avif", "jxl", "hevc"])
    video_codecs: list[str] = field(default_factory=lambda: ["dicodec", "x264", "x265", "av1"])
    qualities: dict[str, list[float]] = field(default_factory=dict)  # codec -> sweep; defaults otherwise
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_IMAGE_METRICS))
    video_metrics: list[str] = field(default_factory=lambda: list(DEFAULT_VIDEO_METRICS))
    anchor: str = "avif"
    video_anchor: str = "x265"
    device: str = "auto"
    weights_dir: str | None = None
    max_images: int | None = None
    max_frames: int = 30
    patch_size: int = 256  # HiFiC's FID/KID patch size
    bd_method: str = "pchip"
    dicodec_model: str | None = None
    dicodec_refine_steps: int = 30  # the dicodec-refine codec's encoder-side latent refinement steps
    dicodec_inter_model: str | None = None  # video: a contextual inter model (name or weights file)
    jobs: int = 1
    progress: bool = True

    def qualities_for(
        self, codec: str, defaults: dict[str, tuple[float, ...]] = DEFAULT_QUALITIES
    ) -> list[float]:
        return list(self.qualities.get(codec, defaults.get(codec, ())))
