"""Training the generative decoder: flow matching, losses, discriminator, the three stages of train_dit."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import TINY_DIT as TINY
from conftest import sample_crop as image
from conftest import tiny_decoder
from PIL import Image

import dicodec
from dicodec.codec.generative_decoder import GenerativeDecoder
from dicodec.codec.training.codec_latents import codec_latents
from dicodec.codec.training.discriminator import (
    PatchDiscriminator,
    feature_matching_loss,
    hinge_d_loss,
    hinge_g_loss,
)
from dicodec.codec.training.dit_losses import alignment_loss, distortion_loss
from dicodec.codec.training.flow_matching import (
    euler_sample,
    flow_matching_loss,
    prior_sample,
    teacher_refine,
)
from dicodec.codec.weights_io import load_decoder_file, save_decoder

SAMPLE = Path(dicodec.__file__).with_name("samples") / "coffee.png"


def test_codec_latents_are_what_the_decoder_gets(tiny_codec):
    x = torch.cat([image(), image().flip(-1)])
    level = torch.tensor([0.3, 1.7])
    lat = codec_latents(tiny_codec, x, level)
    for i, q in enumerate(level / (tiny_codec.config.levels - 1) * 100):
        strings = tiny_codec.compress(x[i : i + 1], float(q))
        decoded = tiny_codec.decompress_latent(strings, tuple(x.shape[-2:]), float(q))
        assert torch.allclose(lat["y_hat"][i : i + 1], decoded, rtol=1e-6, atol=1e-6)
    assert set(lat) == {"clean", "y_hat", "sigma"} and lat["clean"].shape == lat["y_hat"].shape


def test_onestep_decoder_trains(tiny_codec):
    torch.manual_seed(0)
    x = torch.cat([image(64, 96), image(64, 96).flip(-1)])
    lat = codec_latents(tiny_codec, x, torch.tensor([0.0, 1.0]))
    decoder = GenerativeDecoder(replace(TINY, uncertainty="learned")).train()
    decoder.set_latent_stats(lat["clean"].mean((0, 2, 3)), lat["clean"].std((0, 2, 3)))
    synthesis = tiny_codec.synthesis.requires_grad_(False)
    opt = torch.optim.Adam(decoder.parameters(), lr=3e-3)
    losses = []
    for _ in range(10):
        out = decoder(lat["y_hat"], lat["sigma"], return_dict=True)
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


def test_compare_realism_is_the_pixel_blend_of_decode():
    """``compare --realism`` passes the value to ``generative_decode``'s pixel blend, which is what
    ``dicodec decode --realism`` means; its help said "scale of the one-step correction" (the
    decoder's latent knob, now ``correction_scale``)."""
    from dicodec.cli.main import cli
    from dicodec.codec.training.train_dit import cli as train_dit_cli

    compare = next(p for p in train_dit_cli.commands["compare"].params if p.name == "realism")
    decode = next(p for p in cli.commands["decode"].params if p.name == "realism")
    for param in (compare, decode):
        assert re.search(r"blend.*fast decode.*\(0.*generative.*\(1", param.help), param.help
    assert "correction" not in compare.help
