"""dicodec.Codec and its batch iterators (dicodec.session), and the ordered read-ahead under them."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

import dicodec
from dicodec.readahead import read_ahead


def _image(seed: int, h: int = 64, w: int = 96) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    smooth = np.stack([xx * 2, yy * 3, xx + yy], axis=2) + rng.integers(0, 40, (h, w, 3))
    return smooth.clip(0, 255).astype(np.uint8)


class TestReadAhead:
    @pytest.mark.parametrize("workers", [0, 1, 3])
    def test_order_errors_and_values(self, workers):
        def load(i: int) -> int:
            time.sleep(0.002 * ((7 * i) % 5))  # out-of-order completion
            if i == 4:
                raise OSError("unreadable")
            return i * 10

        out = list(read_ahead(range(10), load, workers=workers, depth=4, catch=(OSError,)))
        assert [(i, item) for i, item, _, _ in out] == [(i, i) for i in range(10)]
        assert [v for _, _, v, _ in out] == [None if i == 4 else i * 10 for i in range(10)]
        errors = [e for _, _, _, e in out]
        assert isinstance(errors.pop(4), OSError) and errors == [None] * 9

    def test_uncaught_errors_end_the_iteration(self):
        def load(i: int) -> int:
            if i == 2:
                raise ValueError("a bug")
            return i

        with pytest.raises(ValueError, match="a bug"):
            list(read_ahead(range(5), load, workers=2, catch=(OSError,)))

    def test_stopping_early_leaves_no_threads(self):
        before = threading.active_count()
        seen = []
        for _, item, _, _ in read_ahead(iter(range(1000)), lambda i: i, workers=2, depth=3):
            seen.append(item)
            if item == 5:
                break
        assert seen == list(range(6))
        deadline = time.time() + 5
        while threading.active_count() > before and time.time() < deadline:
            time.sleep(0.01)
        assert threading.active_count() == before

    def test_no_load_yields_items(self):
        assert [v for _, _, v, _ in read_ahead("abc", None)] == ["a", "b", "c"]


class TestCodec:
    def test_same_bytes_and_pixels_as_the_functions(self, tiny_model_name):
        codec = dicodec.Codec(tiny_model_name, device="cpu")
        image = _image(0)
        data = codec.encode(image, 40)
        assert data == dicodec.encode(image, 40, model=tiny_model_name, device="cpu")
        assert codec.model == tiny_model_name and codec.device == torch.device("cpu")
        np.testing.assert_array_equal(codec.decode(data), dicodec.decode(data, device="cpu"))
        assert codec.load() is codec

    def test_checks_model_and_device_at_construction(self):
        with pytest.raises(dicodec.UnknownModel):
            dicodec.Codec("no-such-model-v1", device="cpu")
        with pytest.raises(dicodec.DicodecError, match="unknown device"):
            dicodec.Codec(device="tpu")
        if not torch.cuda.is_available():
            with pytest.raises(dicodec.UnavailableError):
                dicodec.Codec(device="cuda")

    def test_options_are_checked_before_the_batch_runs(self, tiny_model_name):
        codec = dicodec.Codec(tiny_model_name, device="cpu")
        with pytest.raises(dicodec.DicodecError, match="quality"):
            codec.encode_many([_image(0)], quality=101)
        with pytest.raises(dicodec.DicodecError, match="tile size"):
            codec.encode_many([_image(0)], tile_size=100)
        with pytest.raises(dicodec.DicodecError, match="decode mode"):
            codec.decode_many([b""], mode="slow")


class TestBatches:
    @pytest.mark.parametrize("workers", [0, 2])
    def test_encode_many_goes_on_after_a_bad_item(self, tiny_model_name, workers):
        images = {f"img{i}": _image(i, 64 + 32 * (i % 2), 96) for i in range(5)}
        images["img2"] = np.zeros((4, 4, 4), np.uint8)  # four channels: refused

        def load(name: str):
            if name == "missing":
                raise FileNotFoundError(name)
            return images[name]

        names = ["img0", "img1", "img2", "missing", "img3", "img4"]
        codec = dicodec.Codec(tiny_model_name, device="cpu")
        results = list(codec.encode_many(names, 30, load=load, workers=workers))
        assert [(r.index, r.item, r.ok) for r in results] == [
            (0, "img0", True),
            (1, "img1", True),
            (2, "img2", False),
            (3, "missing", False),
            (4, "img3", True),
            (5, "img4", True),
        ]
        assert isinstance(results[2].error, dicodec.ImageError) and results[2].value is None
        assert isinstance(results[3].error, FileNotFoundError)
        for r in results:
            if r.ok:  # byte for byte what one call writes
                assert r.value == dicodec.encode(images[r.item], 30, model=tiny_model_name, device="cpu")
                assert r.seconds > 0

    def test_encode_many_of_images_without_load(self, tiny_model_name):
        images = [_image(i) for i in range(3)]
        results = list(dicodec.Codec(tiny_model_name, device="cpu").encode_many(iter(images), 60))
        assert [r.item is images[r.index] for r in results] == [True] * 3
        assert all(r.ok for r in results)

    def test_decode_many_goes_on_after_corrupt_data(self, tiny_model_name):
        codec = dicodec.Codec(tiny_model_name, device="cpu")
        blobs = [codec.encode(_image(i), 50) for i in range(3)]
        broken = bytearray(blobs[1])
        broken[len(broken) // 2] ^= 0xFF
        inputs = [blobs[0], bytes(broken), b"not a bitstream", blobs[2], blobs[2][:20]]
        results = list(codec.decode_many(inputs, output="numpy", load=bytes, workers=2))
        assert [r.ok for r in results] == [True, False, False, True, False]
        assert all(isinstance(r.error, dicodec.BitstreamError) for r in results if not r.ok)
        np.testing.assert_array_equal(results[3].value, dicodec.decode(blobs[2], device="cpu"))

    def test_decode_many_generative(self, generative_model):
        codec = dicodec.Codec(generative_model, device="cpu")
        data = codec.encode(_image(3), 20)
        (result,) = codec.decode_many([data], mode="generative", realism=0.5)
        expected = dicodec.decode(data, mode="generative", realism=0.5, device="cpu")
        np.testing.assert_array_equal(result.value, expected)


def test_default_model_codec_matches_encode():
    """The shipped model through Codec: the golden path's bytes (a small crop, for speed)."""
    from PIL import Image

    sample = np.asarray(Image.open(dicodec.__path__[0] + "/samples/coffee.png").convert("RGB"))
    crop = sample[100:228, 150:342].copy()
    codec = dicodec.Codec(device="cpu")
    (result,) = codec.encode_many([crop], 45)
    assert result.value == dicodec.encode(crop, 45, device="cpu")
