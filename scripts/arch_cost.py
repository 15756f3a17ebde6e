"""What an architecture preset costs over another: parameters, weights-file size and transform time.

Question: how many parameters and how much analysis + synthesis time does a new preset add?
When: before a GPU comparison of a new architecture preset (docs/training.md, "Residual autoencoding").
Output: one row per preset on stdout (and a JSON line): parameters, their increase over the first
preset, the fp16 transforms' megabytes, the median time of analysis + synthesis of one image and its
ratio to the first preset's.

    python scripts/arch_cost.py hp32d10 hp32r hp32rc [--size 256] [--repeats 15] [--threads 1]

Times are medians of ``--repeats`` passes after two warm-up passes, with the presets interleaved and
one thread by default; the ratio is the median over rounds of each round's ratio (one pass of every
preset, back to back), which a machine shared with other jobs disturbs less than a ratio of medians.
They compare presets, not machines.
"""

from __future__ import annotations

import json
import statistics
import time

import click
import torch

from dicodec.codec.config import PRESETS
from dicodec.codec.model import ImageCodec


@torch.no_grad()
def preset_costs(presets: list[str], size: int = 256, repeats: int = 15, device: str = "cpu") -> list[dict]:
    """Per preset: parameters, fp16 transform MB, the median seconds of analysis + synthesis and the
    median of its per-round ratio to the first preset's."""
    torch.manual_seed(0)
    models = {name: ImageCodec(PRESETS[name]).to(device).eval() for name in presets}
    x = torch.rand(1, 3, size, size, device=device)

    def run(model: ImageCodec) -> float:
        start = time.perf_counter()
        model.synthesis(model.analysis(x))
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - start

    times: dict[str, list[float]] = {name: [] for name in presets}
    for i in range(repeats + 2):
        for name, model in models.items():
            seconds = run(model)
            if i >= 2:
                times[name].append(seconds)
    base = sum(p.numel() for p in models[presets[0]].parameters())
    rows = []
    for name, model in models.items():
        params = sum(p.numel() for p in model.parameters())
        transforms = sum(p.numel() for p in [*model.analysis.parameters(), *model.synthesis.parameters()])
        rows.append({
            "preset": name, "parameters": params, "extra_parameters": params - base,
            "transform_mb_fp16": round(2 * transforms / 1e6, 2), "seconds": statistics.median(times[name]),
            "ratio": statistics.median(t / b for t, b in zip(times[name], times[presets[0]], strict=True)),
        })  # fmt: skip
    return rows


@click.command()
@click.argument("presets", nargs=-1, required=True, type=click.Choice(sorted(PRESETS)))
@click.option("--size", default=256, show_default=True, help="Side of the square image (multiple of 32).")
@click.option("--repeats", default=15, show_default=True, help="Timed passes per preset.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--threads", default=1, show_default=True, help="CPU threads of torch (0: torch's default).")
def main(presets: tuple[str, ...], size: int, repeats: int, device: str, threads: int) -> None:
    if threads:
        torch.set_num_threads(threads)
    rows = preset_costs(list(presets), size, repeats, device)
    for r in rows:
        click.echo(
            f"{r['preset']:10s} {r['parameters'] / 1e6:8.3f}M parameters ({r['extra_parameters']:+,d}), "
            f"transforms {r['transform_mb_fp16']:5.2f} MB fp16, analysis + synthesis of {size}x{size}: "
            f"{1000 * r['seconds']:7.1f} ms ({100 * (r['ratio'] - 1):+.1f}%)"
        )
    click.echo(json.dumps({"size": size, "device": device, "threads": torch.get_num_threads(), "rows": rows}))


if __name__ == "__main__":
    main()
