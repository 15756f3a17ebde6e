"""Training: the tiny CPU config learns, checkpoints resume, DDP (gloo, 2 processes) runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import dicodec
from dicodec.codec.training.train import TRAIN_PRESETS, export, main
from dicodec.codec.weights_io import load_codec_file

SAMPLE = Path(dicodec.__file__).with_name("samples") / "coffee.png"


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("train_images")
    img = np.asarray(Image.open(SAMPLE).convert("RGB"))
    Image.fromarray(img).save(folder / "a.png")
    Image.fromarray(img[:, ::-1].copy()).save(folder / "b.png")
    return folder


def read_log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_tiny_config_loss_goes_down_and_exports(image_folder, tmp_path):
    cfg = replace(
        TRAIN_PRESETS["tiny"],
        data=str(image_folder),
        out=str(tmp_path / "run"),
        steps=60,
        log_every=5,
        device="cpu",
    )
    main(cfg)
    log = read_log(tmp_path / "run")
    first = np.mean([r["loss"] for r in log[:3]])
    last = np.mean([r["loss"] for r in log[-3:]])
    assert last < 0.5 * first, (first, last)
    sha = export(tmp_path / "run" / "ckpt.pt", tmp_path / "tiny.safetensors", "tiny-trained-v1")
    model = load_codec_file(tmp_path / "tiny.safetensors", expected_sha256=sha)
    x = torch.rand(1, 3, 128, 128)
    assert model.decompress(model.compress(x, 50), (128, 128), 50).shape == x.shape


def test_resume_continues_from_checkpoint(image_folder, tmp_path):
    cfg = replace(
        TRAIN_PRESETS["tiny"],
        data=str(image_folder),
        out=str(tmp_path / "run"),
        steps=10,
        log_every=5,
        device="cpu",
    )
    main(cfg)
    main(replace(cfg, steps=20), resume=True)
    steps = [r["step"] for r in read_log(tmp_path / "run")]
    assert steps == [5, 10, 15, 20]
    ckpt = torch.load(tmp_path / "run" / "ckpt.pt", weights_only=True)
    assert ckpt["step"] == 20 and ckpt["samples_seen"] == 20 * cfg.batch_size


@pytest.mark.slow  # starts a two-process torchrun job (and a third process to resume it)
def test_two_process_gloo_ddp_and_single_process_resume(image_folder, tmp_path):
    out = tmp_path / "ddp"
    common = [
        "-m",
        "dicodec.codec.training.train",
        "--config",
        "tiny",
        "--data",
        str(image_folder),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--log-every",
        "5",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            *common,
            "--steps",
            "10",
        ],
        check=True,
        env=env,
        capture_output=True,
        timeout=300,
    )
    log = read_log(out)
    assert [r["world"] for r in log] == [2, 2] and log[-1]["samples"] == 10 * 2 * 4
    subprocess.run(
        [sys.executable, *common, "--steps", "15", "--resume"],
        check=True,
        env=env,
        capture_output=True,
        timeout=300,
    )
    log = read_log(out)
    assert log[-1]["step"] == 15 and log[-1]["world"] == 1


def test_validation_scores_checkpoints_and_keeps_the_best(image_folder, tmp_path):
    """--val-data: each checkpoint's EMA is scored on whole images; best.pt holds the lowest score."""
    from dicodec.codec.training.train import codec_from_checkpoint, validation_images, validation_loss

    cfg = replace(
        TRAIN_PRESETS["tiny"], data=str(image_folder), out=str(tmp_path / "run"), steps=12, log_every=4,
        device="cpu", val_data=str(image_folder), checkpoint_minutes=1e-9,
    )  # fmt: skip
    main(cfg)
    scores = [json.loads(line) for line in (tmp_path / "run" / "val.jsonl").read_text().splitlines()]
    assert len(scores) >= 2 and all(np.isfinite(r["val_loss"]) for r in scores)
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    assert best["best_val"] == min(r["val_loss"] for r in scores)
    assert best["step"] == min(scores, key=lambda r: r["val_loss"])["step"]
    assert all(r["val_rate"] == "coded, whole images" for r in scores)
    # the score is a pure function of the weights: whole images, no noise
    model = codec_from_checkpoint(best)
    images = validation_images(image_folder, torch.device("cpu"))
    assert validation_loss(model, images, cfg)["val_loss"] == pytest.approx(best["best_val"], rel=1e-5)
    export(tmp_path / "run" / "best.pt", tmp_path / "best.safetensors", "tiny-best-v1")


def test_scale_bound_and_range_penalty_train_and_log(image_folder, tmp_path):
    """The log-scale fix of the hp32f recipe runs end to end; the penalty's term is logged."""
    cfg = replace(
        TRAIN_PRESETS["tiny"], data=str(image_folder), out=str(tmp_path / "run"), steps=6, log_every=3,
        device="cpu", scale_bound="toward", w_scale_range=0.01, augment="dihedral,colour",
    )  # fmt: skip
    record = main(cfg)
    assert record["step"] == 6 and np.isfinite(record["loss"]) and record["scale_excess"] >= 0
    with pytest.raises(ValueError, match="scale_bound"):
        main(replace(cfg, scale_bound="clamp"))


def test_channels_last_trains_like_contiguous_and_exports(image_folder, tmp_path):
    """NHWC weights and crops change only the memory layout: the same seed gives the same losses (to
    float rounding), and the exported file is the plain contiguous safetensors format."""
    cfg = replace(
        TRAIN_PRESETS["tiny"], data=str(image_folder), out=str(tmp_path / "nchw"), steps=4, log_every=2,
        device="cpu",
    )  # fmt: skip
    plain = main(cfg)
    nhwc = main(replace(cfg, out=str(tmp_path / "nhwc"), channels_last=True))
    assert nhwc["step"] == 4 and nhwc["loss"] == pytest.approx(plain["loss"], rel=1e-3)
    ckpt = torch.load(tmp_path / "nhwc" / "ckpt.pt", weights_only=True)
    assert ckpt["model"]["analysis.0.weight"].is_contiguous(memory_format=torch.channels_last)
    sha = export(tmp_path / "nhwc" / "ckpt.pt", tmp_path / "nhwc.safetensors", "tiny-nhwc-v1")
    model = load_codec_file(tmp_path / "nhwc.safetensors", expected_sha256=sha)
    x = torch.rand(1, 3, 128, 128)
    assert model.decompress(model.compress(x, 50), (128, 128), 50).shape == x.shape
