"""Video in the ``encode``, ``decode`` and ``info`` commands: clips in, ``.dicv`` out, and back.

:func:`install` wraps the three image commands of :mod:`dicodec.cli.main`: a single input that is a
video (by content: :func:`dicodec.videofiles.is_video_file`) or a ``.dicv`` bitstream (by its magic)
takes the video path here, anything else runs the image command unchanged. ``encode`` gains ``--gop``,
``encode`` and ``decode`` gain ``--inter-model`` (a contextual inter model's weights file or name).

Outputs are all-or-nothing as for images: frames go to a temporary file or folder next to the output,
which takes the output's name only when the last frame is written (:func:`dicodec.cli.atomic.atomic_path`).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import click

from dicodec import api
from dicodec.errors import DicodecError
from dicodec.videofiles import VideoSink, is_dicv_file, is_video_file, open_video, output_kind

from .atomic import atomic_path, check_output, is_stdio
from .text import about, human_size, precision_notice, version_text

VIDEO_HELP = """
\b
Video: a clip (MP4, MOV, MKV, WebM, Y4M; recognised by its content) is coded to a .dicv file
(default name: IN with .dicv), audio dropped; --gop sets the intra period. 'dicodec decode
clip.dicv -o out.mkv|out.mp4|out.y4m' writes a clip, '-o frames/' a folder of PNG frames.
"""


class _Progress:
    """``frame N/T, X frames/s`` on one stderr line, rewritten at most 4 times a second."""

    def __init__(self, total: int, quiet: bool, verb: str):
        self.total, self.quiet, self.verb = total, quiet, verb
        self.start = self.last = time.perf_counter()
        self.count, self.shown = 0, False

    def __call__(self, *_: Any) -> None:
        self.count += 1
        now = time.perf_counter()
        if self.quiet or now - self.last < 0.25:
            return
        self.last, self.shown = now, True
        of = f"/{self.total}" if self.total else ""
        click.echo(f"\r{self.verb} frame {self.count}{of}, {self.rate():.2f} frames/s", err=True, nl=False)

    def rate(self) -> float:
        return self.count / max(time.perf_counter() - self.start, 1e-9)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.done()

    def done(self) -> None:
        if self.shown:  # end the progress line so the summary starts on its own
            click.echo(
                "\r" + " " * 60 + "\r" if sys.stderr.isatty() else "", err=True, nl=not sys.stderr.isatty()
            )


def encode_video_file(
    src: str, output: str | None, *, quality: int, gop: int, model: str | None, device: str,
    offline: bool, force: bool, quiet: bool, inter_model: str | None = None, precision: str = "float32",
) -> None:  # fmt: skip
    out = output or os.fspath(Path(src).with_suffix(".dicv"))
    check_output(out, force)
    with about(src):
        source = open_video(src)
    if source.has_audio and not quiet:
        click.echo(f"{src}: note: the audio track is dropped (dicodec codes the video only)", err=True)
    progress = _Progress(source.frame_count, quiet, "encoding")
    extra: dict[str, Any] = {"offline": True} if offline else {}
    if inter_model:
        extra["inter_model"] = inter_model
    if precision != "float32":
        extra["precision"] = precision
    with about(src), progress, atomic_path(out, force=force) as tmp, open(tmp, "wb") as f:
        info = api.encode_video(
            source.frames(), quality, gop=gop, fps=source.fps, model=model, device=device, out=f,
            on_frame=progress, **extra,
        )  # fmt: skip
        size = f.tell()
    if not quiet:
        n = info["frames"]
        bpp = 8 * size / (info["width"] * info["height"] * n)
        click.echo(
            f"{src} -> {out}: {info['width']}x{info['height']}, {n} frames at {info['fps']:.3f} fps, "
            f"GOP {gop}, {human_size(size)}, {bpp:.4f} bpp, {8 * size * info['fps'] / n / 1000:.1f} kbit/s, "
            f"q={quality}, {progress.rate():.2f} frames/s",
            err=True,
        )


def decode_video_file(
    src: str,
    output: str | None,
    *,
    mode: str,
    device: str,
    max_pixels: int,
    offline: bool,
    force: bool,
    quiet: bool,
    inter_model: str | None = None,
    precision: str = "float32",
) -> None:
    out = output or os.fspath(Path(src).with_suffix(".y4m"))
    kind = output_kind(out)
    if kind == "png":
        if Path(out).exists() and (not Path(out).is_dir() or any(Path(out).iterdir())) and not force:
            raise DicodecError(f"{out} already exists; pass --force to replace it")
    else:
        check_output(out, force)
    data = Path(src).read_bytes() if not is_stdio(src) else sys.stdin.buffer.read()
    with about(src):
        info = api.inspect_video(data)
    progress = _Progress(info["frames"] or 0, quiet, "decoding")
    extra: dict[str, Any] = {"offline": True} if offline else {}
    if inter_model:
        extra["inter_model"] = inter_model
    if precision != "float32":
        extra["precision"] = precision
    with about(src):
        frames = api.decode_video(data, mode=mode, device=device, max_pixels=max_pixels or None, **extra)
    with about(src), progress, atomic_path(out, force=force, folder=kind == "png") as tmp:
        sink = VideoSink(tmp, kind, info["width"], info["height"], Fraction(info["fps_rational"]))
        try:
            for frame in frames:
                sink.write(frame)
                progress()
        finally:
            sink.close()
    if not quiet:
        click.echo(
            f"{src} -> {out}: {info['width']}x{info['height']}, {sink.count} frames at {info['fps']:.3f} "
            f"fps, {kind}, {progress.rate():.2f} frames/s",
            err=True,
        )


def print_info(name: str, data: bytes, as_json: bool) -> None:
    with about(name):
        info = api.inspect_video(data)
    if as_json:
        click.echo(json.dumps({"file": name, **info}, indent=2))
        return

    def num(value: Any, fmt: str) -> str:
        return "?" if value is None else format(value, fmt)

    rows = [
        ("file", name),
        ("dimensions", f"{info['width']}x{info['height']}"),
        ("frames", f"{num(info['frames'], 'd')} at {info['fps']:.3f} fps ({info['fps_rational']})"),
        ("duration", f"{num(info['duration_s'], '.2f')} s"),
        ("GOP", f"{info['gop']} (an intra frame every {info['gop']})"),
        ("size", f"{info['size_bytes']} bytes ({human_size(info['size_bytes'])})"),
        ("bpp", f"{num(info['bpp'], '.4f')} bits per pixel per frame"),
        ("bitrate", f"{num(info['kbps'], '.1f')} kbit/s"),
        ("quality", str(info["quality"])),
        ("model", info["model"]),
        ("weights", info["weights_hash"]),
        ("inter", info["inter_model"] or info["inter_scheme"]),
        ("format", f"dicodec video {version_text(info['version'])}"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key:<{width}}  {value}")


def _wrap(command: click.Command, route: Callable[..., bool]) -> None:
    original = command.callback

    @functools.wraps(original)  # type: ignore[arg-type]
    def callback(**kwargs: Any) -> Any:
        video = {k: kwargs.pop(k) for k in ("gop", "inter_model") if k in kwargs}
        if route(kwargs, video):
            return None
        if video.get("inter_model"):
            raise click.UsageError("--inter-model applies to video only")
        return original(**kwargs)  # type: ignore[misc]

    command.callback = callback


def install(encode: click.Command, decode: click.Command, info: click.Command) -> None:
    """Give the image commands their video path (see the module docstring)."""
    encode.params.append(
        click.Option(
            ["--gop"], type=click.IntRange(1, 65535), default=api.DEFAULT_GOP, show_default=True,
            help="Video: an intra frame (random access point) every N frames; 1: every frame intra.",
        )
    )  # fmt: skip
    for command in (encode, decode):
        command.params.append(
            click.Option(
                ["--inter-model"], default=None, metavar="FILE|NAME",
                help="Video: a contextual inter model (weights file or registered name) for the inter "
                "frames; default: the training-free temporal mean.",
            )
        )  # fmt: skip
    for command in (encode, decode, info):
        command.help = (command.help or "") + VIDEO_HELP

    def encode_route(kw: dict, video: dict) -> bool:
        inputs = kw["inputs"]
        if len(inputs) != 1 or is_stdio(inputs[0]) or not is_video_file(inputs[0]):
            return False
        precision_notice(kw["precision"], kw["device"], kw["quiet"])
        encode_video_file(
            inputs[0], kw["output"], quality=kw["quality"], gop=video["gop"], model=kw["model"],
            device=kw["device"], offline=kw["offline"], force=kw["force"], quiet=kw["quiet"],
            inter_model=video.get("inter_model"), precision=kw["precision"],
        )  # fmt: skip
        return True

    def decode_route(kw: dict, video: dict) -> bool:
        inputs = kw["inputs"]
        if len(inputs) != 1 or not is_dicv_file(inputs[0]):
            return False
        if kw["realism"] != 1.0 or kw["decoder"] is not None:  # generative image decodes only
            option = "--decoder" if kw["decoder"] is not None else "--realism"
            raise click.UsageError(f"{option} applies to generative image decodes; clips decode fast only")
        precision_notice(kw["precision"], kw["device"], kw["quiet"])
        decode_video_file(
            inputs[0], kw["output"], mode=kw["mode"], device=kw["device"], max_pixels=kw["max_pixels"],
            offline=kw["offline"], force=kw["force"], quiet=kw["quiet"], inter_model=video.get("inter_model"),
            precision=kw["precision"],
        )  # fmt: skip
        return True

    def info_route(kw: dict, _: Any) -> bool:
        if not is_dicv_file(kw["file"]):
            return False
        print_info(kw["file"], Path(kw["file"]).read_bytes(), kw["as_json"])
        return True

    _wrap(encode, encode_route)
    _wrap(decode, decode_route)
    _wrap(info, info_route)
