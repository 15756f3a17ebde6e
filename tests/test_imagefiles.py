"""Tests for the CLI's image reading/writing and atomic output (dicodec.cli.imagefiles, .atomic).

Every image here is generated in the test, so the suite needs no data files and runs in well under
a second.
"""

from __future__ import annotations

import io
import os
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dicodec
from dicodec.cli import atomic as atomic_mod
from dicodec.cli.atomic import OutputExistsError, atomic_write, check_output
from dicodec.cli.imagefiles import (
    MAX_PIXELS,
    encode_image,
    format_for,
    read_bytes,
    read_image,
    write_image,
)
from dicodec.errors import DicodecError, ImageError


def _rgb(h: int = 12, w: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _png_bytes(arr: np.ndarray, bit_depth: int = 8, size: tuple[int, int] | None = None) -> bytes:
    """A minimal PNG written by hand: Pillow cannot write 16-bit colour, and headers may lie."""
    if arr.ndim == 2:
        arr = arr[..., None]
    h, w, c = arr.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    dtype = ">u2" if bit_depth == 16 else "u1"
    raw = b"".join(b"\x00" + arr[y].astype(dtype).tobytes() for y in range(h))
    width, height = size or (w, h)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def _save(tmp_path: Path, im: Image.Image, name: str, **kwargs: object) -> Path:
    path = tmp_path / name
    im.save(path, **kwargs)
    return path


# ----------------------------------------------------------------------------------------------
# read_image / write_image round trips
# ----------------------------------------------------------------------------------------------


class TestRoundTrip:
    @pytest.mark.parametrize("ext", [".png", ".webp", ".tif", ".tiff", ".ppm"])
    def test_lossless_formats_are_exact(self, tmp_path: Path, ext: str) -> None:
        arr = _rgb()
        path = tmp_path / f"x{ext}"
        write_image(arr, path)
        out = read_image(path)
        assert out.dtype == np.uint8 and out.shape == arr.shape
        assert out.flags.c_contiguous and out.flags.writeable
        np.testing.assert_array_equal(out, arr)

    def test_jpeg_is_close(self, tmp_path: Path) -> None:
        arr = np.zeros((32, 48, 3), np.uint8)
        arr[:, :24] = (200, 40, 90)  # flat blocks: quality 95 JPEG is within a few levels
        path = tmp_path / "x.jpg"
        write_image(arr, path)
        assert path.read_bytes()[:2] == b"\xff\xd8"
        out = read_image(path)
        assert out.shape == arr.shape
        assert np.abs(out.astype(int) - arr).mean() < 3

    @pytest.mark.parametrize(
        ("fmt", "magic"),
        [("png", b"\x89PNG"), ("jpeg", b"\xff\xd8"), ("webp", b"RIFF"), ("tiff", b"II"), ("ppm", b"P6")],
    )
    def test_encode_image_formats(self, fmt: str, magic: bytes) -> None:
        assert encode_image(_rgb(), fmt).startswith(magic)

    def test_encode_image_rejects_bad_arrays(self) -> None:
        with pytest.raises(ImageError):
            encode_image(np.zeros((4, 4, 3), np.float32))
        with pytest.raises(ImageError):
            encode_image(np.zeros((4, 4, 4), np.uint8))

    def test_pgm_gray(self, tmp_path: Path) -> None:
        g = _rgb()[..., 0]
        path = _save(tmp_path, Image.fromarray(g), "g.pgm")
        out = read_image(path)
        assert out.shape == (*g.shape, 3)
        for c in range(3):
            np.testing.assert_array_equal(out[..., c], g)


class TestFormatFor:
    @pytest.mark.parametrize(
        ("name", "fmt"),
        [("a.png", "png"), ("a.JPG", "jpeg"), ("a.jpeg", "jpeg"), ("a.webp", "webp"), ("a.tif", "tiff")],
    )
    def test_from_extension(self, name: str, fmt: str) -> None:
        assert format_for(name) == fmt

    def test_stdout_and_no_extension_are_png(self) -> None:
        assert format_for("-") == "png"
        assert format_for("out") == "png"

    def test_explicit_format_wins(self) -> None:
        assert format_for("a.png", "jpeg") == "jpeg"

    def test_unknown_extension_is_an_error(self) -> None:
        with pytest.raises(ImageError, match="--format"):
            format_for("a.bmp")


# ----------------------------------------------------------------------------------------------
# Mode conversions
# ----------------------------------------------------------------------------------------------


class TestModes:
    def test_gray_expands_to_rgb(self, tmp_path: Path) -> None:
        g = _rgb()[..., 0]
        out = read_image(_save(tmp_path, Image.fromarray(g, "L"), "g.png"))
        np.testing.assert_array_equal(out, np.repeat(g[..., None], 3, axis=2))

    def test_bilevel(self, tmp_path: Path) -> None:
        im = Image.fromarray(_rgb()[..., 0] > 127)
        out = read_image(_save(tmp_path, im, "b.png"))
        assert set(np.unique(out)) <= {0, 255}

    def test_palette_converts_to_rgb(self, tmp_path: Path) -> None:
        arr = _rgb()
        im = Image.fromarray(arr).quantize(colors=8)
        expected = np.asarray(im.convert("RGB"))
        out = read_image(_save(tmp_path, im, "p.png"))
        np.testing.assert_array_equal(out, expected)

    def test_cmyk_converts_to_rgb(self, tmp_path: Path) -> None:
        im = Image.new("CMYK", (2, 1))
        im.putpixel((0, 0), (0, 0, 0, 0))  # white
        im.putpixel((1, 0), (255, 0, 0, 0))  # cyan
        out = read_image(_save(tmp_path, im, "c.tif"))
        np.testing.assert_array_equal(out[0], [[255, 255, 255], [0, 255, 255]])

    def test_cmyk_jpeg(self, tmp_path: Path) -> None:
        im = Image.new("CMYK", (8, 8), (0, 0, 0, 0))
        out = read_image(_save(tmp_path, im, "c.jpg", quality=95))
        assert out.shape == (8, 8, 3) and out.min() > 240

    @pytest.mark.parametrize(("orientation", "k"), [(3, 2), (6, -1), (8, 1)])
    def test_exif_orientation_is_applied(self, tmp_path: Path, orientation: int, k: int) -> None:
        arr = _rgb(4, 6)
        exif = Image.Exif()
        exif[0x0112] = orientation
        out = read_image(_save(tmp_path, Image.fromarray(arr), "o.png", exif=exif))
        np.testing.assert_array_equal(out, np.rot90(arr, k=k))

    def test_exif_orientation_jpeg(self, tmp_path: Path) -> None:
        exif = Image.Exif()
        exif[0x0112] = 6
        out = read_image(_save(tmp_path, Image.fromarray(_rgb(8, 16)), "o.jpg", exif=exif))
        assert out.shape == (16, 8, 3)

    def test_first_frame_of_multi_page_tiff(self, tmp_path: Path) -> None:
        a, b = _rgb(seed=1), _rgb(seed=2)
        path = tmp_path / "m.tif"
        Image.fromarray(a).save(path, save_all=True, append_images=[Image.fromarray(b)])
        np.testing.assert_array_equal(read_image(path), a)


class TestAlpha:
    def _rgba(self, opaque: bool) -> np.ndarray:
        arr = np.concatenate([_rgb(), np.full((12, 16, 1), 255, np.uint8)], axis=2)
        if not opaque:
            arr[0, 0, 3] = 10
        return arr

    def test_transparent_pixels_are_refused(self, tmp_path: Path) -> None:
        path = _save(tmp_path, Image.fromarray(self._rgba(False)), "a.png")
        with pytest.raises(ImageError, match=r"a\.png: image has an alpha channel.*--alpha drop"):
            read_image(path)

    def test_drop_keeps_colour_channels_as_stored(self, tmp_path: Path) -> None:
        arr = self._rgba(False)
        out = read_image(_save(tmp_path, Image.fromarray(arr), "a.png"), alpha="drop")
        np.testing.assert_array_equal(out, arr[..., :3])

    def test_opaque_alpha_is_dropped_silently(self, tmp_path: Path) -> None:
        arr = self._rgba(True)
        out = read_image(_save(tmp_path, Image.fromarray(arr), "a.png"))
        np.testing.assert_array_equal(out, arr[..., :3])

    def test_gray_alpha(self, tmp_path: Path) -> None:
        la = np.stack([_rgb()[..., 0], np.zeros((12, 16), np.uint8)], axis=2)
        path = _save(tmp_path, Image.fromarray(la, "LA"), "la.png")
        with pytest.raises(ImageError, match="alpha"):
            read_image(path)
        np.testing.assert_array_equal(read_image(path, alpha="drop")[..., 1], la[..., 0])

    def test_palette_with_transparency(self, tmp_path: Path) -> None:
        im = Image.fromarray(_rgb()).quantize(colors=4)
        im.info["transparency"] = 0
        path = _save(tmp_path, im, "pt.png", transparency=0)
        with pytest.raises(ImageError, match="alpha"):
            read_image(path)
        assert read_image(path, alpha="drop").shape == (12, 16, 3)

    def test_webp_with_alpha(self, tmp_path: Path) -> None:
        path = _save(tmp_path, Image.fromarray(self._rgba(False)), "a.webp", lossless=True)
        with pytest.raises(ImageError, match="alpha"):
            read_image(path)


class TestSixteenBit:
    def test_gray16_refused_by_default(self, tmp_path: Path) -> None:
        path = _save(tmp_path, Image.fromarray(np.zeros((4, 4), np.uint16)), "g16.png")
        with pytest.raises(ImageError, match=r"16 bits per channel.*--bit-depth reduce"):
            read_image(path)

    @pytest.mark.parametrize("ext", [".png", ".tif", ".pgm"])
    def test_gray16_reduce_rounds_exactly(self, tmp_path: Path, ext: str) -> None:
        v = np.array([[0, 128, 129, 257, 385, 386, 32767, 32768, 65280, 65535]], np.uint16)
        out = read_image(_save(tmp_path, Image.fromarray(v), f"g16{ext}"), bit_depth="reduce")
        expected = np.round(v / 257).astype(np.uint8)
        np.testing.assert_array_equal(out[..., 0], expected)
        np.testing.assert_array_equal(out[..., 2], expected)

    def test_rgb16_png_refused_and_reduced(self, tmp_path: Path) -> None:
        v = (np.arange(2 * 3 * 3, dtype=np.uint32).reshape(2, 3, 3) * 3851 % 65536).astype(np.uint16)
        path = tmp_path / "c16.png"
        path.write_bytes(_png_bytes(v, 16))
        with pytest.raises(ImageError, match="16 bits"):
            read_image(path)
        out = read_image(path, bit_depth="reduce")
        assert np.abs(out.astype(int) - np.round(v / 257)).max() <= 1

    def test_rgb16_ppm(self, tmp_path: Path) -> None:
        path = tmp_path / "c16.ppm"
        path.write_bytes(b"P6\n2 1\n65535\n" + np.array([0, 257, 65535] * 2, ">u2").tobytes())
        with pytest.raises(ImageError, match="16 bits"):
            read_image(path)
        np.testing.assert_array_equal(read_image(path, bit_depth="reduce")[0, 0], [0, 1, 255])

    def test_rgba16_png_needs_both_flags(self, tmp_path: Path) -> None:
        v = np.zeros((2, 2, 4), np.uint16)
        path = tmp_path / "a16.png"
        path.write_bytes(_png_bytes(v, 16))
        with pytest.raises(ImageError, match="16 bits"):
            read_image(path, alpha="drop")
        with pytest.raises(ImageError, match="alpha"):
            read_image(path, bit_depth="reduce")
        assert read_image(path, alpha="drop", bit_depth="reduce").shape == (2, 2, 3)


# ----------------------------------------------------------------------------------------------
# Failures: every one is an ImageError naming the file, on one line
# ----------------------------------------------------------------------------------------------


class TestReadErrors:
    def _one_line(self, exc: pytest.ExceptionInfo[BaseException], name: str) -> None:
        msg = str(exc.value)
        assert "\n" not in msg and msg.startswith(name)

    def test_missing(self, tmp_path: Path) -> None:
        with pytest.raises(ImageError, match="no such file") as exc:
            read_image(tmp_path / "nope.png")
        self._one_line(exc, str(tmp_path / "nope.png"))

    def test_directory(self, tmp_path: Path) -> None:
        with pytest.raises(ImageError, match="is a directory"):
            read_image(tmp_path)

    def test_empty(self, tmp_path: Path) -> None:
        (tmp_path / "e.png").write_bytes(b"")
        with pytest.raises(ImageError, match="empty") as exc:
            read_image(tmp_path / "e.png")
        self._one_line(exc, str(tmp_path / "e.png"))

    def test_not_an_image(self, tmp_path: Path) -> None:
        (tmp_path / "t.png").write_bytes(b"hello, not an image\n" * 10)
        with pytest.raises(ImageError, match="not a readable image") as exc:
            read_image(tmp_path / "t.png")
        self._one_line(exc, str(tmp_path / "t.png"))

    @pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".tif"])
    def test_truncated(self, tmp_path: Path, ext: str) -> None:
        good = io.BytesIO()
        Image.fromarray(_rgb(64, 64)).save(good, format=Image.registered_extensions()[ext])
        path = tmp_path / f"t{ext}"
        path.write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
        with pytest.raises(ImageError) as exc:
            read_image(path)
        self._one_line(exc, str(path))

    @pytest.mark.parametrize("size", [(70000, 10), (20000, 20000), (30000, 30000)])
    def test_too_large_is_refused_from_the_header(self, tmp_path: Path, size: tuple[int, int]) -> None:
        # The header claims a huge image over a 1x1 payload: refused before any decoding.
        path = tmp_path / "big.png"
        path.write_bytes(_png_bytes(np.zeros((1, 1, 3), np.uint8), size=size))
        with pytest.raises(ImageError, match=r"too large.*65535.*2\^28") as exc:
            read_image(path)
        self._one_line(exc, str(path))

    def test_pillow_limit_is_restored(self, tmp_path: Path) -> None:
        before = Image.MAX_IMAGE_PIXELS
        write_image(_rgb(), tmp_path / "x.png")
        read_image(tmp_path / "x.png")
        assert Image.MAX_IMAGE_PIXELS == before
        assert MAX_PIXELS == 2**28

    def test_unreadable_file(self, tmp_path: Path) -> None:
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            pytest.skip("root reads files regardless of permissions")
        path = tmp_path / "x.png"
        write_image(_rgb(), path)
        path.chmod(0)
        with pytest.raises(ImageError, match="cannot read"):
            read_image(path)


class TestStdio:
    class _Stream(io.TextIOWrapper):
        def isatty(self) -> bool:
            return False

    def test_read_from_stdin(self, monkeypatch: pytest.MonkeyPatch) -> None:
        arr = _rgb()
        monkeypatch.setattr(sys, "stdin", self._Stream(io.BytesIO(encode_image(arr, "png"))))
        np.testing.assert_array_equal(read_image("-"), arr)

    def test_stdin_errors_say_stdin(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(sys, "stdin", self._Stream(io.BytesIO(b"")))
        with pytest.raises(ImageError, match="<stdin>: file is empty"):
            read_image("-")

    def test_write_to_stdout(self, monkeypatch: pytest.MonkeyPatch) -> None:
        buf = io.BytesIO()
        monkeypatch.setattr(sys, "stdout", self._Stream(buf))
        atomic_write("-", b"payload")
        assert buf.getvalue() == b"payload"

    def test_refuses_binary_to_a_terminal(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(atomic_mod, "_stdout_is_terminal", lambda: True)
        with pytest.raises(DicodecError, match="terminal"):
            check_output("-")
        with pytest.raises(DicodecError, match="terminal"):
            atomic_write("-", b"x")

    def test_read_bytes_missing(self, tmp_path: Path) -> None:
        with pytest.raises(DicodecError, match="no such file"):
            read_bytes(tmp_path / "x.dic")


# ----------------------------------------------------------------------------------------------
# atomic_write
# ----------------------------------------------------------------------------------------------


class TestAtomicWrite:
    def test_writes_and_leaves_no_temp_files(self, tmp_path: Path) -> None:
        atomic_write(tmp_path / "out.bin", b"abc")
        assert (tmp_path / "out.bin").read_bytes() == b"abc"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]

    def test_permissions_follow_umask(self, tmp_path: Path) -> None:
        old = os.umask(0o022)
        try:
            atomic_write(tmp_path / "out.bin", b"abc")
        finally:
            os.umask(old)
        assert (tmp_path / "out.bin").stat().st_mode & 0o777 == 0o644

    def test_refuses_to_overwrite_without_force(self, tmp_path: Path) -> None:
        target = tmp_path / "out.bin"
        target.write_bytes(b"old")
        with pytest.raises(OutputExistsError, match="--force"):
            atomic_write(target, b"new")
        assert target.read_bytes() == b"old"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]

    def test_force_overwrites(self, tmp_path: Path) -> None:
        target = tmp_path / "out.bin"
        target.write_bytes(b"old")
        atomic_write(target, b"new", force=True)
        assert target.read_bytes() == b"new"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]

    def test_race_is_caught_at_the_final_rename(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Someone creates the output after the early check: the hard link refuses to clobber it.
        target = tmp_path / "out.bin"
        monkeypatch.setattr(atomic_mod, "check_output", lambda path, force: None)
        target.write_bytes(b"theirs")
        with pytest.raises(OutputExistsError):
            atomic_write(target, b"ours")
        assert target.read_bytes() == b"theirs"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]

    def test_fallback_without_hard_links(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        def no_link(src: object, dst: object) -> None:
            raise PermissionError("hard links not supported")

        monkeypatch.setattr(os, "link", no_link)
        atomic_write(tmp_path / "out.bin", b"abc")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]

    @pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()])
    def test_failure_leaves_nothing(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: BaseException
    ) -> None:
        def fail(*args: object) -> None:
            raise exc

        monkeypatch.setattr(os, "fsync", fail)
        expected = DicodecError if isinstance(exc, OSError) else KeyboardInterrupt
        with pytest.raises(expected):
            atomic_write(tmp_path / "out.bin", b"abc")
        assert list(tmp_path.iterdir()) == []

    def test_failure_keeps_the_old_file(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        target = tmp_path / "out.bin"
        target.write_bytes(b"old")

        def fail(*args: object) -> None:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(os, "replace", fail)
        with pytest.raises(DicodecError, match=r"cannot write .*out\.bin: Input/output error"):
            atomic_write(target, b"new", force=True)
        assert target.read_bytes() == b"old"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]

    def test_missing_directory(self, tmp_path: Path) -> None:
        with pytest.raises(DicodecError, match="does not exist"):
            atomic_write(tmp_path / "no" / "out.bin", b"abc")

    def test_directory_as_output(self, tmp_path: Path) -> None:
        with pytest.raises(DicodecError, match="is a directory"):
            atomic_write(tmp_path, b"abc", force=True)


# ----------------------------------------------------------------------------------------------
# One reader: encode, eval and training see the same pixels
# ----------------------------------------------------------------------------------------------


def test_encode_eval_and_training_read_the_same_pixels(tmp_path: Path) -> None:
    """``dicodec eval`` must score the image ``dicodec encode`` codes, and training must learn from it:
    the eval runner and the training sampler ignored the EXIF orientation the CLI applies, so a
    rotated photo was coded upright and scored (and trained on) sideways."""
    from dicodec.codec.training.data import load_rgb
    from dicodec.eval.runner import load_image

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = _save(tmp_path, Image.fromarray(_rgb(8, 16)), "rotated.png", exif=exif)
    coded = read_image(path)
    assert coded.shape == (16, 8, 3)
    for reader in (load_image, load_rgb, dicodec.read_image):
        np.testing.assert_array_equal(reader(path), coded)
        assert reader(path).flags.writeable  # torch.from_numpy warns on read-only arrays
