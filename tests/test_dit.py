"""The Diffusion Transformer: shapes at any latent size (2D RoPE), adaLN-zero identity at init, presets."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from dicodec.codec.dit import DIT_PRESETS, DiT, DiTBlock, DiTConfig, apply_rope, count_parameters, rope_2d
from dicodec.codec.generative_decoder import GENERATIVE_PRESETS, GenerativeDecoder

TINY = DIT_PRESETS["dit-tiny"]


def perturb(model: torch.nn.Module, seed: int = 0, std: float = 0.05) -> None:
    """Move zero-initialised layers away from zero so outputs depend on every part."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * std)


class TestRope:
    @pytest.mark.parametrize("hw", [(1, 1), (2, 3), (4, 4), (5, 9)])
    def test_angles_shape(self, hw):
        cos, sin = rope_2d(*hw, 16, 10000.0, torch.device("cpu"))
        assert cos.shape == sin.shape == (hw[0] * hw[1], 8)

    def test_scores_depend_only_on_relative_offset(self):
        h, w, hd = 6, 7, 16
        cos, sin = rope_2d(h, w, hd, 10000.0, torch.device("cpu"))
        q, k = torch.randn(1, 1, 1, hd), torch.randn(1, 1, 1, hd)
        grid = lambda r, c: r * w + c  # noqa: E731 - token index of (row, col)

        def score(a: int, b: int) -> float:
            qa = apply_rope(q, cos[a : a + 1], sin[a : a + 1])
            kb = apply_rope(k, cos[b : b + 1], sin[b : b + 1])
            return float((qa * kb).sum())

        base = score(grid(1, 2), grid(3, 1))
        assert score(grid(2, 5), grid(4, 4)) == pytest.approx(base, abs=1e-5)  # same (2, -1) offset
        assert score(grid(1, 2), grid(3, 3)) != pytest.approx(base, abs=1e-3)

    def test_rotation_keeps_norm(self):
        cos, sin = rope_2d(3, 3, 8, 10000.0, torch.device("cpu"))
        x = torch.randn(2, 2, 9, 8)
        assert torch.allclose(apply_rope(x, cos, sin).norm(dim=-1), x.norm(dim=-1), atol=1e-5)

    def test_head_dim_must_split_in_four(self):
        with pytest.raises(ValueError):
            rope_2d(2, 2, 6, 10000.0, torch.device("cpu"))


class TestDiT:
    @pytest.mark.parametrize("hw", [(1, 1), (2, 3), (4, 4), (6, 10)])
    def test_any_resolution(self, hw):
        torch.manual_seed(0)
        model = DiT(TINY)
        perturb(model)
        x = torch.randn(2, TINY.in_channels, *hw)
        out = model(x, torch.rand(2), torch.randn(2, 3, TINY.context_dim))
        assert out.shape == x.shape and torch.isfinite(out).all()

    def test_output_is_zero_at_init(self):
        model = DiT(TINY)
        out = model(torch.randn(2, TINY.in_channels, 3, 3), torch.rand(2))
        assert torch.equal(out, torch.zeros_like(out))

    @pytest.mark.parametrize("adaln", ["block", "single"])
    def test_adaln_zero_block_is_identity_at_init(self, adaln):
        cfg = replace(TINY, adaln=adaln)
        model = DiT(cfg)  # its initialisation zeroes gates and cross-attention outputs
        block: DiTBlock = model.blocks[0]
        assert block.cross is not None
        x = torch.randn(2, 12, cfg.hidden)
        c = model.t_embed(torch.rand(2))
        shared = model.shared_modulation(c) if model.shared_modulation is not None else None
        rope = rope_2d(3, 4, cfg.hidden // cfg.heads, cfg.rope_theta, x.device)
        assert torch.equal(block(x, c, rope, torch.randn(2, 5, cfg.context_dim), shared), x)

    @pytest.mark.parametrize("adaln", ["block", "single"])
    def test_learns_from_zero_init(self, adaln):
        torch.manual_seed(0)
        model = DiT(replace(TINY, adaln=adaln))
        x, t = torch.randn(4, TINY.in_channels, 3, 3), torch.rand(4)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(3):
            loss = (model(x, t) - x).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        block = model.blocks[0]
        gates = block.adaLN_modulation[-1].weight if adaln == "block" else block.modulation_table
        assert gates.abs().sum() > 0 and model(x, t).abs().sum() > 0

    def test_cross_attention_placement_and_optional_context(self):
        model = DiT(replace(TINY, depth=4, cross_attn_every=2))
        assert [b.cross is not None for b in model.blocks] == [True, False, True, False]
        assert all(b.cross is None for b in DiT(replace(TINY, context_dim=None)).blocks)
        perturb(model)
        x, t = torch.randn(1, TINY.in_channels, 2, 2), torch.rand(1)
        assert model(x, t).shape == x.shape  # no context: cross-attention skipped

    def test_return_layer_gives_tokens(self):
        model = DiT(TINY)
        out, tokens = model(torch.randn(2, TINY.in_channels, 3, 5), torch.rand(2), return_layer=1)
        assert tokens.shape == (2, 15, TINY.hidden)

    def test_rejects_bad_head_split(self):
        with pytest.raises(ValueError):
            DiT(DiTConfig(in_channels=8, hidden=30, heads=4))


class TestPresets:
    def test_shipping_size_under_ten_million(self):
        assert count_parameters(DiT(DIT_PRESETS["dit-s"])) < 9.0e6
        for mode in ("entropy", "learned"):
            decoder = GenerativeDecoder(replace(GENERATIVE_PRESETS["dit-ic-s"], uncertainty=mode))
            assert count_parameters(decoder) < 10.0e6  # <= 20 MB as fp16

    def test_tiny_is_tiny(self):
        assert count_parameters(DiT(TINY)) < 100_000
