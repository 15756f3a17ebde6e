"""The license of every image: Debian copyright files (DEP-5 and free-form) plus what packages state
elsewhere, and which licenses let an extra package's photo into the training set."""

from __future__ import annotations

import fnmatch
import re
from pathlib import PurePosixPath

_SPDX_WORDS = (  # free-form copyright text -> SPDX-like id; first match wins, so longer names first
    ("Attribution-ShareAlike 4.0", "CC-BY-SA-4.0"),
    ("Attribution-ShareAlike 3.0", "CC-BY-SA-3.0"),
    ("Attribution-ShareAlike 2.0", "CC-BY-SA-2.0"),
    ("Attribution 4.0", "CC-BY-4.0"),
    ("Attribution 2.0", "CC-BY-2.0"),
    ("GNU General Public License", "GPL-2+"),
)


def _spdx(text: str) -> str | None:
    return next((sid for words, sid in _SPDX_WORDS if words in text), None)


Rule = tuple[list[str], str, str]  # (file globs, license, copyright holders)

_LXQT_WALLPAPERS = "usr/share/lxqt/wallpapers/"
_LXQT_LICENSE = "(usr/share/lxqt/wallpapers/License)"
_PALAPELI = "usr/share/palapeli/collection/"
# Licenses that a package states outside its copyright file, for files that file covers only with its
# catch-all "Files: *" paragraph. They are added after the copyright file's paragraphs, so they win
# (the last match wins); the holder names where the statement is.
EXTRA_LICENSE_RULES: dict[str, list[Rule]] = {
    # debian/copyright: "Files: *" LGPL-2.1+; the wallpapers folder's own License file puts all
    # wallpapers under CC-BY-SA-3.0 and credits eight of the photos to stefonarch.
    "lxqt-themes": [
        (
            [_LXQT_WALLPAPERS + "Butterfly-Kenneth-Wimer.jpg"],
            "CC-BY-SA-3.0",
            "2022 LXQt Project Team; photo: Kenneth Wimer (as the file name says) " + _LXQT_LICENSE,
        ),
        (
            [_LXQT_WALLPAPERS + f for f in ("Valendas.png", "cloud.png")],
            "CC-BY-SA-3.0",
            "2022 LXQt Project Team " + _LXQT_LICENSE,
        ),
        (
            [
                _LXQT_WALLPAPERS + f
                for f in (
                    "after-the-rain.jpg",
                    "appleflower.png",
                    "beam.png",
                    "butterfly.png",
                    "drop.png",
                    "flowers.png",
                    "fog.jpg",
                    "this-is-not-windows.jpg",
                )
            ],
            "CC-BY-SA-3.0",
            "2022 LXQt Project Team; photo: stefonarch <standreas@riseup.net> " + _LXQT_LICENSE,
        ),
    ],
    # debian/copyright: "Files: *" GPL-2+; each puzzle's .desktop file names author and license.
    "palapeli-data": [
        (
            [_PALAPELI + "cincinnati-bridge.jpg"],
            "public-domain",
            "Derek Jensen (" + _PALAPELI + "cincinnati-bridge.desktop)",
        ),
        (
            [_PALAPELI + "citrus-fruits.jpg"],
            "public-domain",
            "US Department of Agriculture (" + _PALAPELI + "citrus-fruits.desktop)",
        ),
        (
            [_PALAPELI + "european-honey-bee.jpg"],
            "public-domain",
            "John Severns (" + _PALAPELI + "european-honey-bee.desktop)",
        ),
        (
            [_PALAPELI + "panther-chameleon-female.jpg"],
            "GFDL",
            "B. Navez and others (" + _PALAPELI + "panther-chameleon-female.desktop)",
        ),
    ],
}


# Licenses under which an extra package's photo is added: free to redistribute, to train on and to
# show crops of (with attribution for CC-BY*). GFDL (which wants its full text beside every copy) and
# anything unknown are left out.
FREE_LICENSE_PREFIXES = ("CC0", "CC-BY-", "GPL-", "LGPL-", "public-domain", "BSD-", "MIT", "Expat")


def is_free_license(lic: str) -> bool:
    """True when one of the ``OR`` alternatives of ``lic`` starts with a ``FREE_LICENSE_PREFIXES`` id.

    ``CC-BY-`` covers CC-BY-SA-*; the non-commercial and no-derivatives variants do not count.
    """
    for alt in lic.split(" OR "):
        alt = alt.strip()
        if re.search(r"-(NC|ND)\b", alt):
            continue
        if alt.startswith(FREE_LICENSE_PREFIXES):
            return True
    return False


def parse_copyright(text: str) -> tuple[list[Rule], list[str]]:
    """Parse a Debian copyright file into ``([(file globs, license, copyright)], package-wide licenses)``.

    Machine-readable (DEP-5) files give ``Files:``/``Copyright:``/``License:`` paragraphs. Old
    free-form files (gnome-backgrounds) list `` - name:`` items, then "Copyright ..." lines and a
    "Licensed under ..." line; the licenses of their ``Licenses:`` section are the package-wide fallback.
    """
    rules: list[Rule] = []
    if text.lstrip().startswith("Format:"):
        for para in re.split(r"\n\s*\n", text):
            files = re.search(r"^Files:(.*(?:\n[ \t]+\S.*)*)", para, re.M)
            holder = re.search(r"^Copyright:(.*(?:\n[ \t]+\S.*)*)", para, re.M)
            lic = re.search(r"^License:[ \t]*(\S.*)$", para, re.M)
            if files and lic:
                who = (
                    "; ".join(x.strip() for x in holder.group(1).splitlines() if x.strip()) if holder else ""
                )
                rules.append((files.group(1).split(), lic.group(1).strip(), who))
        overall = [lic for globs, lic, _ in rules if "*" in globs]
        return rules, overall or sorted({lic for _, lic, _ in rules})
    pending: list[str] = []
    holders: list[str] = []
    for line in text.splitlines():
        item = re.match(r"^\s*-\s+(\S+?):?\s*$", line)
        if item:
            if holders:  # a new list after a finished one
                pending, holders = [], []
            pending.append(item.group(1))
        elif pending and line.strip().startswith("Copyright"):
            holders.append(line.strip().removeprefix("Copyright").strip(" ©"))
        elif pending and "Licensed under" in line:
            lic = _spdx(line)
            if lic:
                rules.append((pending, lic, "; ".join(holders)))
            pending, holders = [], []
    section = text.split("\nLicenses:", 1)[1] if "\nLicenses:" in text else text
    overall = sorted({sid for words, sid in _SPDX_WORDS if words in section})
    return rules, overall


def _glob_matches(pattern: str, path: str) -> bool:
    parts = PurePosixPath(path).parts
    if any(fnmatch.fnmatchcase("/".join(parts[i:]), pattern) for i in range(len(parts))):
        return True
    # Upstream paths differ from installed ones (lomiri's "16.04/x.jpg" lands in usr/share/backgrounds/):
    # fall back to the file name, unless the pattern's name is a bare wildcard ("debian/*").
    base = PurePosixPath(pattern).name
    return base.strip("*?") != "" and fnmatch.fnmatchcase(parts[-1], base)


def license_for(path: str, rules: list[Rule], overall: list[str]) -> dict:
    """License of ``path`` (inside the package): ``{"license", "license_scope", "copyright"}``.

    As DEP-5 says, the last matching paragraph wins. ``license_scope`` is ``per-file`` when a paragraph
    names the file (or its folder), ``package-wide`` for a catch-all ``*`` or a file the copyright
    file does not list (then ``license`` joins the package's licenses with OR).
    """
    found = None
    for globs, lic, who in rules:
        hit = [g for g in globs if _glob_matches(g, path)]
        if hit:
            found = {
                "license": lic,
                "license_scope": "package-wide" if hit == ["*"] else "per-file",
                "copyright": who,
            }
    return found or {
        "license": " OR ".join(overall) or "unknown",
        "license_scope": "package-wide",
        "copyright": "",
    }
