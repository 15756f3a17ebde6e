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


@pytest.fixture()
def files_pair(tiny_codec, tmp_path):
    """A registered codec file with a decoder file (fast and generative modes) and a bitstream of it."""
    codec_file, decoder_file = tmp_path / "c.safetensors", tmp_path / "d.safetensors"
    save_codec(tiny_codec, codec_file, "tiny-pair-v1")
    torch.manual_seed(0)
    save_decoder(GenerativeDecoder(GENERATIVE_PRESETS["dit-ic-tiny"]), decoder_file, "tiny-dit-pair-v1")
    name = registry.register_files(codec_file, decoder_file)
    data = dicodec.encode(np.full((64, 64, 3), 120, np.uint8), quality=50, model=name, device="cpu")
    (tmp_path / "x.dic").write_bytes(data)
    yield tmp_path / "x.dic", decoder_file
    registry.unregister_codec(name)


def test_a_missing_decoder_file_is_a_one_line_error_under_mode_auto(files_pair):
    """``--mode auto`` decodes with the DiT, so a missing decoder file is the user's problem (exit 1,
    one line), as a missing codec file is; its loader used to hash before checking that the file
    exists and the FileNotFoundError came out as an internal error (exit 3)."""
    from click.testing import CliRunner

    from dicodec.cli.main import cli

    dic, decoder_file = files_pair
    decoder_file.unlink()
    result = CliRunner().invoke(cli, ["decode", str(dic), "-o", str(dic.with_suffix(".png"))])
    assert result.exit_code == 1, result.output
    assert "weights file not found" in result.stderr and "Traceback" not in result.output
    assert not dic.with_suffix(".png").exists()


@pytest.mark.parametrize("damage", ["garbage", "bad_config", "other_arch", "missing_tensor"])
def test_a_damaged_decoder_file_is_a_model_error(tiny_codec, tmp_path, damage):
    """Every weights file goes through one guarded reader: damage is a ModelError, never a bare
    safetensors, JSON or torch exception (the decoder loader parsed without any guard)."""
    from dicodec.codec.weights_io import load_decoder_file

    path = tmp_path / "d.safetensors"
    torch.manual_seed(0)
    decoder = GenerativeDecoder(GENERATIVE_PRESETS["dit-ic-tiny"])
    save_decoder(decoder, path, "tiny-dit-damaged-v1")
    if damage == "garbage":
        path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    elif damage == "other_arch":
        save_codec(tiny_codec, path, "a-codec-not-a-decoder")
    else:
        state = {k: v.contiguous() for k, v in decoder.state_dict().items()}
        meta = {"arch": "dicodec.GenerativeDecoder", "config": json.dumps(decoder.config.to_dict()),
                "dit_config": json.dumps(decoder.dit.config.to_dict())}  # fmt: skip
        if damage == "bad_config":
            meta["config"] = "{"
        else:
            state.pop("latent_std")
        save_file(state, str(path), metadata=meta)
    with pytest.raises(dicodec.ModelError):
        load_decoder_file(path)
