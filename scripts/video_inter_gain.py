"""What do inter frames save over intra-only coding, at what PSNR, on clips rendered from photos?

When: after a change to the video codec's inter coding (docs/video.md, "Measured").
Output: one row per (photo, quality, scheme) on stdout: bytes, bits per pixel per frame, mean PSNR
over the frames, frame types; ``--json-out`` writes the rows.

Each clip is rendered by ``dicodec.codec.training.video_data.render_clip`` (a camera panning
``--pan`` pixels per frame with a slow zoom, rotation and exposure drift) from a photo, then coded
four ways with the default image codec: every frame intra (``gop=1``); one intra frame and inter
frames only (``inter="always"``), without and with the per-slice scale shifts of format 2.0; and as
``dicodec.encode_video`` does (``inter="cheaper"``: each
inter frame coded both ways, the smaller kept). ``--inter-model FILE`` (a contextual model written by
``dicodec.codec.training.video_train``) adds the last two with that model in place of the
training-free temporal mean.

Example:
    python scripts/video_inter_gain.py data/more/pack/lxqt__appleflower.jpg --size 128 --frames 12 -q 20 50 80
    python scripts/video_inter_gain.py PHOTO --pan 0.3 --zoom 0 --rotation 0 --exposure 0   # a still camera
"""

from __future__ import annotations

import argparse
import io
import json
import time
from fractions import Fraction

import numpy as np
import torch

from dicodec.codec.training.video_data import CameraMotion, read_photo, render_clip_uint8
from dicodec.codec.video import clip, models
from dicodec.eval.metrics import psnr_rgb


def code(
    frames: np.ndarray, quality: int, gop: int, inter: str, inter_model: str | None = None,
    shifts: bool = True,
) -> dict:  # fmt: skip
    out, kinds, start = io.BytesIO(), [], time.perf_counter()
    cpu = torch.device("cpu")
    clip.encode_clip(
        iter(frames), out, quality=quality, gop=gop, fps=Fraction(25), device=cpu, inter=inter,
        inter_model=inter_model, on_frame=lambda i, kind, n: kinds.append(kind), scale_shifts=shifts,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    decoded = [f for _, f in clip.decode_latents(out.getvalue(), device=cpu)[1]]
    t, h, w = frames.shape[:3]
    return {
        "bytes": len(out.getvalue()),
        "bpp": 8 * len(out.getvalue()) / (t * h * w),
        "psnr": float(np.mean([psnr_rgb(a, b) for a, b in zip(frames, decoded, strict=True)])),
        "frames": "".join("I" if k == "intra" else "P" for k in kinds),
        "encode_s": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", nargs="+", help="photos to render clips from")
    parser.add_argument("--size", type=int, default=128, help="square frame side")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--pan", type=float, default=1.0, help="largest pan in pixels per frame")
    still = CameraMotion()
    parser.add_argument("--zoom", type=float, default=still.zoom, help="largest relative zoom per frame")
    parser.add_argument("--rotation", type=float, default=still.rotation_deg, help="largest degrees/frame")
    parser.add_argument("--exposure", type=float, default=still.exposure, help="largest drift per frame")
    parser.add_argument("-q", "--quality", type=int, nargs="+", default=[50])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json-out", default=None)
    parser.add_argument("--inter-model", default=None, help="a contextual inter model file to compare")
    args = parser.parse_args()
    schemes = [("intra only", 1, "cheaper", None, True),
               ("always, no shifts", args.frames, "always", None, False),  # what format 1.0 coded
               ("inter always", args.frames, "always", None, True),
               ("encode_video", args.frames, "cheaper", None, True)]  # fmt: skip
    if args.inter_model:
        name = models.register_file(args.inter_model)
        schemes += [(f"{name} always", args.frames, "always", name, True),
                    (name, args.frames, "cheaper", name, True)]  # fmt: skip
    rows = []
    for path in args.photos:
        motion = CameraMotion(args.pan, args.zoom, args.rotation, args.exposure)
        frames = render_clip_uint8(read_photo(path), args.frames, args.size, args.seed, motion)
        for q in args.quality:
            for name, gop, inter, inter_model, shifts in schemes:
                coded = code(frames, q, gop, inter, inter_model, shifts)
                row = {"photo": path, "quality": q, "scheme": name, **coded}
                rows.append(row)
                print(f"{path.rsplit('/', 1)[-1]} q={q:3d} {name:16s} {row['bytes']:7d} B "
                      f"{row['bpp']:.4f} bpp {row['psnr']:.2f} dB {row['frames']} {row['encode_s']:.1f} s",
                      flush=True)  # fmt: skip
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
