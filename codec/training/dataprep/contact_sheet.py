"""Contact sheets to check the classification and the duplicates by eye: the overrides in
:mod:`.classify` come from looking at them."""

from __future__ import annotations

import math
import re
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .classify import KIND_OVERRIDES
from .scan import Candidate

# The image a duplicate was dropped for, named in the reason dedupe() gives.
_TWIN = re.compile(r"(?:same file as|near-duplicate of) (\S+)")


def contact_sheet(items: list[tuple[Image.Image, str]], path: Path, cols: int = 8, cell: int = 240) -> None:
    """Grid of thumbnails with a caption under each, for checking kinds and duplicates by eye."""
    font = ImageFont.load_default(size=12)
    rows = max(1, math.ceil(len(items) / cols))
    cap = 32
    sheet = Image.new("RGB", (cols * cell, rows * (cell + cap)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for i, (im, caption) in enumerate(items):
        x, y = (i % cols) * cell, (i // cols) * (cell + cap)
        t = im.copy()
        t.thumbnail((cell - 8, cell - 8), Image.Resampling.LANCZOS)
        sheet.paste(t, (x + (cell - t.width) // 2, y + (cell - t.height) // 2))
        for j, line in enumerate(caption.split("\n")[:2]):
            draw.text((x + 4, y + cell + 2 + 14 * j), line[:38], fill=(0, 0, 0), font=font)
    sheet.save(path)


def write_contact_sheets(
    out: Path,
    kept: list[Candidate],
    dups: list[tuple[Candidate, str]],
    previews: dict[str, Image.Image],
    eval_hr_ids: set[str],
    overrides: dict[str, str] = KIND_OVERRIDES,
) -> None:
    """``contact_sheet.png``: every kept image with kind (``*`` = override), flat share and split;
    ``contact_sheet_dropped.png``: each dropped duplicate beside the image that stays."""

    def caption(c: Candidate) -> str:
        alias, name = c.id.split("/", 1)
        mark = "*" if c.id in overrides else ""
        split = " EVAL_HR" if c.id in eval_hr_ids else ""
        return f"{name}\n{alias} {c.kind}{mark} flat {c.features['flat']:.2f}{split}"

    contact_sheet([(previews[c.id], caption(c)) for c in kept], out / "contact_sheet.png")
    pairs = []
    for c, why in dups:
        twin = _TWIN.search(why).group(1)
        if c.id in previews and twin in previews:
            pairs += [
                (previews[c.id], f"{c.id}\ndropped duplicate"),
                (previews[twin], f"{twin}\nkept"),
            ]
    if pairs:
        contact_sheet(pairs, out / "contact_sheet_dropped.png", cols=4)
