"""Bit-exactness of clip decoding across devices (run on a machine with a GPU).

Question: does a `.dicv` clip encoded on the GPU decode to the same latents on the CPU, and back?
When: after any change to the video codec's latent chain (docs/video.md) or the integer entropy path;
needs a CUDA device. The image counterpart is ``cross_device_check.py``.
Output: one line per case, counts, and one JSON line.

    python scripts/video_cross_device_check.py PHOTO [PHOTO ...] [--qualities 10,50,90] [--gop 4]

For every photo and quality a clip is rendered by a smooth virtual camera over the photo (pan, zoom,
rotation, exposure drift: ``codec/training/video_data.py``), encoded with ``dicodec.encode_video`` on one
device and decoded with ``decode_latents`` on both; the decoded latents (and so the context every inter
frame is coded against) must be identical on both. Pixels may differ by float rounding in the synthesis.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

import dicodec
from dicodec.codec.training.video_data import CameraMotion, read_photo, render_clip_uint8
from dicodec.codec.video import clip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", nargs="+")
    parser.add_argument("--qualities", default="10,50,90")
    parser.add_argument("--gop", type=int, default=4)
    parser.add_argument("--frames", type=int, default=9)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    qualities = [int(q) for q in args.qualities.split(",")]
    cases = identical = same_pixels = 0
    for path in args.photos:
        frames = render_clip_uint8(read_photo(path), args.frames, args.size, motion=CameraMotion(pan_px=2.0))
        for q in qualities:
            for enc, dec in (("cuda", "cpu"), ("cpu", "cuda")):
                data = dicodec.encode_video(frames, quality=q, gop=args.gop, fps=25, device=enc)
                out = {d: list(clip.decode_latents(data, device=torch.device(d))[1]) for d in (enc, dec)}
                digests = {d: clip.latent_digest(y for y, _ in out[d]) for d in out}
                ok = digests[enc] == digests[dec]
                px = all(np.array_equal(a, b) for (_, a), (_, b) in zip(out[enc], out[dec], strict=True))
                cases, identical, same_pixels = cases + 1, identical + ok, same_pixels + px
                print(f"{path.rsplit('/', 1)[-1]} q={q} encoded on {enc}: {len(data)} B, latents "
                      f"{'identical' if ok else 'DIFFER'} on {dec}, pixels {'identical' if px else 'differ'}",
                      flush=True)  # fmt: skip
    print(f"{identical}/{cases} clips: identical latents across devices ({same_pixels}: identical pixels)")
    print(json.dumps({"cases": cases, "identical_latents": identical, "identical_pixels": same_pixels,
                      "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0)}))  # fmt: skip
    return 0 if identical == cases else 1


if __name__ == "__main__":
    raise SystemExit(main())
