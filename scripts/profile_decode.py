"""Where the decode time goes, op by op: ``torch.profiler`` over repeated decodes of the bench image.

Question: which operators and runtime calls take the decode time that ``bench.py``'s sections miss?
When: while optimising decode speed (findings are recorded in docs/history.md, "Where the untimed time went").
Output: the top rows by CPU and by device time on stdout; ``--out FILE`` as JSON.

    python scripts/profile_decode.py --device cuda --size 1920x1080 --mode generative --out prof.json

``scripts/bench.py`` splits a decode into named sections (networks, exact entropy networks, rANS, DiT
step); on the GPU ~45 ms of a 1080p decode fell in none of them. This script answers where: it records
every operator and CUDA runtime call (synchronisations and host-device copies included) over
``--repeats`` decodes after a warm-up, and prints the top rows by self CPU time and by device time, plus
the wall time per decode with and without the profiler (the profiler adds its own overhead). The top
rows also go to ``--out`` as JSON, so a GPU run can bring them back.
"""

from __future__ import annotations

import json
import time

import click
import torch
from bench import prepare_generative, sample_image  # scripts/ is on sys.path when run as a script
from torch.profiler import ProfilerActivity, profile


def _device_key(events) -> str:
    """The attribute name of an event's own device time (renamed from ``cuda`` in torch 2.4)."""
    renamed = hasattr(events[0], "self_device_time_total")
    return "self_device_time_total" if renamed else "self_cuda_time_total"


def _rows(averages, key: str, limit: int) -> list[dict]:
    device_key = _device_key(averages)
    key = device_key if key == "device" else key
    events = sorted(averages, key=lambda e: getattr(e, key), reverse=True)[:limit]
    return [
        {
            "name": e.key,
            "calls": e.count,
            "self_cpu_ms": round(e.self_cpu_time_total / 1000, 2),
            "cpu_total_ms": round(e.cpu_time_total / 1000, 2),
            "self_device_ms": round(getattr(e, device_key, 0) / 1000, 2),
        }
        for e in events
    ]


@click.command()
@click.option("--device", default="cpu", help="cpu or cuda.")
@click.option("--size", default="1920x1080", help="WxH of the bench image.")
@click.option("--quality", type=int, default=50)
@click.option("--mode", type=click.Choice(["fast", "generative"]), default="fast")
@click.option("--model", default=None, help="Registry model name (default model if omitted).")
@click.option("--untrained-decoder", default=None, help="As in bench.py.")
@click.option("--codec-file", type=click.Path(exists=True), default=None, help="Profile this codec file.")
@click.option("--decoder-file", type=click.Path(exists=True), default=None, help="Pair it with this decoder.")
@click.option("--repeats", type=int, default=5)
@click.option("--top", type=int, default=25, help="Rows per table.")
@click.option("--out", type=click.Path(), default=None, help="Write the tables as JSON here.")
def main(
    device: str,
    size: str,
    quality: int,
    mode: str,
    model: str | None,
    untrained_decoder: str | None,
    codec_file: str | None,
    decoder_file: str | None,
    repeats: int,
    top: int,
    out: str | None,
) -> None:
    import dicodec

    if device == "cuda" and not torch.cuda.is_available():
        raise click.ClickException("no GPU here")
    if codec_file:
        from dicodec.codec import registry

        model = registry.register_files(codec_file, decoder_file, suffix="-profiled")
    decoder = prepare_generative(model, untrained_decoder) if mode == "generative" else None
    width, height = (int(v) for v in size.split("x"))
    data = dicodec.encode(sample_image(width, height), quality=quality, model=model, device=device)

    def decode_once() -> float:
        t0 = time.perf_counter()
        dicodec.decode(data, device=device, mode=mode)
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    decode_once()  # warm-up
    plain = sorted(decode_once() for _ in range(repeats))[repeats // 2]
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=activities) as prof:
        profiled = sorted(decode_once() for _ in range(repeats))[repeats // 2]
    result = {
        "device": device,
        "gpu": torch.cuda.get_device_name() if device == "cuda" else None,
        "size": size,
        "quality": quality,
        "mode": mode,
        "decoder": decoder,
        "bytes": len(data),
        "repeats": repeats,
        "decode_ms_median": round(1000 * plain, 1),
        "decode_ms_median_profiled": round(1000 * profiled, 1),
    }
    averages = prof.key_averages()
    result["by_self_cpu"] = _rows(averages, "self_cpu_time_total", top)
    if device == "cuda":
        result["by_self_device"] = _rows(averages, "device", top)
    click.echo(
        f"{device} {size} {mode}: {result['decode_ms_median']} ms per decode "
        f"({result['decode_ms_median_profiled']} ms under the profiler); totals over {repeats} decodes"
    )
    click.echo(averages.table(sort_by="self_cpu_time_total", row_limit=top))
    if device == "cuda":
        click.echo(averages.table(sort_by=_device_key(averages), row_limit=top))
    if out:
        with open(out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
