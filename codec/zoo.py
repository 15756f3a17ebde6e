"""The model zoo: every model dicodec ever released, read from ``weights/zoo.json``.

A bitstream names its model by string plus a hash of the weights file, so a file stays decodable
exactly as long as its weights can be found and proven to be the same bytes. The zoo is what makes
that hold forever: a released model is never removed from it, only retired (no longer the default,
no longer shipped inside the package, still decodable once installed by
:mod:`dicodec.codec.model_store`). Each entry records what it takes to find and trust the file
again: its sha256 and size, the release asset it is published as, and the git commit that holds it
at ``codec/weights/FILE``.

``zoo.json`` layout (``schema`` 2)::

    {"schema": 2, "base_url": null | "https://...", "models": {NAME: ENTRY, ...}}

``base_url`` is where the project publishes its release assets (the file of ``NAME`` is
``base_url/FILE``); ``null`` until there is one, overridden by ``DICODEC_MODEL_URL``.
ENTRY keys: ``kind`` (``codec`` or ``generative``), ``preset``, ``file``, ``sha256``, ``size``,
``license``, ``released`` (first release that shipped it), ``commit``, ``description``; optional
``retired`` (the release that stopped shipping it), ``shipped`` and ``default`` (true for the files
inside the package), ``asset`` (release asset name when it differs from ``file``). Codecs also
have ``bitstream_version`` (the format they write), ``decode_modes`` and ``generative`` (the name of
the DiT decoder paired with them); generative decoders have ``codec`` (the codec they decode).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from dicodec.errors import ModelError

ZOO_FILE = Path(__file__).with_name("weights") / "zoo.json"
SCHEMA = 2
KINDS = ("codec", "generative")
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")  # what a bitstream can name (docs/bitstream.md section 4)
_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\.safetensors")  # no path separators: never leaves the cache
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ZooModel:
    """One released weights file.

    Args:
        name: registry name carrying a version (``"hp32-v5"``); what bitstreams name.
        kind: ``"codec"`` or ``"generative"`` (a DiT decoder paired with one codec).
        preset: architecture preset (``codec.config.PRESETS`` or ``GENERATIVE_PRESETS``).
        file: file name in the package's weights folder and in the cache.
        sha256: full hex digest of the file; the only thing trusted about a downloaded copy.
        size: bytes; bounds a download before it is hashed.
        license: the license the file is released under.
        released: the dicodec release that first shipped it.
        commit: a git commit holding it at ``codec/weights/<file>`` (the way back without a server).
        retired: the release that stopped shipping it; empty while it ships.
        shipped: the file is inside the package (needs no download).
        default: the codec ``encode`` uses unless told otherwise.
        asset: release asset name, ``file`` unless the zoo says otherwise.
        bitstream_version, decode_modes, generative: codecs only (see module docstring).
        codec: generative decoders only: the codec whose latents it decodes.
        auto_generative_up_to: codecs with a DiT decoder: the highest quality whose files ``mode="auto"``
            decodes generatively (above it the fast decode measured better); ``None``: every quality.
    """

    name: str
    kind: str
    preset: str
    file: str
    sha256: str
    size: int
    license: str
    released: str
    commit: str
    description: str = ""
    retired: str = ""
    shipped: bool = False
    default: bool = False
    asset: str = ""
    bitstream_version: str = "1.0"
    decode_modes: tuple[str, ...] = ("fast",)
    generative: str = ""
    codec: str = ""
    auto_generative_up_to: int | None = None

    @property
    def asset_name(self) -> str:
        return self.asset or self.file

    @property
    def status(self) -> str:
        """``default``, ``shipped`` (inside the package, not the default codec), ``retired`` or
        ``download`` (released, current, but never inside the package)."""
        if self.retired:
            return "retired"
        if self.default:
            return "default"
        return "shipped" if self.shipped else "download"


def parse(document: dict) -> tuple[dict[str, ZooModel], str | None]:
    """Validate a ``zoo.json`` document; returns ``(models by name, base_url)``.

    Strict on purpose: names and files end up in paths and URLs, hashes decide what is trusted.

    Raises:
        ModelError: a malformed document or entry.
    """
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise ModelError(f"zoo.json: expected schema {SCHEMA}")
    base_url = document.get("base_url")
    if base_url is not None and not isinstance(base_url, str):
        raise ModelError("zoo.json: base_url must be a string or null")
    models: dict[str, ZooModel] = {}
    for name, item in document.get("models", {}).items():
        models[name] = _entry(name, item)
    for model in models.values():
        partner = model.generative or model.codec
        if partner and partner not in models:
            raise ModelError(f"zoo.json: {model.name} names {partner}, which has no entry")
    return models, base_url


def _optional_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


def _entry(name: str, item: dict) -> ZooModel:
    def bad(why: str) -> ModelError:
        return ModelError(f"zoo.json: entry {name!r}: {why}")

    if not _NAME.fullmatch(name):
        raise bad("not a valid model name")
    try:
        model = ZooModel(
            name=name,
            kind=item["kind"],
            preset=item["preset"],
            file=item["file"],
            sha256=item["sha256"],
            size=int(item["size"]),
            license=item["license"],
            released=item["released"],
            commit=item["commit"],
            description=item.get("description", ""),
            retired=item.get("retired", ""),
            shipped=bool(item.get("shipped", False)),
            default=bool(item.get("default", False)),
            asset=item.get("asset", ""),
            bitstream_version=item.get("bitstream_version", "1.0"),
            decode_modes=tuple(item.get("decode_modes", ["fast"])),
            generative=item.get("generative", ""),
            codec=item.get("codec", ""),
            auto_generative_up_to=_optional_int(item.get("auto_generative_up_to")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise bad(f"missing or invalid field {exc}") from exc
    if model.kind not in KINDS:
        raise bad(f"kind {model.kind!r} is not one of {KINDS}")
    if not _FILE.fullmatch(model.file) or (model.asset and not _FILE.fullmatch(model.asset)):
        raise bad("file and asset must be plain *.safetensors names")
    if not _SHA256.fullmatch(model.sha256) or model.size <= 0:
        raise bad("sha256 must be 64 lowercase hex digits and size positive")
    if model.shipped and model.retired:
        raise bad("a retired model is not shipped")
    return model


@lru_cache(maxsize=1)
def load(path: Path = ZOO_FILE) -> tuple[dict[str, ZooModel], str | None]:
    """The package's zoo (parsed once per process); an empty zoo when the file is absent."""
    if not path.is_file():
        return {}, None
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    return parse(document)


def models() -> dict[str, ZooModel]:
    """Every released model by name, codecs and generative decoders, in zoo.json's order."""
    return load()[0]


def base_url() -> str | None:
    """The release-asset location zoo.json names (``None``: not published yet)."""
    return load()[1]


def find_by_sha256(digest: str) -> ZooModel | None:
    """The released model whose file has this sha256, if any."""
    return next((m for m in models().values() if m.sha256 == digest), None)
