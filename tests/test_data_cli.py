"""``dicodec data ...``: registered lazily, and ``prepare`` end to end on a small package built here.

The package is a real ``.deb`` (``dpkg-deb --build``) holding a few synthetic wallpapers, so download
(skipped), extraction, scanning, licensing, classification, packing and the manifest all run as they do
on the Debian packages, in a few seconds and without network.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from dicodec.cli.main import EXIT_ERROR, cli
from dicodec.codec.training.dataprep import evalsets

PACKAGE = "dicodec-test-wallpapers"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


class TestRegistration:
    def test_help_lists_data_without_importing_it(self) -> None:
        code = textwrap.dedent(
            """
            import sys
            from click.testing import CliRunner
            from dicodec.cli.main import cli
            result = CliRunner().invoke(cli, ["--help"])
            assert result.exit_code == 0, result.output
            assert "data " in result.output
            print([m for m in sys.modules if m.startswith("dicodec.codec.training")])
            """
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "[]"

    def test_the_codec_never_imports_data_preparation(self) -> None:
        code = textwrap.dedent(
            """
            import sys
            import numpy as np
            import dicodec
            from dicodec.codec import pipeline, registry, zoo
            print([m for m in sys.modules if m.startswith("dicodec.codec.training")])
            """
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "[]"

    def test_group_help_lists_its_commands(self) -> None:
        result = run("data", "--help")
        assert result.exit_code == 0, result.output
        for name in ("prepare", "mix-pack", "selection-set"):
            assert name in result.output
        for name in ("prepare", "mix-pack", "selection-set"):
            result = run("data", name, "--help")
            assert result.exit_code == 0 and "Example" in result.output, result.output

    def test_missing_input_is_a_one_line_error(self, tmp_path: Path) -> None:
        result = run("data", "selection-set", "--data", str(tmp_path), "--out", str(tmp_path / "select"))
        assert result.exit_code == EXIT_ERROR
        assert result.output.startswith("error: no photos in ") and "dicodec data prepare" in result.output
        assert len(result.output.strip().splitlines()) == 1


# ----------------------------------------------------------------------------------------------
# prepare, end to end on a package built here
# ----------------------------------------------------------------------------------------------

COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2024 Test Photographer
License: CC0-1.0

Files: usr/share/backgrounds/test/Render.png
Copyright: 2024 Test Artist
License: CC-BY-SA-4.0
"""


def _photo(seed: int, size: tuple[int, int]) -> Image.Image:
    """Smooth blobs plus sensor-like noise: classified as a photo when saved as JPEG."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (5, 7, 3), dtype=np.uint8))
    base = np.asarray(small.resize(size, Image.Resampling.BICUBIC), dtype=np.float64)
    return Image.fromarray(np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``dicodec-test-wallpapers_1.0_all.deb``: two photos (one in two sizes), a render, a small image."""
    if not (shutil.which("dpkg-deb") and shutil.which("dpkg")):
        pytest.skip("needs dpkg-deb and dpkg")
    root = tmp_path_factory.mktemp("pkg") / PACKAGE
    walls = root / "usr/share/backgrounds/test"
    walls.mkdir(parents=True)
    _photo(1, (1280, 960)).save(walls / "Lake_1280x960.jpg", quality=92)
    _photo(1, (960, 720)).save(walls / "Lake_960x720.jpg", quality=92)  # a smaller size of Lake
    _photo(2, (1200, 900)).save(walls / "Forest.jpg", quality=92)
    ramp = np.linspace(0, 255, 1200)[None, :, None].repeat(900, 0).repeat(3, 2).astype(np.uint8)
    Image.fromarray(ramp).save(walls / "Render.png")
    _photo(3, (640, 480)).save(walls / "Tiny.jpg")  # under 1 MP
    (walls / "Alias.jpg").symlink_to("Forest.jpg")
    doc = root / "usr/share/doc" / PACKAGE
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT)
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN/control").write_text(
        f"Package: {PACKAGE}\nVersion: 1.0\nArchitecture: all\nMaintainer: Test <t@example.org>\n"
        "Description: test wallpapers\n"
    )
    out = root.parent / f"{PACKAGE}_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(out)], check=True,
                   capture_output=True)  # fmt: skip
    return out


def _prepare(deb: Path, out: Path, *more: str) -> Result:
    (out / "debs").mkdir(parents=True, exist_ok=True)
    shutil.copy2(deb, out / "debs" / deb.name)
    return run("data", "prepare", "--out", str(out), "--packages", PACKAGE, "--skip-download", *more)


def _outputs(out: Path) -> dict[str, bytes]:
    files = [out / "manifest.json", *sorted((out / "pack").iterdir()), *sorted((out / "eval").iterdir())]
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in files}


@pytest.fixture()
def small_eval_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two scikit-image samples instead of twelve: the same code path, a fraction of the PNG encoding."""
    monkeypatch.setattr(evalsets, "SKIMAGE_EVAL", (("coffee.png", "CC0-1.0"), ("camera.png", "CC0-1.0")))


@pytest.mark.usefixtures("small_eval_set")
class TestPrepare:
    def test_builds_pack_and_manifest(self, deb: Path, tmp_path: Path) -> None:
        out = tmp_path / "data"
        copy = tmp_path / "docs" / "manifest_copy.json"
        result = _prepare(deb, out, "--manifest-copy", str(copy))
        assert result.exit_code == 0, result.output
        m = json.loads((out / "manifest.json").read_text())
        assert copy.read_bytes() == (out / "manifest.json").read_bytes()
        assert m["generator"] == "dicodec data prepare"
        kinds = {d["id"]: (d["kind"], d["split"], d["license"]) for d in m["images"]}
        assert kinds == {
            "dicodec-test-wallpapers/Forest": ("photo", "train", "CC0-1.0"),
            "dicodec-test-wallpapers/Lake": ("photo", "train", "CC0-1.0"),
            "dicodec-test-wallpapers/Render": ("graphics", "train", "CC-BY-SA-4.0"),
        }
        lake = next(d for d in m["images"] if d["id"].endswith("/Lake"))
        assert lake["original_size"] == [1280, 960] and lake["pack_size"] == [1280, 960]
        reasons = {d["path"].rsplit("/", 1)[1]: d["reason"] for d in m["dropped"]}
        assert reasons["Lake_960x720.jpg"].startswith("smaller size of")
        assert reasons["Tiny.jpg"].startswith("below 1 MP")
        assert m["totals"]["symlinks_skipped"] == 1 and m["totals"]["eval_hr"] == 0
        assert [e["file"] for e in m["eval"]] == ["skimage_coffee.png", "skimage_camera.png"]
        assert m["totals"]["pack_bytes"] == sum(p.stat().st_size for p in (out / "pack").iterdir())
        assert "WARNING: only 0 eligible" in result.output  # no photo is large enough for eval_hr
        assert (out / "contact_sheet.png").is_file()

    def test_deterministic_and_idempotent(self, deb: Path, tmp_path: Path) -> None:
        assert _prepare(deb, tmp_path / "a").exit_code == 0
        assert _prepare(deb, tmp_path / "b").exit_code == 0
        first = _outputs(tmp_path / "a")
        assert first == _outputs(tmp_path / "b")  # from scratch twice: the same bytes
        written = [p for d in ("pack", "eval", "raw") for p in (tmp_path / "a" / d).rglob("*") if p.is_file()]
        stamps = {p: p.stat().st_mtime_ns for p in [tmp_path / "a" / "manifest.json", *written]}
        again = _prepare(deb, tmp_path / "a")
        assert again.exit_code == 0 and _outputs(tmp_path / "a") == first
        assert [p.name for p, t in stamps.items() if p.stat().st_mtime_ns != t] == []  # nothing rewritten
