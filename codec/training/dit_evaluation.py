"""Looking at a trained DiT decoder: prior samples, and real-coded comparisons of decoders.

The ``sample`` and ``compare`` commands of :mod:`dicodec.codec.training.train_dit` call these. The
comparison is the ablation "one step vs multi-step prior": the same bitstreams decoded fast, with the
one-step decoder and with the multi-step teacher, scored by PSNR, texture ratios and NIQE
(:mod:`dicodec.eval`).
"""

from __future__ import annotations

import numpy as np
import torch

from dicodec.codec.generative_decoder import GenerativeDecoder, generative_decode
from dicodec.codec.model import ImageCodec
from dicodec.codec.training.codec_latents import codec_latents
from dicodec.codec.training.data import CropSampler
from dicodec.codec.training.flow_matching import prior_sample, teacher_refine


@torch.no_grad()
def sample_grid(
    decoder: GenerativeDecoder,
    codec: ImageCodec,
    num: int = 8,
    size: int = 256,
    steps: int = 32,
    seed: int = 0,
    data: str | None = None,
) -> np.ndarray:
    """A uint8 image grid: a row of prior samples decoded by the synthesis transform and, with ``data``, a
    row of clean-latent reconstructions of random crops (what the samples should look like)."""
    device = decoder.latent_std.device
    gen = torch.Generator(device=device).manual_seed(seed)
    latents = prior_sample(decoder, num, (size // 32, size // 32), steps, gen)
    rows = [codec.synthesize(latents.to(codec.log_gain.device))]
    if data:
        x = CropSampler(data, codec.log_gain.device, seed=seed).sample(num, size)
        level = torch.full((num,), (codec.config.levels - 1) / 2, device=x.device)
        rows.append(codec.synthesize(codec_latents(codec, x, level, coded=False)["clean"]))
    grid = torch.cat([torch.cat(list(r), dim=-1) for r in rows], dim=-2)  # (3, rows*size, num*size)
    return (grid.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)


@torch.no_grad()
def compare(decoder: GenerativeDecoder, codec: ImageCodec, data: str, qualities: list[int],
            teacher: GenerativeDecoder | None = None, teacher_steps: int = 8, realism: float = 1.0,
            max_images: int = 0) -> list[dict]:  # fmt: skip
    """Real-coded comparison of decoders on whole images (ablation "one step vs multi-step prior").

    Per image and quality: bpp and, for ``fast`` (synthesis of y_hat), ``onestep`` and, with a teacher,
    ``multistep`` (SDEdit from y_hat with ``teacher_steps`` Euler steps), PSNR, gradient and Laplacian
    energy ratios (decoded / source; 1 = as much texture as the source) and NIQE (lower = more natural).
    ``realism`` is :func:`~dicodec.codec.generative_decoder.generative_decode`'s pixel blend, as in
    ``dicodec decode --realism``.
    """
    from dicodec.codec.pipeline import pad_image
    from dicodec.codec.training.data import list_images, load_rgb
    from dicodec.eval.colors import luma
    from dicodec.eval.metrics import energy_ratio, psnr_rgb
    from dicodec.eval.niqe import niqe

    device, rows = codec.log_gain.device, []
    for path in list_images(data)[: max_images or None]:
        src = load_rgb(path)
        x = pad_image(torch.from_numpy(src.copy()).permute(2, 0, 1)[None].float().div(255).to(device))
        for q in qualities:
            strings = codec.compress(x, q)
            outs = {"fast": codec.decompress(strings, x.shape[-2:], q)}
            outs["onestep"] = generative_decode(codec, decoder, strings, x.shape[-2:], q, realism)
            if teacher is not None:
                y_n = teacher.normalize(codec.decompress_latent(strings, x.shape[-2:], q).to(device))
                refined = teacher_refine(teacher, y_n, decoder.config.t_s, teacher_steps)
                outs["multistep"] = codec.synthesize(teacher.denormalize(refined))
            bpp = 8 * sum(len(s) for s in strings) / (src.shape[0] * src.shape[1])
            for name, img in outs.items():
                dec = img[0, :, : src.shape[0], : src.shape[1]].permute(1, 2, 0).cpu().numpy() * 255 + 0.5
                dec = dec.clip(0, 255).astype(np.uint8)
                rows.append({"image": path.name, "quality": q, "decoder": name, "bpp": bpp,
                             "psnr": psnr_rgb(src, dec), "grad_ratio": energy_ratio(src, dec, "grad"),
                             "lap_ratio": energy_ratio(src, dec, "lap"),
                             "niqe": niqe(luma(dec)) if min(src.shape[:2]) > 193 else None})  # fmt: skip
    return rows


COMPARE_METRICS = ("bpp", "psnr", "grad_ratio", "lap_ratio", "niqe")


def compare_means(rows: list[dict], quality: int, decoder: str) -> dict[str, float]:
    """Mean of each :data:`COMPARE_METRICS` over the images of :func:`compare` rows at one quality and
    decoder; NaN where no image has the metric (NIQE of images under 194 px) or there are no rows."""
    group = [r for r in rows if r["quality"] == quality and r["decoder"] == decoder]
    return {m: float(np.mean([r[m] for r in group if r[m] is not None] or [np.nan])) for m in COMPARE_METRICS}
