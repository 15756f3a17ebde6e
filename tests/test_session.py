"""dicodec.Codec and its batch iterators (dicodec.session), and the ordered read-ahead under them."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest
import torch

import dicodec
from dicodec.bitstream import container
from dicodec.codec import model_store, registry
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


class TestModelZoo:
    """The zoo's options (offline, decoder) and its weights-hash check, through dicodec.Codec."""

    @pytest.fixture()
    def coded(self, tiny_release, dicodec_home, monkeypatch, tmp_path):
        """A file written with tiny-zoo-v1 (installed in another home), and its fast decode; then the
        model is not installed and nothing is loaded, as in a fresh process on another machine."""
        model, assets = tiny_release
        monkeypatch.setenv("DICODEC_HOME", str(tmp_path / "writer"))
        model_store.add(assets / model.file)
        data = dicodec.Codec(model.name, device="cpu").encode(_image(5), 60)
        expected = dicodec.decode(data, mode="fast", device="cpu")
        monkeypatch.setenv("DICODEC_HOME", str(dicodec_home))
        registry._forget(model.name)
        return data, expected

    def test_offline_is_refused_per_call_and_per_item(self, coded, tiny_release, model_server, monkeypatch):
        monkeypatch.setenv("DICODEC_MODEL_URL", model_server.url)
        data, _ = coded
        codec = dicodec.Codec(device="cpu", offline=True)
        assert codec.offline is True and "offline=True" in repr(codec)
        with pytest.raises(dicodec.ModelNotInstalled, match="models fetch tiny-zoo-v1"):
            codec.decode(data)
        results = list(codec.decode_many([data, b"junk", data], workers=0))
        errors = [type(r.error) for r in results]
        assert errors == [dicodec.ModelNotInstalled, dicodec.BadMagic, dicodec.ModelNotInstalled]
        with pytest.raises(dicodec.ModelNotInstalled):
            dicodec.Codec("tiny-zoo-v1", device="cpu", offline=True).load()
        with pytest.raises(dicodec.ModelNotInstalled):
            dicodec.Codec("tiny-zoo-v1", device="cpu", offline=True).encode(_image(0), 50)
        assert model_server.requests == []  # offline never connects

    def test_online_installs_once_then_decodes_offline(self, coded, model_server, monkeypatch):
        monkeypatch.setenv("DICODEC_MODEL_URL", model_server.url)
        data, expected = coded
        results = list(dicodec.Codec(device="cpu").decode_many([data, data], workers=2))
        assert all(r.ok for r in results) and len(model_server.requests) == 1
        for r in results:
            np.testing.assert_array_equal(r.value, expected)
        registry._forget("tiny-zoo-v1")
        np.testing.assert_array_equal(dicodec.Codec(device="cpu", offline=True).decode(data), expected)

    def test_weights_hash_is_checked_before_any_download(self, coded, model_server, monkeypatch):
        """Codec.decode refuses a file of other weights from its header, as dicodec.decode does: no
        model is loaded, let alone downloaded."""
        monkeypatch.setenv("DICODEC_MODEL_URL", model_server.url)
        header, tiles = container.read(coded[0])
        other = container.write(dataclasses.replace(header, weights_hash=bytes(8)), tiles)
        codec = dicodec.Codec(device="cpu")
        with pytest.raises(dicodec.WeightsMismatch, match="tiny-zoo-v1 weights 0000000000000000"):
            codec.decode(other)
        (result,) = codec.decode_many([other])
        assert isinstance(result.error, dicodec.WeightsMismatch)
        assert model_server.requests == [] and not any(k[0] == "tiny-zoo-v1" for k in registry._LOADED)

    def test_decoder_picks_another_released_decoder(self, generative_model, zoo_decoder):
        model, path = zoo_decoder
        codec = dicodec.Codec(generative_model, device="cpu", offline=True)
        data = codec.encode(_image(6), 20)
        with pytest.raises(dicodec.ModelNotInstalled, match=model.name):  # not installed, offline
            codec.decode(data, mode="generative", decoder=model.name)
        model_store.add(path)
        other = codec.decode(data, mode="generative", decoder=model.name)
        expected = dicodec.decode(data, mode="generative", decoder=model.name, device="cpu", offline=True)
        np.testing.assert_array_equal(other, expected)
        assert not np.array_equal(other, codec.decode(data, mode="generative"))  # not the paired one
        (result,) = codec.decode_many([data], mode="auto", decoder=model.name)
        np.testing.assert_array_equal(result.value, expected)
        assert codec.load(decoder=model.name) is codec

    def test_decoder_errors(self, generative_model, tiny_model_name):
        codec = dicodec.Codec(generative_model, device="cpu")
        data = codec.encode(_image(7), 20)
        with pytest.raises(dicodec.DicodecError, match="for the generative mode, not 'fast'"):
            codec.decode(data, mode="fast", decoder="dit-ic-s-v1")
        with pytest.raises(dicodec.DicodecError, match="for the generative mode"):  # before the batch
            codec.decode_many([data], mode="fast", decoder="dit-ic-s-v1")
        with pytest.raises(dicodec.UnavailableError, match="is not a decoder of tiny-gen-v1"):
            codec.decode(data, mode="generative", decoder="dit-ic-s-v1")
        fast_only = dicodec.Codec(tiny_model_name, device="cpu").encode(_image(7), 20)
        (bad, good) = codec.decode_many([fast_only, data], decoder="dit-ic-s-v1")  # auto: per file
        assert "for the generative mode, not 'fast'" in str(bad.error)
        assert isinstance(good.error, dicodec.UnavailableError)


def test_default_model_codec_matches_encode():
    """The shipped model through Codec: the golden path's bytes (a small crop, for speed)."""
    from PIL import Image

    sample = np.asarray(Image.open(dicodec.__path__[0] + "/samples/coffee.png").convert("RGB"))
    crop = sample[100:228, 150:342].copy()
    codec = dicodec.Codec(device="cpu")
    (result,) = codec.encode_many([crop], 45)
    assert result.value == dicodec.encode(crop, 45, device="cpu")
