"""``dicodec eval``: rate-distortion evaluation of dicodec against conventional codecs.

This module only parses options and calls :func:`dicodec.eval.runner.evaluate`; the CLI group in
``dicodec.cli.main`` registers :data:`eval_command`, and :func:`main` runs it standalone (tests,
``python -m dicodec.eval.cli``).
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import click

from .image_codecs import DEFAULT_QUALITIES, IMAGE_CODECS
from .metrics import DEFAULT_VIDEO_METRICS, METRICS, parse_metrics
from .runner import EvalConfig, evaluate
from .video import DEFAULT_VIDEO_QUALITIES, VIDEO_CODECS
from .weights import FETCH_COMMAND


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_qualities(specs: tuple[str, ...], known: set[str]) -> dict[str, list[float]]:
    """``("jpeg=10,50,90", "hevc=32,37")`` -> ``{"jpeg": [10, 50, 90], "hevc": [32, 37]}``."""
    out: dict[str, list[float]] = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip()
        if not sep or name not in known:
            raise click.BadParameter(
                f"expected CODEC=Q1,Q2,... with CODEC in {', '.join(sorted(known))}; got {spec!r}"
            )
        try:
            qs = [float(v) for v in _split(values)]
        except ValueError as e:
            raise click.BadParameter(f"qualities must be numbers: {spec!r}") from e
        if not qs:
            raise click.BadParameter(f"no qualities in {spec!r}")
        out[name] = [int(q) if q.is_integer() else q for q in qs]
    return out


_DEFAULTS_HELP = "; ".join(f"{k}: {','.join(f'{q:g}' for q in v)}" for k, v in DEFAULT_QUALITIES.items())
_VIDEO_DEFAULTS_HELP = "; ".join(
    f"{k}: {','.join(f'{q:g}' for q in v)}"
    for k, v in DEFAULT_VIDEO_QUALITIES.items()
    if not k.startswith("dicodec")
)


@click.command(
    "eval",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    help=f"""Measure rate-distortion of dicodec and baseline codecs on images and videos.

\b
INPUTS are image files, video files or folders (searched recursively).
Writes results.json, CSV tables, RD plots (PNG+SVG) and report.md to --out.

\b
Examples:
  dicodec eval photos/ --out runs/eval
  dicodec eval photos/ --codecs dicodec,jpeg,avif,hevc --anchor hevc -q hevc=27,32,37 --out runs/e1
  dicodec eval clip.mp4 --video-codecs x264,x265,av1 --max-frames 30 --out runs/video

Default image sweeps: {_DEFAULTS_HELP}.

Default video sweeps (CRF; librav1e: quantizer; av1 is the first of libsvtav1, libaom-av1, librav1e
that PyAV has): {_VIDEO_DEFAULTS_HELP}.
""",
)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (created; existing files in it are overwritten).",
)
@click.option(
    "--codecs",
    default="dicodec,jpeg,webp,avif,jxl,hevc",
    show_default=True,
    help=f"Image codecs, comma-separated, from: {', '.join(IMAGE_CODECS)}.",
)
@click.option(
    "--video-codecs",
    default="dicodec,x264,x265,av1",
    show_default=True,
    help=f"Video codecs, comma-separated, from: {', '.join(VIDEO_CODECS)}.",
)
@click.option(
    "--qualities",
    "-q",
    multiple=True,
    metavar="CODEC=Q1,Q2,...",
    help="Quality sweep of one codec (repeatable); the number means the codec's own parameter "
    "(quality, QP, CRF, or Butteraugli distance for jxl).",
)
@click.option(
    "--anchor", default="avif", show_default=True, help="Image codec the BD-rate tables are computed against."
)
@click.option("--video-anchor", default="x265", show_default=True, help="Video codec BD-rate anchor.")
@click.option(
    "--metrics",
    "metrics_spec",
    default="all",
    show_default=True,
    help=f"Image metrics: all, fast, psnr, or a comma list of: {', '.join(METRICS)}.",
)
@click.option(
    "--video-metrics",
    "video_metrics_spec",
    default=",".join(DEFAULT_VIDEO_METRICS),
    show_default=True,
    help="Per-frame video metrics (same names; LPIPS/DISTS/FID/KID are image-only).",
)
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="Torch device for dicodec and the learned metrics: auto, cpu, cuda.",
)
@click.option(
    "--weights-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Extra folder with LPIPS/DISTS/FID weight files (see docs/eval.md); the cache of "
    f"'{FETCH_COMMAND}' and the torch hub cache are searched too. Nothing is ever downloaded.",
)
@click.option("--max-images", type=click.IntRange(min=1), help="Evaluate only the first N images (sorted).")
@click.option(
    "--max-frames",
    type=click.IntRange(min=1),
    default=30,
    show_default=True,
    help="Frames read from each video.",
)
@click.option(
    "--patch-size",
    type=click.IntRange(min=32),
    default=256,
    show_default=True,
    help="Patch size for FID/KID (HiFiC: 256).",
)
@click.option(
    "--bd-method",
    type=click.Choice(["pchip", "cubic"]),
    default="pchip",
    show_default=True,
    help="Interpolation for Bjontegaard deltas: pchip (piecewise cubic) or cubic (VCEG-M33).",
)
@click.option(
    "--dicodec-model", default=None, help="dicodec registry model name (default: the default model)."
)
@click.option(
    "--dicodec-refine-steps",
    type=click.IntRange(1, 1000),
    default=30,
    show_default=True,
    help="The dicodec-refine codec: encoder-side latent refinement steps per image.",
)
@click.option(
    "--dicodec-inter-model",
    default=None,
    help="Video: code dicodec's inter frames with this contextual model (a weights file or registered "
    "name; default: the training-free temporal mean).",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes over images (CPU only; use 1 with a GPU).",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bars.")
def eval_command(
    inputs: tuple[Path, ...],
    out: Path,
    codecs: str,
    video_codecs: str,
    qualities: tuple[str, ...],
    anchor: str,
    video_anchor: str,
    metrics_spec: str,
    video_metrics_spec: str,
    device: str,
    weights_dir: Path | None,
    max_images: int | None,
    max_frames: int,
    patch_size: int,
    bd_method: str,
    dicodec_model: str | None,
    dicodec_refine_steps: int,
    dicodec_inter_model: str | None,
    jobs: int,
    no_progress: bool,
) -> int:
    image_codecs = _split(codecs)
    vid_codecs = _split(video_codecs)
    for name in image_codecs:
        if name not in IMAGE_CODECS:
            raise click.BadParameter(f"unknown image codec {name!r}", param_hint="--codecs")
    for name in vid_codecs:
        if name not in VIDEO_CODECS:
            raise click.BadParameter(f"unknown video codec {name!r}", param_hint="--video-codecs")
    try:
        metrics = [m for m in parse_metrics(metrics_spec) if METRICS[m].scope != "video"]
        video_metrics = parse_metrics(video_metrics_spec)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--metrics") from e
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise click.BadParameter("no CUDA device is available", param_hint="--device")
    cfg = EvalConfig(
        codecs=image_codecs,
        video_codecs=vid_codecs,
        qualities=parse_qualities(qualities, set(IMAGE_CODECS) | set(VIDEO_CODECS)),
        metrics=metrics,
        video_metrics=video_metrics,
        anchor=anchor,
        video_anchor=video_anchor,
        device=device,
        weights_dir=str(weights_dir) if weights_dir else None,
        max_images=max_images,
        max_frames=max_frames,
        patch_size=patch_size,
        bd_method=bd_method,
        dicodec_model=dicodec_model,
        dicodec_refine_steps=dicodec_refine_steps,
        dicodec_inter_model=dicodec_inter_model,
        jobs=jobs,
        progress=not no_progress,
    )
    command = "dicodec eval " + " ".join(shlex.quote(a) for a in _command_args())
    t0 = time.perf_counter()
    try:
        results = evaluate(inputs, cfg, out, command=command)
    except ValueError as e:
        raise click.UsageError(str(e)) from e
    click.echo(
        f"wrote {len(results['meta']['outputs'])} files to {out} in {time.perf_counter() - t0:.1f} s "
        f"(report: {out / 'report.md'})",
        err=True,
    )
    for key in ("image", "video"):
        section = results.get(key)
        if section:
            for curve, info in section["codecs"].items():
                if info["status"] != "ok":
                    click.echo(f"{key} codec {curve}: {info['status']}", err=True)
            for err in section["errors"]:
                click.echo(f"error: {err}", err=True)
            for metric, st in section.get("metric_status", {}).items():
                if st["status"].startswith("not measured"):
                    click.echo(f"{key} metric {metric}: {short_status(st['status'])}", err=True)
    return 0


def short_status(status: str) -> str:
    """A metric status without the list of folders searched (report.md and results.json keep it)."""
    if not status.startswith("not measured (weights not found"):
        return status
    if FETCH_COMMAND in status:
        return f"not measured (weights not found; run '{FETCH_COMMAND}')"
    return "not measured (weights not found; see docs/eval.md)"


_ARGV: list[str] | None = None  # set by main(); None when the CLI group invoked us


def _command_args() -> list[str]:
    """The raw arguments after ``eval``, for the report (click keeps only parsed values)."""
    if _ARGV is not None:
        return _ARGV
    argv = sys.argv[1:]
    return argv[argv.index("eval") + 1 :] if "eval" in argv else argv


def main(argv: list[str] | None = None) -> int:
    """Run ``dicodec eval`` with ``argv`` (the arguments after ``eval``); returns the exit code."""
    global _ARGV
    _ARGV = list(argv) if argv is not None else sys.argv[1:]
    try:
        rv = eval_command.main(args=_ARGV, prog_name="dicodec eval", standalone_mode=False)
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.ClickException as e:
        e.show()
        return int(e.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        return 130
    finally:
        _ARGV = None
    return int(rv or 0)


if __name__ == "__main__":
    sys.exit(main())
