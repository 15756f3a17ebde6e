"""Markdown table of DiT decoder comparisons (``train_dit compare --out`` files), one row per variant
and quality: the table of docs/dit.md's ablations.

    python scripts/dit_ablation_table.py docs/results/dit_ablation/onestep-base.json \\
        docs/results/dit_ablation/no-guidance.json ...

The fast decode and (where a file has it) the multi-step prior appear once per quality, from the first
file holding them; each file's ``onestep`` rows are named after the file.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from dicodec.codec.training.dit_evaluation import compare_means

DIGITS = {"bpp": 3, "psnr": 2, "grad_ratio": 3, "lap_ratio": 4, "niqe": 2}


def cells(rows: list[dict], quality: int, decoder: str) -> list[str] | None:
    """Formatted means over the images (``train_dit.compare_means``), "n/a" where no image has the
    metric; None if the file has no such rows."""
    if not any(r["quality"] == quality and r["decoder"] == decoder for r in rows):
        return None
    means = compare_means(rows, quality, decoder)
    return ["n/a" if math.isnan(v) else f"{v:.{DIGITS[m]}f}" for m, v in means.items()]


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
            found = next((c for rows in files.values() if (c := cells(rows, q, decoder))), None)
            if found:
                lines.append((decoder if decoder == "fast" else "multi-step prior", found))
        lines += [(name, c) for name, rows in files.items() if (c := cells(rows, q, "onestep"))]
        for name, row in lines:
            print(f"| {q} | {name} | {' | '.join(row)} |")


if __name__ == "__main__":
    main(sys.argv[1:])
