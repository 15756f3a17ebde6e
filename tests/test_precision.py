"""The transforms in bfloat16 (codec/precision.py): opt-in, close to float32, never leaking."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import dicodec
from dicodec import arguments
from dicodec.cli.main import cli
from dicodec.codec import precision

SAMPLE = Image.open(__import__("pathlib").Path(dicodec.__file__).with_name("samples") / "coffee.png")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / mse))


@pytest.fixture(scope="module")
def shipped_file() -> tuple[np.ndarray, bytes]:
    image = np.asarray(SAMPLE.convert("RGB"))[100:292, 150:406].copy()
    return image, dicodec.encode(image, quality=60, device="cpu")


def test_the_api_and_the_codec_name_the_same_precisions():
    assert arguments.PRECISIONS == precision.PRECISIONS
    assert precision.DEFAULT_PRECISION == "float32"


def test_bfloat16_stays_within_two_levels_of_float32_and_float32_is_the_default(shipped_file):
    image, data = shipped_file
    default = dicodec.decode(data, mode="fast", device="cpu")
    reference = dicodec.decode(data, mode="fast", device="cpu", precision="float32")
    fast = dicodec.decode(data, mode="fast", device="cpu", precision="bfloat16")
    assert np.array_equal(default, reference)
    diff = np.abs(fast.astype(int) - reference.astype(int))
    assert 0 < diff.max() <= 3  # it is another arithmetic, and a close one
    assert abs(psnr(fast, image) - psnr(reference, image)) < 0.15
    assert precision.current_precision() == "float32"  # the choice ended with the call
    assert np.array_equal(dicodec.decode(data, mode="fast", device="cpu"), reference)


def test_decode_many_takes_the_precision(shipped_file):
    _, data = shipped_file
    single = dicodec.decode(data, mode="fast", device="cpu", precision="bfloat16")
    codec = dicodec.Codec(device="cpu")
    results = list(codec.decode_many([data, b"junk"], mode="fast", precision="bfloat16"))
    assert np.array_equal(results[0].value, single)
    assert not results[1].ok  # a bad item still fails alone


def test_an_unknown_precision_is_one_error_before_any_work(shipped_file):
    _, data = shipped_file
    with pytest.raises(dicodec.DicodecError, match="unknown precision 'fp8'"):
        dicodec.decode(data, precision="fp8")
    with pytest.raises(dicodec.DicodecError, match="unknown precision"):
        dicodec.Codec(device="cpu").decode_many([data], precision="half")
    with pytest.raises(dicodec.DicodecError, match="unknown precision"):
        dicodec.api.decode_precision("fp16")
    with pytest.raises(ValueError, match="unknown precision"):
        with precision.transform_precision("float16"):
            pass


def test_the_cli_decodes_in_bfloat16(tmp_path, shipped_file):
    image, data = shipped_file
    (tmp_path / "a.dic").write_bytes(data)
    runner = CliRunner()
    result = runner.invoke(cli, ["decode", str(tmp_path / "a.dic"), "-o", str(tmp_path / "a.png"),
                                 "--mode", "fast", "--device", "cpu", "--precision", "bfloat16"])  # fmt: skip
    assert result.exit_code == 0, result.output
    out = np.asarray(Image.open(tmp_path / "a.png"))
    expected = dicodec.decode(data, mode="fast", device="cpu", precision="bfloat16")
    assert np.array_equal(out, expected)
    bad = runner.invoke(cli, ["decode", str(tmp_path / "a.dic"), "--precision", "fp16"])
    assert bad.exit_code == 2 and "fp16" in bad.output


def test_clips_encode_and_decode_in_bfloat16_too(tiny_model_name):
    rng = np.random.default_rng(0)
    frames = (rng.random((3, 64, 64, 3)) * 255).astype(np.uint8)
    data = dicodec.encode_video(frames, 40, gop=2, model=tiny_model_name, device="cpu")
    reference = list(dicodec.decode_video(data, device="cpu"))
    fast = list(dicodec.decode_video(data, device="cpu", precision="bfloat16"))
    assert len(fast) == len(reference) == 3
    assert precision.current_precision() == "float32"
    diffs = [np.abs(a.astype(int) - b.astype(int)).max() for a, b in zip(fast, reference, strict=True)]
    assert 0 < max(diffs) <= 4
    with pytest.raises(dicodec.DicodecError, match="unknown precision"):
        dicodec.decode_video(data, precision="int8")
    shipped = dicodec.encode_video(frames, 40, gop=2, device="cpu")  # the default model: a real analysis
    coded = dicodec.encode_video(frames, 40, gop=2, device="cpu", precision="bfloat16")
    assert coded != shipped and len(list(dicodec.decode_video(coded, device="cpu"))) == 3
    assert abs(len(coded) - len(shipped)) <= 0.05 * len(shipped)
    assert precision.current_precision() == "float32"
    with pytest.raises(dicodec.DicodecError, match="unknown precision"):
        dicodec.encode_video(frames, 40, model=tiny_model_name, device="cpu", precision="fp16")


def test_a_cpu_without_bfloat16_instructions_decodes_in_float32_and_the_cli_says_so(
    tmp_path, shipped_file, monkeypatch
):
    """Emulated bfloat16 is 2-20x slower than float32 (codec/precision.py): such a CPU gets float32."""
    image, data = shipped_file
    monkeypatch.setattr(precision, "cpu_has_bfloat16", lambda: False)
    assert precision.effective_precision("cpu", "bfloat16") == "float32"
    assert precision.effective_precision("cuda", "bfloat16") == "bfloat16"
    assert dicodec.api.decode_precision("bfloat16", "cpu") == "float32"  # the public question
    reference = dicodec.decode(data, mode="fast", device="cpu")
    assert np.array_equal(dicodec.decode(data, mode="fast", device="cpu", precision="bfloat16"), reference)
    (tmp_path / "a.dic").write_bytes(data)
    args = ["decode", str(tmp_path / "a.dic"), "-o", str(tmp_path / "a.png"), "--mode", "fast"]
    result = CliRunner().invoke(cli, [*args, "--device", "cpu", "--precision", "bfloat16"])
    assert result.exit_code == 0 and "no bfloat16 instructions" in result.output
    monkeypatch.setattr(precision, "cpu_has_bfloat16", lambda: None)  # flags unknown: as asked
    assert precision.effective_precision("cpu", "bfloat16") == "bfloat16"


def test_cpu_flags_are_read_where_linux_has_them():
    assert precision.cpu_has_bfloat16() in (True, False, None)


def test_the_generative_decode_runs_its_own_synthesis_in_bfloat16_too(shipped_file):
    """hp32-v7's DiT decoder renders pixels with its own synthesis copy: the precision reaches it."""
    _, data = shipped_file  # quality 60: pick the generative mode explicitly
    reference = dicodec.decode(data, mode="generative", device="cpu")
    fast = dicodec.decode(data, mode="generative", device="cpu", precision="bfloat16")
    assert 0 < np.abs(fast.astype(int) - reference.astype(int)).max() <= 4


def test_the_precision_check_script_compares_both_arithmetics():
    import runpy
    from pathlib import Path

    script = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "precision_check.py"))
    result = CliRunner().invoke(script["main"], ["--size", "256x192", "--qualities", "50", "--repeats", "1"])
    assert result.exit_code == 0, result.output
    assert "q50: float32" in result.output and "bfloat16" in result.output and "levels" in result.output


def test_bfloat16_encoding_codes_another_latent_of_the_same_size(shipped_file, tmp_path):
    image, reference = shipped_file
    data = dicodec.encode(image, quality=60, device="cpu", precision="bfloat16")
    assert data != reference and abs(len(data) - len(reference)) <= 0.02 * len(reference)
    assert dicodec.encode(image, quality=60, device="cpu", precision="bfloat16") == data  # deterministic
    out = dicodec.decode(data, mode="fast", device="cpu")
    ref = dicodec.decode(reference, mode="fast", device="cpu")
    assert abs(psnr(out, image) - psnr(ref, image)) < 0.2
    codec = dicodec.Codec(device="cpu")
    assert next(iter(codec.encode_many([image], 60, precision="bfloat16"))).value == data
    with pytest.raises(dicodec.DicodecError, match="unknown precision"):
        dicodec.encode(image, precision="fp16")
    Image.fromarray(image).save(tmp_path / "a.png")
    args = ["encode", str(tmp_path / "a.png"), "-o", str(tmp_path / "a.dic"), "-q", "60", "--device", "cpu"]
    result = CliRunner().invoke(cli, [*args, "--precision", "bfloat16"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a.dic").read_bytes() == data
