"""Batch mode of ``dicodec encode`` / ``dicodec decode`` (dicodec.cli.batch): several files and folders
per call, with the tiny in-memory codec so the real coding path runs in milliseconds."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

import dicodec
from dicodec.cli import batch
from dicodec.cli.main import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, cli
from dicodec.codec import model_store, registry
from dicodec.errors import DicodecError

SUMMARY = re.compile(r"^(\d+) ok, (\d+) skipped(?: \(outputs exist; --force overwrites\))?, (\d+) failed; ")


def run(*args: str, input: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


def _image(seed: int, h: int = 64, w: int = 96) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    noise = np.random.default_rng(seed).integers(0, 30, (h, w, 3))
    return (np.stack([xx * 2, yy * 3, xx + yy], axis=2) + noise).clip(0, 255).astype(np.uint8)


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def counts(result: Result) -> tuple[int, int, int]:
    match = SUMMARY.search(result.stderr.splitlines()[-1])
    assert match, result.stderr
    return int(match[1]), int(match[2]), int(match[3])


@pytest.fixture
def photos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path/photos: a.png, b.jpg, c.png, sub/d.png, .hidden.png, notes.txt; cwd = tmp_path."""
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    Image.fromarray(_image(0)).save(root / "a.png")
    Image.fromarray(_image(1)).save(root / "b.jpg", quality=95)
    Image.fromarray(_image(2, 96, 64)).save(root / "c.png")
    Image.fromarray(_image(3)).save(root / "sub" / "d.png")
    Image.fromarray(_image(4)).save(root / ".hidden.png")
    (root / "notes.txt").write_text("not an image")
    return root


def encode_args(model: str, *extra: str) -> list[str]:
    return ["encode", *extra, "--model", model, "--device", "cpu", "-q", "40"]


class TestEncodeBatch:
    def test_folder_and_files_same_bytes_as_one_by_one(self, photos: Path, tiny_model_name: str) -> None:
        Image.fromarray(_image(5)).save("loose.png")
        result = run(*encode_args(tiny_model_name, "photos", "loose.png", "-o", "out"))
        assert result.exit_code == 0, result.output
        assert files(Path("out")) == ["a.dic", "b.dic", "c.dic", "loose.dic"]  # no sub/, no hidden, no txt
        assert counts(result) == (4, 0, 0) and result.stdout == ""
        for name, source in [("a", "photos/a.png"), ("b", "photos/b.jpg"), ("loose", "loose.png")]:
            single = run(*encode_args(tiny_model_name, source, "-o", f"{name}.single.dic"))
            assert single.exit_code == 0, single.output
            assert Path(f"out/{name}.dic").read_bytes() == Path(f"{name}.single.dic").read_bytes(), name
        info = dicodec.inspect(Path("out/c.dic").read_bytes())
        assert (info["width"], info["height"], info["quality"]) == (64, 96, 40)

    def test_recursive_keeps_the_layout_and_default_is_next_to_inputs(
        self, photos: Path, tiny_model_name: str
    ) -> None:
        result = run(*encode_args(tiny_model_name, "-r", "photos"))
        assert result.exit_code == 0, result.output
        assert [f for f in files(photos) if f.endswith(".dic")] == ["a.dic", "b.dic", "c.dic", "sub/d.dic"]
        result = run(*encode_args(tiny_model_name, "-r", "photos", "-o", "out/"))
        assert files(Path("out")) == ["a.dic", "b.dic", "c.dic", "sub/d.dic"]

    def test_a_bad_file_is_one_line_and_the_rest_go_on(self, photos: Path, tiny_model_name: str) -> None:
        (photos / "b2.png").write_bytes(b"this is not a png")
        Image.fromarray(np.dstack([_image(6), np.zeros((64, 96), np.uint8)])).save(photos / "b3.png")
        result = run(*encode_args(tiny_model_name, "photos", "missing.png", "-o", "out", "-j", "2"))
        assert result.exit_code == EXIT_ERROR, result.output
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert errors == [
            "error: photos/b2.png: not a readable image (expected PNG, JPEG, WebP, TIFF or PPM/PGM)",
            "error: photos/b3.png: image has an alpha channel; dicodec codes RGB only; pass --alpha drop "
            "to discard it",
            "error: missing.png: no such file",
        ]
        assert "Traceback" not in result.output and counts(result) == (3, 0, 3)
        assert files(Path("out")) == ["a.dic", "b.dic", "c.dic"]  # no partial or temporary file

    def test_existing_outputs_are_skipped_unless_force(self, photos: Path, tiny_model_name: str) -> None:
        Path("out").mkdir()
        Path("out/a.dic").write_bytes(b"old")
        result = run(*encode_args(tiny_model_name, "photos", "-o", "out"))
        assert result.exit_code == 0, result.output
        assert counts(result) == (2, 1, 0) and "--force overwrites" in result.stderr
        assert Path("out/a.dic").read_bytes() == b"old"
        result = run(*encode_args(tiny_model_name, "photos", "-o", "out", "--force"))
        assert result.exit_code == 0 and counts(result) == (3, 0, 0)
        assert dicodec.inspect(Path("out/a.dic").read_bytes())["width"] == 96

    def test_two_inputs_with_one_output_name(self, photos: Path, tiny_model_name: str) -> None:
        Image.fromarray(_image(7)).save(photos / "a.jpg")
        result = run(*encode_args(tiny_model_name, "photos", "-o", "out"))
        assert result.exit_code == EXIT_ERROR
        assert "error: photos/a.png: its output out/a.dic is also the output of photos/a.jpg" in result.stderr
        assert files(Path("out")) == ["a.dic", "b.dic", "c.dic"] and counts(result) == (3, 0, 1)

    def test_same_file_twice_is_coded_once(self, photos: Path, tiny_model_name: str) -> None:
        result = run(*encode_args(tiny_model_name, "photos", "photos/a.png", "-o", "out", "-j", "0"))
        assert result.exit_code == 0 and counts(result) == (3, 0, 0)

    def test_quiet_prints_nothing_on_success(self, photos: Path, tiny_model_name: str) -> None:
        result = run(*encode_args(tiny_model_name, "photos", "-o", "out", "--quiet"))
        assert result.exit_code == 0 and result.output == ""

    def test_progress_bar_on_a_terminal(
        self, photos: Path, tiny_model_name: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(batch, "_stderr_is_terminal", lambda: True)
        (photos / "zz.png").write_bytes(b"broken")
        result = run(*encode_args(tiny_model_name, "photos", "-o", "out"))
        assert result.exit_code == EXIT_ERROR
        assert "img/s" in result.stderr or "s/img" in result.stderr  # tqdm's rate
        assert "error: photos/zz.png: not a readable image" in result.stderr and counts(result) == (3, 0, 1)

    def test_empty_folder(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model_name: str
    ) -> None:
        monkeypatch.chdir(tmp_path)
        Path("empty/sub").mkdir(parents=True)
        result = run(*encode_args(tiny_model_name, "empty"))
        assert result.exit_code == EXIT_ERROR
        assert result.stderr == "error: empty: no image files to code (pass -r to search subfolders)\n"

    def test_unknown_model_fails_before_any_work(self, photos: Path) -> None:
        result = run("encode", "photos", "-o", "out", "--model", "no-such-model-v1", "--device", "cpu")
        assert result.exit_code == EXIT_ERROR and "no-such-model-v1" in result.stderr
        assert result.stderr.count("\n") == 1 and not Path("out").exists()

    def test_a_bad_option_is_one_error_before_any_file(self, photos: Path, tiny_model_name: str) -> None:
        result = run(*encode_args(tiny_model_name, "photos", "-o", "out", "--tile-size", "100"))
        assert result.exit_code == EXIT_ERROR and not Path("out").exists()
        assert result.stderr == "error: tile size must be a multiple of 128 from 128 to 4096, got 100\n"

    def test_interrupt_leaves_only_complete_outputs(
        self, photos: Path, tiny_model_name: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls = {"n": 0}
        encode = dicodec.Codec.encode

        def interrupted(self: Any, *args: Any, **kwargs: Any) -> bytes:
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt
            return encode(self, *args, **kwargs)

        monkeypatch.setattr(dicodec.Codec, "encode", interrupted)
        result = run(*encode_args(tiny_model_name, "photos", "-o", "out"))
        assert result.exit_code == EXIT_INTERRUPTED and result.stderr.endswith("interrupted\n")
        assert files(Path("out")) == ["a.dic"]

    def test_write_failure_is_reported(
        self, photos: Path, tiny_model_name: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        real = batch.atomic_write

        def failing(path: Any, data: bytes, force: bool = False) -> None:
            if Path(path).name == "b.dic":
                raise DicodecError(f"cannot write {path}: No space left on device")
            real(path, data, force=force)

        monkeypatch.setattr(batch, "atomic_write", failing)
        result = run(*encode_args(tiny_model_name, "photos", "-o", "out"))
        assert result.exit_code == EXIT_ERROR
        assert "error: photos/b.jpg: cannot write out/b.dic: No space left on device" in result.stderr
        assert files(Path("out")) == ["a.dic", "c.dic"]


class TestUsage:
    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["photos/a.png", "-"], "works with one input only"),
            (["photos", "-o", "-"], "-o - (stdout) works with one input only"),
            (["photos", "-o", "photos/a.png"], "-o names a folder, not a file"),
            (["-", "-o", "somewhere/"], "with - (stdin) as input, -o names a file or -"),
        ],
    )
    def test_usage_errors(self, photos: Path, args: list[str], message: str) -> None:
        result = run("encode", *args)
        assert result.exit_code == EXIT_USAGE and message in result.stderr, result.output

    def test_one_file_into_an_existing_folder(self, photos: Path, tiny_model_name: str) -> None:
        Path("out").mkdir()
        result = run(*encode_args(tiny_model_name, "photos/a.png", "-o", "out"))
        assert result.exit_code == 0, result.output
        assert result.stderr.startswith("photos/a.png -> out/a.dic: 96x64, ")  # the single-file summary
        result = run(*encode_args(tiny_model_name, "photos/c.png", "-o", "new/dir/"))
        assert result.exit_code == 0 and files(Path("new")) == ["dir/c.dic"]
        result = run("decode", "out/a.dic", "-o", "new/dir", "--device", "cpu", "--format", "webp")
        assert result.exit_code == 0 and files(Path("new")) == ["dir/a.webp", "dir/c.dic"]

    def test_stdin_and_stdout_still_work(self, photos: Path, tiny_model_name: str) -> None:
        data = (photos / "a.png").read_bytes()
        result = run(*encode_args(tiny_model_name, "-", "-o", "-"), input=data)
        assert result.exit_code == 0 and result.stdout_bytes.startswith(b"\x89DIC")
        back = run("decode", "-", "--device", "cpu", "--quiet", input=result.stdout_bytes)
        assert back.exit_code == 0 and back.stdout_bytes.startswith(b"\x89PNG")


class TestDecodeBatch:
    @pytest.fixture
    def bitstreams(self, photos: Path, tiny_model_name: str) -> Path:
        assert run(*encode_args(tiny_model_name, "-r", "photos", "-o", "dics", "--quiet")).exit_code == 0
        return Path("dics")

    def test_folder_to_pngs_same_pixels_as_one_by_one(self, bitstreams: Path) -> None:
        result = run("decode", "dics", "-r", "-o", "decoded", "--device", "cpu")
        assert result.exit_code == 0, result.output
        assert files(Path("decoded")) == ["a.png", "b.png", "c.png", "sub/d.png"]
        assert counts(result) == (4, 0, 0)
        for name in ("a", "sub/d"):
            expected = dicodec.decode((bitstreams / f"{name}.dic").read_bytes(), device="cpu")
            np.testing.assert_array_equal(np.asarray(Image.open(f"decoded/{name}.png")), expected)
            single = run("decode", f"dics/{name}.dic", "-o", "single.png", "--device", "cpu", "--force")
            assert single.exit_code == 0
            assert Path("single.png").read_bytes() == Path(f"decoded/{name}.png").read_bytes()

    def test_corrupt_file_in_the_middle_and_format(self, bitstreams: Path) -> None:
        data = bytearray((bitstreams / "b.dic").read_bytes())
        data[-3] ^= 0xFF
        (bitstreams / "b.dic").write_bytes(bytes(data))
        (bitstreams / "bb.dic").write_bytes(b"garbage")
        result = run("decode", "dics/a.dic", "dics", "-o", "decoded", "--format", "webp", "--device", "cpu")
        assert result.exit_code == EXIT_ERROR
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 2 and errors[0].startswith("error: dics/b.dic: ")
        assert errors[1].startswith("error: dics/bb.dic: ") and "not a dicodec bitstream" in errors[1]
        assert files(Path("decoded")) == ["a.webp", "c.webp"] and counts(result) == (2, 0, 2)

    def test_existing_outputs_skipped(self, bitstreams: Path) -> None:
        assert run("decode", "dics", "--device", "cpu", "--quiet").exit_code == 0  # next to the inputs
        result = run("decode", "dics", "--device", "cpu")
        assert result.exit_code == 0 and counts(result) == (0, 3, 0)


class TestModelZooInBatches:
    """--offline and --decoder work with several inputs, as with one."""

    @pytest.fixture
    def old_files(self, tiny_release, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        """tmp_path/old: x.dic and y.dic written with the retired tiny-zoo-v1 (installed in another
        home for the writing); then an empty home, nothing loaded, no download location; cwd = tmp_path."""
        model, assets = tiny_release
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("DICODEC_HOME", str(tmp_path / "writer"))
        model_store.add(assets / model.file)
        Path("old").mkdir()
        for i, name in enumerate(("x", "y")):
            Path(f"old/{name}.dic").write_bytes(dicodec.encode(_image(i), 50, model=model.name, device="cpu"))
        registry._forget(model.name)
        monkeypatch.setenv("DICODEC_HOME", str(tmp_path / "home"))
        for name in ("DICODEC_OFFLINE", "DICODEC_MODEL_URL"):
            monkeypatch.delenv(name, raising=False)
        return Path("old")

    def test_decode_offline_each_file_says_how_to_install(self, old_files: Path, model_server) -> None:
        result = CliRunner().invoke(
            cli, ["decode", "old", "-o", "out", "--device", "cpu", "--offline"],
            env={"DICODEC_MODEL_URL": model_server.url},
        )  # fmt: skip
        assert result.exit_code == EXIT_ERROR, result.output
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert [e.split(":")[1].strip() for e in errors] == ["old/x.dic", "old/y.dic"]
        assert all(
            "not installed and dicodec is offline: run 'dicodec models fetch tiny-zoo-v1'" in e
            for e in errors
        )
        assert counts(result) == (0, 0, 2) and not Path("out").exists() and model_server.requests == []

    def test_decode_online_installs_once_then_offline_works(self, old_files: Path, model_server) -> None:
        env = {"DICODEC_MODEL_URL": model_server.url}
        result = CliRunner().invoke(cli, ["decode", "old", "-o", "out", "--device", "cpu"], env=env)
        assert result.exit_code == 0, result.output
        assert files(Path("out")) == ["x.png", "y.png"] and len(model_server.requests) == 1
        registry._forget("tiny-zoo-v1")
        result = run("decode", "old", "-o", "again", "--device", "cpu", "--offline")
        assert result.exit_code == 0 and files(Path("again")) == ["x.png", "y.png"], result.output

    def test_encode_offline_fails_once_not_per_file(self, old_files: Path, photos: Path) -> None:
        result = run(*encode_args("tiny-zoo-v1", "photos", "-o", "out", "--offline"))
        assert result.exit_code == EXIT_ERROR, result.output
        assert result.stderr.count("\n") == 1 and "'dicodec models fetch tiny-zoo-v1'" in result.stderr
        assert not Path("out").exists()

    def test_decoder_applies_to_every_file(self, photos: Path, generative_model: str, zoo_decoder) -> None:
        model, path = zoo_decoder
        model_store.add(path)
        assert run(*encode_args(generative_model, "photos", "-o", "dics", "--quiet")).exit_code == 0
        args = ["decode", "dics", "--device", "cpu", "--mode", "generative", "--offline"]
        result = run(*args, "-o", "paired")
        assert result.exit_code == 0 and counts(result) == (3, 0, 0), result.output
        result = run(*args, "-o", "other", "--decoder", model.name)
        assert result.exit_code == 0 and counts(result) == (3, 0, 0), result.output
        for name in ("a", "b", "c"):
            data = Path(f"dics/{name}.dic").read_bytes()
            expected = dicodec.decode(data, mode="generative", decoder=model.name, device="cpu")
            np.testing.assert_array_equal(np.asarray(Image.open(f"other/{name}.png")), expected)
            assert Path(f"other/{name}.png").read_bytes() != Path(f"paired/{name}.png").read_bytes()
        result = run(
            "decode", "dics", "-o", "x", "--device", "cpu", "--mode", "fast", "--decoder", model.name
        )
        assert result.exit_code == EXIT_ERROR and result.stderr.count("\n") == 1  # said once, not per file
        assert "for the generative mode" in result.stderr and not Path("x").exists()
