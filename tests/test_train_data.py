"""Training inputs: data mixes, detail-biased crops, warm starts, and the non-finite step guard."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dicodec.codec.config import PRESETS, CodecConfig
from dicodec.codec.model import ImageCodec
from dicodec.codec.training.data import CropSampler, colour, detail, dihedral, parse_augment, parse_mix
from dicodec.codec.training.train import TRAIN_PRESETS, export, main
from dicodec.codec.training.warm_start import warm_start


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory) -> Path:
    """photo/: one noisy (detailed) image; graphics/: one flat image."""
    root = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(0)
    _save(root / "photo" / "noise.png", rng.integers(0, 256, (160, 160, 3), dtype=np.uint8))
    _save(root / "graphics" / "flat.png", np.full((160, 160, 3), 90, dtype=np.uint8))
    return root


def test_parse_mix_normalizes_and_rejects_garbage():
    assert parse_mix("photo=3,graphics=1") == {"photo": 0.75, "graphics": 0.25}
    assert parse_mix("") == {}
    with pytest.raises(ValueError, match="NAME=WEIGHT"):
        parse_mix("photo")
    with pytest.raises(ValueError, match=">= 0"):
        parse_mix("photo=0,graphics=0")


def test_parse_augment_names_and_errors():
    assert parse_augment(" dihedral, colour ") == ("dihedral", "colour")
    assert parse_augment("") == ()
    with pytest.raises(ValueError, match="unknown augmentation 'mixup'"):
        parse_augment("dihedral,mixup")


def test_dihedral_draws_all_eight_symmetries_and_keeps_pixels():
    base = torch.arange(16.0).view(1, 1, 4, 4).expand(64, 3, 4, 4)
    out = dihedral(base, torch.Generator().manual_seed(0))
    flips = {tuple(out[i, 0].flatten().tolist()) for i in range(64)}
    assert len(flips) == 4  # transpose x vertical flip (the sampler's horizontal flip makes it 8)
    for i in range(64):  # a permutation of the same pixels, the same one in every channel
        assert sorted(out[i, 0].flatten().tolist()) == list(range(16))
        assert torch.equal(out[i, 0], out[i, 2])


def test_colour_keeps_grey_grey_varies_colour_and_stays_in_range():
    g = torch.Generator().manual_seed(1)
    grey = torch.linspace(0, 1, 64).view(1, 1, 8, 8).expand(8, 3, 8, 8)
    out = colour(grey, g)
    assert torch.allclose(out[:, 0], out[:, 1], atol=1e-5) and torch.allclose(out[:, 1], out[:, 2], atol=1e-5)
    red = torch.zeros(16, 3, 4, 4)
    red[:, 0] = 0.8
    out = colour(red, g)
    assert out.min() >= 0 and out.max() <= 1
    assert out[:, 1].std() > 0.01  # the hue rotation moved some red towards green or blue
    # mild: the dominant channel stays dominant
    assert (out[:, 0] >= out[:, 1]).all() and (out[:, 0] >= out[:, 2]).all()


def test_sampler_augmentation_is_seeded(mixed_folder):
    a = CropSampler(mixed_folder, torch.device("cpu"), seed=5, augment=("dihedral", "colour")).sample(4, 64)
    b = CropSampler(mixed_folder, torch.device("cpu"), seed=5, augment=("dihedral", "colour")).sample(4, 64)
    plain = CropSampler(mixed_folder, torch.device("cpu"), seed=5).sample(4, 64)
    assert torch.equal(a, b) and a.shape == plain.shape == (4, 3, 64, 64)
    assert not torch.equal(a, plain)


def test_mix_draws_groups_by_weight(mixed_folder):
    sampler = CropSampler(mixed_folder, torch.device("cpu"), seed=1, mix={"photo": 0.9, "graphics": 0.1})
    batch = sampler.sample(200, 128)
    noisy = (detail(batch) > 0.1).float().mean().item()  # the flat image has zero detail
    assert 0.8 < noisy < 0.97, noisy


def test_mix_naming_a_missing_folder_is_a_clear_error(mixed_folder):
    with pytest.raises(FileNotFoundError, match="portraits"):
        CropSampler(mixed_folder, torch.device("cpu"), mix={"portraits": 1.0})


def test_detail_candidates_prefer_the_detailed_crop(mixed_folder):
    plain = CropSampler(mixed_folder, torch.device("cpu"), seed=3)
    biased = CropSampler(mixed_folder, torch.device("cpu"), seed=3, detail_candidates=4)
    share_plain = (detail(plain.sample(100, 128)) > 0.1).float().mean().item()
    share_biased = (detail(biased.sample(100, 128)) > 0.1).float().mean().item()
    assert share_plain < 0.7 and share_biased > 0.9, (share_plain, share_biased)


def _tiny_file(tmp_path: Path, config: CodecConfig) -> Path:
    from dicodec.codec.weights_io import save_codec

    torch.manual_seed(0)
    model = ImageCodec(config)
    with torch.no_grad():
        model.log_gain.add_(torch.randn_like(model.log_gain) * 0.1)
    model.eval().update()
    path = tmp_path / "source.safetensors"
    save_codec(model, path, "tiny-src")
    return path


def test_warm_start_copies_transforms_and_refits_gains(tmp_path):
    source_cfg = PRESETS["tiny"]
    path = _tiny_file(tmp_path, source_cfg)
    from dicodec.codec.weights_io import load_codec_file

    source = load_codec_file(path)
    target = ImageCodec(replace(source_cfg, lambda_min=source_cfg.lambda_min / 10))
    counts = warm_start(target, path)
    assert counts["refitted"] == 2 and counts["skipped"] == 0 and counts["copied"] > 10
    for name, p in source.analysis.named_parameters():
        assert torch.allclose(p, dict(target.analysis.named_parameters())[name])
    exact = source.latent_codec.hyper_synthesis[0].conv
    got = target.latent_codec.hyper_synthesis[0].conv
    assert torch.allclose(got.weight, source.latent_codec.hyper_synthesis[0].weight_int.float() / 4096)
    assert got.weight.shape == exact.weight.shape
    # The top level keeps lambda_max, so its refitted gain stays close to the source's line there.
    assert torch.allclose(target.log_gain[-1], source.log_gain[-1], atol=0.2)
    # Buffers are a fresh model's constants, not the file's fp16 copies (1e-9 underflows in fp16).
    bound = target.latent_codec.entropy_bottleneck.likelihood_lower_bound.bound
    assert bound.item() == pytest.approx(1e-9)


def test_warm_start_with_same_range_keeps_gains_exactly(tmp_path):
    path = _tiny_file(tmp_path, PRESETS["tiny"])
    from dicodec.codec.weights_io import load_codec_file

    source = load_codec_file(path)
    target = ImageCodec(PRESETS["tiny"])
    warm_start(target, path)
    assert torch.equal(target.log_gain, source.log_gain)


def test_warm_start_onto_a_longer_ladder_keeps_the_shared_levels(tmp_path):
    """hp32d -> hp32e: levels on the old ladder keep their gains; new ones start on the fitted line."""
    tiny = PRESETS["tiny"]
    path = _tiny_file(tmp_path, tiny)
    from dicodec.codec.weights_io import load_codec_file

    source = load_codec_file(path)
    ratio = tiny.lambda_max / tiny.lambda_min
    longer = replace(
        tiny,
        levels=tiny.levels + 2,
        lambda_max=tiny.lambda_min * ratio ** ((tiny.levels + 1) / (tiny.levels - 1)),
    )
    target = ImageCodec(longer)
    warm_start(target, path)
    assert torch.allclose(target.level_lambdas()[: tiny.levels], source.level_lambdas(), rtol=1e-6)
    assert torch.equal(target.log_gain[: tiny.levels], source.log_gain)
    assert torch.equal(target.log_inverse_gain[: tiny.levels], source.log_inverse_gain)
    assert not torch.equal(target.log_gain[-1], source.log_gain[-1])


def test_refinement_blocks_grow_a_released_codec_without_changing_it(tmp_path):
    """A preset with refinement blocks warm-starts from a plain file and codes exactly like it."""
    path = _tiny_file(tmp_path, PRESETS["tiny"])
    from dicodec.codec.weights_io import load_codec_file, save_codec

    source = load_codec_file(path)
    target = ImageCodec(replace(PRESETS["tiny"], refine_blocks=2))
    counts = warm_start(target, path)
    refine = [n for n, _ in target.named_parameters() if ".refine." in n]
    assert len(refine) == 2 * 2 * 3 * 8 and counts["skipped"] == len(refine)  # 2 transforms x 3 stages x 2
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        y = target.analysis(x)
        assert torch.allclose(y, source.analysis(x), atol=1e-5)
        assert torch.allclose(target.synthesis(y), source.synthesis(y), atol=1e-5)
    # Trained (non-zero) blocks do change the transform, survive export and load, and code the same bytes.
    with torch.no_grad():
        for name, p in target.named_parameters():
            if ".refine." in name and "project" in name:
                p.normal_(0, 0.05)
        assert not torch.allclose(target.synthesis(y), source.synthesis(y), atol=1e-3)
    target.eval().update()
    grown = tmp_path / "grown.safetensors"
    save_codec(target, grown, "tiny-grown")
    loaded = load_codec_file(grown)
    assert loaded.config.refine_blocks == 2
    for name, p in loaded.named_parameters():
        if ".refine." in name:
            assert torch.allclose(p.float(), dict(target.named_parameters())[name].float(), atol=1e-3)
    assert loaded.compress(x, 50) == loaded.compress(x, 50)


def test_plain_transforms_keep_their_sequential_layout():
    """Released files name layers ``analysis.0.weight`` ...: presets without refinement keep that layout."""
    model = ImageCodec(PRESETS["tiny"])
    assert isinstance(model.analysis, torch.nn.Sequential)
    assert isinstance(model.synthesis, torch.nn.Sequential)
    grown = ImageCodec(replace(PRESETS["tiny"], refine_blocks=1))
    plain_keys = set(model.state_dict())
    grown_keys = {k for k in grown.state_dict() if ".refine." not in k}
    assert plain_keys == grown_keys


def test_training_from_a_warm_start_with_mix_and_detail(mixed_folder, tmp_path):
    path = _tiny_file(tmp_path, PRESETS["tiny"])
    cfg = replace(
        TRAIN_PRESETS["tiny"],
        data=str(mixed_folder),
        out=str(tmp_path / "run"),
        steps=6,
        log_every=3,
        device="cpu",
        init=str(path),
        mix="photo=0.5,graphics=0.5",
        detail_candidates=2,
    )
    record = main(cfg)
    assert record["step"] == 6 and record["skipped"] == 0 and np.isfinite(record["loss"])
    export(tmp_path / "run" / "ckpt.pt", tmp_path / "out.safetensors", "tiny-warm-v1")


def test_non_finite_steps_are_skipped_not_applied(mixed_folder, tmp_path, monkeypatch):
    """A batch whose loss is infinite must leave the weights untouched and be counted."""
    import dicodec.codec.training.train as train_module

    real_rd_loss = train_module.rd_loss

    def poisoned(model, out, x, level, cfg, detail_weight=None):
        terms = real_rd_loss(model, out, x, level, cfg, detail_weight)
        terms["loss"] = terms["loss"] * float("inf")
        return terms

    monkeypatch.setattr(train_module, "rd_loss", poisoned)
    cfg = replace(
        TRAIN_PRESETS["tiny"], data=str(mixed_folder), out=str(tmp_path / "run"), steps=3, log_every=3,
        device="cpu",
    )  # fmt: skip
    record = main(cfg)
    assert record["skipped"] == 3
    ckpt = torch.load(tmp_path / "run" / "ckpt.pt", weights_only=True)
    torch.manual_seed(cfg.seed)
    fresh = ImageCodec(PRESETS["tiny"]).state_dict()
    for key, value in ckpt["model"].items():
        if key.startswith("analysis") and value.is_floating_point():
            assert torch.equal(value, fresh[key]), key
    assert json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[-1])["skipped"] == 3


def test_fewer_syncs_and_no_guard_still_train(mixed_folder, tmp_path):
    """--sync-every / --no-guard-nonfinite change only when the host waits, not what is learned."""
    runs = {}
    for name, overrides in {"base": {}, "lean": {"sync_every": 4, "guard_nonfinite": False}}.items():
        cfg = replace(
            TRAIN_PRESETS["tiny"], data=str(mixed_folder), out=str(tmp_path / name), steps=8, log_every=4,
            device="cpu", **overrides,
        )  # fmt: skip
        runs[name] = main(cfg)
    assert runs["lean"]["step"] == 8 and runs["lean"]["skipped"] == 0
    # the learning rate is held between clock agreements, so it lags by at most sync_every - 1 steps
    assert runs["lean"]["lr"] >= runs["base"]["lr"]


def test_z_likelihoods_match_entropy_bottleneck():
    """LatentCodec's sync-free z likelihoods are EntropyBottleneck.forward's, noise draw included."""
    from dicodec.codec.latent_codec import LatentCodec

    codec = LatentCodec(32, 16, 2, 16)
    z = torch.randn(3, 16, 4, 5) * 3
    torch.manual_seed(0)
    _, reference = codec.entropy_bottleneck(z)
    torch.manual_seed(0)
    assert torch.equal(codec._z_likelihoods(z), reference)


@pytest.mark.slow
@pytest.mark.parametrize("refine_blocks", [0, 1])
def test_compiled_step_matches_eager(refine_blocks):
    """--compile traces forward pass, entropy model and loss as one graph (no breaks) with eager's values."""
    import torch._dynamo

    from dicodec.codec.training.train import rd_loss

    torch.manual_seed(0)
    model = ImageCodec(replace(PRESETS["tiny"], refine_blocks=refine_blocks))
    for name, p in model.named_parameters():  # trained, non-identity refinement blocks
        if ".project." in name:
            torch.nn.init.normal_(p, 0, 0.05)
    cfg = TRAIN_PRESETS["tiny"]
    x, level = torch.rand(2, 3, 128, 128), torch.tensor([0.3, 1.7])

    def step(x, level):
        return rd_loss(model, model(x, level), x, level, cfg)

    explained = torch._dynamo.explain(step)(x, level)
    assert explained.graph_break_count == 0, explained.break_reasons
    compiled, eager = torch.compile(step)(x, level), step(x, level)
    for key in ("mse", "psnr"):  # the rate term draws its own noise in each
        assert torch.allclose(compiled[key], eager[key], rtol=1e-4), key
    assert torch.allclose(compiled["bpp"], eager["bpp"], rtol=0.05)


def test_warm_start_onto_a_wider_latent_computes_what_the_file_did(tmp_path):
    """hp32-v7 -> hp32w (Net2WiderNet, zero-initialised): old latent channels, the hyper-latent and the
    decoded pixels are unchanged at step 0; new channels exist, and the synthesis ignores them."""
    tiny = PRESETS["tiny"]
    path = _tiny_file(tmp_path, tiny)
    from dicodec.codec.weights_io import load_codec_file

    source = load_codec_file(path).eval()
    for module in source.modules():
        if hasattr(module, "thaw") and getattr(module, "frozen", False):
            module.thaw()
    wide_cfg = replace(tiny, latent_channels=2 * tiny.latent_channels, num_slices=2 * tiny.num_slices)
    torch.manual_seed(1)
    wide = ImageCodec(wide_cfg).eval()
    counts = warm_start(wide, path)
    assert counts["widened"] == 4  # analysis' last conv (weight, bias), synthesis' first, hyper-analysis'
    m = tiny.latent_channels
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        y_old, y_new = source.analysis(x), wide.analysis(x)
        assert torch.equal(y_new[:, :m], y_old) and y_new[:, m:].abs().sum() > 0
        assert torch.equal(wide.synthesis(y_new), source.synthesis(y_old))
        z_old = source.latent_codec.hyper_analysis(y_old)
        assert torch.equal(wide.latent_codec.hyper_analysis(y_new), z_old)
    assert torch.equal(wide.log_gain[:, :m], source.log_gain)
    assert torch.allclose(wide.log_gain[:, m:], source.log_gain.mean(1, keepdim=True).expand(-1, m))


def test_the_schedule_clock_starts_after_the_first_step(mixed_folder, tmp_path, monkeypatch):
    """Compilation and data loading (here: 600 fake seconds in the first step) do not move the cosine;
    --max-minutes still counts them."""
    import dicodec.codec.training.train as train_module
    from dicodec.codec.training.loop import lr_at

    calls = []

    def fake_clock(start, world, device):  # 0 s before the first step, then 600 s + 1 s per step
        calls.append(len(calls))
        return 0.0 if len(calls) == 1 else 600.0 + len(calls)

    monkeypatch.setattr(train_module, "agreed_elapsed", fake_clock)
    cfg = replace(
        TRAIN_PRESETS["tiny"], data=str(mixed_folder), out=str(tmp_path / "run"), steps=5, log_every=1,
        device="cpu", warmup_steps=0, schedule_minutes=1.0, lr=1e-3, min_lr=1e-5,
    )  # fmt: skip
    main(cfg)
    logged = [json.loads(line)["lr"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    # step 2 is the first after the zero (set at step 1, 602 s): 1 s on the schedule clock, not 603 s
    assert logged[2] == pytest.approx(lr_at(2, cfg, 1 / 60))
    assert logged[2] > 0.9 * cfg.lr
    calls.clear()
    stopped = main(replace(cfg, out=str(tmp_path / "stop"), max_minutes=5.0))  # 602 s > 5 minutes
    assert stopped["step"] == 1
    calls.clear()
    annealed = main(replace(cfg, out=str(tmp_path / "end"), steps=100, schedule_minutes=0.25))
    assert annealed["step"] == 16  # schedule clock (k - 1) s at step k: 15 s reached at step 16
    ckpt = torch.load(tmp_path / "run" / "ckpt.pt", weights_only=True)
    assert "schedule_elapsed" in ckpt
