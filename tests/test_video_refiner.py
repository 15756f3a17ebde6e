"""The video refinement (GNVC-VD part 2): video DiT, conditioning adaptor, the flow from decoded latents,
weights files."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from dicodec.codec.dit import DIT_PRESETS, DiT
from dicodec.codec.generative_decoder import GENERATIVE_PRESETS, GenerativeDecoder
from dicodec.codec.video.refine_flow import (
    draw_noise,
    euler,
    path_targets,
    refine_group,
    start_state,
)
from dicodec.codec.video.refiner import (
    VIDEO_DIT_PRESETS,
    ConditioningAdaptor,
    VideoDiT,
    count_parameters,
    init_from_image_dit,
    rope_1d,
)
from dicodec.codec.video.refiner_io import load_refiner_file, save_refiner
from dicodec.codec.weights_io import save_decoder
from dicodec.errors import ModelError, WeightsMismatch

TINY = VIDEO_DIT_PRESETS["vdit-tiny"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def perturb(model: torch.nn.Module, seed: int = 0, std: float = 0.05, only: str = "") -> None:
    """Move zero-initialised parameters away from zero so every part acts."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if only in name:
                p.add_(torch.randn(p.shape, generator=gen) * std)


def tiny_pair(seed: int = 0) -> tuple[VideoDiT, ConditioningAdaptor]:
    torch.manual_seed(seed)
    return VideoDiT(TINY), ConditioningAdaptor(TINY)


class TestVideoDiT:
    @pytest.mark.parametrize("shape", [(2, 3, 32, 3, 5), (1, 1, 32, 1, 1), (1, 6, 32, 2, 2)])
    def test_shapes(self, shape) -> None:
        refiner, adaptor = tiny_pair()
        perturb(refiner)
        perturb(adaptor)
        x = torch.randn(shape)
        control = adaptor(x, torch.rand(shape) + 0.1)
        b, t, _, h, w = shape
        assert [i for i, c in enumerate(control) if c is not None] == TINY.inject_blocks() == [0]
        assert control[0].shape == (b * t, h * w, TINY.hidden)
        out = refiner(x, torch.full((b,), 0.2), control)
        assert out.shape == shape and torch.isfinite(out).all()
        assert rope_1d(t, 16, 1e4, torch.device("cpu"))[0].shape == (t, 8)

    def test_presets_match_the_image_dit_presets(self) -> None:
        for video, image in (("vdit-tiny", "dit-tiny"), ("vdit-s", "dit-s")):
            spatial = VIDEO_DIT_PRESETS[video].image_config()
            assert spatial == replace(DIT_PRESETS[image], context_dim=None)
        refiner = VideoDiT(VIDEO_DIT_PRESETS["vdit-s"])
        temporal = sum(p.numel() for n, p in refiner.named_parameters() if "temporal" in n)
        assert (count_parameters(refiner) - temporal, temporal) == (7_281_984, 2_838_016)

    @pytest.mark.parametrize("with_context", [False, True])
    def test_init_from_image_dit_computes_what_the_image_dit_computes(self, with_context) -> None:
        image_cfg = DIT_PRESETS["dit-tiny"]  # cross-attention in every block
        video_cfg = replace(TINY, context_dim=image_cfg.context_dim if with_context else None,
                            cross_attn_every=image_cfg.cross_attn_every)  # fmt: skip
        torch.manual_seed(0)
        image = DiT(image_cfg)
        perturb(image, seed=1)  # adaLN and output layers start at zero: make them act
        refiner = VideoDiT(video_cfg)
        report = init_from_image_dit(refiner, image)
        if with_context:
            assert not report["skipped"]
        else:  # the image DiT's cross-attention has no place in a video DiT without it
            assert report["skipped"] and all(".cross." in k for k in report["skipped"])
        b, frames = 2, 3
        x, t = torch.randn(b, frames, 32, 3, 4), torch.tensor([0.25, 0.6])
        extra = torch.randn(b, image_cfg.hidden)
        context = torch.randn(b, frames, 5, 32) if with_context else None
        out = refiner(x, t, context=context, extra=extra)
        per_frame = image(
            x.flatten(0, 1),
            t.repeat_interleave(frames),
            None if context is None else context.flatten(0, 1),
            extra.repeat_interleave(frames, 0),
        ).unflatten(0, (b, frames))
        assert per_frame.abs().mean() > 0.05  # a real output, not two zeros
        assert torch.equal(out, per_frame)  # the same arithmetic, bit for bit
        for f in range(frames):  # and frame by frame, one image at a time
            one = image(x[:, f], t, None if context is None else context[:, f], extra)
            assert torch.allclose(out[:, f], one, atol=1e-5)

    def test_init_from_a_generative_decoder_copies_its_units(self) -> None:
        torch.manual_seed(0)
        decoder = GenerativeDecoder(GENERATIVE_PRESETS["dit-ic-tiny"])
        decoder.set_latent_stats(torch.randn(32), torch.rand(32) + 0.5)
        refiner = VideoDiT(TINY)
        report = init_from_image_dit(refiner, decoder)
        assert torch.equal(refiner.latent_std, decoder.latent_std)
        assert torch.equal(refiner.x_embed.weight, decoder.dit.x_embed.weight)
        assert torch.equal(refiner.blocks[1].spatial.mlp.fc2.weight, decoder.dit.blocks[1].mlp.fc2.weight)
        assert report["skipped"] and all(".cross." in k for k in report["skipped"])
        with pytest.raises(ValueError, match="hidden"):
            init_from_image_dit(VideoDiT(replace(TINY, hidden=64)), decoder)

    def test_temporal_attention_couples_frames_only_once_trained(self) -> None:
        refiner, _ = tiny_pair()
        perturb(refiner, only="spatial")
        perturb(refiner, only="final")
        x = torch.randn(1, 3, 32, 2, 2)
        y = x.clone()
        y[:, 0] += 1.0
        t = torch.tensor([0.3])
        assert torch.equal(refiner(x, t)[:, 2], refiner(y, t)[:, 2])  # zero projections: frame-wise
        perturb(refiner, seed=2, only="temporal")
        assert not torch.allclose(refiner(x, t)[:, 2], refiner(y, t)[:, 2], atol=1e-4)


class TestAdaptor:
    def test_zero_initialised_adaptor_changes_nothing_but_learns(self) -> None:
        refiner, adaptor = tiny_pair()
        perturb(refiner)
        x, y_n, u_n = torch.randn(2, 3, 32, 2, 3), torch.randn(2, 3, 32, 2, 3), torch.rand(2, 3, 32, 2, 3)
        t = torch.tensor([0.1, 0.3])
        control = adaptor(y_n, u_n)
        plain = refiner(x, t)
        assert torch.equal(refiner(x, t, control), plain)
        assert torch.equal(refiner(x, t, adaptor(y_n, None)), plain)
        refiner(x, t, control).square().mean().backward()
        assert adaptor.out[0].weight.grad.abs().sum() > 0  # the zero projection is not a dead end


class TestRefineFlow:
    def test_seeded_noise_makes_a_decode_reproducible(self) -> None:
        refiner, adaptor = tiny_pair()
        perturb(refiner)
        perturb(adaptor)
        y, s = torch.randn(1, 4, 32, 2, 2), torch.rand(1, 4, 32, 2, 2) + 0.1
        a = refine_group(refiner, adaptor, y, s, steps=3, t_start=0.7, seed=5)
        b = refine_group(refiner, adaptor, y, s, steps=3, t_start=0.7, seed=5)
        c = refine_group(refiner, adaptor, y, s, steps=3, t_start=0.7, seed=6)
        assert torch.equal(a, b) and not torch.allclose(a, c)

    def test_zero_steps_or_start_at_one_is_the_identity(self) -> None:
        refiner, adaptor = tiny_pair()
        perturb(refiner)
        y = torch.randn(2, 3, 32, 2, 2)
        for steps, t_start in ((0, 0.7), (5, 1.0), (0, 0.0)):
            out = refine_group(refiner, adaptor, y, None, steps=steps, t_start=t_start)
            assert torch.equal(out, y) and out is not y
        for steps, t_start in ((-1, 0.7), (2, 1.5), (2, -0.1)):
            with pytest.raises(ValueError):
                refine_group(refiner, adaptor, y, None, steps=steps, t_start=t_start)

    def test_time_convention_and_units(self) -> None:
        """The network sees s = 1 - tau, from s0 = 1 - t_start down in uniform steps; a velocity of zero
        leaves GNVC-VD's start state t_start * x_c + (1 - t_start) * eps, mapped back to raw units."""
        refiner, _ = tiny_pair()  # untrained: its output layer is zero, so the velocity is 0
        refiner.set_latent_stats(torch.randn(32), torch.rand(32) + 0.5)
        seen: list[float] = []
        refiner.register_forward_pre_hook(lambda _m, args: seen.append(float(args[1][0])))
        y = torch.randn(1, 2, 32, 2, 2) * 3
        out = refine_group(refiner, None, y, None, steps=5, t_start=0.7, seed=3)
        assert seen == pytest.approx([0.3, 0.24, 0.18, 0.12, 0.06])
        noise = draw_noise(y.shape, 3, y.device)
        expected = refiner.denormalize(start_state(refiner.normalize(y), noise, 0.7))
        assert torch.allclose(out, expected, atol=1e-5)

    @pytest.mark.parametrize("steps", [1, 3, 5])
    def test_the_trained_velocity_integrates_to_the_clean_latent(self, steps) -> None:
        """Training targets and sampler agree: the exact path velocity lands on the clean latents with any
        step count (the path is straight), and the path starts at the start state."""
        gen = torch.Generator().manual_seed(0)
        clean, decoded = torch.randn(2, 3, 4, 2, 2, generator=gen), torch.randn(2, 3, 4, 2, 2, generator=gen)
        start = start_state(decoded, torch.randn(2, 3, 4, 2, 2, generator=gen), 0.7)
        x_s, s, v = path_targets(clean, start, 0.7, gen)
        assert ((s > 0) & (s <= 0.3 + 1e-7)).all()
        assert torch.allclose(x_s, clean + s.view(-1, 1, 1, 1, 1) / 0.3 * (start - clean), atol=1e-6)
        assert torch.allclose(euler(lambda x, _s: v, start, 0.7, steps), clean, atol=1e-5)


class TestRefinerFiles:
    def test_round_trip_with_hash_check(self, tmp_path) -> None:
        refiner, adaptor = tiny_pair()
        perturb(refiner)
        perturb(adaptor)
        refiner.set_latent_stats(torch.randn(32) * 0.1, torch.rand(32) + 0.5)
        path = tmp_path / "vdit.safetensors"
        sha = save_refiner(refiner, adaptor, path, "vdit-test-v1", "tiny", extra={"steps": 3})
        loaded = load_refiner_file(path, expected_sha256=sha)
        assert (loaded.name, loaded.codec, loaded.sha256) == ("vdit-test-v1", "tiny", sha)
        assert loaded.weights_hash == bytes.fromhex(sha[:16])
        assert torch.equal(loaded.refiner.latent_mean, refiner.latent_mean)  # statistics stay fp32
        for original, copy in ((refiner, loaded.refiner), (adaptor, loaded.adaptor)):
            for (name, a), (_, b) in zip(original.named_parameters(), copy.named_parameters(), strict=True):
                assert torch.equal(a.detach().half().float(), b), name  # fp16, nothing else lost
        y = torch.randn(1, 2, 32, 2, 2)
        assert torch.isfinite(refine_group(loaded.refiner, loaded.adaptor, y, None, steps=2)).all()
        with pytest.raises(WeightsMismatch):
            load_refiner_file(path, expected_sha256="0" * 64)
        decoder_file = tmp_path / "decoder.safetensors"
        save_decoder(GenerativeDecoder(GENERATIVE_PRESETS["dit-ic-tiny"]), decoder_file, "dit-ic-tiny-x")
        with pytest.raises(ModelError, match="architecture"):
            load_refiner_file(decoder_file)
