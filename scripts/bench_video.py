"""Video encode/decode speed: frames per second of ``encode_video`` / ``decode_video`` per device and size.

Question: how many frames per second does the video path code, per device and frame size?
When: after a change to the video codec (docs/video.md) or to the image codec it runs per frame; on a
GPU machine for the GPU figures.
Output: a table on stdout; ``--json-out FILE`` writes every row as JSON.

    python scripts/bench_video.py [--devices cpu,cuda] [--sizes 640x360,1280x720,1920x1080]
                                  [--frames 16] [--gop 16] [--quality 50] [--repeats 2]

The clip is a smooth virtual camera over the bundled sample photo (``codec/training/video_data.py``:
pan, zoom, rotation, exposure drift), so inter frames are coded as in real use (the encoder codes every
inter frame both ways and keeps the smaller). Times are wall-clock medians over ``--repeats`` after one
warm-up run; decoding includes the synthesis of every frame to uint8 pixels, and on a GPU the frames
are copied back to the host as a caller would.
"""

from __future__ import annotations

import json
import statistics
import time

import click
import numpy as np
import torch

import dicodec
from dicodec.arguments import PRECISIONS
from dicodec.codec.training.video_data import CameraMotion, read_photo, render_clip_uint8

SAMPLE = "dicodec/samples/coffee.png"


def clip_frames(width: int, height: int, frames: int) -> np.ndarray:
    """``frames`` uint8 frames of ``height`` x ``width``: a camera path over the sample, resized."""
    photo, side = read_photo(SAMPLE), max(width, height)
    photo = torch.nn.functional.interpolate(photo[None], scale_factor=2 * side / min(photo.shape[1:]),
                                            mode="bilinear", antialias=True)[0].clamp(0, 1)  # fmt: skip
    square = render_clip_uint8(photo, frames, side, motion=CameraMotion(pan_px=2.0))
    top, left = (side - height) // 2, (side - width) // 2
    return square[:, top : top + height, left : left + width]


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def decode_all(data: bytes, device: str, precision: str = "float32") -> list[np.ndarray]:
    return list(dicodec.decode_video(data, mode="fast", device=device, output="numpy", precision=precision))


@click.command()
@click.option("--devices", default="cpu,cuda", show_default=True, help="cuda is skipped without a GPU.")
@click.option(
    "--sizes", default="640x360,1280x720,1920x1080", show_default=True, help="WxH, comma-separated."
)
@click.option("--frames", type=int, default=16, show_default=True)
@click.option("--gop", type=int, default=16, show_default=True)
@click.option("--quality", type=int, default=50, show_default=True)
@click.option("--repeats", type=int, default=2, show_default=True, help="Timed runs after one warm-up.")
@click.option(
    "--precision", type=click.Choice(PRECISIONS), default="float32", show_default=True,
    help="Arithmetic of the transforms (encode_video's and decode_video's precision).",
)  # fmt: skip
@click.option("--json-out", type=click.Path(), default=None)
def main(
    devices: str, sizes: str, frames: int, gop: int, quality: int, repeats: int, precision: str,
    json_out: str | None,
) -> None:  # fmt: skip
    """Time encode_video and decode_video (fast mode) per device and size."""
    rows = []
    for device in devices.split(","):
        if device == "cuda" and not torch.cuda.is_available():
            click.echo("cuda: no GPU, skipped")
            continue
        for size in sizes.split(","):
            width, height = (int(v) for v in size.split("x"))
            clip = clip_frames(width, height, frames)
            enc, dec, data = [], [], b""
            for run in range(repeats + 1):
                t_enc, data = timed(
                    dicodec.encode_video, clip, quality=quality, gop=gop, fps=25, device=device,
                    precision=precision,
                )  # fmt: skip
                t_dec, _ = timed(decode_all, data, device, precision)
                if run:  # the first run warms up (weights, kernels, allocator)
                    enc.append(t_enc)
                    dec.append(t_dec)
            info = dicodec.inspect_video(data)
            row = {"device": device, "size": size, "frames": frames, "gop": gop, "quality": quality,
                   "precision": precision,
                   "bpp": round(info["bpp"], 4), "encode_fps": frames / statistics.median(enc),
                   "decode_fps": frames / statistics.median(dec), "torch_threads": torch.get_num_threads(),
                   "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None}  # fmt: skip
            rows.append(row)
            speed = f"encode {row['encode_fps']:.2f}, decode {row['decode_fps']:.2f} frames/s"
            head = f"{device} {size} {frames} frames q{quality} GOP {gop} {precision}"
            click.echo(f"{head}: {row['bpp']:.4f} bpp, {speed}")
    if json_out:
        with open(json_out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
