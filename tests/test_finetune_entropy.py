"""scripts/finetune_entropy.py: entropy-model-only fine-tune of a released file (tiny codec here)."""

from __future__ import annotations

import json

import numpy as np
import torch
from click.testing import CliRunner
from conftest import load_script
from PIL import Image

from dicodec.codec.weights_io import load_codec_file, save_codec


def _folder(path, seed):
    path.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(2):
        noise = rng.integers(0, 256, (40, 40, 3)).astype(np.uint8)
        Image.fromarray(noise).resize((160, 160), Image.BICUBIC).save(path / f"{i}.png")
    return path


def test_only_the_entropy_model_changes_and_the_file_loads(tiny_codec, tmp_path):
    script = load_script("finetune_entropy")
    source = tmp_path / "tiny.safetensors"
    save_codec(tiny_codec, source, "tiny-src-v1")
    out = tmp_path / "tiny-ft.safetensors"
    args = [str(source), "--data", str(_folder(tmp_path / "train", 0)), "--val-data",
            str(_folder(tmp_path / "val", 1)), "--out", str(out), "--name", "tiny-ft-v1", "--crop", "128",
            "--repair-steps", "3", "--coded-steps", "3", "--repair-lr", "1e-3", "--coded-lr", "1e-3",
            "--batch", "2"]  # fmt: skip
    result = CliRunner().invoke(script.main, args)
    assert result.exit_code == 0, result.output
    log = json.loads((tmp_path / "tiny-ft.safetensors.log.json").read_text())
    assert [r["phase"] for r in log] == ["start", "repair", "coded"]
    # the start score is the source file's own rate (float copies rebuilt from its integers)
    val = script.crop_latents(before := load_codec_file(source).float(), str(tmp_path / "val"), 2, 128, 1)
    script.float_weights_from_integers(before, torch.Generator(), jitter=0.0)
    assert log[0]["val_coded_bpp"] == script.coded_bpp_per_level(before, val, [0.0, 1.0, 2.0])
    before, after = load_codec_file(source), load_codec_file(out)  # integers only, as shipped
    changed = {k for k, v in after.state_dict().items() if not torch.equal(v, before.state_dict()[k])}
    assert changed and all(k.startswith("latent_codec.") for k in changed)
    assert not any(k.startswith("latent_codec.hyper_analysis") for k in changed)
    x = torch.rand(1, 3, 64, 64)
    strings = after.compress(x, 30)  # a working codec: its own bitstream decodes
    assert after.decompress(strings, (64, 64), 30).shape == (1, 3, 64, 64)


def test_jittered_float_weights_round_back_to_the_same_integers(tiny_codec):
    import copy

    from dicodec.codec.fixed_point import WEIGHT_BITS, ExactConv2d

    script = load_script("finetune_entropy")
    model = copy.deepcopy(tiny_codec)  # the session fixture stays untouched
    script.float_weights_from_integers(model, torch.Generator().manual_seed(0))
    for m in model.modules():
        if isinstance(m, ExactConv2d) and m.frozen:
            assert torch.equal(torch.round(m.conv.weight * 2**WEIGHT_BITS).to(torch.int16), m.weight_int)
