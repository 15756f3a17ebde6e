"""registry.register_files: candidate weights files measured by scripts before they ship."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import dicodec
from dicodec.codec import registry
from dicodec.codec.generative_decoder import GENERATIVE_PRESETS, GenerativeDecoder
from dicodec.codec.weights_io import save_codec, save_decoder, sha256_file


def test_registers_a_codec_file_and_its_decoder_under_the_stored_name(tiny_codec, tmp_path):
    codec_file, decoder_file = tmp_path / "c.safetensors", tmp_path / "d.safetensors"
    save_codec(tiny_codec, codec_file, "tiny-files-v1")
    torch.manual_seed(0)
    save_decoder(GenerativeDecoder(GENERATIVE_PRESETS["dit-ic-tiny"]), decoder_file, "tiny-dit-files-v1")
    name = registry.register_files(codec_file, decoder_file, suffix="-check")
    try:
        entry = registry.get_entry(name)
        assert name == "tiny-files-v1-check" and entry.preset == "tiny"
        assert entry.sha256 == sha256_file(codec_file)
        assert entry.generative_sha256 == sha256_file(decoder_file)
        assert entry.decode_modes == ("fast", "generative")
        image = np.full((64, 64, 3), 120, np.uint8)
        data = dicodec.encode(image, quality=50, model=name, device="cpu")
        assert dicodec.inspect(data)["model"] == name
        for mode in ("fast", "generative"):
            assert dicodec.decode(data, mode=mode, device="cpu").shape == image.shape
    finally:
        registry.unregister_codec(name)
    name = registry.register_files(codec_file)  # no decoder: fast only
    try:
        assert registry.get_entry(name).decode_modes == ("fast",) and name == "tiny-files-v1"
    finally:
        registry.unregister_codec(name)


def test_a_config_that_matches_no_preset_is_refused(tmp_path):
    path = tmp_path / "odd.safetensors"
    config = {"channels": 7, "hyper_channels": 5, "latent_channels": 3}
    save_file({"x": torch.zeros(1)}, str(path), metadata={"config": json.dumps(config), "name": "odd-v1"})
    with pytest.raises(dicodec.DicodecError, match="matches no preset"):
        registry.register_files(path)

