"""A training folder with ``photo/`` and ``graphics/`` subfolders, for a weighted data mix.

``dicodec train --mix photo=0.75,graphics=0.25`` samples each top-level subfolder of ``--data`` with the
given weight. :func:`write_mix_pack` builds such a folder from the pack and manifest of ``dicodec data
prepare``: every training photo, and every second graphic (by file name) while the graphics stay under
a budget (the folder travels to the GPU machine next to the source tree, 64 MiB in all). It is how the
``hp32-v2`` training folder was made (docs/history.md).

A folder larger than one device call carries is cut into shards: ``OUT/part-1``, ``OUT/part-2`` ...,
each with its own ``photo/`` and ``graphics/`` and at most that many bytes, filled in file-name order
with the graphics first (``scripts/gpu_long_run.sh stage`` merges them on the machine).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .errors import DataError
from .files import log

Mix = dict[str, list[dict]]  # "photo" / "graphics" -> manifest records


def choose(images: list[dict], graphics_bytes: float) -> Mix:
    """Every train photo, and every second train graphic (by pack file name) within ``graphics_bytes``."""
    train = [i for i in images if i["split"] == "train"]
    photos = [i for i in train if i["kind"] == "photo"]
    graphics = sorted((i for i in train if i["kind"] == "graphics"), key=lambda i: i["pack_file"])[::2]
    chosen: Mix = {"photo": photos, "graphics": []}
    budget = 0
    for item in graphics:
        if budget + item["pack_bytes"] <= graphics_bytes:
            chosen["graphics"].append(item)
            budget += item["pack_bytes"]
    return chosen


def shards(chosen: Mix, limit: float) -> list[Mix]:
    """Consecutive parts of at most ``limit`` bytes each, graphics first, then photos by file name."""
    order = [(g, i) for g in ("graphics", "photo") for i in sorted(chosen[g], key=lambda i: i["pack_file"])]
    parts: list[Mix] = [{"photo": [], "graphics": []}]
    size = 0
    for group, item in order:
        if item["pack_bytes"] > limit:
            raise DataError(f"{item['pack_file']} alone is over the shard size")
        if size + item["pack_bytes"] > limit:
            parts.append({"photo": [], "graphics": []})
            size = 0
        parts[-1][group].append(item)
        size += item["pack_bytes"]
    return parts


def write_mix_pack(
    pack: Path, manifest: Path, out: Path, graphics_bytes: float, shard_bytes: float = 0
) -> list[Path]:
    """Copy the chosen pack files into ``out/{photo,graphics}`` (or ``out/part-N/...``); the folders made.

    Args:
        pack: the ``pack/`` folder of ``dicodec data prepare``.
        manifest: its ``manifest.json`` (or the committed copy, ``docs/data_manifest.json``).
        out: folder to create.
        graphics_bytes: budget for the graphics.
        shard_bytes: cut into ``out/part-N`` of at most this many bytes each; 0 for one folder.
    """
    chosen = choose(json.loads(manifest.read_text())["images"], graphics_bytes)
    for group, items in chosen.items():
        size = sum(i["pack_bytes"] for i in items) / 1e6
        log(f"{group}: {len(items)} images, {size:.1f} MB")
    placed = shards(chosen, shard_bytes) if shard_bytes else [chosen]
    roots = []
    for n, part in enumerate(placed, 1):
        root = out / f"part-{n}" if shard_bytes else out
        for group, items in part.items():
            folder = root / group
            folder.mkdir(parents=True, exist_ok=True)
            for item in items:
                source = pack / item["pack_file"]
                if not source.is_file():
                    raise DataError(f"{source} is missing: run 'dicodec data prepare' first")
                shutil.copy2(source, folder / item["pack_file"])
        if shard_bytes:
            size = sum(i["pack_bytes"] for items in part.values() for i in items) / 1e6
            log(f"{root}: {sum(map(len, part.values()))} images, {size:.1f} MB")
        roots.append(root)
    return roots
