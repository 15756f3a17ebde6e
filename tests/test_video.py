"""Video: the inter schemes' exactness, encode_video / decode_video, streaming, the golden clip, fuzzing."""

from __future__ import annotations

import hashlib
import io
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import sample_crop

import dicodec
from dicodec.bitstream import video as container
from dicodec.bitstream.fuzz import run_fuzz
from dicodec.bitstream.fuzz_video import VIDEO_MUTATORS, video_seeds, video_target
from dicodec.codec.config import PRESETS
from dicodec.codec.video import clip, models
from dicodec.codec.video.contextual import ContextualLatentCodec, TemporalMeanInter
from dicodec.errors import DicodecError, ImageError, Truncated, UnavailableError, WeightsMismatch
from dicodec.eval.metrics import psnr_rgb

CPU = torch.device("cpu")
GOLDEN = Path(__file__).with_name("golden") / "clip_hp32-v7_q30_gop2.dicv"
# Written by codec/video/clip.py's first version (hp32-v7, 64x48, 3 frames of the sample under a 1.5 px/frame
# camera pan, q30, GOP 2: intra, inter, intra). The latents are the format's promise on every device; the
# pixels are this machine's float synthesis (as the image goldens pin theirs).
GOLDEN_LATENTS = "78b087a70cdfe9525a94fe4f5dad805c6165944a1f92759298fd865cb48a61b5"
GOLDEN_PIXELS = "b0a7449dacea1dd2cac84c874a3401f0ad211f9fa1bfa07632642f7670a0f09f"
# Format 2.0 (per-slice scale shifts in inter frames): hp32-v7, 64x48, 3 frames of the sample (still, still,
# a 1-px pan), q30, GOP 3, 25 fps: intra, inter, inter, with the shifts pinned below.
GOLDEN_V2 = Path(__file__).with_name("golden") / "clip_hp32-v7_q30_gop3_v2.dicv"
GOLDEN_V2_SHIFTS = [(), (7, 5, 2, 6, 1), (7, 3, 2, 6, 0)]
GOLDEN_V2_LATENTS = "6db0c10abdd6853bd602c82082a06496df450856ac540324a5e00b3c3d488978"
GOLDEN_V2_PIXELS = "49bc762379105c7227f6c833fdf0c0f1660eee2455c3692bf48ebe6bc22f7030"


def tiny_clip(frames: int = 5, h: int = 40, w: int = 56) -> np.ndarray:
    """A clip panning one pixel per frame over the sample photo: (T, h, w, 3) uint8."""
    img = (sample_crop(h + 8, w + frames)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    return np.stack([img[4 : 4 + h, t : t + w] for t in range(frames)])


class TestInterSchemes:
    def test_temporal_mean_decodes_the_encoders_latent_exactly(self, tiny_codec) -> None:
        torch.manual_seed(1)
        ctx = torch.round(torch.randn(1, 32, 3, 4) * 3 * 256) / 256
        y = ctx + torch.randn_like(ctx) * 0.7
        scheme = TemporalMeanInter(tiny_codec.latent_codec)
        strings, y_hat = scheme.compress(y, ctx)
        assert torch.equal(scheme.decompress(strings, ctx), y_hat)
        assert (y_hat - y).abs().max() <= 0.5 + 1e-6  # one quantization step around the context mean

    def test_contextual_model_is_exact_and_trains(self) -> None:
        torch.manual_seed(0)
        model = ContextualLatentCodec(PRESETS["tiny"], context_hidden=8)
        with torch.no_grad():  # move the zero-initialised parts so every path acts
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.02)
        y, ctx = torch.randn(2, 32, 4, 4) * 3, torch.randn(2, 32, 4, 4) * 3
        out = model(y, ctx)
        rate = -torch.log2(out["likelihoods"]["y"]).sum() - torch.log2(out["likelihoods"]["z"]).sum()
        (rate + (out["y_hat"] - y).pow(2).mean()).backward()
        assert model.context_net[0].conv.weight.grad.abs().sum() > 0
        assert model.synthesis[0].conv.weight.grad.abs().sum() > 0
        model.update()
        ctx1 = torch.round(ctx[:1] * 256) / 256
        strings, y_hat = model.compress(y[:1], ctx1)
        assert torch.equal(model.decompress(strings, ctx1), y_hat)
        with pytest.raises(ValueError, match="context"):
            model.compress(y[:1], ctx1[..., :2])


class TestApi:
    def test_round_trip_tiny(self, tiny_model_name) -> None:
        frames = tiny_clip()
        data = dicodec.encode_video(
            frames, 60, gop=3, fps=Fraction(30000, 1001), model=tiny_model_name, device="cpu"
        )
        info = dicodec.inspect_video(data)
        assert (info["frames"], info["gop"], info["width"], info["height"]) == (5, 3, 56, 40)
        assert info["fps_rational"] == "30000/1001" and info["bpp"] == pytest.approx(
            8 * len(data) / (5 * 40 * 56)
        )
        out = list(dicodec.decode_video(data, device="cpu"))
        assert len(out) == 5 and out[0].shape == (40, 56, 3) and out[0].dtype == np.uint8
        tensors = list(dicodec.decode_video(data, device="cpu", output="torch"))
        assert torch.equal((tensors[2] * 255).round().byte().permute(1, 2, 0), torch.from_numpy(out[2]))
        h, frames_read = container.read(data)
        assert [f.kind for f in frames_read][0::3] == ["intra", "intra"]  # key frames of GOP 3

    def test_deterministic_bytes_and_latents(self, tiny_model_name) -> None:
        frames = tiny_clip(4)
        a = dicodec.encode_video(frames, 40, gop=4, model=tiny_model_name, device="cpu")
        b = dicodec.encode_video(iter(list(frames)), 40, gop=4, model=tiny_model_name, device="cpu")
        assert a == b
        digests = {clip.latent_digest(y for y, _ in clip.decode_latents(a, device=CPU)[1]) for _ in range(2)}
        assert len(digests) == 1

    def test_streaming_reads_one_frame_ahead_and_decodes_lazily(self, tiny_model_name) -> None:
        pulled: list[int] = []
        coded: list[tuple[int, int]] = []

        def frames():
            for i, f in enumerate(tiny_clip(6)):
                pulled.append(i)
                yield f

        out = io.BytesIO()
        info = dicodec.encode_video(
            frames(), 50, gop=2, model=tiny_model_name, device="cpu", out=out,
            on_frame=lambda i, kind, n: coded.append((i, len(pulled))),
        )  # fmt: skip
        assert info["frames"] == 6 and all(n <= i + 2 for i, n in coded)
        data = out.getvalue()
        # decoding: the frames before a damaged chunk come out, then the typed error
        frames_out = dicodec.decode_video(data[:-40], device="cpu")
        assert next(frames_out).shape == (40, 56, 3)
        with pytest.raises(Truncated):
            list(frames_out)

    def test_bad_inputs(self, tiny_model_name) -> None:
        frames = tiny_clip(3)
        with pytest.raises(DicodecError, match="no frames"):
            dicodec.encode_video([], model=tiny_model_name, device="cpu")
        with pytest.raises(ImageError, match="frame 1"):
            dicodec.encode_video([frames[0], frames[1][:, :30]], model=tiny_model_name, device="cpu")
        with pytest.raises(ImageError, match="uint8"):
            dicodec.encode_video(frames.astype(np.float32), model=tiny_model_name, device="cpu")
        with pytest.raises(DicodecError, match="gop"):
            dicodec.encode_video(frames, gop=0, model=tiny_model_name, device="cpu")
        data = dicodec.encode_video(frames, model=tiny_model_name, device="cpu")
        with pytest.raises(UnavailableError):
            dicodec.decode_video(data, mode="generative")
        bad = bytearray(data)
        bad[-30] ^= 0xFF
        with pytest.raises(DicodecError):
            list(dicodec.decode_video(bytes(bad), device="cpu"))
        h, fr = container.read(data)
        other = container.VideoHeader(**{**h.__dict__, "weights_hash": b"\0" * 8, "frame_count": 0})
        from dicodec.bitstream.fuzz_video import write_clip

        with pytest.raises(WeightsMismatch):
            dicodec.decode_video(write_clip(other, fr), device="cpu")

    def test_contextual_inter_model_round_trip(self, tiny_model_name, tiny_codec, tmp_path) -> None:
        torch.manual_seed(3)
        model = ContextualLatentCodec(PRESETS["tiny"], context_hidden=8)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.02)
        model.update()
        path = tmp_path / "ctx.safetensors"
        models.save(model, path, "ctx-tiny-test", tiny_model_name)
        name = models.register_file(path)
        try:
            frames = tiny_clip(4)
            data = dicodec.encode_video(
                frames, 50, gop=4, model=tiny_model_name, inter_model=name, device="cpu"
            )
            assert dicodec.inspect_video(data)["inter_model"] == name
            assert len(list(dicodec.decode_video(data, device="cpu"))) == 4
        finally:
            models.unregister(name)
        with pytest.raises(DicodecError, match="not registered"):
            dicodec.decode_video(data, device="cpu")


class TestShippedWeights:
    def test_golden_clip_decodes_to_pinned_latents_and_pixels(self) -> None:
        data = GOLDEN.read_bytes()
        info = dicodec.inspect_video(data)
        assert (info["frames"], info["gop"], info["fps_rational"], info["model"]) == (
            3,
            2,
            "24000/1001",
            "hp32-v7",
        )
        assert [f.kind for f in container.read(data)[1]] == ["intra", "inter", "intra"]
        latents, pixels = zip(*clip.decode_latents(data, device=CPU)[1], strict=True)
        assert clip.latent_digest(latents) == GOLDEN_LATENTS
        assert hashlib.sha256(np.stack(pixels).tobytes()).hexdigest() == GOLDEN_PIXELS

    def test_golden_2_0_clip_decodes_with_its_scale_shifts(self) -> None:
        data = GOLDEN_V2.read_bytes()
        header, frames = container.read(data)
        assert header.version == (2, 0) and [f.scale_shift for f in frames] == GOLDEN_V2_SHIFTS
        latents, pixels = zip(*clip.decode_latents(data, device=CPU)[1], strict=True)
        assert clip.latent_digest(latents) == GOLDEN_V2_LATENTS
        assert hashlib.sha256(np.stack(pixels).tobytes()).hexdigest() == GOLDEN_V2_PIXELS
        # the shifts are part of the decode: without them the inter frames' strings decode to other values
        stripped = [container.Frame(f.index, f.kind, f.strings) for f in frames]
        scheme = clip._open(data, CPU, None, None)[1]
        ctx = scheme.decode(stripped[0], None, (2, 2))
        try:
            wrong = scheme.decode(stripped[1], ctx, (2, 2))
        except DicodecError:
            wrong = None
        assert wrong is None or not torch.equal(wrong, latents[1])

    def test_inter_frames_cost_fewer_bits_than_intra_at_equal_quality(self) -> None:
        frames = tiny_clip(6, 64, 64)
        intra = dicodec.encode_video(frames, 50, gop=1, device="cpu")
        inter = dicodec.encode_video(frames, 50, gop=6, device="cpu")
        assert [f.kind for f in container.read(inter)[1]].count("inter") >= 1
        assert len(inter) < len(intra)
        p_intra = np.mean(
            [psnr_rgb(a, b) for a, b in zip(frames, dicodec.decode_video(intra, device="cpu"), strict=True)]
        )
        p_inter = np.mean(
            [psnr_rgb(a, b) for a, b in zip(frames, dicodec.decode_video(inter, device="cpu"), strict=True)]
        )
        assert p_inter > p_intra - 0.5


def test_video_mutators_never_crash_on_odd_inputs() -> None:
    import random

    rng = random.Random(0)
    seed = video_seeds()[1]
    for data in (b"", b"\x89", seed[:20], seed[:30], b"\0" * 64, container.MAGIC + b"VHED" + b"\0" * 6):
        for mutate in VIDEO_MUTATORS:
            for _ in range(5):
                assert isinstance(mutate(data, rng), bytes)


def test_video_fuzz_smoke() -> None:
    lines: list[str] = []
    for data in video_seeds():
        video_target(data)
    result = run_fuzz(600, seed=99, target_fn=video_target, seeds_data=video_seeds(), log=lines.append,
                      mutators=VIDEO_MUTATORS)  # fmt: skip
    assert not result.failures, lines


def test_video_decode_fuzz_smoke() -> None:
    """Mutated copies of the golden clips (1.0 and 2.0) through the whole CPU decoder: only DicodecErrors."""
    lines: list[str] = []

    def target(data: bytes) -> None:
        for _ in dicodec.decode_video(data, device="cpu"):
            pass

    seeds = [GOLDEN.read_bytes(), GOLDEN_V2.read_bytes()]
    result = run_fuzz(40, seed=5, target_fn=target, seeds_data=seeds, log=lines.append,
                      mutators=VIDEO_MUTATORS)  # fmt: skip
    assert not result.failures, lines
