"""The model cache and its download (codec/model_store.py), against a local HTTP server, offline.

Every test runs with an empty cache home (``DICODEC_HOME`` in a temporary folder) and a tiny model
released under the name ``tiny-zoo-v1`` (conftest ``tiny_release``), served on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import dicodec
from dicodec.bitstream import container
from dicodec.codec import model_store, registry
from dicodec.errors import DownloadError, ModelNotInstalled, WeightsMismatch

FAST = {"backoff_s": 0.0, "progress": False}  # tests do not wait between attempts


def cache_files(home: Path) -> list[str]:
    """What the cache holds, lock files aside."""
    folder = home / "models"
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock")) if folder.exists() else []


class TestLocations:
    def test_home_from_env_then_xdg_then_home_dir(self, monkeypatch, tmp_path):
        monkeypatch.setenv("DICODEC_HOME", str(tmp_path / "h"))
        assert model_store.cache_dir() == tmp_path / "h" / "models"
        monkeypatch.delenv("DICODEC_HOME")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert model_store.home() == tmp_path / "xdg" / "dicodec"
        monkeypatch.delenv("XDG_CACHE_HOME")
        monkeypatch.setenv("HOME", str(tmp_path / "user"))
        assert model_store.home() == tmp_path / "user" / ".cache" / "dicodec"

    @pytest.mark.parametrize(("value", "offline"), [("1", True), ("yes", True), ("0", False), ("", False)])
    def test_offline_from_env(self, monkeypatch, value, offline):
        monkeypatch.setenv("DICODEC_OFFLINE", value)
        assert model_store.is_offline() is offline
        assert model_store.is_offline(False) is False  # an explicit argument wins

    def test_download_url_is_base_plus_asset(self, tiny_release, dicodec_home, monkeypatch):
        model, _ = tiny_release
        assert model_store.download_url(model) is None  # the zoo names no host yet
        monkeypatch.setenv("DICODEC_MODEL_URL", "http://mirror.test/dicodec/")
        assert model_store.download_url(model) == "http://mirror.test/dicodec/tiny-zoo-v1.safetensors"
        assert model_store.download_url(model, "file:///srv/m") == "file:///srv/m/tiny-zoo-v1.safetensors"


class TestFetch:
    def test_success_installs_the_verified_file(self, tiny_release, model_server, dicodec_home):
        model, assets = tiny_release
        path = model_store.fetch(model, url=model_server.url, **FAST)
        assert path == dicodec_home / "models" / model.file
        assert path.read_bytes() == (assets / model.file).read_bytes()
        assert cache_files(dicodec_home) == [model.file]  # no partial file left
        assert model_store.where(model) == "cache"
        assert model_store.fetch(model, url=model_server.url, **FAST) == path  # installed: no request
        assert len(model_server.requests) == 1

    def test_progress_bar_on_stderr(self, tiny_release, model_server, dicodec_home, capfd):
        model, _ = tiny_release
        model_store.fetch(model, url=model_server.url, backoff_s=0.0)
        out, err = capfd.readouterr()
        assert out == "" and "tiny-zoo-v1:" in err and "B/s" in err  # tqdm, cleared when done

    def test_wrong_hash_installs_nothing(self, tiny_release, model_server, dicodec_home):
        model, assets = tiny_release
        data = bytearray((assets / model.file).read_bytes())
        data[-1] ^= 0xFF  # same size, other bytes
        (assets / model.file).write_bytes(bytes(data))
        with pytest.raises(WeightsMismatch, match="nothing was installed"):
            model_store.fetch(model, url=model_server.url, **FAST)
        assert cache_files(dicodec_home) == []

    def test_wrong_size_is_refused_before_the_body(self, tiny_release, model_server, dicodec_home):
        model, assets = tiny_release
        (assets / model.file).write_bytes((assets / model.file).read_bytes() + b"extra")
        with pytest.raises(WeightsMismatch, match="different file"):
            model_store.fetch(model, url=model_server.url, **FAST)
        assert cache_files(dicodec_home) == []

    def test_truncated_transfer_resumes_with_a_range_request(self, tiny_release, model_server, dicodec_home):
        model, assets = tiny_release
        model_server.truncate, model_server.truncate_times = model.size // 3, 1
        path = model_store.fetch(model, url=model_server.url, **FAST)
        assert path.read_bytes() == (assets / model.file).read_bytes()
        assert model_server.requests == [
            (f"/{model.file}", None),
            (f"/{model.file}", f"bytes={model.size // 3}-"),
        ]

    def test_gives_up_after_the_retries_and_resumes_on_the_next_run(
        self, tiny_release, model_server, dicodec_home
    ):
        model, assets = tiny_release
        model_server.truncate, model_server.truncate_times = 1000, 3
        with pytest.raises(DownloadError, match=r"after 3 attempts; 3000 of \d+ bytes kept to resume"):
            model_store.fetch(model, url=model_server.url, retries=2, **FAST)
        assert cache_files(dicodec_home) == [f".{model.file}.part"]  # never under the final name
        assert model_store.locate(model) is None
        path = model_store.fetch(model, url=model_server.url, **FAST)  # the server works again
        assert path.read_bytes() == (assets / model.file).read_bytes()
        assert model_server.requests[-1] == (f"/{model.file}", "bytes=3000-")
        assert cache_files(dicodec_home) == [model.file]

    def test_a_server_that_ignores_range_is_read_from_the_start(
        self, tiny_release, model_server, dicodec_home
    ):
        model, assets = tiny_release
        model_server.truncate, model_server.truncate_times = 500, 1
        model_server.ignore_range = True
        path = model_store.fetch(model, url=model_server.url, **FAST)
        assert path.read_bytes() == (assets / model.file).read_bytes()
        assert model_server.requests[1][1] == "bytes=500-"  # asked, got the whole file (200)

    def test_kept_bytes_that_are_not_a_prefix_restart(self, tiny_release, model_server, dicodec_home):
        model, assets = tiny_release
        part = dicodec_home / "models" / f".{model.file}.part"
        part.parent.mkdir(parents=True)
        part.write_bytes(b"\0" * (model.size + 10))  # longer than the file: cannot be its prefix
        path = model_store.fetch(model, url=model_server.url, **FAST)
        assert path.read_bytes() == (assets / model.file).read_bytes()
        assert model_server.requests == [(f"/{model.file}", None)]

    def test_server_error_is_retried(self, tiny_release, model_server, dicodec_home):
        model, _ = tiny_release
        model_server.status = 503
        with pytest.raises(DownloadError, match=r"HTTP 503.*after 2 attempts"):
            model_store.fetch(model, url=model_server.url, retries=1, **FAST)
        assert len(model_server.requests) == 2

    def test_missing_file_is_not_retried(self, tiny_release, model_server, dicodec_home):
        model, _ = tiny_release
        with pytest.raises(DownloadError, match="HTTP 404"):
            model_store.fetch(replace(model, asset="nope.safetensors"), url=model_server.url, **FAST)
        assert len(model_server.requests) == 1
        assert cache_files(dicodec_home) == []

    def test_server_down(self, tiny_release, dicodec_home):
        model, _ = tiny_release
        with socket.socket() as s:  # a port nobody listens on once the socket is closed
            s.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{s.getsockname()[1]}"
        with pytest.raises(DownloadError, match="cannot download tiny-zoo-v1 .* after 2 attempts"):
            model_store.fetch(model, url=url, retries=1, **FAST)
        assert model_store.locate(model) is None

    def test_two_installers_take_turns(self, tiny_release, model_server, dicodec_home):
        """Concurrent fetches of one file: one download, both get the installed file."""
        model, _ = tiny_release
        with ThreadPoolExecutor(2) as pool:
            paths = list(pool.map(lambda _: model_store.fetch(model, url=model_server.url, **FAST), range(2)))
        assert paths[0] == paths[1] and paths[0].is_file()
        assert len(model_server.requests) == 1

    def test_file_url(self, tiny_release, dicodec_home):
        """A mounted folder works as a download location too (``file://``, no server)."""
        model, assets = tiny_release
        path = model_store.fetch(model, url=assets.as_uri(), **FAST)
        assert path.read_bytes() == (assets / model.file).read_bytes()


class TestOffline:
    def test_offline_never_connects(self, tiny_release, model_server, dicodec_home, monkeypatch):
        model, _ = tiny_release
        monkeypatch.setenv("DICODEC_OFFLINE", "1")
        monkeypatch.setenv("DICODEC_MODEL_URL", model_server.url)
        with pytest.raises(ModelNotInstalled, match="offline: run 'dicodec models fetch tiny-zoo-v1'"):
            model_store.ensure(model)
        with pytest.raises(ModelNotInstalled, match="offline"):
            model_store.fetch(model, **FAST)
        assert model_server.requests == []

    def test_explicit_online_wins(self, tiny_release, model_server, dicodec_home, monkeypatch):
        monkeypatch.setenv("DICODEC_OFFLINE", "1")
        path = model_store.ensure(tiny_release[0], offline=False, url=model_server.url, progress=False)
        assert path.is_file() and len(model_server.requests) == 1

    def test_no_download_location(self, tiny_release, dicodec_home):
        with pytest.raises(ModelNotInstalled, match=r"no download location is set \(DICODEC_MODEL_URL\)"):
            model_store.ensure(tiny_release[0])


class TestAdd:
    def test_add_identifies_the_file_by_its_hash(self, tiny_release, dicodec_home, tmp_path):
        model, assets = tiny_release
        renamed = tmp_path / "whatever.bin"
        renamed.write_bytes((assets / model.file).read_bytes())
        found, path, copied = model_store.add(renamed)
        assert (found.name, path, copied) == (model.name, dicodec_home / "models" / model.file, True)
        assert path.read_bytes() == renamed.read_bytes()
        assert model_store.add(renamed)[2] is False  # installed already: nothing copied
        assert cache_files(dicodec_home) == [model.file]

    def test_a_file_of_no_release_is_refused(self, tiny_release, dicodec_home, tmp_path):
        other = tmp_path / "tiny-zoo-v1.safetensors"  # the right name, other bytes
        other.write_bytes(b"not the weights")
        with pytest.raises(ModelNotInstalled, match="no released dicodec model"):
            model_store.add(other)
        assert cache_files(dicodec_home) == []

    def test_unreadable_file(self, dicodec_home, tmp_path):
        with pytest.raises(dicodec.DicodecError, match="cannot read"):
            model_store.add(tmp_path / "missing.safetensors")


class TestDecodeInstallsTheModel:
    """What a user of ``dicodec.decode`` meets with a file of a model that is not installed."""

    @pytest.fixture()
    def coded(self, tiny_release, dicodec_home, monkeypatch, tmp_path):
        """A file written with tiny-zoo-v1 (installed in another home), and its fast decode."""
        model, assets = tiny_release
        monkeypatch.setenv("DICODEC_HOME", str(tmp_path / "writer"))
        model_store.add(assets / model.file)
        image = np.random.default_rng(3).integers(0, 256, (40, 72, 3), dtype=np.uint8)
        data = dicodec.encode(image, quality=60, model=model.name, device="cpu")
        expected = dicodec.decode(data, mode="fast", device="cpu")
        monkeypatch.setenv("DICODEC_HOME", str(dicodec_home))
        registry._forget(model.name)  # a fresh process: nothing loaded
        return data, expected

    def test_offline_decode_says_how_to_install(self, coded, tiny_release):
        with pytest.raises(ModelNotInstalled, match="'dicodec models fetch tiny-zoo-v1'.*models add FILE"):
            dicodec.decode(coded[0], device="cpu", offline=True)

    def test_decode_fetches_then_decodes_the_same_pixels(self, coded, model_server, monkeypatch):
        monkeypatch.setenv("DICODEC_MODEL_URL", model_server.url)
        data, expected = coded
        assert np.array_equal(dicodec.decode(data, device="cpu"), expected)
        assert len(model_server.requests) == 1
        registry._forget("tiny-zoo-v1")
        assert np.array_equal(dicodec.decode(data, device="cpu", offline=True), expected)  # now installed

    def test_a_damaged_cache_file_is_named(self, coded, tiny_release, dicodec_home):
        model, assets = tiny_release
        model_store.add(assets / model.file)
        cached = dicodec_home / "models" / model.file
        cached.write_bytes(cached.read_bytes()[:-1] + b"\0")
        with pytest.raises(WeightsMismatch, match=f"delete {cached} and install it again"):
            dicodec.decode(coded[0], device="cpu")

    def test_a_file_with_other_weights_fails_before_any_download(self, coded, model_server, monkeypatch):
        """Same name, other weights hash: refused from the header, without fetching 30 MB first."""
        monkeypatch.setenv("DICODEC_MODEL_URL", model_server.url)
        header, tiles = container.read(coded[0])
        other = container.write(dataclasses.replace(header, weights_hash=bytes(8)), tiles)
        with pytest.raises(WeightsMismatch, match="written with tiny-zoo-v1 weights 0000000000000000"):
            dicodec.decode(other, device="cpu")
        assert model_server.requests == []
