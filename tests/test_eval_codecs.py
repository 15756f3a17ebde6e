"""Codec adapters of dicodec.eval: baselines round-trip, and the dicodec adapter against a fake."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import dicodec
from dicodec.eval import image_codecs, video
from dicodec.eval.image_codecs import CodecUnavailable, make_codec
from dicodec.eval.metrics import psnr_rgb
from dicodec.eval.runner import EvalConfig, run_images


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([120 + 70 * np.sin(x / (9.0 + c) + c) * np.cos(y / 13.0) for c in range(3)], axis=-1)
    return np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", ["jpeg", "webp", "avif", "avif420", "jxl", "hevc", "hevc420"])
@pytest.mark.parametrize("size", [(47, 63), (46, 30)])  # odd sizes; H = 2 mod 4 (unaligned 4:2:0 chroma)
def test_baseline_round_trip(name, size):
    codec = make_codec(name)
    if codec.check():
        pytest.skip(codec.check())
    img = _photo(*size)
    qualities = image_codecs.DEFAULT_QUALITIES[name]
    low, high = qualities[0], qualities[-1]
    sizes, psnrs = [], []
    for q in (low, high):
        data = codec.encode(img, q)
        dec = codec.decode(data, name)
        if codec.may_pad:
            dec = dec[: img.shape[0], : img.shape[1]]
        assert dec.shape == img.shape and dec.dtype == np.uint8
        sizes.append(len(data))
        psnrs.append(psnr_rgb(img, dec))
    assert sizes[1] > sizes[0] and psnrs[1] > psnrs[0] > 15
    assert codec.library() and codec.settings


def test_hevc_colour_path_is_near_lossless_at_qp0():
    codec = make_codec("hevc")
    if codec.check():
        pytest.skip(codec.check())
    img = _photo(32, 48)
    assert psnr_rgb(img, codec.decode(codec.encode(img, 0), "hevc")) > 45


def test_unknown_codec():
    with pytest.raises(ValueError):
        make_codec("bpg")


# --------------------------------------------------------------------------- dicodec adapter


class FakeDicodec:
    """Stands in for the library API: 'fast' works (a lossy round trip), 'generative' is unavailable."""

    def __init__(self, encode_error: Exception | None = None, modes=("fast", "generative")):
        self.encode_error = encode_error
        self.modes = list(modes)
        self.calls: list[tuple] = []

    def list_models(self):
        return [{"name": "fake-v1", "default": True, "decode_modes": self.modes}]

    def encode(self, image, quality=75, *, model=None, device="auto", **options):
        self.calls.append(("encode", quality, model, device, *options.items()))
        if self.encode_error:
            raise self.encode_error
        assert isinstance(quality, int)
        step = max(1, 64 - quality // 2)
        q = (np.asarray(image) // step).astype(np.uint8)
        return bytes([step]) + np.array(q.shape, np.uint16).tobytes() + q.tobytes()

    def decode(self, data, *, mode="fast", device="auto", output="numpy"):
        self.calls.append(("decode", mode, device, output))
        if mode == "generative":
            raise dicodec.UnavailableError("no DiT weights")
        step = data[0]
        shape = tuple(np.frombuffer(data[1:7], np.uint16))
        q = np.frombuffer(data[7:], np.uint8).reshape(shape)
        return (q.astype(np.int32) * step + step // 2).clip(0, 255).astype(np.uint8)


@pytest.fixture
def fake_dicodec(monkeypatch):
    fake = FakeDicodec()
    for fn in ("list_models", "encode", "decode"):
        monkeypatch.setattr(dicodec, fn, getattr(fake, fn))
    return fake


def _write_images(folder, n=2, size=(40, 56)):
    from PIL import Image

    folder.mkdir()
    for i in range(n):
        Image.fromarray(_photo(*size, seed=i)).save(folder / f"img{i}.png")
    return folder


class TestDicodecAdapter:
    def test_modes_from_registry(self, fake_dicodec):
        codec = make_codec("dicodec", device="cpu", dicodec_model=None)
        assert codec.curves == ["dicodec-fast", "dicodec-generative"]
        img = _photo(16, 24)
        data = codec.encode(img, 50.0)
        assert codec.decode(data, "dicodec-fast").shape == img.shape
        with pytest.raises(CodecUnavailable, match="UnavailableError"):
            codec.decode(data, "dicodec-generative")
        assert ("encode", 50, None, "cpu") in fake_dicodec.calls

    def test_refine_codec_passes_its_steps_and_decodes_fast_only(self, fake_dicodec):
        codec = make_codec("dicodec-refine", device="cpu", refine_steps=7)
        assert (codec.name, codec.curves) == ("dicodec-refine", ["dicodec-refine-fast"])
        img = _photo(16, 24)
        assert codec.decode(codec.encode(img, 40.0), "dicodec-refine-fast").shape == img.shape
        assert ("encode", 40, None, "cpu", ("refine_steps", 7)) in fake_dicodec.calls
        assert ("decode", "fast", "cpu", "numpy") in fake_dicodec.calls

    def test_unavailable_mode_is_reported_and_run_continues(self, fake_dicodec, tmp_path):
        folder = _write_images(tmp_path / "imgs")
        cfg = EvalConfig(
            codecs=["dicodec", "jpeg"],
            qualities={"dicodec": [20, 80], "jpeg": [30, 80]},
            metrics=["psnr_rgb"],
            anchor="jpeg",
            device="cpu",
            progress=False,
        )
        from dicodec.eval.runner import collect_inputs

        section = run_images(collect_inputs([folder])[0], cfg)
        assert section["codecs"]["dicodec-fast"]["status"] == "ok"
        status = section["codecs"]["dicodec-generative"]["status"]
        assert status.startswith("not available") and "no DiT weights" in status
        fast = [r for r in section["records"] if r["codec"] == "dicodec-fast"]
        assert len(fast) == 4 and all(r["bpp"] > 0 for r in fast)
        assert not any(r["codec"] == "dicodec-generative" for r in section["records"])
        # One encode per (image, quality), shared by both modes.
        assert sum(1 for c in fake_dicodec.calls if c[0] == "encode") == 4
        bd = section["bd"]["rows"]["dicodec-fast"]["psnr_rgb"]
        assert bd["bd_rate"] is not None or bd["bd_rate_reason"]

    @pytest.mark.parametrize("error", [NotImplementedError(), dicodec.UnavailableError("no weights")])
    def test_encode_unavailable(self, monkeypatch, tmp_path, error):
        fake = FakeDicodec(encode_error=error)
        for fn in ("list_models", "encode", "decode"):
            monkeypatch.setattr(dicodec, fn, getattr(fake, fn))
        folder = _write_images(tmp_path / "imgs", n=1)
        cfg = EvalConfig(
            codecs=["dicodec", "jpeg"],
            qualities={"dicodec": [20], "jpeg": [30, 80]},
            metrics=["psnr_rgb"],
            device="cpu",
            progress=False,
        )
        section = run_images([folder / "img0.png"], cfg)
        for curve in ("dicodec-fast", "dicodec-generative"):
            assert section["codecs"][curve]["status"].startswith("not available (dicodec.encode")
        assert {r["codec"] for r in section["records"]} == {"jpeg"}
        assert section["errors"] == []

    def test_list_models_not_implemented_falls_back(self, monkeypatch):
        def boom():
            raise NotImplementedError

        monkeypatch.setattr(dicodec, "list_models", boom)
        modes, why = image_codecs.dicodec_modes()
        assert modes == ["fast", "generative"] and "NotImplementedError" in why


def test_read_clip_converts_and_crops_to_even(tmp_path):
    import av

    path = tmp_path / "odd.mkv"
    frames = [_photo(45, 63, seed=t) for t in range(3)]
    with av.open(str(path), "w") as out:
        s = out.add_stream("ffv1", rate=5)  # lossless, keeps the odd size and an RGB pixel format
        s.width, s.height, s.pix_fmt = 63, 45, "bgr0"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    clip = video.read_clip(path, max_frames=2)
    assert clip.rgb.shape == (2, 44, 62, 3) and clip.yuv[0].shape == (66, 62)
    assert psnr_rgb(frames[0][:44, :62], clip.rgb[0]) > 30  # only 4:2:0 chroma loss
    codec = video.make_video_codec("x264")
    dec = codec.decode(codec.encode(clip, 18), "x264", clip)
    assert len(dec) == 2 and dec[0].shape == (66, 62)


def test_video_encoders_detected():
    enc = video.available_encoders()
    assert set(enc) >= {"libx264", "libx265", "libsvtav1", "libaom-av1", "librav1e", "libvpx-vp9"}
    assert video.make_dicodec_video().check() is None


def test_dicodec_video_through_the_eval_hook(tiny_model_name):
    rgb = np.random.default_rng(0).integers(0, 255, (3, 32, 40, 3)).astype(np.uint8)
    clip = video.Clip("noise", Path("noise.y4m"), Fraction(25), [], rgb, "bt601", False, "rgb24")
    codec = video.make_dicodec_video(tiny_model_name, "cpu")
    data = codec.encode(clip, 50)
    assert codec.decode(data, "dicodec-fast", clip).shape == rgb.shape
    with pytest.raises(CodecUnavailable):  # the tiny codec has no image DiT decoder to apply per frame
        codec.decode(data, "dicodec-framegen", clip)


def test_dicodec_intra_codes_every_frame_as_an_image(tiny_model_name):
    import dicodec

    rgb = np.random.default_rng(0).integers(0, 255, (3, 32, 40, 3)).astype(np.uint8)
    clip = video.Clip("noise", Path("noise.y4m"), Fraction(25), [], rgb, "bt601", False, "rgb24")
    codec = video.make_video_codec("dicodec-intra", device="cpu", dicodec_model=tiny_model_name)
    assert codec.name == "dicodec-intra" and codec.curves == ["dicodec-intra"]
    data = codec.encode(clip, 50)
    assert dicodec.inspect_video(data)["gop"] == 1
    assert codec.decode(data, "dicodec-intra", clip).shape == rgb.shape


def test_dicodec_video_with_an_inter_model_file(tiny_model_name, tmp_path):
    import torch

    import dicodec
    from dicodec.codec.config import PRESETS
    from dicodec.codec.video import models
    from dicodec.codec.video.contextual import ContextualLatentCodec

    torch.manual_seed(0)
    model = ContextualLatentCodec(PRESETS["tiny"], context_hidden=8)
    model.update()
    weights = tmp_path / "ctx.safetensors"
    models.save(model, weights, "ctx-eval-test", tiny_model_name)
    rgb = np.random.default_rng(0).integers(0, 255, (3, 32, 40, 3)).astype(np.uint8)
    clip = video.Clip("noise", Path("noise.y4m"), Fraction(25), [], rgb, "bt601", False, "rgb24")
    try:
        codec = video.make_video_codec(
            "dicodec", device="cpu", dicodec_model=tiny_model_name, inter_model=str(weights)
        )
        assert "inter model ctx-eval-test" in codec.settings
        data = codec.encode(clip, 50)
        assert dicodec.inspect_video(data)["inter_model"] == "ctx-eval-test"
        assert codec.decode(data, "dicodec-fast", clip).shape == rgb.shape
    finally:
        models.unregister("ctx-eval-test")


def test_flicker_definition():
    rng = np.random.default_rng(0)
    src = rng.integers(0, 200, (4, 8, 8, 3)).astype(np.uint8)
    assert video.flicker(src, src) == 0.0
    assert video.flicker(src, src + np.uint8(10)) == pytest.approx(0.0)  # a constant error does not flicker
    dec = src.copy()
    dec[2] += np.uint8(6)  # one frame brighter by 6 luma levels
    # d_t - s_t = 0, 0, 6, 0 -> its temporal difference is 0, 6, -6: mean |.| = 4
    assert video.flicker(src, dec) == pytest.approx(4.0)
    assert video.flicker(src[:1], dec[:1]) is None
