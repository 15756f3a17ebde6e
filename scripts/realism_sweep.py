"""What the ``realism`` knob buys: PSNR, texture and NIQE of one bitstream decoded at several settings.

Question: what does each ``--realism`` setting trade between PSNR, texture and NIQE?
When: after a new generative decoder, to choose the default and the documented trade-off (docs/dit.md).
Output: one row per image, quality and setting plus means on stdout; ``--json FILE`` writes the rows.

    python scripts/realism_sweep.py IMAGES_DIR [--model hp32-v6] [--qualities 0,20,40]
        [--realism 0,0.25,0.5,0.75,1] [--niqe-exclude 'skimage_*'] [--json rows.json]

``realism`` blends the decoded pixels, ``fast + r * (generative - fast)`` (docs/dit.md), so every image
is encoded once per quality and decoded once per setting through the public API, exactly as a user
would. Per row: bpp, PSNR-RGB, the gradient-energy ratio (decoded / source luma; 1 = all the source's
texture) and NIQE as the eval suite computes it (``None`` where it is undefined, short side <= 193 px).
The printed means take NIQE only over images no ``--niqe-exclude`` pattern matches (gray texture crops
score 20-40 and drown the photos). Use images outside the reported evaluation set
(``dicodec data selection-set``): this sets a default.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import click
import numpy as np

import dicodec
from dicodec.codec.training.data import list_images, load_rgb
from dicodec.eval.colors import luma
from dicodec.eval.metrics import energy_ratio, na_reason, psnr_rgb
from dicodec.eval.niqe import niqe


def sweep_rows(
    images: str, qualities: list[int], settings: list[float], model: str | None = None,
    device: str = "cpu", max_images: int = 0,
) -> list[dict]:  # fmt: skip
    """One row per image, quality and realism setting."""
    rows = []
    for path in list_images(images)[: max_images or None]:
        src = load_rgb(path)
        for q in qualities:
            data = dicodec.encode(src, quality=q, model=model, device=device)
            bpp = dicodec.inspect(data)["bpp"]
            for r in settings:
                dec = dicodec.decode(data, mode="generative", realism=r, device=device)
                small = na_reason("niqe", dec.shape) is not None
                rows.append({
                    "image": Path(path).name, "quality": q, "realism": r, "bpp": bpp,
                    "psnr": psnr_rgb(src, dec), "grad_ratio": energy_ratio(src, dec, "grad"),
                    "niqe": None if small else niqe(luma(dec)),
                })  # fmt: skip
    return rows


def means(rows: list[dict], niqe_exclude: tuple[str, ...] = ()) -> list[dict]:
    """Means per (quality, realism); NIQE over the rows whose image no ``niqe_exclude`` pattern matches."""
    out = []
    for q, r in sorted({(row["quality"], row["realism"]) for row in rows}):
        group = [row for row in rows if row["quality"] == q and row["realism"] == r]
        scored = [
            row["niqe"] for row in group
            if row["niqe"] is not None and not any(fnmatch.fnmatch(row["image"], p) for p in niqe_exclude)
        ]  # fmt: skip
        grads = [row["grad_ratio"] for row in group if row["grad_ratio"] is not None]
        out.append({
            "quality": q, "realism": r, "images": len(group),
            "bpp": float(np.mean([row["bpp"] for row in group])),
            "psnr": float(np.mean([row["psnr"] for row in group])),
            "grad_ratio": float(np.mean(grads)) if grads else None,
            "niqe": float(np.mean(scored)) if scored else None, "niqe_images": len(scored),
        })  # fmt: skip
    return out


def _floats(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise click.BadParameter(f"not a comma-separated list of numbers: {text!r}") from exc
    if not values:
        raise click.BadParameter("empty list")
    return values


@click.command()
@click.argument("images", type=click.Path(exists=True))
@click.option("--model", default=None, help="Registry model with a DiT decoder (default: the default).")
@click.option("--qualities", default="0,20,40", show_default=True, help="Comma-separated qualities 0..100.")
@click.option("--realism", "settings", default="0,0.25,0.5,0.75,1", show_default=True, help="Settings 0..1.")
@click.option("--niqe-exclude", multiple=True, help="Image-name pattern left out of the NIQE means.")
@click.option("--device", default="cpu", show_default=True, help="auto, cpu or cuda.")
@click.option("--max-images", type=int, default=0, help="Use only the first N images (0 = all).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Write rows here.")
def main(images: str, model: str | None, qualities: str, settings: str, niqe_exclude: tuple[str, ...],
         device: str, max_images: int, json_out: str | None) -> None:  # fmt: skip
    qs = [int(q) for q in _floats(qualities)]
    rs = _floats(settings)
    if any(not 0 <= r <= 1 for r in rs):
        raise click.BadParameter("realism settings must lie in [0, 1]", param_hint="--realism")
    try:
        rows = sweep_rows(images, qs, rs, model, device, max_images)
    except (dicodec.DicodecError, FileNotFoundError) as exc:  # list_images: no images under the folder
        raise click.ClickException(str(exc)) from exc
    for m in means(rows, niqe_exclude):
        niqe_text = f"{m['niqe']:.2f} ({m['niqe_images']} images)" if m["niqe"] is not None else "n/a"
        grad_text = f"{m['grad_ratio']:.3f}" if m["grad_ratio"] is not None else "n/a"
        click.echo(f"q={m['quality']:3d} realism={m['realism']:.2f} bpp={m['bpp']:.3f} "
                   f"psnr={m['psnr']:.2f} grad={grad_text} niqe={niqe_text}")  # fmt: skip
    if json_out:
        Path(json_out).write_text(json.dumps(rows, indent=1))
        click.echo(f"wrote {len(rows)} rows to {json_out}")


if __name__ == "__main__":
    main()
