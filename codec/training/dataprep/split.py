"""Which images are held out: four large photos for the high-resolution eval set; the rest trains.

Extra packages never feed the held-out set and add only free-licensed photos, so the default pack and
eval sets do not change when they are requested.
"""

from __future__ import annotations

import hashlib

from .licenses import is_free_license
from .scan import Candidate

EVAL_HR_COUNT = 4
EVAL_HR_MIN_LONG_SIDE = 2048
EVAL_HR_MAX_LONG_SIDE = 2560  # eval PNGs stay small enough to carry; Lanczos-downscaled to this
# At most 2560 px long, a 16:9 photo keeps 2560x1440 (3.7 MP): to test at 2048x2048-equivalent sizes
# and above, an eval_hr photo must still have 2048*2048 pixels after that cap (4:3, 3:2 or portrait).
EVAL_HR_MIN_PIXELS = 2048 * 2048
# Held out first, chosen by eye for diversity (macro with bokeh, mountain landscape, portrait-format
# interior, dense water/rock texture); if one is missing (package failed), choose_eval_hr() fills up.
EVAL_HR_PREFERRED = (
    "lomiri/Dragonfly_by_Bolly",
    "lomiri/picosdeeuropa_by_Aitzol_Berasategi",
    "lomiri/Wine_by_Jakkub_Mede",
    "lomiri/life_by_Aitzol_Berasategi",
)


def eval_hr_eligible(width: int, height: int) -> bool:
    """Large enough for ``eval_hr``: see ``EVAL_HR_MIN_LONG_SIDE`` and ``EVAL_HR_MIN_PIXELS``."""
    s = min(1.0, EVAL_HR_MAX_LONG_SIDE / max(width, height))
    return (
        max(width, height) >= EVAL_HR_MIN_LONG_SIDE
        and round(width * s) * round(height * s) >= EVAL_HR_MIN_PIXELS
    )


def _stable_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def choose_eval_hr(
    images: list[dict], preferred: tuple[str, ...] = EVAL_HR_PREFERRED, count: int = EVAL_HR_COUNT
) -> list[str]:
    """Ids of the held-out high-resolution photos.

    ``images``: dicts with ``id``, ``package``, ``kind``, ``size`` ([w, h]). Eligible: photos with a long
    side >= ``EVAL_HR_MIN_LONG_SIDE`` that keep ``EVAL_HR_MIN_PIXELS`` after the ``EVAL_HR_MAX_LONG_SIDE``
    cap. ``preferred`` ids come first; the rest are filled in sha256(id) order, taking packages not yet
    represented before repeating one. Depends only on the ids and their attributes, never on input order.
    """
    eligible = {d["id"]: d for d in images if d["kind"] == "photo" and eval_hr_eligible(*d["size"])}
    chosen = [i for i in preferred if i in eligible][:count]
    rest = sorted((i for i in eligible if i not in chosen), key=_stable_hash)
    while len(chosen) < count and rest:
        used = {eligible[i]["package"] for i in chosen}
        pick = next((i for i in rest if eligible[i]["package"] not in used), rest[0])
        chosen.append(pick)
        rest.remove(pick)
    return sorted(chosen)


def extra_drop_reason(c: Candidate, lic: str) -> str | None:
    """Why an image of an extra package is not added (``None``: it is): only free-licensed photos are."""
    if c.kind != "photo":
        return "extra package: graphics (only photos are added)"
    if not is_free_license(lic):
        return f"extra package: license {lic} not accepted"
    return None
