"""``dicodec encode / decode / info`` on clips: y4m -> .dicv -> y4m / mkv / PNG folder, and bad inputs."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner
from test_video import tiny_clip

from dicodec.cli.main import cli
from dicodec.videofiles import open_video, sniff


def write_clip(
    path: Path, frames: np.ndarray, fps=Fraction(25), fmt: str = "yuv4mpegpipe", pts=None, audio=False
):
    codec = "rawvideo" if fmt == "yuv4mpegpipe" else "libx264"
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv444p"
        if audio:
            a = c.add_stream("pcm_s16le", rate=8000)
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv444p")
            vf.pts = i if pts is None else pts[i]
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
        if audio:
            af = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
            af.sample_rate, af.pts = 8000, 0
            for p in a.encode(af):
                c.mux(p)
            for p in a.encode(None):
                c.mux(p)


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture()
def y4m(tmp_path) -> tuple[Path, np.ndarray]:
    frames = tiny_clip(5, 40, 56)
    path = tmp_path / "clip.y4m"
    write_clip(path, frames, fps=Fraction(30000, 1001))
    return path, frames


def message_lines(output: str) -> list[str]:
    """The CLI's lines without its progress line, which a loaded machine shows before a late error."""
    progress = ("encoding frame", "decoding frame")
    return [line for line in output.splitlines() if line and not line.startswith(progress)]


class TestRoundTrip:
    def test_y4m_to_dicv_to_y4m_png_and_mkv(self, y4m, tmp_path, tiny_model_name) -> None:
        src, frames = y4m
        out = tmp_path / "clip.dicv"
        r = run("encode", str(src), "-o", str(out), "--model", tiny_model_name, "--gop", "2", "-q", "40",
                "--device", "cpu")  # fmt: skip
        assert r.exit_code == 0, r.output
        assert "5 frames at 29.970 fps" in r.output and "GOP 2" in r.output and "frames/s" in r.output
        info = run("info", str(out))
        assert info.exit_code == 0
        for text in ("frames      5 at 29.970 fps (30000/1001)", "GOP", "bits per pixel per frame", "kbit/s"):
            assert text in info.output
        back = tmp_path / "back.y4m"
        r = run("decode", str(out), "-o", str(back), "--device", "cpu")
        assert r.exit_code == 0, r.output
        source = open_video(back)
        assert source.fps == Fraction(30000, 1001)
        decoded = np.stack(list(source.frames()))
        assert decoded.shape == frames.shape
        pngs = tmp_path / "frames"
        assert run("decode", str(out), "-o", f"{pngs}/", "--device", "cpu").exit_code == 0
        files = sorted(pngs.iterdir())
        assert [f.name for f in files][:2] == ["frame_000000.png", "frame_000001.png"] and len(files) == 5
        mkv = tmp_path / "back.mkv"
        assert run("decode", str(out), "-o", str(mkv), "--device", "cpu").exit_code == 0
        assert sum(1 for _ in open_video(mkv).frames()) == 5
        # the y4m went through Y'CbCr 4:4:4 (at most 2 levels off the exact PNG frames)
        from PIL import Image

        exact = np.asarray(Image.open(files[3]))
        assert np.abs(exact.astype(int) - decoded[3]).max() <= 3

    def test_video_is_recognised_by_content(self, y4m, tmp_path, tiny_model_name) -> None:
        src, _ = y4m
        disguised = tmp_path / "clip.png"
        disguised.write_bytes(src.read_bytes())
        r = run("encode", str(disguised), "-o", str(tmp_path / "x.dicv"), "--model", tiny_model_name,
                "--device", "cpu", "--quiet")  # fmt: skip
        assert r.exit_code == 0, r.output
        assert sniff(b"\x00\x00\x00\x18ftypmp42") and not sniff(b"\x89PNG\r\n\x1a\n\0\0\0\0")

    def test_audio_is_dropped_with_a_notice(self, tmp_path, tiny_model_name) -> None:
        src = tmp_path / "a.mkv"
        write_clip(src, tiny_clip(3), fmt="matroska", audio=True)
        r = run("encode", str(src), "--model", tiny_model_name, "--device", "cpu")
        assert r.exit_code == 0, r.output
        assert "audio track is dropped" in r.output and (tmp_path / "a.dicv").exists()


class TestInterModel:
    def test_inter_model_file_on_encode_and_decode(self, y4m, tmp_path, tiny_model_name) -> None:
        import torch

        from dicodec.codec.config import PRESETS
        from dicodec.codec.video import models
        from dicodec.codec.video.contextual import ContextualLatentCodec

        torch.manual_seed(3)
        model = ContextualLatentCodec(PRESETS["tiny"], context_hidden=8)
        model.update()
        weights = tmp_path / "ctx.safetensors"
        models.save(model, weights, "ctx-cli-test", tiny_model_name)
        src, frames = y4m
        out = tmp_path / "c.dicv"
        try:
            r = run("encode", str(src), "-o", str(out), "--model", tiny_model_name, "--gop", "5",
                    "--inter-model", str(weights), "--device", "cpu", "--quiet")  # fmt: skip
            assert r.exit_code == 0, r.output
            assert "ctx-cli-test" in run("info", str(out)).output
            models.unregister("ctx-cli-test")  # a fresh process knows only what it is given
            r = run("decode", str(out), "-o", str(tmp_path / "a.y4m"), "--device", "cpu")
            assert r.exit_code == 1 and "not registered" in r.output and "Traceback" not in r.output
            r = run("decode", str(out), "-o", str(tmp_path / "b.y4m"), "--inter-model", str(weights),
                    "--device", "cpu")  # fmt: skip
            assert r.exit_code == 0, r.output
            assert np.stack(list(open_video(tmp_path / "b.y4m").frames())).shape == frames.shape
        finally:
            models.unregister("ctx-cli-test")

    def test_bad_inter_model_file_and_image_input(self, y4m, tmp_path, tiny_model_name) -> None:
        src, _ = y4m
        junk = tmp_path / "junk.safetensors"
        junk.write_bytes(b"not weights")
        r = run("encode", str(src), "-o", str(tmp_path / "c.dicv"), "--model", tiny_model_name,
                "--inter-model", str(junk), "--device", "cpu")  # fmt: skip
        assert r.exit_code == 1 and len(message_lines(r.output)) == 1, r.output
        assert "junk.safetensors" in r.output and not (tmp_path / "c.dicv").exists()
        png = tmp_path / "x.png"
        from PIL import Image

        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(png)
        r = run("encode", str(png), "--model", tiny_model_name, "--inter-model", str(junk))
        assert r.exit_code == 2 and "--inter-model applies to video only" in r.output


class TestBadInputs:
    def test_corrupt_dicv(self, y4m, tmp_path, tiny_model_name) -> None:
        src, _ = y4m
        out = tmp_path / "c.dicv"
        run("encode", str(src), "-o", str(out), "--model", tiny_model_name, "--device", "cpu", "--quiet")
        data = bytearray(out.read_bytes())
        data[-40] ^= 0x55
        out.write_bytes(bytes(data))
        for target in ("back.y4m", "frames/"):
            r = run("decode", str(out), "-o", str(tmp_path / target), "--device", "cpu")
            # on a loaded machine the progress line of the frames before the damage may come first
            lines = message_lines(r.output)
            assert r.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error: "), r.output
            assert "Traceback" not in r.output
        assert sorted(p.name for p in tmp_path.iterdir()) == ["c.dicv", "clip.y4m"]  # nothing partial

    def test_generative_mode_is_refused_before_any_output(self, y4m, tmp_path, tiny_model_name) -> None:
        src, _ = y4m
        clip = tmp_path / "c.dicv"
        run("encode", str(src), "-o", str(clip), "--model", tiny_model_name, "--device", "cpu", "--quiet")
        r = run("decode", str(clip), "-o", str(tmp_path / "back.y4m"), "--mode", "generative")
        assert r.exit_code == 1 and message_lines(r.output) == [
            f"error: {clip}: there is no generative (DiT) decoder for video yet: use mode='fast'"
        ], r.output
        assert not (tmp_path / "back.y4m").exists()
        for option, value in (("--realism", "0.5"), ("--decoder", "dit-ic-s-v6")):
            r = run("decode", str(clip), "-o", str(tmp_path / "back.y4m"), option, value)
            assert r.exit_code == 2 and f"{option} applies to generative image decodes" in r.output, r.output
            assert not (tmp_path / "back.y4m").exists()

    def test_zero_frames_and_corrupt_and_vfr_clips(self, tmp_path, tiny_model_name) -> None:
        empty = tmp_path / "empty.y4m"
        empty.write_bytes(b"YUV4MPEG2 W16 H16 F25:1 Ip A1:1 C444\n")
        broken = tmp_path / "broken.mp4"
        broken.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x13" * 200)
        vfr = tmp_path / "vfr.mkv"
        write_clip(vfr, tiny_clip(4), fmt="matroska", pts=[0, 1, 5, 6])
        expected = {empty: "no frames", broken: "not a readable video", vfr: "variable frame rate"}
        for path, message in expected.items():
            r = run("encode", str(path), "--model", tiny_model_name, "--device", "cpu")
            assert r.exit_code == 1, (path, r.output)
            assert message in r.output and len(message_lines(r.output)) == 1, r.output
            assert not path.with_suffix(".dicv").exists()

    def test_odd_sizes_round_trip(self, tmp_path, tiny_model_name) -> None:
        src = tmp_path / "odd.y4m"
        write_clip(src, tiny_clip(2, 33, 47))
        out = tmp_path / "odd.dicv"
        assert (
            run("encode", str(src), "-o", str(out), "--model", tiny_model_name, "--device", "cpu").exit_code
            == 0
        )
        r = run("decode", str(out), "-o", str(tmp_path / "odd.mp4"), "--device", "cpu")
        assert r.exit_code == 0, r.output
        assert np.stack(list(open_video(tmp_path / "odd.mp4").frames())).shape == (2, 33, 47, 3)

    def test_bad_output_suffix(self, y4m, tmp_path, tiny_model_name) -> None:
        src, _ = y4m
        out = tmp_path / "c.dicv"
        run("encode", str(src), "-o", str(out), "--model", tiny_model_name, "--device", "cpu", "--quiet")
        r = run("decode", str(out), "-o", str(tmp_path / "x.gif"))
        assert r.exit_code == 1 and ".y4m, .mkv, .mp4" in r.output
