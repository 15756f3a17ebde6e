"""Which Debian packages the images come from, and getting them: ``apt-get download`` + ``dpkg -x``.

Nothing is installed: each ``.deb`` is downloaded into ``<out>/debs`` and extracted into
``<out>/raw/<package>``; both are reused on re-runs. A package that cannot be had is recorded in the
manifest with its error instead of stopping the run.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from .files import log, run_command

# The default packages: the documented pack (docs/data.md) is built from these five.
PACKAGES = (
    "plasma-workspace-wallpapers",
    "mate-backgrounds",
    "lomiri-wallpapers-16.04",
    "ukui-wallpapers",
    "gnome-backgrounds",
)

# Short names for image ids; a package not listed here is named in full.
PACKAGE_ALIASES = {
    "plasma-workspace-wallpapers": "plasma",
    "mate-backgrounds": "mate",
    "lomiri-wallpapers": "lomiri",
    "lomiri-wallpapers-16.04": "lomiri",
    "lomiri-wallpapers-20.04": "lomiri",
    "ukui-wallpapers": "ukui",
    "gnome-backgrounds": "gnome",
    "lxqt-themes": "lxqt",
    "palapeli-data": "palapeli",
    "tuxpaint-data": "tuxpaint",
    "digikam-data": "digikam",
    "gcompris-qt-data": "gcompris",
    "enlightenment-data": "enlightenment",
}

# Extra packages (``--extra-packages photos``): more camera photos, found in Debian 12 and checked by
# eye. They are scanned like the default packages, but only their photos with a free license are
# added (train split only), so the default pack, eval sets and manifest stay byte for byte the same.
EXTRA_PHOTO_PACKAGES = (
    "lxqt-themes",
    "lomiri-wallpapers-20.04",
    "palapeli-data",
    "tuxpaint-data",
    "digikam-data",
)

# Camera photos that two packages ship only inside application archives (codec/training/archives.py):
# GCompris' activity photos as lossy WebP in Qt resource files, Enlightenment's 4K backgrounds as JPEG in
# Eet archives. Checked by eye on the contact sheet; added like the extra photos above.
ARCHIVED_PHOTO_PACKAGES = (
    "gcompris-qt-data",
    "enlightenment-data",
)

PACKAGE_SETS = {  # named sets for --packages / --extra-packages
    "photos": EXTRA_PHOTO_PACKAGES,
    "archived-photos": ARCHIVED_PHOTO_PACKAGES,
}


def expand_packages(items: tuple[str, ...] | list[str]) -> list[str]:
    """Package names from repeated and comma-separated options; ``PACKAGE_SETS`` names are expanded.

    Order is kept, repeats are dropped.
    """
    out: list[str] = []
    for item in items:
        for name in (p.strip() for p in item.split(",")):
            for pkg in PACKAGE_SETS.get(name, (name,) if name else ()):
                if pkg not in out:
                    out.append(pkg)
    return out


def resolve_package(name: str) -> str | None:
    """Return ``name`` if apt knows it, else the closest ``apt-cache search`` hit for its words."""
    if run_command(["apt-cache", "show", name]).returncode == 0:
        return name
    words = [w for w in re.split(r"[-_.]", name) if w.isalpha()]
    if not words:
        return None
    res = run_command(["apt-cache", "search", "--names-only", *words])
    hits = sorted(line.split(" - ")[0].strip() for line in res.stdout.splitlines() if " - " in line)
    base = "-".join(words)
    hits = sorted(hits, key=lambda h: (not h.startswith(base), len(h), h))
    return hits[0] if hits else None


def find_deb(debs: Path, package: str) -> Path | None:
    """The newest ``<package>_*.deb`` in ``debs`` (by name), if any."""
    found = sorted(debs.glob(f"{package}_*.deb"))
    return found[-1] if found else None


def download_packages(packages: list[str], debs: Path, skip_download: bool) -> dict[str, dict]:
    """``apt-get download`` each package into ``debs`` (reused when already there).

    Returns ``{requested name: {"package", "deb", "status", "error"}}``; failures are recorded, not fatal.
    """
    debs.mkdir(parents=True, exist_ok=True)
    out: dict[str, dict] = {}
    for requested in packages:
        info = {
            "requested": requested,
            "package": requested,
            "version": None,
            "deb": None,
            "status": "ok",
            "error": None,
        }
        deb = find_deb(debs, requested)
        if deb is None and not skip_download:
            name = resolve_package(requested)
            if name is None:
                info.update(status="failed", error="not found by apt-cache show/search (apt-get update?)")
            else:
                info["package"] = name
                deb = find_deb(debs, name)
                if deb is None:
                    log(f"  apt-get download {name}")
                    res = run_command(["apt-get", "download", name], cwd=debs)
                    deb = find_deb(debs, name)
                    if deb is None:
                        info.update(status="failed", error=(res.stderr.strip().splitlines() or ["?"])[-1])
        elif deb is None:
            info.update(status="failed", error="--skip-download and no .deb in " + str(debs))
        if deb is not None:
            info["package"] = deb.name.split("_")[0]
            info["deb"] = deb.name
            info["version"] = run_command(["dpkg-deb", "-f", str(deb), "Version"]).stdout.strip()
        log(
            f"  {requested}: {info['status']}"
            + (f" ({info['deb']})" if info["deb"] else f": {info['error']}")
        )
        out[requested] = info
    return out


def extract_package(deb: Path, raw: Path, package: str) -> Path:
    """``dpkg -x`` into ``raw/<package>``; a marker beside it makes re-runs skip the extraction."""
    dest = raw / package
    marker = raw / f"{package}.extracted"
    if dest.is_dir() and marker.is_file() and marker.read_text().strip() == deb.name:
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    res = run_command(["dpkg", "-x", str(deb), str(dest)])
    if res.returncode != 0:
        raise RuntimeError(f"dpkg -x {deb.name} failed: {res.stderr.strip()}")
    marker.write_text(deb.name + "\n")
    return dest
