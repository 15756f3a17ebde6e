"""Golden bitstreams must decode forever: those of the shipped default and those of every retired model.

The entropy-decoded latents are integer-exact on every machine, so their SHA-256 is pinned. Pixels come
from float convolutions whose last bits may differ between CPUs, so for the default model they are
compared with a stored reference decode within one 8-bit level instead of by hash.

Files of retired models (``retired_*``) were written by the release that shipped the model. Their
pixels are pinned by the SHA-256 of that release's own decode (``scripts/release_goldens.py digest``
run with the release's code: the x86-64 CPU build of torch 2.14.1, where each release's stored
reference PNG has the same digest). Decoding them needs the retired weights, installed with
``dicodec models add`` / ``fetch``: those tests are marked slow and skip models that are not installed.

Regenerate (only when a new model version is added, never to paper over a change):
    python tests/test_golden.py --write
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import dicodec
from dicodec.bitstream import container
from dicodec.codec import model_store, pipeline, registry, zoo

GOLDEN = Path(__file__).with_name("golden")
SAMPLE = Path(dicodec.__file__).with_name("samples") / "coffee.png"

MODEL = "hp32-v7"  # the model the current goldens were written with
# name -> (quality, tile size, crop (top, left, h, w) of the sample or None, format version)
CASES = {
    "coffee_hp32-v7_q10": (10, 2048, None, "3.0"),
    "coffee_hp32-v7_q80": (80, 2048, None, "3.0"),
    "coffee_crop_hp32-v7_q50_tiles128": (50, 128, (40, 60, 300, 200), "3.0"),
    # 2.0 (CompressAI's rANS, docs/bitstream.md section 8.1) is still read: the same latents as 3.0
    "coffee_hp32-v7_q10_v2": (10, 2048, None, "2.0"),
}

LATENT_SHA256 = {
    "coffee_hp32-v7_q10": "f17e0b74b8251e10a1d4bd575f5c0fc6e9becf43bb65ed5d3d0249e4b517e6d0",  # 786 bytes
    "coffee_hp32-v7_q80": "a24bf3d181aeb78e36af458c47f4b7d78710f979c4604ad178e012838b7a3a28",  # 11139 bytes
    "coffee_crop_hp32-v7_q50_tiles128": "e5396ef594b5b4816e27b79387516e14fe9bb464cc14e6a1dc50d4edf499a168",
    # the 3.0 digest: the entropy coder differs, the latents do not (802 bytes against 786)
    "coffee_hp32-v7_q10_v2": "f17e0b74b8251e10a1d4bd575f5c0fc6e9becf43bb65ed5d3d0249e4b517e6d0",
}

# Files written by the releases that shipped a model that is now retired:
# name -> (model, release that wrote it, format, sha256 of the decoded latents,
#          {(mode, DiT decoder or None for the zoo's pairing): sha256 of the release's decoded pixels})
# Pixels: hp32-v1 decoded by 0.1.0 (856899e), hp32-v2 by 0.2.0 (fceccc6; the 1.0 file also by 2e0fcb4),
# hp32-v3 by 0.4.0 (1947165) with dit-ic-s-v2 and by 0.3.0 (1ce533f) with dit-ic-s-v1, hp32-v4 by 0.5.0
# (23e80fe), hp32-v5 by 0.6.0 (9f0fa02), hp32-v6 by 0.7.0 (fd04400; its files were 0.7's goldens). The
# full-image files are each release's own goldens; their latent digests are the ones that release
# pinned, and (up to hp32-v5) its stored reference PNG has the fast digest.
RETIRED = {
    "retired_hp32-v1_q10": (
        "hp32-v1", "0.1.0", "1.0", "764ddbc14a0a181da3ac12391d8809822a3a2fcc3f9d7c6abd9131a05cb27d98",
        {("fast", None): "c03c4a1ebc899e368749ea519df2edde310060586705cf506abf5c51f1ff4f24"},
    ),
    "retired_hp32-v1_crop_q50_tiles128": (
        "hp32-v1", "0.1.0", "1.0", "ae19044876ddccb18f4eb19bb8d7413f958339251eb50bf1458373f4814844d7",
        {("fast", None): "d2053da9eade143e478fe74e4b6e365780fc473de69fee0c6fe81d632ec5f9eb"},
    ),
    "retired_hp32-v2_q10_f1": (  # 0.2.0 wrote format 1.0 until commit 279abe8
        "hp32-v2", "0.2.0", "1.0", "660830e0db3723335ab64f9cb9a3bc72dd0999df41cf41f7be4e1fa20186cda0",
        {("fast", None): "2ef585a1a9153f3c781b24b983841e01f008ec83ae3ee6ad77731b443fa04465"},
    ),
    "retired_hp32-v2_q30": (
        "hp32-v2", "0.2.0", "2.0", "e3f3c3703e83f74b8dc553299c961914b94252418611e3450874de0a963ae331",
        {("fast", None): "553c9be1ca5d7003bc9786ae4d262de946a15a1903ae640b72c5c14643c8533b"},
    ),
    "retired_hp32-v2_crop_q50_tiles128": (
        "hp32-v2", "0.2.0", "2.0", "8ae5d8c8a8e74dc0341bd0b3265a54a78cf7916929f372fe8311310f04c67d96",
        {("fast", None): "ede656afb390d824074df354a1591aa52bb302b8a58c7503b0ceffdac818e1e4"},
    ),
    "retired_hp32-v3_q10": (
        "hp32-v3", "0.3.0", "2.0", "09ccfde80b82d784d55a35ad2528c4433ff77b7ddec845aa701229e6d2872875",
        {
            ("fast", None): "140f35b5e353160fa2de0e32021f36a1c2ad055d1c120146b37f8eceb7ea72b5",
            ("generative", None): "ab8718ce69dc84ea03de7093d76591a252f756c3141be3f68e60929bc6e784af",
            ("generative", "dit-ic-s-v1"): "5a6632dd2d59e28dddf4f56f000621758eec0854520594de597d191dfa062eb4",
        },
    ),
    "retired_hp32-v3_crop_q50_tiles128": (
        "hp32-v3", "0.4.0", "2.0", "377838c88999e9f5feed73296a32f3ee10df09134a7b9aae8953efab36374d36",
        {
            ("fast", None): "fd5d472e487d59059d4c92a080f142214426aa1ff814f1680ff9fcbfa3e3cf0f",
            ("generative", None): "505644aab3b51afcd4e58895763a88120f6f394a0cd55679e8b973f9c0170fc4",
            ("generative", "dit-ic-s-v1"): "f7be535cae48e91d84e9c17268da5bf3cb791b18aa1b6ff0b875038945d68c27",
        },
    ),
    "retired_hp32-v4_q10": (
        "hp32-v4", "0.5.0", "2.0", "006279577741f3ad8508079c32e9b62f4bcfe099d13944602d6b80468a8396b3",
        {
            ("fast", None): "1c605295dc87baa56c71a4916d9be542c0030aa15e93c2e0ffb529ec652f8f72",
            ("generative", None): "19f208725ad3a19bd8223d75d0e2d8967ef731763181a63a502f69eae8132f35",
        },
    ),
    "retired_hp32-v4_crop_q50_tiles128": (
        "hp32-v4", "0.5.0", "2.0", "30a74d3f242c048012b1b6e63b3345e68b6993cbb1e36ade0d93744033929cb6",
        {
            ("fast", None): "0c33f434dbbfbc7412f00961a516010113f7b44da28adf2c100883f44a83f61a",
            ("generative", None): "acb11a00b89cb814f3c47604467897a40663408368db6aa06c30d08c2b4f774c",
        },
    ),
    "retired_hp32-v5_q10": (
        "hp32-v5", "0.6.0", "2.0", "6ad979040935c8d0e178495f2518e19c753b6109eb7ebaa3ac91cd2fee0dc78d",
        {
            ("fast", None): "3c9a5acae1773b52393026ddd4eaec57a9450986a4cf2dc786440f76c27e54e3",
            ("generative", None): "cb0ddb1594fcdc595402b29a829b30dc84c766f68e2976951ce64e6da0ba6041",
        },
    ),
    "retired_hp32-v5_crop_q50_tiles128": (
        "hp32-v5", "0.6.0", "2.0", "ac7273dde8911fe8efd2e036df3fbc8376b897d83d770ee56e6d3b259ced3378",
        {
            ("fast", None): "a6667226e0fb198f8dff36e2d8c634617eaa913408004a35915d9cbeea7c78d9",
            ("generative", None): "17672eb97b176f26509d985797fc46355c25096483cc10d279d371c9ac18f434",
        },
    ),
    "retired_hp32-v6_q10": (
        "hp32-v6", "0.7.0", "3.0", "b673fb701e57c295ebc1baca32b7dbcc86ce81920b04bb1da0a16891d525c858",
        {
            ("fast", None): "47809e4ed40ec9443815f3e8e8a1053a0cbede82cd3b19922a37fe228648e802",
            ("generative", None): "04db8e0b99b8c870322913a7388de3c1341aeecbfb04cab48502b84d945fb11c",
        },
    ),
    "retired_hp32-v6_q80": (
        "hp32-v6", "0.7.0", "3.0", "532e8efe6d2d659c1213fe3051fbab1dde0f47ccec342c14f50c6348b3ec4fad",
        {
            ("fast", None): "5ae2ef3db2415f478e98da86e9aa49c4e07edcf1ea65870cf74bdf9ddf0ae58d",
            ("generative", None): "7c05575ce460eb2c3a4da35c908da4ee97576d6640233746faf10fbc2fac90a6",
        },
    ),
    "retired_hp32-v6_crop_q50_tiles128": (
        "hp32-v6", "0.7.0", "3.0", "7d05e0b6eb02526000dad4cb3a6675baceb8d0ae76ed0b35126d42ffd448338f",
        {
            ("fast", None): "24685a2b7aea533e66a2e808e89f16ce068fe638cceb244b8745f6a5ba0dd625",
            ("generative", None): "d3840c0688e496f4b19d08d586366f12bda2d73e4bc12bd31f3af227a187e93f",
        },
    ),
    "retired_hp32-v6_q10_v2": (  # 0.7.0's writer in format 2.0 (its goldens): the 3.0 file's latents
        "hp32-v6", "0.7.0", "2.0", "b673fb701e57c295ebc1baca32b7dbcc86ce81920b04bb1da0a16891d525c858",
        {
            ("fast", None): "47809e4ed40ec9443815f3e8e8a1053a0cbede82cd3b19922a37fe228648e802",
            ("generative", None): "04db8e0b99b8c870322913a7388de3c1341aeecbfb04cab48502b84d945fb11c",
        },
    ),
}  # fmt: skip
RETIRED_DECODES = [(name, *key) for name, case in RETIRED.items() for key in case[4]]


def sample(crop) -> np.ndarray:
    img = np.asarray(Image.open(SAMPLE).convert("RGB"))
    if crop:
        top, left, h, w = crop
        img = img[top : top + h, left : left + w]
    return np.ascontiguousarray(img)


def latent_digest(data: bytes) -> str:
    header, tiles = container.read(data)
    codec = registry.load(header.model, "cpu")
    h = hashlib.sha256()
    for i, tile in enumerate(tiles):
        _, _, th, tw = container.tile_rect(header, i)
        y_hat = codec.latent_codec.decompress(
            [tile.z, *tile.y],
            (th // 32, tw // 32),
            torch.device("cpu"),
            coder=pipeline.entropy_coder(header.version),
        )
        h.update(y_hat.double().numpy().tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_decodes_to_pinned_latents_and_pixels(name: str) -> None:
    data = (GOLDEN / f"{name}.dic").read_bytes()
    assert latent_digest(data) == LATENT_SHA256[name]
    decoded = dicodec.decode(data, mode="fast", device="cpu")
    reference = np.asarray(Image.open(GOLDEN / f"{name}.png").convert("RGB"))
    assert decoded.shape == reference.shape
    assert np.abs(decoded.astype(int) - reference).max() <= 1


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_header(name: str) -> None:
    quality, tile, crop, version = CASES[name]
    info = dicodec.inspect((GOLDEN / f"{name}.dic").read_bytes())
    h, w = sample(crop).shape[:2]
    assert (info["model"], info["quality"], info["tile_size"], info["width"], info["height"]) == (
        MODEL,
        quality,
        tile,
        w,
        h,
    )
    assert info["version"] == version


@pytest.mark.parametrize("name", sorted(RETIRED))
def test_retired_golden_names_its_zoo_entry(name: str) -> None:
    """A released model never leaves the zoo: each old file finds its weights' full hash there."""
    model, _, version, _, _ = RETIRED[name]
    header = container.read_header((GOLDEN / f"{name}.dic").read_bytes())
    entry = zoo.models()[model]
    assert (header.model, f"{header.version[0]}.{header.version[1]}") == (model, version)
    assert entry.kind == "codec" and entry.retired and bytes.fromhex(entry.sha256[:16]) == header.weights_hash


@pytest.mark.parametrize("name", sorted(RETIRED))
def test_retired_golden_offline_without_its_model_says_how_to_install_it(name, dicodec_home) -> None:
    model = RETIRED[name][0]
    with pytest.raises(dicodec.ModelNotInstalled, match=f"dicodec models fetch {model}'.*models add FILE"):
        dicodec.decode((GOLDEN / f"{name}.dic").read_bytes(), mode="fast", device="cpu", offline=True)


def _require_installed(*names: str) -> None:
    missing = [n for n in names if model_store.locate(zoo.models()[n]) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} ('dicodec models add FILE' or 'models fetch NAME')")


@pytest.mark.slow
@pytest.mark.parametrize(("name", "mode", "decoder"), RETIRED_DECODES)
def test_retired_golden_decodes_as_its_release_did(name: str, mode: str, decoder: str | None) -> None:
    """Byte for byte the pixels the release that shipped the model decoded (needs its weights)."""
    model, _, _, latents, pixels = RETIRED[name]
    entry = registry.get_entry(model)
    _require_installed(model, *([decoder or entry.generative_name] if mode == "generative" else []))
    data = (GOLDEN / f"{name}.dic").read_bytes()
    assert latent_digest(data) == latents
    decoded = dicodec.decode(data, mode=mode, decoder=decoder, device="cpu", offline=True)
    digest = hashlib.sha256(np.ascontiguousarray(decoded).tobytes()).hexdigest()
    if digest != pixels[(mode, decoder)]:  # another CPU: compare with the release's code on this one
        assert digest == release_digest(name, mode, decoder), f"{name} {mode} differs from its release here"


# The release whose code decoded each retired model's pixels (the comment above RETIRED), by model and
# generative decoder: the pinned digests were taken on one x86-64 CPU, and float convolutions round
# differently on others (e.g. with AVX-512), so elsewhere the test runs that release's code on the same
# file and machine (scripts/release_goldens.py) and asks for the same bytes.
RELEASE_COMMITS = {
    ("hp32-v1", None): "856899e", ("hp32-v2", None): "fceccc6", ("hp32-v3", None): "1947165",
    ("hp32-v3", "dit-ic-s-v1"): "1ce533f", ("hp32-v4", None): "23e80fe", ("hp32-v5", None): "9f0fa02",
    ("hp32-v6", None): "fd04400",
}  # fmt: skip
REPO = Path(__file__).resolve().parents[1]


@functools.cache
def release_package(commit: str) -> Path:
    """An importable copy of the release at ``commit`` (from this clone's history), built once."""
    if subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{commit}^{{commit}}"]).returncode:
        pytest.fail(f"pixels differ from the pinned digest and release {commit} is not in this clone")
    root = Path(tempfile.mkdtemp(prefix=f"dicodec-release-{commit}-"))
    (root / "src").mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(root / "src")], input=archive.stdout, check=True)
    script = [sys.executable, str(REPO / "scripts" / "release_goldens.py")]
    subprocess.run([*script, "pkg", str(root / "src"), str(root / "pkg")], check=True, capture_output=True)
    return root / "pkg"


def release_digest(name: str, mode: str, decoder: str | None) -> str:
    """SHA-256 of the pixels the release that decoded ``name`` gives on this machine."""
    model = RETIRED[name][0]
    pkg = release_package(RELEASE_COMMITS[(model, decoder if mode == "generative" else None)])
    # no --decoder: each release decodes with the DiT decoder it paired with the model (0.3.0: dit-ic-s-v1)
    cmd = [sys.executable, str(REPO / "scripts" / "release_goldens.py"), "digest", "--modes", mode]
    env = {**os.environ, "PYTHONPATH": str(pkg)}
    file = str(GOLDEN / f"{name}.dic")
    out = subprocess.run([*cmd, file], env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.splitlines()[-1])[mode]


def encode_as(version: str, image: np.ndarray, quality: int, tile: int) -> bytes:
    """What ``dicodec.encode`` writes, in any version the writer supports (not only the model's)."""
    entry = dataclasses.replace(registry.get_entry(MODEL), bitstream_version=version)
    x = dicodec.api.to_tensor(image)
    data = pipeline.encode_image(registry.load(MODEL, "cpu"), entry, x, quality, tile)
    assert dicodec.inspect(data)["version"] == version
    return data


def write() -> None:
    """Write the files of new cases with the current writer; existing goldens are never rewritten."""
    for name, (quality, tile, crop, version) in CASES.items():
        if (GOLDEN / f"{name}.dic").exists():
            continue
        data = encode_as(version, sample(crop), quality, tile)
        (GOLDEN / f"{name}.dic").write_bytes(data)
        Image.fromarray(dicodec.decode(data, mode="fast", device="cpu")).save(GOLDEN / f"{name}.png")
        print(f'    "{name}": "{latent_digest(data)}",  # {len(data)} bytes')


if __name__ == "__main__" and "--write" in sys.argv:
    write()
