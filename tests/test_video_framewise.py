"""The per-frame generative baseline of clips: coding scales from the clip decoder, exactness of the latent
chain and of the fast frames, the image DiT decode on every frame, and the eval curve that measures it."""

from __future__ import annotations

import hashlib
import io
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import sample_crop
from test_video import GOLDEN, GOLDEN_LATENTS, GOLDEN_PIXELS

import dicodec
from dicodec.bitstream import video as container
from dicodec.codec import grouped_ans, registry
from dicodec.codec.config import PRESETS
from dicodec.codec.generative_decoder import generative_decode
from dicodec.codec.model import quality_to_level
from dicodec.codec.pipeline import to_uint8
from dicodec.codec.video import clip, framewise, models
from dicodec.codec.video.contextual import ContextualLatentCodec, shift_scale_index
from dicodec.errors import DicodecError, UnavailableError
from dicodec.eval import video
from dicodec.eval.image_codecs import CodecUnavailable

CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def unrelated_frames() -> np.ndarray:
    """Four unrelated 64 px crops: inter frames that differ from the intra one (the random tiny codec's
    latents barely move under a camera pan)."""
    img = (sample_crop(128, 256)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    return np.ascontiguousarray(
        np.stack([img[:64, :64], img[64:, 100:164], img[:64, 192:], img[32:96, 40:104][::-1]])
    )


def pan(frames: int = 4, h: int = 40, w: int = 56) -> np.ndarray:
    """A clip panning two pixels per frame over the sample photo (odd size: padded inside the codec)."""
    img = (sample_crop(h + 8, w + 2 * frames)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    return np.stack([img[4 : 4 + h, 2 * t : 2 * t + w] for t in range(frames)])


@pytest.fixture(params=[False, True], ids=["temporal-mean", "contextual"])
def inter_name(request, tiny_model_name):
    """No inter model (the temporal-mean scheme), or a random contextual model registered for the test."""
    if not request.param:
        yield None
        return
    torch.manual_seed(3)
    inter = ContextualLatentCodec(PRESETS["tiny"], context_hidden=8)
    with torch.no_grad():  # move the zero-initialised parts so the context acts
        for p in inter.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    inter.update()
    name = models.register("ctx-framewise-test", tiny_model_name, inter, "ce" * 32).name
    yield name
    models.unregister(name)


class TestCodingScales:
    def test_decode_frames_changes_no_latent_or_pixel(self, tiny_model_name, inter_name) -> None:
        """The scale-keeping path decodes the same latents and fast frames as the shipped decode."""
        data = dicodec.encode_video(
            unrelated_frames(), 60, gop=3, model=tiny_model_name, inter_model=inter_name, device="cpu"
        )
        expected_latents = [y for y, _ in clip.decode_latents(data, device=CPU)[1]]
        expected_frames = list(dicodec.decode_video(data, device="cpu"))
        header, codec, frames = clip.decode_frames(data, device=CPU)
        frames = list(frames)
        assert codec is registry.load(tiny_model_name, CPU) and header.frame_count == 4
        assert [f.kind for f in frames] == [f.kind for f in container.read(data)[1]]
        assert {f.kind for f in frames} == {"intra", "inter"}
        for f, y, x in zip(frames, expected_latents, expected_frames, strict=True):
            assert torch.equal(f.y_hat, y) and np.array_equal(f.pixels, x)
            assert f.scale_index.shape == f.y_hat.shape and f.scale_index.dtype == torch.int32
        assert clip.latent_digest(f.y_hat for f in frames) == clip.latent_digest(expected_latents)
        _, _, lean = clip.decode_frames(data, device=CPU, pixels=False)
        assert all(f.pixels is None for f in lean)

    def test_scales_are_the_ones_simulate_coding_gives(self, tiny_model_name, tiny_codec, inter_name) -> None:
        """Intra frames: the image latent codec's ``simulate_coding``; inter: the scheme's."""
        frames = unrelated_frames()
        stream = io.BytesIO()
        clip.encode_clip(frames, stream, quality=100, gop=8, fps=Fraction(30), device=CPU,
                         model=tiny_model_name, inter_model=inter_name, inter="always")  # fmt: skip
        decoded = list(clip.decode_frames(stream.getvalue(), device=CPU, pixels=False)[2])
        assert [f.kind for f in decoded] == ["intra", "inter", "inter", "inter"]
        x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
        gain, _ = tiny_codec.gains(quality_to_level(100, tiny_codec.config.levels))
        y = (tiny_codec.analysis(x) * gain).unsqueeze(0)
        inter = models.get(inter_name, CPU) if inter_name else None
        y_hat, index = clip.simulate_group_coding(tiny_codec, y, inter)
        assert torch.equal(torch.cat([f.y_hat for f in decoded]), y_hat[0])
        # the decoder's scales are the simulated ones narrowed by each inter frame's scale shifts
        shifts = [f.scale_shift for f in container.read(stream.getvalue())[1]]
        shifted = [
            torch.cat([shift_scale_index(part, k) for part, k in zip(t.chunk(len(s), 0), s, strict=True)])
            if s else t
            for t, s in zip(index[0], shifts, strict=True)
        ]
        assert torch.equal(torch.cat([f.scale_index for f in decoded]), torch.stack(shifted))
        # the check means something: several tables in use, and the frames' scale maps differ
        assert decoded[0].scale_index.unique().numel() > 1
        assert any(not torch.equal(f.scale_index, decoded[0].scale_index) for f in decoded[1:])


class TestFramewise:
    def test_every_frame_gets_the_image_generative_decode(self, generative_model) -> None:
        frames = pan()
        data = dicodec.encode_video(frames, 30, gop=2, model=generative_model, device="cpu")
        fast = np.stack(list(dicodec.decode_video(data, device="cpu")))
        header, out = framewise.decode_framewise(data, device=CPU)
        gen = np.stack(list(out))
        assert gen.shape == frames.shape and gen.dtype == np.uint8
        assert all(not np.array_equal(g, f) for g, f in zip(gen, fast, strict=True))  # the DiT acted
        # An intra frame is coded as a one-tile image, so the image path's generative decode of its
        # strings must give the same pixels.
        codec = registry.load(generative_model, CPU)
        dit = registry.load_generative(generative_model, CPU)
        intra = container.read(data)[1][2]
        assert intra.kind == "intra"
        image = generative_decode(codec, dit, list(intra.strings), (64, 64), header.quality, 1.0, grouped_ans)
        assert np.array_equal(gen[2], to_uint8(image[..., :40, :56]).numpy())
        # realism 0 is the fast decode, bit for bit; in between is a blend
        still = np.stack(list(framewise.decode_framewise(data, device=CPU, realism=0.0)[1]))
        assert np.array_equal(still, fast)
        half = np.stack(list(framewise.decode_framewise(data, device=CPU, realism=0.5)[1])).astype(int)
        assert np.abs(half - (fast.astype(int) + gen) / 2).max() <= 1.0

    def test_refusals_before_any_frame(self, tiny_model_name) -> None:
        data = dicodec.encode_video(pan(2), 30, model=tiny_model_name, device="cpu")
        with pytest.raises(UnavailableError, match="no generative"):
            framewise.decode_framewise(data, device=CPU)
        with pytest.raises(DicodecError, match="realism"):
            framewise.decode_framewise(data, device=CPU, realism=1.5)
        with pytest.raises(UnavailableError, match="no generative"):
            dicodec.decode_video(data, mode="generative", device="cpu")  # the public mode stays reserved


class TestEvalCurve:
    def clip_of(self, frames: np.ndarray) -> video.Clip:
        return video.Clip("pan", Path("pan.y4m"), Fraction(25), [], frames, "bt601", False, "rgb24")

    def test_framegen_curve_is_the_per_frame_generative_decode(self, generative_model) -> None:
        frames = pan(3)
        codec = video.make_dicodec_video(generative_model, "cpu")
        assert codec.curves == ["dicodec-fast", "dicodec-framegen"]
        data = codec.encode(self.clip_of(frames), 30)
        fast = codec.decode(data, "dicodec-fast", self.clip_of(frames))
        gen = codec.decode(data, "dicodec-framegen", self.clip_of(frames))
        assert gen.shape == fast.shape == frames.shape
        assert np.array_equal(gen, np.stack(list(framewise.decode_framewise(data, device=CPU)[1])))
        assert not np.array_equal(gen, fast)
        assert video.flicker(frames, gen) is not None

    def test_no_dit_decoder_is_reported_not_available(self, tiny_model_name) -> None:
        frames = pan(2)
        codec = video.make_dicodec_video(tiny_model_name, "cpu")
        data = codec.encode(self.clip_of(frames), 30)
        with pytest.raises(CodecUnavailable, match="per-frame generative decode: UnavailableError"):
            codec.decode(data, "dicodec-framegen", self.clip_of(frames))


def test_shipped_golden_clip_through_the_scale_keeping_path() -> None:
    """The golden clip (hp32-v7): pinned latents and fast pixels through ``decode_frames``, and the
    shipped DiT decoder (dit-ic-s-v6) on each frame."""
    data = GOLDEN.read_bytes()
    frames = list(clip.decode_frames(data, device=CPU)[2])
    assert clip.latent_digest(f.y_hat for f in frames) == GOLDEN_LATENTS
    assert hashlib.sha256(np.stack([f.pixels for f in frames]).tobytes()).hexdigest() == GOLDEN_PIXELS
    gen = np.stack(list(framewise.decode_framewise(data, device=CPU)[1]))
    fast = np.stack([f.pixels for f in frames])
    assert gen.shape == fast.shape == (3, 48, 64, 3)
    assert all(not np.array_equal(g, f) for g, f in zip(gen, fast, strict=True))
