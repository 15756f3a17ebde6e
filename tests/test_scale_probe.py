"""scripts/scale_probe.py: per-slice log-scale ranges and coded bytes from the exact path."""

from __future__ import annotations

import numpy as np
import torch
from click.testing import CliRunner
from conftest import load_script
from PIL import Image

from dicodec.codec.weights_io import save_codec


def test_probe_counts_bytes_like_the_coder_and_reports_every_slice(tiny_codec, tmp_path):
    probe = load_script("scale_probe")
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (128, 256, 3), dtype=np.uint8), np.full((200, 130, 3), 90, np.uint8)]
    result = probe.probe(tiny_codec, images, 0)
    assert len(result["slices"]) == tiny_codec.latent_codec.num_slices
    for s in result["slices"]:
        assert s["log_scale_min"] <= s["log_scale_max"]
        assert 0 <= s["top_scale_share"] <= 1 and 0 <= s["nonzero_share"] <= 1
    x = torch.from_numpy(images[0].copy()).permute(2, 0, 1)[None].float() / 255
    first = [len(s) for s in tiny_codec.compress(x, 0)]
    assert result["bytes_per_string"][0] > first[0]  # the second image adds its own bytes


def test_cli_prints_and_writes_json(tiny_codec, tmp_path):
    probe = load_script("scale_probe")
    weights = tmp_path / "tiny.safetensors"
    save_codec(tiny_codec, weights, "tiny-probe-v1")
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(np.full((128, 128, 3), 50, np.uint8)).save(folder / "a.png")
    out = CliRunner().invoke(probe.main, [str(weights), str(folder), "--json-out", str(tmp_path / "p.json")])
    assert out.exit_code == 0, out.output
    assert "slice 0: log-scale" in out.output and (tmp_path / "p.json").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    out = CliRunner().invoke(probe.main, [str(weights), str(empty)])
    assert out.exit_code != 0 and "no images found" in out.output


def test_a_detail_layers_slices_follow_the_base_latents():
    from dicodec.codec.config import PRESETS
    from dicodec.codec.model import ImageCodec

    torch.manual_seed(0)
    codec = ImageCodec(PRESETS["tiny-detail"]).eval()
    codec.update()
    image = np.random.default_rng(1).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    result = load_script("scale_probe").probe(codec, [image], 50)
    assert len(result["slices"]) == 2 + 2 and len(result["bytes_per_string"]) == 1 + 2 + 1 + 2
    x = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255
    assert result["bytes_per_string"] == [len(s) for s in codec.compress(x, 50)]
