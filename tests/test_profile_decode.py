"""scripts/profile_decode.py: operator tables of real decodes, for files outside the zoo too."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from conftest import SCRIPTS, load_script

from dicodec.codec import registry
from dicodec.codec.generative_decoder import GENERATIVE_PRESETS, GenerativeDecoder
from dicodec.codec.weights_io import save_codec, save_decoder


def test_profiles_a_codec_and_decoder_pair_given_as_files(tiny_codec, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))  # the script imports bench.py beside it
    profile = load_script("profile_decode")
    codec_file = tmp_path / "codec.safetensors"
    decoder_file = tmp_path / "decoder.safetensors"
    save_codec(tiny_codec, codec_file, "tiny-prof-v1")
    torch.manual_seed(0)
    save_decoder(GenerativeDecoder(GENERATIVE_PRESETS["dit-ic-tiny"]), decoder_file, "tiny-dit-prof-v1")
    try:
        for mode in ("fast", "generative"):
            out_json = tmp_path / f"{mode}.json"
            args = ["--size", "128x64", "--repeats", "1", "--top", "4", "--mode", mode]
            args += ["--codec-file", str(codec_file), "--decoder-file", str(decoder_file)]
            args += ["--out", str(out_json)]
            result = CliRunner().invoke(profile.main, args)
            assert result.exit_code == 0, result.output
            assert f"cpu 128x64 {mode}:" in result.output and "Self CPU" in result.output
            rows = json.loads(out_json.read_text())
            assert rows["mode"] == mode and rows["decode_ms_median"] > 0 and rows["bytes"] > 0
            assert len(rows["by_self_cpu"]) == 4 and all(r["calls"] > 0 for r in rows["by_self_cpu"])
            assert "by_self_device" not in rows  # no GPU table on the CPU
    finally:
        registry.unregister_codec("tiny-prof-v1-profiled")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_refuses_cuda_without_a_gpu(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))
    profile = load_script("profile_decode")
    result = CliRunner().invoke(profile.main, ["--device", "cuda"])
    assert result.exit_code != 0 and "no GPU here" in result.output
