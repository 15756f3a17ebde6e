"""The manifest: one record per image (source, license, kind, split, files with their hashes), the
parameters of the run, and a schema check that training and evaluation code rely on."""

from __future__ import annotations

import re

from .classify import PHOTO_MAX_FLAT
from .dedupe import DUP_MAX_MAD, DUP_MIN_CORR
from .pack import PACK_MIN_SHORT_SIDE, PACKAGE_DOWNSCALE
from .scan import MIN_PIXELS, PACKAGE_MIN_PIXELS, Candidate
from .split import EVAL_HR_MAX_LONG_SIDE

MANIFEST_VERSION = 1
GENERATOR = "dicodec data prepare"
RULE = "never train on eval/ or eval_hr/ images (split != 'train')"


def manifest_params(
    pack_long_side: int,
    quality: int,
    overrides: dict[str, str],
    extra_names: list[str],
    extra: frozenset[str],
) -> dict:
    """The run's thresholds and pack settings; the per-package ones only for requested extra packages.

    Args:
        pack_long_side: the long side the pack was built at (after shrinking to the budget).
        quality: JPEG quality of the pack.
        overrides: the kind overrides applied.
        extra_names: the extra packages as requested (after expanding named sets).
        extra: the resolved names of the extra packages that were downloaded.
    """
    return {
        "min_pixels": MIN_PIXELS,
        "pack_long_side": pack_long_side,
        "pack_quality": quality,
        "pack_subsampling": "4:4:4",
        "eval_hr_max_long_side": EVAL_HR_MAX_LONG_SIDE,
        "dup_max_mad": DUP_MAX_MAD,
        "dup_min_corr": DUP_MIN_CORR,
        "photo_max_flat": PHOTO_MAX_FLAT,
        "kind_overrides": overrides,
        **({"extra_packages": extra_names} if extra_names else {}),
        **{
            key: {p: v for p, v in table.items() if p in extra}
            for key, table in (
                ("package_min_pixels", PACKAGE_MIN_PIXELS),
                ("package_downscale", PACKAGE_DOWNSCALE),
                ("pack_min_short_side", dict.fromkeys(PACKAGE_DOWNSCALE, PACK_MIN_SHORT_SIDE)),
            )
            if extra & table.keys()
        },
    }


def build_manifest(
    params: dict,
    packages: list[dict],
    images: list[dict],
    eval_low: list[dict],
    dropped: list[tuple[Candidate, str]],
    symlinks: int,
) -> dict:
    """The manifest (schema in docs/data.md); totals are counted from ``images`` and ``eval_low``.

    Args:
        params: :func:`manifest_params`.
        packages: one download record per requested package (``download_packages``), sorted by name.
        images: :func:`image_record` of every kept image, sorted by id.
        eval_low: the low-resolution eval records (``collect_eval_lowres``).
        dropped: every raster file not kept, with the reason.
        symlinks: symlinks skipped while scanning.
    """
    train = [d for d in images if d["split"] == "train"]
    return {
        "version": MANIFEST_VERSION,
        "generator": GENERATOR,
        "rule": RULE,
        "params": params,
        "packages": packages,
        "totals": {
            "images": len(images),
            "photo": sum(d["kind"] == "photo" for d in images),
            "graphics": sum(d["kind"] == "graphics" for d in images),
            "train": len(train),
            "train_photo": sum(d["kind"] == "photo" for d in train),
            "train_graphics": sum(d["kind"] == "graphics" for d in train),
            "eval_hr": sum(d["split"] == "eval_hr" for d in images),
            "eval": len(eval_low),
            "pack_bytes": sum(d["pack_bytes"] for d in train),
            "symlinks_skipped": symlinks,
        },
        "images": images,
        "eval": eval_low,
        "dropped": sorted(
            ({"package": c.package, "path": c.path, "reason": why} for c, why in dropped),
            key=lambda d: (d["package"], d["path"]),
        ),
    }


def image_record(c: Candidate, version: str, lic: dict, split: str, files: dict | None) -> dict:
    """One ``images`` record: where the image comes from, its license, kind, split and written file.

    ``files`` is the pack entry of a train image or the eval entry of an eval_hr one.
    """
    files = files or {}
    rec = {
        "id": c.id,
        "package": c.package,
        "package_version": version,
        "path": c.path,
        "license": lic["license"],
        "license_scope": lic["license_scope"],
        "copyright": lic["copyright"],
        "original_size": [c.width, c.height],
        "original_sha256": c.sha256,
        "kind": c.kind,
        "features": c.features,
        "split": split,
    }
    for prefix in ("pack", "eval"):
        f = files if split == ("train" if prefix == "pack" else "eval_hr") else {}
        rec.update(
            {
                f"{prefix}_file": f.get("file"),
                f"{prefix}_bytes": f.get("bytes"),
                f"{prefix}_size": f.get("size"),
                f"{prefix}_sha256": f.get("sha256"),
            }
        )
    return rec


IMAGE_KEYS = tuple(
    "id package package_version path license license_scope copyright original_size original_sha256 kind "
    "features split pack_file pack_bytes pack_size pack_sha256 eval_file eval_bytes eval_size "
    "eval_sha256".split()
)


EVAL_KEYS = ("file", "source", "path", "license", "package_license", "size", "original_mode", "sha256")


def validate_manifest(m: dict) -> None:
    """Raise ValueError when ``m`` breaks the schema that training/eval code relies on."""

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise ValueError(f"manifest: {what}")

    need(m.get("version") == MANIFEST_VERSION, "version")
    need(isinstance(m.get("images"), list) and isinstance(m.get("eval"), list), "images/eval lists")
    ids = [d.get("id") for d in m["images"]]
    need(len(ids) == len(set(ids)) and ids == sorted(ids), "ids unique and sorted")
    for d in m["images"]:
        need(set(d) == set(IMAGE_KEYS), f"keys of {d.get('id')}")
        need(d["kind"] in ("photo", "graphics"), f"kind of {d['id']}")
        need(d["split"] in ("train", "eval_hr"), f"split of {d['id']}")
        in_pack, in_eval = d["pack_file"] is not None, d["eval_file"] is not None
        need(
            in_pack == (d["split"] == "train") and in_eval == (d["split"] == "eval_hr"), f"files of {d['id']}"
        )
        sha = d["pack_sha256"] if in_pack else d["eval_sha256"]
        need(isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha) is not None, f"sha256 of {d['id']}")
    for e in m["eval"]:
        need(set(e) == set(EVAL_KEYS), f"keys of eval {e.get('file')}")
    need(not {e["file"] for e in m["eval"]} & {d["eval_file"] for d in m["images"]}, "eval file names clash")
