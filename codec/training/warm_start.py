"""Start training from a released weights file instead of from scratch.

A shipped file holds fp16 transforms and the *integer* weights of the exact entropy networks (their
float copies are left out, see :mod:`dicodec.codec.weights_io`). Warm starting therefore rebuilds the
float weights of every :class:`~dicodec.codec.fixed_point.ExactConv2d` from its integers (exact up to
the 2^-12 weight grid) and copies every tensor whose shape matches.

The gain vectors (Cui et al. 2021) are tied to the file's lambda range. When the new preset covers
another range, each channel's log-gain is refitted as a straight line in log-lambda over the old
levels and read off at the new levels: the latent scale the transforms learned is kept, and levels
beyond the old range start on the extrapolated line rather than at a guess. New levels at the lambda of
an old one (a ladder extended at the same ratio, e.g. ``hp32d`` -> ``hp32d10``) keep that level's gains.

A preset with *more channels* somewhere (e.g. ``hp32w``'s 640-channel latent) starts from a narrower
file as Chen et al.'s Net2WiderNet does ("Net2Net", ICLR 2016), in its zero-initialised form: each
convolution keeps the file's weights in the block the two share, new output channels keep their fresh
initialisation, and the weights that *read* a new input channel start at zero; GDN's new entries keep
their identity-like initialisation, whose off-diagonal terms are zero. So every old channel computes
what it did and the new ones are ignored until training gives them a use: the wider codec decodes as
the file did at step 0. New latent channels get, per level, the mean gain of the old ones.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor, nn

from dicodec.codec.fixed_point import ExactConv2d
from dicodec.codec.model import ImageCodec
from dicodec.codec.weights_io import load_codec_file


def _refit_gains(old_table: Tensor, old_lambdas: Tensor, new_lambdas: Tensor) -> Tensor:
    """Least-squares line per channel of ``old_table`` (levels, M) against log-lambda, at new lambdas."""
    t = old_lambdas.double().log()
    design = torch.stack([torch.ones_like(t), t], 1)  # (L, 2)
    coef = torch.linalg.lstsq(design, old_table.double()).solution  # (2, M)
    tn = new_lambdas.double().log()
    return (torch.stack([torch.ones_like(tn), tn], 1) @ coef).float()


def _shared_levels(old_lambdas: Tensor, new_lambdas: Tensor) -> list[tuple[int, int]]:
    """Pairs (old level, new level) at the same lambda (to 1e-5 relative): a ladder extended by more
    levels at the same ratio keeps its old rungs."""
    return [
        (i, j)
        for j, new in enumerate(new_lambdas.tolist())
        for i, old in enumerate(old_lambdas.tolist())
        if math.isclose(old, new, rel_tol=1e-5)
    ]


def _input_dims(model: nn.Module) -> dict[str, int]:
    """Parameter name -> its input-channel dimension, for the weights of (transposed) convolutions."""
    dims = {}
    for prefix, module in model.named_modules():
        if isinstance(module, nn.ConvTranspose2d):
            dims[f"{prefix}.weight"] = 0  # (in, out, kh, kw)
        elif isinstance(module, nn.Conv2d):
            dims[f"{prefix}.weight"] = 1  # (out, in, kh, kw)
    return dims


def _widen_into(value: Tensor, src: Tensor, input_dim: int | None) -> bool:
    """Copy ``src`` into the leading block of the wider ``value`` (fresh initialisation elsewhere);
    zero the entries of old outputs that read new inputs. False when the shapes are not a widening."""
    if value.dim() != src.dim() or any(s > v for s, v in zip(src.shape, value.shape, strict=True)):
        return False
    if value.dim() > 2 and value.shape[2:] != src.shape[2:]:
        return False  # another kernel size: not the same layer
    if input_dim is not None and value.shape[input_dim] > src.shape[input_dim]:
        output_dim = 1 - input_dim
        old_outputs = [slice(None)] * value.dim()
        old_outputs[output_dim] = slice(0, src.shape[output_dim])
        old_outputs[input_dim] = slice(src.shape[input_dim], None)
        value[tuple(old_outputs)] = 0
    value[tuple(slice(0, n) for n in src.shape)] = src.to(value.device, value.dtype)
    return True


def _widen_gains(table: Tensor, channels: int) -> Tensor:
    """(levels, M_old) -> (levels, channels): new channels get each level's mean over the old ones."""
    if table.shape[1] == channels:
        return table
    extra = table.mean(1, keepdim=True).expand(-1, channels - table.shape[1])
    return torch.cat([table, extra], 1)


@torch.no_grad()
def warm_start(model: ImageCodec, path: str | Path) -> dict[str, int]:
    """Load what fits from the weights file at ``path`` into ``model`` (in place).

    Returns counts of copied, widened, refitted and skipped tensors, so a training log can show what
    happened.
    """
    source = load_codec_file(path)
    for module in source.modules():  # float weights of exact networks from their integers
        if isinstance(module, ExactConv2d) and module.frozen:
            module.thaw()
    src_state = source.state_dict()
    counts = {"copied": 0, "widened": 0, "refitted": 0, "skipped": 0}
    target = dict(model.named_parameters())
    input_dims = _input_dims(model)
    # Parameters only: buffers are constants of a fresh model, and the file's fp16 copies of some are
    # not (the EntropyBottleneck's likelihood bound 1e-9 and GDN's pedestal 2^-36 round to 0 in fp16;
    # a zero likelihood bound gives infinite rates in training).
    for key, value in target.items():
        if key in ("log_gain", "log_inverse_gain"):
            continue
        src = src_state.get(key)
        if src is not None and src.shape == value.shape:
            value.copy_(src.to(value.device, value.dtype))
            counts["copied"] += 1
        elif src is not None and _widen_into(value, src, input_dims.get(key)):
            counts["widened"] += 1
        else:
            counts["skipped"] += 1
    old_l, new_l = source.level_lambdas(), model.level_lambdas()
    same_range = math.isclose(source.config.lambda_min, model.config.lambda_min) and math.isclose(
        source.config.lambda_max, model.config.lambda_max
    )
    for key in ("log_gain", "log_inverse_gain"):
        old = _widen_gains(src_state[key].float(), target[key].shape[1])
        if same_range and old.shape == target[key].shape:
            new = old
        else:
            new = _refit_gains(old, old_l, new_l)
            for i, j in _shared_levels(old_l, new_l):  # a level on the old ladder keeps its learned gains
                new[j] = old[i]
        getattr(model, key).copy_(new.to(target[key].device))
        counts["refitted"] += 1
    return counts
