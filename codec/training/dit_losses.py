"""Loss terms of the DiT decoder's one-step stages (``onestep`` and ``gan`` of ``train_dit``).

* Pixel distortion, MSE and MS-SSIM on ``synthesis(x0)`` (:func:`distortion_loss`).
* DiT-IC's self-distillation alignment: ``relu(1 - margin - cos(x0_pred, x0_enc))`` per latent
  position with DiT-IC's margin 0.5 (:func:`alignment_loss`), plus a regression onto the multi-step
  teacher (:func:`distillation_loss`, the teacher being :func:`~dicodec.codec.training.flow_matching.
  teacher_refine`).
* An optional Gaussian NLL target for the learned log-variance head (:func:`gaussian_nll`).

The adversarial terms are in :mod:`dicodec.codec.training.discriminator`. Training only: the shipped
decode path never imports this module, nor ``pytorch_msssim``.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor

from dicodec.eval.metrics import psnr_from_mse

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from pytorch_msssim import ms_ssim


def alignment_loss(x0_pred: Tensor, x0_encoder: Tensor, margin: float = 0.5) -> Tensor:
    """DiT-IC's self-distillation alignment: mean of relu(1 - margin - cos) over latent positions, the
    cosine taken across channels between the one-step output and the encoder latent (normalised units)."""
    return F.relu(1 - margin - F.cosine_similarity(x0_pred.float(), x0_encoder.float(), dim=1)).mean()


def distillation_loss(x0_pred: Tensor, x0_teacher: Tensor) -> Tensor:
    """Regression of the one-step output onto the multi-step teacher's (normalised units)."""
    return F.mse_loss(x0_pred.float(), x0_teacher.float())


def gaussian_nll(logvar: Tensor, error: Tensor) -> Tensor:
    """Heteroscedastic Gaussian NLL, an optional direct target for the learned log-variance head."""
    return 0.5 * (logvar + error.pow(2) * torch.exp(-logvar)).mean()


def distortion_loss(x_hat: Tensor, x: Tensor, w_mse: float, w_msssim: float) -> dict[str, Tensor]:
    """``w_mse * MSE + w_msssim * (1 - MS-SSIM)`` on images in [0, 1]; MS-SSIM needs sides > 160 px."""
    mse = F.mse_loss(x_hat.float(), x)
    out = {"mse": mse, "psnr": psnr_from_mse(mse.detach(), peak=1.0)}
    loss = w_mse * mse
    if w_msssim > 0:
        out["msssim"] = ms_ssim(x_hat.float().clamp(0, 1), x, data_range=1.0)
        loss = loss + w_msssim * (1 - out["msssim"])
    out["distortion"] = loss
    return out
