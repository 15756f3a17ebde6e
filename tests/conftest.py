"""Shared fixtures: a tiny in-memory codec (random weights, frozen) for fast tests of every code path."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from PIL import Image

from dicodec.codec import registry
from dicodec.codec.config import PRESETS
from dicodec.codec.generative_decoder import GENERATIVE_PRESETS
from dicodec.codec.model import ImageCodec

TINY_DIT = GENERATIVE_PRESETS["dit-ic-tiny"]


SAMPLE = Path(__file__).resolve().parents[1] / "dicodec" / "samples" / "coffee.png"


def make_tiny_codec(seed: int = 0) -> ImageCodec:
    torch.manual_seed(seed)
    model = ImageCodec(PRESETS["tiny"])
    with torch.no_grad():  # a spread of scales so several CDF tables are used
        for net in model.latent_codec.slice_nets:
            net[-1].conv.bias.uniform_(-1.0, 2.0)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_codec() -> ImageCodec:
    model = make_tiny_codec()
    model.update()
    return model


@pytest.fixture()
def tiny_model_name(tiny_codec):
    """Registers the tiny codec as ``tiny-test-v1`` for the duration of a test."""
    entry = registry.ModelEntry(name="tiny-test-v1", preset="tiny", weights=None, sha256="ab" * 32)
    registry.register_codec(entry, tiny_codec)
    yield entry.name
    registry.unregister_codec(entry.name)


@pytest.fixture()
def one_torch_thread():
    """For tests of tiny networks: one thread is fastest, and two fight a busy machine for its cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name: str) -> ModuleType:
    """Import ``scripts/NAME.py`` (not a package module) so its functions and click command can be tested."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sample_crop(h: int = 128, w: int = 256) -> torch.Tensor:
    """The top-left h x w of the bundled sample photo, (1, 3, h, w) in [0, 1]."""
    img = np.asarray(Image.open(SAMPLE).convert("RGB"))[:h, :w]
    return torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255


def tiny_decoder(seed: int = 0, perturb: float = 0.05, **overrides):
    """A tiny random DiT decoder (``dit-ic-tiny`` with ``overrides``) whose zero-initialised output
    layers are moved so every part acts."""
    from dicodec.codec.generative_decoder import GenerativeDecoder

    torch.manual_seed(seed)
    decoder = GenerativeDecoder(replace(TINY_DIT, **overrides))
    with torch.no_grad():
        for p in decoder.parameters():
            p.add_(torch.randn_like(p) * perturb)
    return decoder.eval()


@pytest.fixture()
def generative_model(tiny_codec):
    """The tiny codec with a random tiny DiT decoder, registered as ``tiny-gen-v1`` for one test."""
    from dicodec.codec.generative_decoder import GENERATIVE_PRESETS, GenerativeDecoder

    torch.manual_seed(0)
    decoder = GenerativeDecoder(replace(GENERATIVE_PRESETS["dit-ic-tiny"]))
    with torch.no_grad():  # move the zero-initialised output layers so the correction is not zero
        for p in decoder.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    entry = registry.ModelEntry(
        name="tiny-gen-v1", preset="tiny", weights=None, sha256="cd" * 32, decode_modes=("fast", "generative")
    )
    registry.register_codec(entry, tiny_codec, generative=decoder.eval())
    yield entry.name
    registry.unregister_codec(entry.name)


# ----------------------------------------------------------------------------------------------
# The model zoo: a temporary cache home, a tiny released model, and a local HTTP server for it
# ----------------------------------------------------------------------------------------------


@pytest.fixture()
def dicodec_home(tmp_path, monkeypatch) -> Path:
    """An empty cache home for one test, online, with no download location configured."""
    home = tmp_path / "home"
    monkeypatch.setenv("DICODEC_HOME", str(home))
    for name in ("DICODEC_OFFLINE", "DICODEC_MODEL_URL"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture()
def tiny_release(tiny_codec, tmp_path, monkeypatch):
    """The tiny codec as a released zoo model ``tiny-zoo-v1``, not installed; its file is in ``assets/``.

    Yields ``(ZooModel, assets folder)``. The zoo gains the entry and the registry a zoo entry for it
    (weights found or fetched through the model store) for this test only.
    """
    from dicodec.codec import zoo
    from dicodec.codec.weights_io import save_codec, sha256_file

    assets = tmp_path / "assets"
    assets.mkdir()
    path = assets / "tiny-zoo-v1.safetensors"
    save_codec(tiny_codec, path, "tiny-zoo-v1")
    model = zoo.ZooModel(
        name="tiny-zoo-v1",
        kind="codec",
        preset="tiny",
        file=path.name,
        sha256=sha256_file(path),
        size=path.stat().st_size,
        license="Apache-2.0",
        released="0.0.1",
        commit="0" * 40,
        retired="0.0.2",
        bitstream_version="3.0",
    )
    catalogue = {**zoo.models(), model.name: model}
    monkeypatch.setattr(zoo, "models", lambda: catalogue)
    entry = registry.ModelEntry(
        name=model.name,
        preset="tiny",
        weights=None,
        sha256=model.sha256,
        bitstream_version="3.0",
        from_zoo=True,
    )
    registry.register_codec(entry)
    yield model, assets
    registry.unregister_codec(model.name)


class ModelServer:
    """``http.server`` on 127.0.0.1 (ephemeral port) serving a folder, with HTTP Range support and
    switchable faults: ``truncate`` (send the headers of the whole rest, then only ``truncate`` bytes
    and close) for the next ``truncate_times`` requests, ``ignore_range``, ``status`` (answer every
    request with this HTTP error). ``requests`` logs ``(path, Range header)``."""

    def __init__(self, root: Path):
        import http.server
        import threading

        self.root = root
        self.requests: list[tuple[str, str | None]] = []
        self.truncate = 0
        self.truncate_times = 0
        self.ignore_range = False
        self.status = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                server.requests.append((self.path, self.headers.get("Range")))
                if server.status:
                    self.send_error(server.status)
                    return
                path = server.root / self.path.lstrip("/")
                if not path.is_file():
                    self.send_error(404)
                    return
                body = path.read_bytes()
                start = 0
                wanted = self.headers.get("Range")
                if wanted and not server.ignore_range:
                    start = int(wanted.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                rest = body[start:]
                self.send_header("Content-Length", str(len(rest)))
                self.end_headers()
                if server.truncate_times:
                    server.truncate_times -= 1
                    rest = rest[: server.truncate]
                    self.close_connection = True
                self.wfile.write(rest)

            def log_message(self, *args):  # keep the test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def model_server(tiny_release):
    """A :class:`ModelServer` serving the tiny release's assets folder."""
    server = ModelServer(tiny_release[1])
    yield server
    server.close()


@pytest.fixture()
def zoo_decoder(generative_model, dicodec_home, tmp_path, monkeypatch):
    """A second DiT decoder released for ``tiny-gen-v1`` in the zoo, ``tiny-dit-zoo-v1``, not
    installed (its file in ``decoder-assets/``): what ``decode(decoder=...)`` picks instead of the
    paired one. Yields ``(ZooModel, file)``."""
    from dicodec.codec import zoo
    from dicodec.codec.weights_io import save_decoder, sha256_file

    assets = tmp_path / "decoder-assets"
    assets.mkdir()
    path = assets / "tiny-dit-zoo-v1.safetensors"
    save_decoder(tiny_decoder(seed=1), path, "tiny-dit-zoo-v1")
    model = zoo.ZooModel(
        name="tiny-dit-zoo-v1",
        kind="generative",
        preset="dit-ic-tiny",
        file=path.name,
        sha256=sha256_file(path),
        size=path.stat().st_size,
        license="Apache-2.0",
        released="0.0.1",
        commit="0" * 40,
        codec=generative_model,
    )
    catalogue = {**zoo.models(), model.name: model}
    monkeypatch.setattr(zoo, "models", lambda: catalogue)
    yield model, path
