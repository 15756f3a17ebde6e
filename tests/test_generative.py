"""Generative decoder: coding scales, variance guidance, realism, flow matching, losses, training stages."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import dicodec
from dicodec.codec.generative import (
    GENERATIVE_PRESETS,
    GenerativeDecoder,
    PatchDiscriminator,
    alignment_loss,
    codec_latents,
    decode_with_scales,
    distortion_loss,
    euler_sample,
    feature_matching_loss,
    flow_matching_loss,
    generative_decode,
    hinge_d_loss,
    hinge_g_loss,
    load_decoder_file,
    save_decoder,
    simulate_coding,
    step_scale,
    teacher_refine,
)
from dicodec.codec.model import quality_to_level
from dicodec.errors import WeightsMismatch

TINY = GENERATIVE_PRESETS["dit-ic-tiny"]
SAMPLE = Path(dicodec.__file__).with_name("samples") / "coffee.png"


def tiny_decoder(seed: int = 0, perturb: float = 0.05, **overrides) -> GenerativeDecoder:
    """A tiny decoder whose zero-initialised output layers are moved so every part acts."""
    torch.manual_seed(seed)
    decoder = GenerativeDecoder(replace(TINY, **overrides))
    with torch.no_grad():
        for p in decoder.parameters():
            p.add_(torch.randn_like(p) * perturb)
    return decoder.eval()


def image(h: int = 128, w: int = 256) -> torch.Tensor:
    img = np.asarray(Image.open(SAMPLE).convert("RGB"))[:h, :w]
    return torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255


# ------------------------------------------------------------------ coding scales


class TestCodingScales:
    def test_decode_with_scales_matches_decoder_and_simulation(self, tiny_codec):
        x, q = image(), 40
        strings = tiny_codec.compress(x, q)
        y_hat, sigma = decode_with_scales(tiny_codec.latent_codec, strings, (4, 8), torch.device("cpu"))
        gain, inverse_gain = tiny_codec.gains(quality_to_level(q, tiny_codec.config.levels))
        decoded = tiny_codec.decompress_latent(strings, tuple(x.shape[-2:]), q)
        assert torch.equal(y_hat * inverse_gain, decoded)
        y_sim, sigma_sim = simulate_coding(tiny_codec.latent_codec, tiny_codec.analysis(x) * gain)
        assert torch.equal(y_sim, y_hat) and torch.equal(sigma_sim, sigma)
        assert sigma.shape == y_hat.shape and sigma.unique().numel() > 3 and (sigma > 0).all()

    def test_batched_simulation_equals_per_image_coding(self, tiny_codec):
        x = torch.cat([image(), image().flip(-1)])
        level = torch.tensor([0.3, 1.7])
        lat = codec_latents(tiny_codec, x, level)
        for i, q in enumerate(level / (tiny_codec.config.levels - 1) * 100):
            strings = tiny_codec.compress(x[i : i + 1], float(q))
            decoded = tiny_codec.decompress_latent(strings, tuple(x.shape[-2:]), float(q))
            assert torch.allclose(lat["y_hat"][i : i + 1], decoded, rtol=1e-6, atol=1e-6)
        assert set(lat) == {"clean", "y_hat", "sigma"} and lat["clean"].shape == lat["y_hat"].shape


# ------------------------------------------------------------------ one-step decoder


class TestVarianceGuidance:
    def test_step_scale_range(self):
        u = torch.linspace(-10, 10, 1001)
        m = step_scale(u, knee=2.0)
        assert m.min() == pytest.approx(0.4) and m.max() == 1.0
        assert ((m >= 0.4) & (m <= 1.0)).all()
        assert step_scale(torch.tensor([1.0]), knee=2.0).item() == pytest.approx(0.7)
        pos = m[u >= 0]
        assert (pos[1:] >= pos[:-1]).all()

    def test_uncertain_elements_move_more(self):
        decoder = tiny_decoder(latent_condition=False, rate_embed=False)
        decoder.dit.forward = lambda x, t, context=None, extra=None: torch.ones_like(x)  # v = 1 everywhere
        y = torch.randn(1, 32, 3, 3)
        u = torch.rand(1, 32, 3, 3) * 3 * decoder.latent_std.view(1, -1, 1, 1)
        step = (y - decoder(y, u)) / decoder.latent_std.view(1, -1, 1, 1)
        m = step_scale(u / decoder.latent_std.view(1, -1, 1, 1), TINY.knee)
        assert torch.allclose(step, TINY.t_s * m, atol=1e-6)
        flat_u, flat_s = u.flatten(), step.flatten()
        assert flat_s[flat_u.argmax()] > flat_s[flat_u.argmin()]
        none = GenerativeDecoder(replace(TINY, uncertainty="none"))
        assert none.rate_embed is None and none.logvar_head is None

    @pytest.mark.parametrize("mode", ["entropy", "learned", "none"])
    @pytest.mark.parametrize("hw", [(1, 1), (3, 5), (8, 8)])
    def test_shapes_and_realism_zero_is_identity(self, mode, hw):
        decoder = tiny_decoder(uncertainty=mode)
        y = torch.randn(2, 32, *hw) * 3
        u = torch.rand(2, 32, *hw)
        out = decoder(y, u, 1.0)
        assert out.shape == y.shape and torch.isfinite(out).all() and not torch.equal(out, y)
        assert torch.equal(decoder(y, u, 0.0), y)
        assert torch.equal(decoder(y, u, 0.0, return_dict=True)["latent"], y)  # the formula itself, too

    def test_realism_scales_the_correction_linearly(self):
        decoder = tiny_decoder()
        y, u = torch.randn(1, 32, 4, 4), torch.rand(1, 32, 4, 4)
        full, half = decoder(y, u, 1.0) - y, decoder(y, u, 0.5) - y
        assert torch.allclose(half, 0.5 * full, atol=1e-5)
        with pytest.raises(ValueError):
            decoder(y, u, 1.5)

    def test_without_latent_condition(self):
        decoder = tiny_decoder(latent_condition=False)
        assert decoder.condition is None and all(b.cross is None for b in decoder.dit.blocks)
        assert decoder(torch.randn(1, 32, 2, 3), None).shape == (1, 32, 2, 3)

    def test_onestep_decoder_trains(self, tiny_codec):
        torch.manual_seed(0)
        x = torch.cat([image(64, 96), image(64, 96).flip(-1)])
        lat = codec_latents(tiny_codec, x, torch.tensor([0.0, 1.0]))
        decoder = GenerativeDecoder(replace(TINY, uncertainty="learned")).train()
        decoder.set_latent_stats(lat["clean"].mean((0, 2, 3)), lat["clean"].std((0, 2, 3)))
        synthesis = tiny_codec.synthesis.requires_grad_(False)
        opt = torch.optim.Adam(decoder.parameters(), lr=3e-3)
        losses = []
        for _ in range(10):
            out = decoder(lat["y_hat"], lat["sigma"], 1.0, return_dict=True)
            terms = distortion_loss(synthesis(out["latent"]), x, 100.0, 0.0)
            align = alignment_loss(out["x0_n"], decoder.normalize(lat["clean"]), margin=0.0)
            loss = terms["distortion"] + 0.05 * align
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[-1] < losses[0], losses


# ------------------------------------------------------------------ flow matching


class TestFlowMatching:
    def test_loss_goes_down_on_a_tiny_batch(self):
        torch.manual_seed(0)
        decoder = GenerativeDecoder(TINY)
        basis = torch.randn(4, 32, 1, 1)
        x0 = (torch.randn(16, 4, 1, 1, 1) * basis).sum(1) * torch.ones(1, 1, 4, 4)  # low-rank "latents"
        opt = torch.optim.Adam(decoder.dit.parameters(), lr=3e-3)
        gen = torch.Generator().manual_seed(0)
        losses = []
        for _ in range(30):
            loss = flow_matching_loss(decoder.velocity, x0, gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses

    def test_euler_follows_the_straight_path(self):
        x0 = torch.randn(2, 32, 3, 3)
        exact = lambda x, t: (x - x0) / t.view(-1, 1, 1, 1)  # noqa: E731 - velocity of the path through x0
        assert torch.allclose(euler_sample(exact, torch.randn_like(x0), 1.0, 7), x0, atol=1e-5)

    def test_teacher_and_prior_sampling_shapes(self):
        from dicodec.codec.generative import prior_sample

        decoder = tiny_decoder()
        y_n = torch.randn(2, 32, 3, 4)
        assert teacher_refine(decoder, y_n, 0.4, 3).shape == y_n.shape
        gen = torch.Generator().manual_seed(1)
        samples = prior_sample(decoder, 3, (2, 5), steps=4, generator=gen)
        assert samples.shape == (3, 32, 2, 5) and torch.isfinite(samples).all()


# ------------------------------------------------------------------ losses and discriminator


class TestLosses:
    def test_alignment_hinge(self):
        a = torch.randn(2, 8, 3, 3)
        assert alignment_loss(a, a * 2.0).item() == pytest.approx(0.0, abs=1e-6)
        assert alignment_loss(a, -a, margin=0.5).item() == pytest.approx(1.5, abs=1e-5)
        assert alignment_loss(a, -a, margin=0.0).item() == pytest.approx(2.0, abs=1e-5)

    def test_distortion_terms(self):
        x = torch.rand(2, 3, 192, 192)
        terms = distortion_loss(x, x, 100.0, 1.0)
        assert terms["distortion"].item() == pytest.approx(0.0, abs=1e-5) and terms["msssim"] > 0.999

    def test_discriminator_shapes_hinge_and_learning(self):
        torch.manual_seed(0)
        disc = PatchDiscriminator(32, widths=(8, 16))
        real, latent = torch.rand(4, 3, 32, 32) * 0.2 + 0.4, torch.randn(4, 32, 1, 1)
        fake = torch.rand(4, 3, 32, 32)
        assert disc(real, latent).shape == (4, 1, 8, 8)
        assert hinge_d_loss(torch.full((3,), 2.0), torch.full((3,), -2.0)).item() == 0.0
        assert hinge_g_loss(torch.full((3,), 0.5)).item() == -0.5
        opt = torch.optim.Adam(disc.parameters(), lr=2e-3, betas=(0.5, 0.9))
        losses = []
        for _ in range(10):
            loss = hinge_d_loss(disc(real, latent), disc(fake, latent))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[-1] < losses[0]

    def test_discriminator_features_and_feature_matching(self):
        torch.manual_seed(0)
        disc = PatchDiscriminator(32, widths=(8, 16)).eval()  # eval: spectral norm's power step fixed
        real, fake, latent = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32), torch.randn(2, 32, 1, 1)
        feats = disc(real, latent, return_features=True)
        assert [f.shape[1] for f in feats] == [8, 16, 1]  # one map per strided layer, logits last
        assert torch.equal(feats[-1], disc(real, latent))
        assert feature_matching_loss(feats[:-1], feats[:-1]).item() == 0.0
        fake_feats = disc(fake.requires_grad_(True), latent, return_features=True)
        loss = feature_matching_loss(fake_feats[:-1], feats[:-1])
        loss.backward()
        assert loss.item() > 0 and fake.grad.abs().sum() > 0


# ------------------------------------------------------------------ decoding, files, training script


class TestDecode:
    def test_generative_decode_on_tiny_codec(self, tiny_codec):
        x, q = image(), 60
        strings = tiny_codec.compress(x, q)
        decoder = tiny_decoder()
        pixels = generative_decode(tiny_codec, decoder, strings, (128, 256), q, realism=1.0)
        fast = tiny_codec.decompress(strings, (128, 256), q)
        assert pixels.shape == x.shape and torch.isfinite(pixels).all() and not torch.equal(pixels, fast)
        assert torch.equal(generative_decode(tiny_codec, decoder, strings, (128, 256), q, 0.0), fast)

    def test_own_synthesis_transform(self, tiny_codec):
        x, q = image(), 30
        strings = tiny_codec.compress(x, q)
        decoder = tiny_decoder(synthesis_channels=tiny_codec.config.channels)
        decoder.synthesis.load_state_dict(tiny_codec.synthesis.state_dict())  # as train_dit's init does
        fast = tiny_codec.decompress(strings, (128, 256), q)
        assert torch.equal(generative_decode(tiny_codec, decoder, strings, (128, 256), q, 0.0), fast)
        out = decoder(torch.randn(1, 32, 2, 2), torch.rand(1, 32, 2, 2), return_dict=True)
        assert out["pixels"].shape == (1, 3, 64, 64) and out["pixels"].dtype == torch.float32

    def test_save_and_load_round_trip(self, tmp_path):
        decoder = tiny_decoder(uncertainty="learned")
        decoder.set_latent_stats(torch.randn(32), torch.rand(32) + 0.5)
        sha = save_decoder(decoder, tmp_path / "d.safetensors", "dit-ic-tiny-test-v1")
        loaded = load_decoder_file(tmp_path / "d.safetensors", expected_sha256=sha)
        assert torch.equal(loaded.latent_std, decoder.latent_std)  # statistics stay fp32
        y, u = torch.randn(1, 32, 2, 2), torch.rand(1, 32, 2, 2)
        assert torch.allclose(loaded(y, u), decoder(y, u), atol=0.05)
        with pytest.raises(WeightsMismatch):
            load_decoder_file(tmp_path / "d.safetensors", expected_sha256="0" * 64)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dit_images")
    img = np.asarray(Image.open(SAMPLE).convert("RGB"))
    Image.fromarray(img).save(folder / "a.png")
    return folder


def read_log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_tiny_stages_run_end_to_end(image_folder, tmp_path):
    from dicodec.codec.training.train_dit import TRAIN_PRESETS, cli, export, main

    small = dict(data=str(image_folder), crop=64, batch_size=2, steps=4, log_every=2, device="cpu")
    prior = replace(TRAIN_PRESETS["prior-tiny"], out=str(tmp_path / "prior"), **small)
    main(prior)
    main(replace(prior, steps=6), resume=True)
    assert [r["step"] for r in read_log(tmp_path / "prior")] == [2, 4, 6]
    onestep = replace(TRAIN_PRESETS["onestep-tiny"], init=str(tmp_path / "prior" / "ckpt.pt"),
                      out=str(tmp_path / "onestep"), **small)  # fmt: skip
    record = main(onestep)
    assert np.isfinite(record["loss"]) and {"psnr", "psnr_fast", "align", "distill"} <= set(record)
    gan = replace(TRAIN_PRESETS["gan-tiny"], init=str(tmp_path / "onestep" / "ckpt.pt"),
                  teacher=str(tmp_path / "prior" / "ckpt.pt"), out=str(tmp_path / "gan"), tune_synthesis=True,
                  **small)  # fmt: skip
    assert {"g_adv", "d_loss"} <= set(main(gan))
    for stage in ("prior", "onestep", "gan"):
        ckpt = torch.load(tmp_path / stage / "ckpt.pt", weights_only=True)
        assert ckpt["config"]["stage"] == stage and ckpt["step"] == (6 if stage == "prior" else 4)
    sha = export(tmp_path / "gan" / "ckpt.pt", tmp_path / "gan.safetensors", "dit-ic-tiny-test-v1")
    released = load_decoder_file(tmp_path / "gan.safetensors", expected_sha256=sha)
    assert released.config == replace(TINY, synthesis_channels=16) and released.synthesis is not None
    args = ["sample", "--ckpt", str(tmp_path / "prior" / "ckpt.pt"), "--codec", "preset:tiny",
            "--out", str(tmp_path / "s.png"), "--num", "2", "--size", "64", "--steps", "2",
            "--data", str(image_folder)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "s.png").size == (128, 128)
    args = ["compare", "--ckpt", str(tmp_path / "gan" / "ckpt.pt"), "--codec", "preset:tiny",
            "--teacher", str(tmp_path / "prior" / "ckpt.pt"), "--data", str(image_folder),
            "--qualities", "10,90", "--teacher-steps", "2", "--out", str(tmp_path / "cmp.json")]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "cmp.json").read_text())
    assert {(r["quality"], r["decoder"]) for r in rows} == {
        (q, d) for q in (10, 90) for d in ("fast", "onestep", "multistep")
    }
    assert all(np.isfinite(r["psnr"]) and r["niqe"] is not None for r in rows)
    # the exported fp16 file (what comes back from a GPU machine) compares like its checkpoint
    args[args.index("--ckpt") + 1] = str(tmp_path / "gan.safetensors")
    args[args.index("--out") + 1] = str(tmp_path / "cmp_file.json")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    from_file = json.loads((tmp_path / "cmp_file.json").read_text())
    for a, b in zip(rows, from_file, strict=True):
        assert (a["quality"], a["decoder"]) == (b["quality"], b["decoder"])
        if a["decoder"] == "onestep":
            assert abs(a["psnr"] - b["psnr"]) < 0.1


def test_train_cli_parses_and_runs_a_step(image_folder, tmp_path):
    from dicodec.codec.training.train_dit import cli

    args = ["train", "--config", "prior-tiny", "--data", str(image_folder), "--out", str(tmp_path / "p"),
            "--steps", "1", "--crop", "64", "--batch-size", "1", "--log-every", "1", "--device", "cpu",
            "--norm-batches", "1", "--no-latent-condition", "--uncertainty", "none"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    ckpt = torch.load(tmp_path / "p" / "ckpt.pt", weights_only=True)
    assert ckpt["generative"]["latent_condition"] is False and ckpt["generative"]["uncertainty"] == "none"


@pytest.mark.slow
def test_two_process_gloo_ddp_stages(image_folder, tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    common = ["--data", str(image_folder), "--device", "cpu", "--crop", "64", "--batch-size", "2",
              "--steps", "4", "--log-every", "2"]  # fmt: skip
    run = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "dicodec.codec.training.train_dit", "train"]  # fmt: skip
    prior, gan = tmp_path / "prior", tmp_path / "gan"
    subprocess.run([*run, "--config", "prior-tiny", "--out", str(prior), *common], check=True, env=env,
                   capture_output=True, timeout=300)  # fmt: skip
    subprocess.run([*run, "--config", "gan-tiny", "--out", str(gan), "--init", str(prior / "ckpt.pt"),
                    "--teacher", str(prior / "ckpt.pt"), "--tune-synthesis", *common], check=True, env=env,
                   capture_output=True, timeout=300)  # fmt: skip
    assert [r["world"] for r in read_log(gan)] == [2, 2] and read_log(gan)[-1]["samples"] == 4 * 2 * 2


def test_gan_stage_goes_on_from_an_exported_decoder_file(image_folder, tmp_path):
    """A released decoder (fp16 safetensors) can start the GAN stage, with a fresh discriminator and
    feature matching, and no prior checkpoint at hand (``w_distill`` 0)."""
    from dicodec.codec.training.train_dit import TRAIN_PRESETS, load_frozen_codec, load_init, main

    codec = load_frozen_codec("preset:tiny", torch.device("cpu"))
    released = tiny_decoder(synthesis_channels=codec.config.channels)
    released.set_latent_stats(torch.randn(32), torch.rand(32) + 0.5)
    save_decoder(released, tmp_path / "released.safetensors", "dit-ic-tiny-test-v1")
    fresh = GenerativeDecoder(replace(TINY, synthesis_channels=codec.config.channels))
    load_init(fresh, tmp_path / "released.safetensors", codec)
    reference = load_decoder_file(tmp_path / "released.safetensors").state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in fresh.state_dict().items())
    gan = replace(TRAIN_PRESETS["gan-tiny"], init=str(tmp_path / "released.safetensors"), teacher="",
                  w_distill=0.0, w_fm=1.0, tune_synthesis=True, data=str(image_folder), crop=64,
                  batch_size=2, steps=2, log_every=1, device="cpu", out=str(tmp_path / "gan"))  # fmt: skip
    record = main(gan)
    assert {"g_adv", "fm", "d_loss"} <= set(record) and np.isfinite(record["loss"]) and record["fm"] > 0
