"""The model zoo (codec/zoo.py, weights/zoo.json) and the ``dicodec models`` commands.

The zoo's promise is that a released model never leaves it, so every file dicodec wrote can find
its weights again; the commands install them for offline use. Downloads are tested in
``test_model_store.py``; here the CLI is run against the real library with a tiny released model.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

import dicodec
from dicodec.cli.main import EXIT_ERROR, EXIT_USAGE, cli
from dicodec.codec import model_store, registry, zoo
from dicodec.errors import ModelError

REPO = Path(__file__).resolve().parents[1]

# Every model dicodec released, with its file's sha256. Entries may be added, never removed or changed.
RELEASED = {
    "hp32-v1": "a67a099efb0a262f0e357ae57004fdf8ac30ffd8de1a27ffd272c31fc5b841e1",
    "hp32-v2": "2d46bff798795e129c8559c89e3bf8ec8eba77ed89e7ff095a3e822489bac8ea",
    "hp32-v3": "afc3eada8b24254708b444ba866047b56fd395343c25dc5a675ad4e6cb70e6d9",
    "hp32-v4": "9da74467dd48188baab6c6d8e662bf2a536bafca8422d68a1b31b3eeb9802352",
    "hp32-v5": "4530b95829b41bf1acc64b3fbd27783e41150707b14dfc72abca55b9d5c5c438",
    "hp32-v6": "676aaf5acb184ddf4a918366cf9b53456651b41a2030283367d24eaee7987def",
    "hp32-v7": "2737260b5b5053371f1ecff6b9a2ba9bc39704bbf472e84d8279f0b2a5355a3c",
    "dit-ic-s-v1": "f50b74ef11b3cdb58225dd13b5ae7f09721fb8abb5315b000d4c8ad9d10e394d",
    "dit-ic-s-v2": "dc625dd58288a1f54bee601aa075d7086fdd691c5b108b46b4294ec4c2a95709",
    "dit-ic-s-v3": "d05656b9cc2d1341eb157878a3ae3e2d68b651e16976fa3f461825b15e8c1042",
    "dit-ic-s-v4": "87c492446a5e81405faf317d40388fd04d565fab26525b85b892a3584aecaed0",
    "dit-ic-s-v5": "beb9e1d13dca1ba03cbacd93d42db4a4323ecf033e4b2e91cb45d2a5351cf4b7",
}


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


def assert_one_line_error(result: Result, pattern: str, code: int = EXIT_ERROR) -> None:
    assert result.exit_code == code, result.output
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output, result.stderr
    assert re.search(pattern, result.stderr), result.stderr


# ----------------------------------------------------------------------------------------------
# The catalogue
# ----------------------------------------------------------------------------------------------


class TestCatalogue:
    def test_no_released_model_is_ever_removed_or_changed(self):
        models = zoo.models()
        assert {name: models[name].sha256 for name in RELEASED if name in models} == RELEASED

    def test_entries_say_what_the_file_is_and_where_to_find_it(self):
        for m in zoo.models().values():
            assert m.size > 0 and m.license and re.fullmatch(r"\d+\.\d+\.\d+", m.released), m.name
            assert re.fullmatch(r"[0-9a-f]{40}", m.commit), m.name
            assert m.file == f"{m.name}.safetensors"
            if m.kind == "codec":
                assert m.bitstream_version in ("1.0", "2.0", "3.0"), m.name
                assert ("generative" in m.decode_modes) == bool(m.generative), m.name
            else:
                assert zoo.models()[m.codec].kind == "codec", m.name

    def test_one_default_and_it_ships_with_its_decoder(self):
        """The default ships, and so does its DiT decoder where it has one (hp32-v7 has none yet)."""
        defaults = [m for m in zoo.models().values() if m.default]
        assert [m.name for m in defaults] == [registry.default_name()]
        assert defaults[0].shipped
        assert not defaults[0].generative or zoo.models()[defaults[0].generative].shipped
        assert ("generative" in defaults[0].decode_modes) == bool(defaults[0].generative)
        assert all(not m.shipped for m in zoo.models().values() if m.retired)

    def test_every_codec_is_registered_retired_or_not(self):
        codecs = {m.name for m in zoo.models().values() if m.kind == "codec"}
        assert codecs <= {e.name for e in registry.entries()}
        entry = registry.get_entry("hp32-v3")
        assert entry.from_zoo and entry.weights is None and entry.generative_name == "dit-ic-s-v2"
        assert registry.generative_decoders("hp32-v3") == ["dit-ic-s-v1", "dit-ic-s-v2"]

    def test_sizes_match_the_files_in_git(self):
        """The commit each entry names holds the file at codec/weights/FILE, with the zoo's size."""
        if shutil.which("git") is None or not (REPO / ".git").exists():
            pytest.skip("not a git checkout")
        for m in zoo.models().values():
            out = subprocess.run(
                ["git", "cat-file", "-s", f"{m.commit}:codec/weights/{m.file}"],
                cwd=REPO,
                capture_output=True,
                text=True,
            )
            if out.returncode:
                pytest.skip(f"history without {m.commit[:7]} (shallow clone?)")
            assert int(out.stdout) == m.size, m.name

    @pytest.mark.slow
    def test_hashes_match_the_files_in_git(self):
        if shutil.which("git") is None or not (REPO / ".git").exists():
            pytest.skip("not a git checkout")
        for m in zoo.models().values():
            show = ["git", "show", f"{m.commit}:codec/weights/{m.file}"]
            blob = subprocess.run(show, cwd=REPO, capture_output=True, check=True).stdout
            assert hashlib.sha256(blob).hexdigest() == m.sha256, m.name


class TestParse:
    GOOD = {
        "kind": "codec",
        "preset": "tiny",
        "file": "t-v1.safetensors",
        "sha256": "ab" * 32,
        "size": 10,
        "license": "Apache-2.0",
        "released": "0.1.0",
        "commit": "0" * 40,
        "shipped": True,
    }

    def test_a_good_document(self):
        models, url = zoo.parse({"schema": 2, "base_url": "http://h/x", "models": {"t-v1": self.GOOD}})
        assert models["t-v1"].status == "shipped"
        assert url == "http://h/x"

    @pytest.mark.parametrize(
        ("name", "change", "why"),
        [
            ("T-v1", {}, "not a valid model name"),
            ("t-v1", {"file": "../t.safetensors"}, "plain"),
            ("t-v1", {"file": "t.pt"}, "plain"),
            ("t-v1", {"sha256": "AB" * 32}, "sha256"),
            ("t-v1", {"size": 0}, "size"),
            ("t-v1", {"retired": "0.2.0"}, "retired model is not shipped"),
            ("t-v1", {"kind": "video"}, "kind"),
            ("t-v1", {"generative": "d-v1"}, "d-v1, which has no entry"),
            ("t-v1", {"license": None}, "missing or invalid field 'license'"),
        ],
    )
    def test_malformed_entries_are_refused(self, name, change, why):
        item = {k: v for k, v in {**self.GOOD, **change}.items() if v is not None}
        with pytest.raises(ModelError, match=why):
            zoo.parse({"schema": 2, "models": {name: item}})

    def test_unknown_schema(self):
        with pytest.raises(ModelError, match="schema"):
            zoo.parse({"hp32-v1": {}})


# ----------------------------------------------------------------------------------------------
# dicodec models / fetch / add, and decode of a file whose model is not installed
# ----------------------------------------------------------------------------------------------


@pytest.fixture()
def tiny_file(tiny_release, tmp_path, monkeypatch) -> Path:
    """A .dic written with the released tiny model (installed in another home for the writing)."""
    model, assets = tiny_release
    monkeypatch.setenv("DICODEC_HOME", str(tmp_path / "writer"))
    model_store.add(assets / model.file)
    image = np.random.default_rng(5).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    path = tmp_path / "tiny.dic"
    path.write_bytes(dicodec.encode(image, quality=50, model=model.name, device="cpu"))
    registry._forget(model.name)
    return path


def _row(stdout: str, name: str) -> list[str]:
    return next(line.split() for line in stdout.splitlines() if line.split()[0] == name)


class TestModelsCommand:
    def test_lists_released_models_and_where_they_are(self, tiny_release, dicodec_home):
        result = run("models")
        assert result.exit_code == 0, result.output
        assert _row(result.stdout, "hp32-v7")[:5] == ["hp32-v7", "codec", "default", "package", "3.0"]
        assert _row(result.stdout, "hp32-v6")[:4] == ["hp32-v6", "codec", "retired", "0.8.0"]
        assert _row(result.stdout, "hp32-v1")[:6] == ["hp32-v1", "codec", "retired", "0.2.0", "no", "1.0"]
        assert _row(result.stdout, "dit-ic-s-v1")[1:5] == ["generative", "retired", "0.4.0", "no"]
        assert _row(result.stdout, "tiny-zoo-v1")[4] == "no"

    def test_add_then_listed_as_cached(self, tiny_release, dicodec_home, tmp_path):
        model, assets = tiny_release
        copy = tmp_path / "downloaded-elsewhere.bin"
        shutil.copy(assets / model.file, copy)
        result = run("models", "add", str(copy))
        assert result.exit_code == 0, result.output
        assert f"installed as tiny-zoo-v1 ({dicodec_home / 'models' / model.file})" in result.stderr
        assert "already installed" in run("models", "add", str(copy)).stderr
        assert _row(run("models").stdout, "tiny-zoo-v1")[4] == "cache"

    def test_add_refuses_a_file_of_no_release(self, dicodec_home, tmp_path):
        bad = tmp_path / "hp32-v5.safetensors"
        bad.write_bytes(b"\0" * 100)
        assert_one_line_error(run("models", "add", str(bad)), r"^error: .*hp32-v5\.safetensors .*no released")
        assert not (dicodec_home / "models" / "hp32-v5.safetensors").exists()

    def test_fetch(self, tiny_release, model_server, dicodec_home):
        result = run("models", "fetch", "tiny-zoo-v1", "--url", model_server.url, "--quiet")
        assert result.exit_code == 0, result.output
        assert (dicodec_home / "models" / "tiny-zoo-v1.safetensors").is_file()
        result = run("models", "fetch", "tiny-zoo-v1", env={"DICODEC_MODEL_URL": model_server.url})
        assert result.exit_code == 0 and "already installed" in result.stderr
        assert len(model_server.requests) == 1

    def test_fetch_errors(self, tiny_release, model_server, dicodec_home):
        assert run("models", "fetch").exit_code == EXIT_USAGE
        assert_one_line_error(run("models", "fetch", "hp32-v0", "--quiet"), "not a released model")
        url = model_server.url
        offline = run("models", "fetch", "tiny-zoo-v1", "--url", url, env={"DICODEC_OFFLINE": "1"})
        assert_one_line_error(offline, "offline")
        assert_one_line_error(run("models", "fetch", "tiny-zoo-v1", "--quiet"), "no download location")
        assert model_server.requests == []

    def test_help(self):
        for args in (("models", "--help"), ("models", "fetch", "--help"), ("models", "add", "--help")):
            result = run(*args)
            assert result.exit_code == 0 and "Examples:" in result.stdout, args
            assert "dicodec models" in result.stdout


class TestDecodeOfAMissingModel:
    def test_offline_one_line_and_no_output(self, tiny_file, dicodec_home, tmp_path):
        out = tmp_path / "out.png"
        result = run("decode", str(tiny_file), "-o", str(out), "--offline")
        expected = (
            r"^error: .*tiny\.dic: model tiny-zoo-v1 is not installed and dicodec is offline: "
            r"run 'dicodec models fetch tiny-zoo-v1', or 'dicodec models add FILE'"
        )
        assert_one_line_error(result, expected)
        assert not out.exists()
        result = run("decode", str(tiny_file), "-o", str(out), env={"DICODEC_OFFLINE": "1"})
        assert_one_line_error(result, "offline")

    def test_fetches_then_decodes(self, tiny_file, model_server, dicodec_home, tmp_path):
        out = tmp_path / "out.png"
        result = run("decode", str(tiny_file), "-o", str(out), env={"DICODEC_MODEL_URL": model_server.url})
        assert result.exit_code == 0, result.output
        assert result.stderr.splitlines()[-1].startswith(f"{tiny_file} -> {out}: 40x24, png, fast")
        assert np.asarray(Image.open(out)).shape == (24, 40, 3)
        assert len(model_server.requests) == 1

    def test_after_add_it_decodes_offline(self, tiny_file, tiny_release, dicodec_home, tmp_path):
        model, assets = tiny_release
        assert run("models", "add", str(assets / model.file)).exit_code == 0
        result = run("decode", str(tiny_file), "-o", str(tmp_path / "o.png"), "--offline")
        assert result.exit_code == 0, result.output

    def test_decoder_option_is_for_the_generative_mode(self, tiny_file, dicodec_home, tmp_path):
        out = str(tmp_path / "x.png")
        result = run("decode", str(tiny_file), "-o", out, "--mode", "fast", "--decoder", "dit-ic-s-v1")
        assert_one_line_error(result, "for the generative mode")


def test_auto_decodes_generatively_up_to_the_models_quality_limit():
    """``auto`` follows the zoo: the default pair up to its measured limit; older pairs at every quality."""
    from dicodec.arguments import decode_mode

    limit = registry.get_entry("hp32-v7").auto_generative_up_to
    assert limit == 40
    assert decode_mode("hp32-v7", "auto", limit) == "generative"
    assert decode_mode("hp32-v7", "auto", limit + 1) == "fast"
    assert decode_mode("hp32-v7", "auto") == "generative"  # quality unknown: the model's own choice
    assert decode_mode("hp32-v7", "generative", 100) == "generative"  # asked for: always
    assert decode_mode("hp32-v6", "auto", 100) == "generative"  # as dicodec 0.7 decoded its files
    assert decode_mode("hp32-v1", "auto", 10) == "fast"  # no DiT decoder


def test_zoo_refuses_a_quality_limit_that_is_not_an_integer():
    document = json.loads(zoo.ZOO_FILE.read_text())
    document["models"]["hp32-v7"]["auto_generative_up_to"] = "40"
    with pytest.raises(ModelError, match="invalid field expected an integer"):
        zoo.parse(document)
