"""The objectives of the DiT decoder's three stages, assembled from their terms.

``prior``: rectified flow on clean latents plus, until ``repa_stop``, self-alignment of one block's
tokens with the clean latent (REPA, Yu et al. 2025, with the encoder's own latent as target as in
"Beyond External Guidance" (Self-Transcendence), switched off early as HASTE, Wang et al. 2025,
recommends). ``onestep`` and ``gan``: the variance-guided one-step decoder's pixel, alignment,
distillation and (``gan``) adversarial terms (:func:`onestep_terms`; the formula is in
:mod:`dicodec.codec.training.train_dit`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dicodec.codec.generative_decoder import GenerativeDecoder
from dicodec.codec.model import ImageCodec
from dicodec.codec.training.discriminator import feature_matching_loss, hinge_g_loss
from dicodec.codec.training.dit_config import DitTrainConfig
from dicodec.codec.training.dit_losses import alignment_loss, distillation_loss, distortion_loss, gaussian_nll
from dicodec.codec.training.flow_matching import flow_matching_targets, teacher_refine


class PriorObjective(nn.Module):
    """Flow-matching loss of the prior DiT plus self-alignment of one block's tokens (REPA-style)."""

    def __init__(self, decoder: GenerativeDecoder, layer: int):
        super().__init__()
        self.dit, self.layer = decoder.dit, layer
        hidden, channels = decoder.dit.config.hidden, decoder.dit.config.in_channels
        self.proj = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, channels))

    def forward(self, x0_n: Tensor, w_repa: float) -> dict[str, Tensor]:
        x_t, t, v = flow_matching_targets(x0_n)
        pred, tokens = self.dit(x_t, t, return_layer=self.layer)
        fm = F.mse_loss(pred.float(), v)
        target = x0_n.flatten(2).transpose(1, 2)
        repa = 1 - F.cosine_similarity(self.proj(tokens).float(), target, dim=-1).mean()
        return {"loss": fm + w_repa * repa, "fm": fm, "repa": repa}  # w_repa = 0 keeps DDP's graph whole


def onestep_terms(cfg: DitTrainConfig, ddp_decoder: nn.Module, decoder: GenerativeDecoder, codec: ImageCodec,
                  x: Tensor, lat: dict[str, Tensor], nets: dict[str, nn.Module | None],
                  autocast) -> dict:  # fmt: skip
    """Generator losses of the onestep/gan stages; also returns ``x_hat`` and the normalised ``y_n``.

    ``nets`` holds the frozen ``teacher`` and ``lpips`` networks and the discriminator ``disc`` (or None).
    """
    teacher, lpips_net, disc = nets["teacher"], nets["lpips"], nets["disc"]
    with autocast:
        out = ddp_decoder(lat["y_hat"], lat["sigma"], return_dict=True)
        target = None
        if teacher is not None:
            y_n = decoder.normalize(lat["y_hat"])
            target = teacher_refine(teacher, y_n, decoder.config.t_s, cfg.teacher_steps)
    x0_n, y_n, x0_enc = out["x0_n"].float(), decoder.normalize(lat["y_hat"]), decoder.normalize(lat["clean"])
    x_hat = out["pixels"] if "pixels" in out else codec.synthesis(out["latent"].float())
    terms = distortion_loss(x_hat, x, cfg.w_mse, cfg.w_msssim)
    terms["align"] = alignment_loss(x0_n, x0_enc, cfg.align_margin)
    loss = terms["distortion"] + cfg.w_align * terms["align"]
    if target is not None:
        terms["distill"] = distillation_loss(x0_n, target)
        loss = loss + cfg.w_distill * terms["distill"]
    if lpips_net is not None:
        terms["lpips"] = lpips_net(x_hat.clamp(0, 1) * 2 - 1, x * 2 - 1).mean()
        loss = loss + cfg.w_lpips * terms["lpips"]
    if cfg.w_latent > 0:
        terms["latent_mse"] = F.mse_loss(x0_n, x0_enc)
        loss = loss + cfg.w_latent * terms["latent_mse"]
    if cfg.w_nll > 0 and "logvar" in out:
        terms["nll"] = gaussian_nll(out["logvar"].float(), x0_enc - y_n)
        loss = loss + cfg.w_nll * terms["nll"]
    if disc is not None:
        disc.requires_grad_(False)  # the generator step must not write gradients into D
        if cfg.w_fm > 0:
            fake_feats = disc(x_hat, y_n, return_features=True)
            with torch.no_grad():
                real_feats = disc(x, y_n, return_features=True)
            terms["g_adv"] = hinge_g_loss(fake_feats[-1])
            terms["fm"] = feature_matching_loss(fake_feats[:-1], real_feats[:-1])
            loss = loss + cfg.w_fm * terms["fm"]
        else:
            terms["g_adv"] = hinge_g_loss(disc(x_hat, y_n))
        disc.requires_grad_(True)
        loss = loss + cfg.w_adv * terms["g_adv"]
    with torch.no_grad():
        terms["m_mean"] = out["m"].float().mean()
        terms["cos"] = F.cosine_similarity(x0_n, x0_enc, dim=1).mean()
    terms.update(loss=loss, x_hat=x_hat, y_n=y_n)
    return terms
