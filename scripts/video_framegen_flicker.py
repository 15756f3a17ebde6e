"""Does the image DiT decoder applied to every frame of a clip flicker more than the fast decode?

When: after a change to the per-frame generative decode (``codec/video/framewise.py``) or to the DiT
decoder paired with the default image codec (docs/video.md, "Refinement (part 2)").
Output: one row per (photo, quality) on stdout: bits per pixel per frame, then for the fast decode and
the per-frame generative one the mean PSNR-RGB over the frames and the flicker of
``dicodec.eval.video.flicker``; ``--json-out`` writes the rows.

Each clip is rendered by ``dicodec.codec.training.video_data.render_clip_uint8`` (the default camera
motion, ``--pan`` pixels per frame at most) from a photo, coded once with ``dicodec.encode_video`` (default
GOP, default image codec) and decoded both ways from the same bytes. Use training photos, never the
held-out clips.

Example:
    python scripts/video_framegen_flicker.py data/pack/lxqt__fog.jpg --size 128 --frames 8 -q 10 40
"""

from __future__ import annotations

import argparse
import json
import time
from fractions import Fraction

import numpy as np
import torch

import dicodec
from dicodec.codec.training.video_data import CameraMotion, read_photo, render_clip_uint8
from dicodec.codec.video.framewise import decode_framewise
from dicodec.eval.metrics import psnr_rgb
from dicodec.eval.video import flicker


def scores(frames: np.ndarray, decoded: np.ndarray, seconds: float) -> dict:
    psnr = float(np.mean([psnr_rgb(a, b) for a, b in zip(frames, decoded, strict=True)]))
    return {"psnr": psnr, "flicker": flicker(frames, decoded), "decode_s": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", nargs="+", help="photos to render clips from (training photos)")
    parser.add_argument("--size", type=int, default=128, help="square frame side")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--pan", type=float, default=1.0, help="largest pan in pixels per frame")
    parser.add_argument("-q", "--quality", type=int, nargs="+", default=[10, 40])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json-out", default=None)
    args = parser.parse_args()
    cpu = torch.device("cpu")
    rows = []
    for path in args.photos:
        motion = CameraMotion(pan_px=args.pan)
        frames = render_clip_uint8(read_photo(path), args.frames, args.size, args.seed, motion)
        t, h, w = frames.shape[:3]
        for q in args.quality:
            data = dicodec.encode_video(frames, q, fps=Fraction(25), device="cpu")
            start = time.perf_counter()
            fast = np.stack(list(dicodec.decode_video(data, mode="fast", device="cpu")))
            fast_s = time.perf_counter() - start
            start = time.perf_counter()
            gen = np.stack(list(decode_framewise(data, device=cpu)[1]))
            gen_s = time.perf_counter() - start
            row = {"photo": path, "quality": q, "bpp": 8 * len(data) / (t * h * w),
                   "fast": scores(frames, fast, fast_s), "framegen": scores(frames, gen, gen_s)}  # fmt: skip
            rows.append(row)
            print(f"{path.rsplit('/', 1)[-1]} q={q:3d} {row['bpp']:.4f} bpp | fast "
                  f"{row['fast']['psnr']:.2f} dB flicker {row['fast']['flicker']:.3f} | framegen "
                  f"{row['framegen']['psnr']:.2f} dB flicker {row['framegen']['flicker']:.3f}")  # fmt: skip
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
