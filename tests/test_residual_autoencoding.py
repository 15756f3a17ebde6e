"""DC-AE residual autoencoding (``residual_shortcuts``) and the coarse ConvNeXt blocks: the shortcuts'
channel maps, shapes, the exact warm start from an ``hp32d10``-shaped file, training, weights files."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from conftest import load_script

from dicodec.codec import windowed_synthesis
from dicodec.codec.config import PRESETS, CodecConfig
from dicodec.codec.model import ImageCodec
from dicodec.codec.residual_autoencoding import ChannelResample, ResidualShortcut, channel_groups
from dicodec.codec.training.train import TRAIN_PRESETS, export, main, train_command
from dicodec.codec.training.warm_start import warm_start
from dicodec.codec.transforms import synthesis_reach
from dicodec.codec.weights_io import load_codec_file, save_codec

TINY_R = replace(PRESETS["tiny"], residual_shortcuts=True)
TINY_RC = replace(TINY_R, refine_blocks=1, coarse_blocks=1)


def _gates(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p for n, p in model.named_parameters() if n.endswith(".gate")}


def _trained_like(model: ImageCodec, std: float = 0.05) -> ImageCodec:
    """Open the zero-initialised branches (gates, ConvNeXt output layers), as training would."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".gate") or ".project." in name:
                p.normal_(0, std)
    return model


class TestChannelResample:
    def test_divisible_counts_are_dc_aes_averaging_and_duplication(self):
        x = torch.randn(2, 640, 3, 5)
        assert torch.equal(ChannelResample(640, 160)(x), x.view(2, 160, 4, 3, 5).mean(2))
        y = torch.randn(2, 160, 3, 5)
        assert torch.equal(ChannelResample(160, 640)(y), y.repeat_interleave(4, dim=1))

    def test_uneven_counts_use_contiguous_groups_that_differ_by_one(self):
        grow = channel_groups(12, 160)  # the first down stage: pixel_unshuffle(RGB) -> N channels
        copies = [sum(g == [i] for g in grow) for i in range(12)]
        assert sorted(set(copies)) == [13, 14] and sum(copies) == 160
        assert [g[0] for g in grow] == sorted(g[0] for g in grow)
        shrink = channel_groups(160, 12)  # the last up stage: N channels -> 4 x RGB
        assert sorted({len(g) for g in shrink}) == [13, 14]
        assert [i for g in shrink for i in g] == list(range(160))
        x = torch.randn(1, 160, 2, 2)
        expected = torch.stack([x[:, g].mean(1) for g in shrink], 1)
        assert torch.allclose(ChannelResample(160, 12)(x), expected, atol=1e-6)
        rgb = torch.randn(1, 12, 2, 2)
        assert torch.equal(ChannelResample(12, 160)(rgb), rgb[:, [g[0] for g in grow]])

    def test_no_resample_state_goes_into_weights_files(self):
        assert not ChannelResample(160, 12).state_dict() and not ChannelResample(12, 160).state_dict()


class TestShortcuts:
    def test_shapes(self):
        down, up = ResidualShortcut(16, 32, up=False, start=0, end=1), ResidualShortcut(32, 3, True, 0, 1)
        x = torch.randn(2, 16, 8, 12)
        assert down.shortcut(x).shape == (2, 32, 4, 6)
        assert up.shortcut(torch.randn(2, 32, 4, 6)).shape == (2, 3, 8, 12)
        out = torch.randn(2, 32, 4, 6)
        assert torch.equal(down(out, x), out)  # closed gate
        with torch.no_grad():
            down.gate.fill_(0.5)
        assert torch.allclose(down(out, x), out + 0.5 * down.shortcut(x))

    @pytest.mark.parametrize("up", [False, True])
    def test_pooling_is_the_rearrangement_at_equal_width(self, up):
        """avg_pool2d / nearest upsampling are DC-AE's space-to-channel + averaging and channel
        duplication + channel-to-space when a stage keeps its width."""
        shortcut = ResidualShortcut(8, 8, up, 0, 0)
        x = torch.randn(2, 8, 6, 4)
        general = F.pixel_shuffle(x.repeat_interleave(4, 1), 2) if up else F.pixel_unshuffle(x, 2)
        general = general if up else general.view(2, 8, 4, 3, 2).mean(2)
        assert torch.allclose(shortcut.shortcut(x), general, atol=1e-6)

    def test_down_after_up_is_the_identity(self):
        """Channel duplication + pixel shuffle is undone by pixel unshuffle + channel averaging."""
        for c_in, c_out in ((8, 8), (8, 16), (16, 8)):
            down, up = ResidualShortcut(c_out, c_in, False, 0, 0), ResidualShortcut(c_in, c_out, True, 0, 0)
            x = torch.randn(1, c_in, 4, 4)
            assert torch.allclose(down.shortcut(up.shortcut(x)), x, atol=1e-6), (c_in, c_out)

    def test_transform_shapes_and_closed_gates(self):
        for config in (TINY_R, TINY_RC, PRESETS["hp32r"], PRESETS["hp32rc"]):
            model = ImageCodec(config)
            x = torch.rand(1, 3, 64, 64)
            with torch.no_grad():
                y = model.analysis(x)
                assert y.shape == (1, config.latent_channels, 2, 2)
                assert model.synthesis(y).shape == (1, 3, 64, 64)
            gates = _gates(model)
            assert len(gates) == 10 and all(not g.any() for g in gates.values())

    def test_existing_layer_names_are_unchanged(self):
        plain = set(ImageCodec(PRESETS["hp32d10"]).state_dict())
        grown = set(ImageCodec(PRESETS["hp32rc"]).state_dict())
        assert plain < grown
        assert all(".shortcut." in k or ".refine." in k for k in grown - plain)
        assert all(k.endswith(".gate") for k in grown - plain if ".shortcut." in k)


@pytest.fixture(scope="module")
def hp32d10_file(tmp_path_factory) -> Path:
    """A randomly initialised ``hp32d10`` (``hp32-v7``'s networks on the ten-level ladder) as a weights
    file, with open refinement blocks so that the comparison is not between identities."""
    torch.manual_seed(0)
    model = _trained_like(ImageCodec(PRESETS["hp32d10"]))
    model.eval().update()
    path = tmp_path_factory.mktemp("hp32d10") / "hp32d10.safetensors"
    save_codec(model, path, "hp32d10-random")
    return path


@pytest.mark.parametrize("preset", ["hp32r", "hp32rc"])
def test_warm_start_from_hp32d10_computes_the_same(hp32d10_file, preset):
    """Through the training's warm start, the new preset's step 0 is what ``hp32d10`` warm-started from
    the same file computes: the same transforms, and after ``update()`` the same bytes."""
    control = ImageCodec(PRESETS["hp32d10"])
    warm_start(control, hp32d10_file)
    target = ImageCodec(PRESETS[preset])
    counts = warm_start(target, hp32d10_file)
    new = [n for n in dict(target.named_parameters()) if n not in dict(control.named_parameters())]
    assert counts["skipped"] == len(new) and counts["copied"] == len(list(control.parameters())) - 2
    torch.manual_seed(1)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        y = target.analysis(x)
        assert torch.allclose(y, control.analysis(x), rtol=1e-5, atol=1e-5)
        assert torch.allclose(target.synthesis(y), control.synthesis(y), rtol=1e-5, atol=1e-5)
        source = load_codec_file(hp32d10_file)  # and what the file itself computes
        assert torch.allclose(y, source.analysis(x), rtol=1e-5, atol=1e-5)
    control.eval().update()
    target.eval().update()
    assert target.compress(x, 70) == control.compress(x, 70)


def test_training_steps_move_the_gates(tmp_path, monkeypatch):
    """A few steps of ``main``: every gate gets a gradient and leaves zero; export and load keep them."""
    from PIL import Image

    monkeypatch.setitem(PRESETS, "tiny-rc", TINY_RC)
    folder = tmp_path / "images"
    folder.mkdir()
    generator = torch.Generator().manual_seed(0)
    for i in range(2):
        pixels = (torch.rand(160, 160, 3, generator=generator) * 255).byte().numpy()
        Image.fromarray(pixels).save(folder / f"{i}.png")
    cfg = replace(TRAIN_PRESETS["tiny"], preset="tiny-rc", data=str(folder), out=str(tmp_path / "run"),
                  steps=3, log_every=3, device="cpu")  # fmt: skip
    record = main(cfg)
    assert record["step"] == 3 and record["skipped"] == 0
    ckpt = torch.load(tmp_path / "run" / "ckpt.pt", weights_only=True)
    gates = {k: v for k, v in ckpt["model"].items() if k.endswith(".gate")}
    assert len(gates) == 10 and all(v.abs().min() > 0 for v in gates.values())
    export(tmp_path / "run" / "ckpt.pt", tmp_path / "out.safetensors", "tiny-rc-v1", use_ema=False)
    loaded = load_codec_file(tmp_path / "out.safetensors")
    assert loaded.config == TINY_RC
    for key, value in gates.items():
        assert torch.allclose(dict(loaded.named_parameters())[key], value, rtol=1e-3, atol=1e-6)


def test_every_gate_gets_a_gradient_at_zero():
    torch.manual_seed(0)
    model = ImageCodec(TINY_RC).train()
    out = model(torch.rand(2, 3, 128, 128), torch.tensor([0.5, 1.5]))
    loss = out["x_hat"].pow(2).mean() + sum(-lik.log2().mean() for lik in out["likelihoods"].values())
    loss.backward()
    for name, gate in _gates(model).items():
        assert gate.grad is not None and gate.grad.abs().sum() > 0, name


def test_weights_file_round_trip_decodes_the_same(tmp_path):
    torch.manual_seed(0)
    model = _trained_like(ImageCodec(TINY_RC)).eval()
    model.update()
    path = tmp_path / "tiny-rc.safetensors"
    save_codec(model, path, "tiny-rc-v1")
    loaded = load_codec_file(path)
    assert loaded.config == TINY_RC
    assert set(_gates(loaded)) == set(_gates(model))
    x = torch.rand(1, 3, 128, 128)
    strings = loaded.compress(x, 40)
    decoded = loaded.decompress(strings, (128, 128), 40)
    with torch.no_grad():  # fp16 in the file: the loaded model decodes within rounding of the original
        assert (decoded - model.decompress(strings, (128, 128), 40)).abs().max() < 2e-2


def test_presets_survive_the_config_json_and_are_training_choices():
    for name in ("hp32r", "hp32rc"):
        config = CodecConfig(**json.loads(json.dumps(PRESETS[name].to_dict(), sort_keys=True)))
        assert next(k for k, v in PRESETS.items() if v == config) == name  # registry.register_files
        assert TRAIN_PRESETS[name].preset == name
    new_fields = ("residual_shortcuts", "coarse_blocks")
    old = {k: v for k, v in PRESETS["hp32b"].to_dict().items() if k not in new_fields}
    assert CodecConfig(**old) == PRESETS["hp32b"]  # files written before these fields
    assert isinstance(ImageCodec(CodecConfig(**old)).analysis, torch.nn.Sequential)
    result = CliRunner().invoke(train_command, ["--help"])
    assert "hp32r" in result.output and "hp32rc" in result.output


def test_strips_cover_the_coarse_blocks_reach(monkeypatch):
    """Blocks on the 1/32 latent widen the synthesis' reach; the windowed decode's halo grows with it."""
    torch.manual_seed(0)
    model = _trained_like(ImageCodec(replace(TINY_RC, coarse_blocks=2)), std=0.3).eval()
    latent = torch.randn(1, TINY_RC.latent_channels, 40, 3) * 2
    with torch.no_grad():
        whole = model.synthesis(latent)
        monkeypatch.setattr(windowed_synthesis, "MAX_STRIP_LATENTS", 36 * 3)
        halo = windowed_synthesis.HALO + synthesis_reach(2)
        assert len(windowed_synthesis.strip_rows(40, 3, halo)) >= 3
        strips = windowed_synthesis.synthesize_in_strips(model.synthesis, latent, halo)
        short = windowed_synthesis.synthesize_in_strips(model.synthesis, latent)
    assert (strips - whole).abs().max().item() < 1e-4
    assert (short - whole).abs().max().item() > 1e-4  # the plain halo would not have been enough


@pytest.mark.slow
def test_compiled_step_with_shortcuts_has_no_graph_break():
    import torch._dynamo

    from dicodec.codec.training.train import rd_loss

    model = _trained_like(ImageCodec(TINY_RC))
    cfg = TRAIN_PRESETS["tiny"]
    x, level = torch.rand(2, 3, 128, 128), torch.tensor([0.3, 1.7])

    def step(x, level):
        return rd_loss(model, model(x, level), x, level, cfg)

    explained = torch._dynamo.explain(step)(x, level)
    assert explained.graph_break_count == 0, explained.break_reasons


def test_arch_cost_script_counts_the_gates(monkeypatch):
    monkeypatch.setitem(PRESETS, "tiny-r", TINY_R)
    rows = load_script("arch_cost").preset_costs(["tiny", "tiny-r"], size=64, repeats=1)
    assert [r["preset"] for r in rows] == ["tiny", "tiny-r"]
    assert rows[1]["extra_parameters"] == 4 * 16 + 32 + 4 * 16 + 3  # a gate per output channel of 10 stages
    assert all(r["seconds"] > 0 for r in rows) and rows[0]["ratio"] == 1.0
