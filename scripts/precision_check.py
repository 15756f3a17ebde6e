"""What the bfloat16 transforms (``--precision bfloat16``) cost and save, on one image.

Job: time the codec's synthesis transform on the same decoded latents in float32 (the release's
arithmetic, what a default decode runs) and in bfloat16 autocast on channels-last tensors
(:mod:`dicodec.codec.precision`), and compare their pixels: largest difference in levels and PSNR to
the source. Then encode in both and compare the files: size, and PSNR of their float32 decodes. The
bfloat16 synthesis is run as asked even where a decode would fall back to float32, so with
``ONEDNN_MAX_CPU_ISA=AVX2`` (or ``AVX512_CORE``) it measures oneDNN's emulation on a CPU without
bfloat16 instructions, the reason for that fallback.
When: before changing the precision option or its fallback (docs/models.md, "CPU fast decode").
Output: two lines per quality (decode, encode).

    python scripts/precision_check.py --size 1920x1080 --qualities 10,30,50,70,90
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import sample_image  # noqa: E402


def _uint8(pixels: torch.Tensor, height: int, width: int) -> np.ndarray:
    return (pixels[0].clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()[:height, :width]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    from dicodec.eval.metrics import psnr_from_mse

    return float(psnr_from_mse(float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))))


def _timed(fn, latent: torch.Tensor, repeats: int) -> tuple[float, torch.Tensor]:
    with torch.no_grad():
        out = fn(latent)  # warm-up (and the channels-last copy)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            out = fn(latent)
            times.append(time.perf_counter() - start)
    return min(times), out


@click.command()
@click.option("--size", default="1920x1080", show_default=True, help="WxH of the bundled sample, resized.")
@click.option("--qualities", default="10,50,90", show_default=True)
@click.option("--model", default="hp32-v7", show_default=True)
@click.option("--repeats", type=int, default=2, show_default=True)
def main(size: str, qualities: str, model: str, repeats: int) -> None:
    import dicodec
    from dicodec.arguments import PRECISIONS
    from dicodec.bitstream import container
    from dicodec.codec import registry
    from dicodec.codec.precision import bfloat16_transform

    width, height = (int(v) for v in size.split("x"))
    image = sample_image(width, height)
    codec = registry.load(model, torch.device("cpu"))
    click.echo(f"{model}, {size}, {torch.get_num_threads()} threads; synthesis only, best of {repeats}")
    for quality in (int(q) for q in qualities.split(",")):
        header, tiles = container.read(dicodec.encode(image, quality=quality, model=model, device="cpu"))
        if len(tiles) != 1:
            raise click.ClickException(f"{size} is coded in {len(tiles)} tiles; use a size of one tile")
        tile = tiles[0]
        latent = codec.decompress_latent([tile.z, *tile.y], header.padded_size, header.quality)
        t32, out32 = _timed(codec.synthesize, latent, repeats)
        t16, out16 = _timed(bfloat16_transform(codec.synthesis), latent, repeats)
        a, b = _uint8(out32, height, width), _uint8(out16, height, width)
        diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
        click.echo(
            f"q{quality}: float32 {t32:.2f} s, PSNR {_psnr(a, image):.3f} dB | bfloat16 {t16:.2f} s, "
            f"PSNR {_psnr(b, image):.3f} dB | max difference {diff.max()} levels, "
            f"{np.count_nonzero(diff) / diff.size:.1%} of values differ"
        )
        files = {}
        for precision in PRECISIONS:
            data = dicodec.encode(image, quality=quality, model=model, device="cpu", precision=precision)
            decoded = dicodec.decode(data, mode="fast", device="cpu")
            files[precision] = f"{len(data)} B, PSNR {_psnr(decoded, image):.3f} dB"
        click.echo(f"q{quality} encode: float32 {files['float32']} | bfloat16 {files['bfloat16']}")


if __name__ == "__main__":
    main()
