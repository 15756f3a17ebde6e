"""The library API, and its errors: its behaviour with the tiny in-memory models of conftest.py (fast
on 2 CPU cores), and a round trip with the shipped default weights (their quality and the generative
decoder's are checked in ``-m slow``: test_shipped_generative.py, test_golden.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import dicodec
from dicodec.bitstream import container
from dicodec.codec.pipeline import pad_image

SAMPLE = Image.open(__import__("pathlib").Path(dicodec.__file__).with_name("samples") / "coffee.png")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / mse))


@pytest.fixture(scope="module")
def small() -> np.ndarray:
    return np.asarray(SAMPLE.convert("RGB"))[100:292, 150:406].copy()  # 192x256 crop: fast on CPU


class TestShippedWeights:
    def test_bundled_sample(self):
        img = np.asarray(SAMPLE.convert("RGB"))
        data = dicodec.encode(img, quality=50, device="cpu")
        out = dicodec.decode(data, mode="fast", device="cpu")
        assert out.shape == img.shape and out.dtype == np.uint8
        assert psnr(out, img) > 24.0
        assert 8 * len(data) / (img.shape[0] * img.shape[1]) < 0.6

    @pytest.mark.slow
    def test_held_out_astronaut(self):
        skimage_data = pytest.importorskip("skimage.data")
        img = skimage_data.astronaut()
        data = dicodec.encode(img, quality=60, device="cpu")
        assert psnr(dicodec.decode(data, device="cpu"), img) > 24.0

    def test_inspect(self, small):
        info = dicodec.inspect(dicodec.encode(small, quality=40, device="cpu"))
        assert info["model"] == "hp32-v7" and (info["width"], info["height"], info["quality"]) == (
            256,
            192,
            40,
        )
        assert info["num_tiles"] == 1 and info["version"] == "3.0"

    def test_bits_grow_with_quality(self, small):  # a property of the trained gains: encode only
        sizes = [len(dicodec.encode(small, quality=q, device="cpu")) for q in (0, 25, 50, 75, 100)]
        assert sizes == sorted(sizes) and sizes[0] < sizes[-1]

    def test_list_models_has_default(self):
        models = dicodec.list_models()
        assert [m["name"] for m in models if m["default"]] == ["hp32-v7"]


class TestRoundTrip:
    """API behaviour, on the tiny codec with a tiny DiT decoder (``generative_model``, auto mode =
    generative): what is checked does not depend on trained weights."""

    def test_max_pixels_guard(self, small, generative_model):
        data = dicodec.encode(small, quality=30, device="cpu", model=generative_model)
        with pytest.raises(dicodec.LimitExceeded, match="max_pixels=1000"):
            dicodec.decode(data, device="cpu", max_pixels=1000)
        assert dicodec.decode(data, device="cpu", max_pixels=None).shape == small.shape
        assert dicodec.decode(data, device="cpu", max_pixels=192 * 256).shape == small.shape
        with pytest.raises(dicodec.DicodecError, match="max_pixels"):
            dicodec.decode(data, device="cpu", max_pixels=1.5)

    def test_same_input_same_bytes(self, small):
        assert dicodec.encode(small, quality=30, device="cpu") == dicodec.encode(
            small, quality=30, device="cpu"
        )

    def test_input_and_output_types(self, small, generative_model):
        pil = Image.fromarray(small)
        tensor = torch.from_numpy(small).permute(2, 0, 1).float() / 255
        reference = dicodec.encode(small, quality=20, device="cpu", model=generative_model)
        assert dicodec.encode(pil, quality=20, device="cpu", model=generative_model) == reference
        assert dicodec.encode(tensor, quality=20, device="cpu", model=generative_model) == reference
        assert isinstance(dicodec.decode(reference, device="cpu", output="pil"), Image.Image)
        t = dicodec.decode(reference, device="cpu", output="torch")
        assert t.shape == (3, 192, 256) and t.dtype == torch.float32
        # numpy output is rounded on the decode device before the copy: the same bytes as rounding the
        # float output afterwards
        rounded = (t.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
        np.testing.assert_array_equal(dicodec.decode(reference, device="cpu"), rounded)
        with pytest.raises(dicodec.DicodecError, match="unknown output kind"):
            dicodec.decode(reference, device="cpu", output="png")

    def test_gray_and_odd_sizes(self, generative_model):
        gray = np.asarray(SAMPLE.convert("L"))[:77, :131].copy()
        data = dicodec.encode(gray, quality=50, device="cpu", model=generative_model)
        assert dicodec.decode(data, device="cpu").shape == (77, 131, 3)


class TestErrors:
    def test_bad_arguments(self, small):
        for bad in (-1, 101, 50.5, "50", True):
            with pytest.raises(dicodec.DicodecError):
                dicodec.encode(small, quality=bad, device="cpu")
        with pytest.raises(dicodec.ImageError):
            dicodec.encode(np.zeros((4, 4, 4), np.uint8), device="cpu")
        with pytest.raises(dicodec.ImageError):
            dicodec.encode(np.zeros((4, 4, 3), np.float32), device="cpu")
        with pytest.raises(dicodec.DicodecError):
            dicodec.encode(small, tile_size=100, device="cpu")
        with pytest.raises(dicodec.UnknownModel):
            dicodec.encode(small, model="no-such-model", device="cpu")

    def test_bad_data(self, small):
        data = dicodec.encode(small, quality=10, device="cpu")
        for bad in (b"", b"garbage", data[:-5], data[:40], bytes(len(data))):
            with pytest.raises(dicodec.DicodecError):
                dicodec.decode(bad, device="cpu")

    def test_other_weights_are_refused(self, small):
        header, tiles = container.read(dicodec.encode(small, quality=10, device="cpu"))
        import dataclasses

        forged = container.write(dataclasses.replace(header, weights_hash=b"\x00" * 8), tiles)
        with pytest.raises(dicodec.WeightsMismatch):
            dicodec.decode(forged, device="cpu")

    def test_corrupt_entropy_data_is_a_dicodec_error(self, small, generative_model):
        data = dicodec.encode(small, quality=90, device="cpu", model=generative_model)
        header, tiles = container.read(data)
        rng = np.random.default_rng(0)
        for _ in range(5):
            y = tuple(rng.integers(0, 256, len(s), dtype=np.uint8).tobytes() for s in tiles[0].y)
            forged = container.write(header, [container.Tile(z=tiles[0].z, y=y)])
            try:
                out = dicodec.decode(forged, device="cpu")
                assert out.shape == small.shape
            except dicodec.DicodecError:
                pass


def test_pad_image_replicates_edges():
    x = torch.arange(12.0).view(1, 1, 3, 4).expand(1, 3, 3, 4)
    padded = pad_image(x, 8)
    assert padded.shape == (1, 3, 8, 8)
    assert torch.equal(padded[..., 7, :4], x[..., 2, :])


def test_fuzzed_files_only_raise_dicodec_errors(generative_model):
    """A small CI budget of the decode fuzzer, fast and generative paths, on a file of the tiny models
    (the note reports a 100,000-case run on the shipped ones)."""
    from dicodec.bitstream.fuzz import run_fuzz

    img = np.asarray(SAMPLE.convert("RGB"))[:128, :256].copy()
    seed_file = dicodec.encode(img, quality=40, device="cpu", tile_size=128, model=generative_model)
    lines: list[str] = []
    result = run_fuzz(60, 3, lambda data: dicodec.decode(data, device="cpu"), [seed_file], log=lines.append)
    assert result.failures == [], lines


def test_load_codec_dtype_leaves_the_decoding_module_alone(tiny_model_name):
    """``load_codec(dtype=...)`` gives a cast copy: it used to cast the module ``registry.load`` caches,
    so every later ``decode(mode="fast")`` in the process ran the synthesis in fp16 and stopped
    matching the golden files."""
    from dicodec.codec import registry

    image = np.asarray(SAMPLE.convert("RGB"))[:64, :96].copy()
    data = dicodec.encode(image, quality=50, model=tiny_model_name, device="cpu")
    before = dicodec.decode(data, mode="fast", device="cpu")
    half = dicodec.load_codec(tiny_model_name, device="cpu", dtype=torch.float16)
    assert next(half.synthesis.parameters()).dtype == torch.float16
    cached = registry.load(tiny_model_name, "cpu")
    assert next(cached.synthesis.parameters()).dtype == torch.float32
    np.testing.assert_array_equal(dicodec.decode(data, mode="fast", device="cpu"), before)
    assert half is not cached
    assert dicodec.load_codec(tiny_model_name, device="cpu") is cached  # no dtype: the cached module
