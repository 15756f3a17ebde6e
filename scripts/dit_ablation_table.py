"""Markdown table of DiT decoder comparisons (``train_dit compare --out`` files), one row per variant
and quality: the table of docs/dit.md's ablations.

    python scripts/dit_ablation_table.py docs/results/dit_ablation/onestep-base.json \\
        docs/results/dit_ablation/no-guidance.json ...

The fast decode and (where a file has it) the multi-step prior appear once per quality, from the first
file holding them; each file's ``onestep`` rows are named after the file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

METRICS = ("bpp", "psnr", "grad_ratio", "lap_ratio", "niqe")


def means(rows: list[dict], quality: int, decoder: str) -> list[str] | None:
    """Formatted per-metric means over the images; "n/a" where no image has the metric (NIQE of
    images under 193 px)."""
    group = [r for r in rows if r["quality"] == quality and r["decoder"] == decoder]
    if not group:
        return None
    out = []
    for metric, digits in zip(METRICS, (3, 2, 3, 4, 2), strict=True):
        values = [r[metric] for r in group if r[metric] is not None]
        out.append(f"{np.mean(values):.{digits}f}" if values else "n/a")
    return out


def main(paths: list[str]) -> None:
    files = {Path(p).stem: json.loads(Path(p).read_text()) for p in paths}
    qualities = sorted({r["quality"] for rows in files.values() for r in rows})
    images = sorted({r["image"] for rows in files.values() for r in rows})
    print(f"{len(images)} images ({', '.join(images)})\n")
    print("| quality | decoder | bpp | PSNR dB | grad ratio | Laplacian ratio | NIQE |")
    print("|---|---|---|---|---|---|---|")
    for q in qualities:
        lines = []
        for decoder in ("fast", "multistep"):
            found = next((m for rows in files.values() if (m := means(rows, q, decoder))), None)
            if found:
                lines.append((decoder if decoder == "fast" else "multi-step prior (8 Euler steps)", found))
        lines += [(name, m) for name, rows in files.items() if (m := means(rows, q, "onestep"))]
        for name, cells in lines:
            print(f"| {q} | {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main(sys.argv[1:])
