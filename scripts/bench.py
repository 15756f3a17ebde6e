"""Encode/decode speed and peak memory of the default codec at standard sizes, and end to end.

Question: how fast are encoding and decoding, and how much memory do they take, per device and size?
When: after a change to the coding or decoding path, and for the speed tables of docs/models.md and
docs/dit.md (on a GPU through ``scripts/gpu_bench.sh``).
Output: a table on stdout; ``--json-out FILE`` writes every row as JSON.

    python scripts/bench.py [--devices cpu,cuda] [--sizes 768x512,1920x1080,2048x2048] [--repeats 3]
    python scripts/bench.py --devices cpu --sizes 1920x1080 --qualities 10,50,90 --goal-ms 2000
    python scripts/bench.py --mode generative [--untrained-decoder dit-ic-s]
    python scripts/bench.py --end-to-end [--devices cpu,cuda] [--e2e-size 1920x1080] [--batch 100]
                            [--model NAME]

``--end-to-end`` times what a user waits for (:func:`end_to_end`): the ``dicodec`` command on one
file (start-up included), the same command on a folder of ``--batch`` copies of the image (wall time
per file: start-up paid once, file work overlapped), and the library with the model loaded
(``dicodec.Codec``). It also splits a fresh process's time before the first result into phases:
imports, device initialisation, weights, first call, later calls. The tables name the model timed.

``--mode generative`` times the DiT-IC decode (entropy decoding, one DiT step, synthesis) of the same
files. A model that ships no generative decoder can still be timed with ``--untrained-decoder PRESET``:
a randomly initialised decoder of that preset has exactly the cost of a trained one, and the rows say
``untrained`` so nobody mistakes them for a quality result.

Every (device, size) runs in a fresh subprocess so that peak host memory (ru_maxrss) belongs to that case
alone; GPU peak memory is torch.cuda.max_memory_allocated. Times are medians over ``--repeats`` after one
warm-up, split into the analysis/synthesis networks, the integer-exact entropy-parameter networks and
rANS coding. The input is the bundled sample photo resized to each size (realistic bit rates).
``--qualities`` times several qualities per size; ``--goal-ms`` marks each decode as meeting or missing a
target (issue 24: a 1080p fast decode in at most 2 s on 2 CPU cores). CPU rows also give the decode's
process CPU time split into user and system time, and its page faults: system time is where freed
memory handed back to the kernel shows (``codec/heap.py``).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import click
import numpy as np
import torch
from PIL import Image

from dicodec.arguments import PRECISIONS


def sample_image(width: int, height: int) -> np.ndarray:
    path = resources.files("dicodec") / "samples" / "coffee.png"
    with Image.open(str(path)) as im:
        return np.asarray(im.convert("RGB").resize((width, height), Image.BICUBIC)).copy()


def generative_source(entry, untrained: str | None) -> str:
    """``"shipped"`` or ``"untrained"``: which decoder the generative rows of ``entry`` will time."""
    from dicodec.codec.generative_decoder import GENERATIVE_PRESETS

    if "generative" in entry.decode_modes and entry.generative_weights is not None and not untrained:
        return "shipped"
    if not untrained:
        raise click.ClickException(
            f"model {entry.name} ships no generative decoder; pass --untrained-decoder "
            f"({', '.join(sorted(GENERATIVE_PRESETS))}) to time a randomly initialised one"
        )
    return "untrained"


def prepare_generative(model: str | None, untrained: str | None) -> str:
    """The decoder the generative rows time: the shipped one, or a random one of preset ``untrained``."""
    from dataclasses import replace

    from dicodec.codec import registry
    from dicodec.codec.dit import DIT_PRESETS
    from dicodec.codec.generative_decoder import GENERATIVE_PRESETS, GenerativeDecoder

    entry = registry.get_entry(model)
    if generative_source(entry, untrained) == "shipped":
        return f"{entry.name} (shipped)"
    torch.manual_seed(0)
    codec = registry.load(entry.name, "cpu")
    config = GENERATIVE_PRESETS[untrained]
    dit = replace(DIT_PRESETS[config.dit], in_channels=codec.config.latent_channels)
    decoder = GenerativeDecoder(config, dit).eval()
    registry.register_codec(replace(entry, decode_modes=("fast", "generative")), codec, generative=decoder)
    return f"untrained {untrained} (timing only)"


def run_case(
    device: str,
    width: int,
    height: int,
    quality: int,
    repeats: int,
    model: str | None,
    mode: str = "fast",
    untrained: str | None = None,
    precision: str = "float32",
) -> dict:
    import dicodec
    from dicodec.codec import timing

    decoder = prepare_generative(model, untrained) if mode == "generative" else None
    img = sample_image(width, height)
    data = dicodec.encode(img, quality=quality, model=model, device=device, precision=precision)
    dicodec.decode(data, device=device, mode=mode, precision=precision)  # warm-up
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    enc, dec = [], []
    for _ in range(repeats):
        timing.enable()
        t0 = time.perf_counter()
        data = dicodec.encode(img, quality=quality, model=model, device=device, precision=precision)
        total = time.perf_counter() - t0
        enc.append({"total": total, **timing.disable()})
    peak_encode = torch.cuda.max_memory_allocated() if device == "cuda" else 0
    if device == "cuda":  # the decode's own peak: the 2 GB goal of issue 6 is a decode goal
        torch.cuda.reset_peak_memory_stats()
    usage = []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_SELF)
        timing.enable()
        t0 = time.perf_counter()
        dicodec.decode(data, device=device, mode=mode, precision=precision)
        total = time.perf_counter() - t0
        dec.append({"total": total, **timing.disable()})
        after = resource.getrusage(resource.RUSAGE_SELF)
        usage.append(
            {
                "user_s": after.ru_utime - before.ru_utime,
                "sys_s": after.ru_stime - before.ru_stime,
                "page_faults": after.ru_minflt - before.ru_minflt,
            }
        )

    peak_decode = torch.cuda.max_memory_allocated() if device == "cuda" else 0

    def median(rows: list[dict]) -> dict:
        return {k: round(1000 * statistics.median(r.get(k, 0.0) for r in rows), 1) for k in rows[0]}

    return {
        "device": device,
        "size": f"{width}x{height}",
        "quality": quality,
        "mode": mode,
        "decoder": decoder,
        "precision": precision,
        "bpp": round(8 * len(data) / (width * height), 4),
        "encode_ms": median(enc),
        "decode_ms": median(dec),
        "decode_cpu": {k: round(statistics.median(u[k] for u in usage), 2) for k in usage[0]},
        "peak_host_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_gpu_mb": round(max(peak_encode, peak_decode) / 2**20, 1) if device == "cuda" else None,
        "peak_gpu_mb_decode": round(peak_decode / 2**20, 1) if device == "cuda" else None,
        "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name() if device == "cuda" else None,
    }


def _phases(ms: dict) -> str:
    dit = f", dit {ms['dit']:.1f}" if "dit" in ms else ""
    return (
        f"{ms['total']:8.1f} ms (net {ms.get('network', 0):.1f}, exact {ms.get('exact_params', 0):.1f}, "
        f"rans {ms.get('rans', 0):.1f}{dit})"
    )


def format_row(row: dict, goal_ms: float | None = None) -> str:
    gpu = ""
    if row["peak_gpu_mb"] is not None:
        gpu = f", gpu {row['peak_gpu_mb']:.0f} MB (decode {row.get('peak_gpu_mb_decode') or 0:.0f})"
    cpu = ""
    if row["device"] == "cpu" and "decode_cpu" in row:
        u = row["decode_cpu"]
        cpu = f" | decode cpu user {u['user_s']:.2f} s, sys {u['sys_s']:.2f} s, {u['page_faults']} faults"
    goal = ""
    if goal_ms is not None:
        goal = f" | goal {goal_ms:.0f} ms: {'met' if row['decode_ms']['total'] <= goal_ms else 'missed'}"
    return (
        f"{row['device']:4s} {row['size']:>9s} q{row['quality']} {row['mode']} "
        f"{row.get('precision', 'float32')} bpp={row['bpp']:.3f} "
        f"| encode {_phases(row['encode_ms'])} "
        f"| decode {_phases(row['decode_ms'])} | host {row['peak_host_mb']:.0f} MB{gpu}{cpu}{goal}"
    )


# ----------------------------------------------------------------------------------------------
# End to end: the command line and the library as a user runs them
# ----------------------------------------------------------------------------------------------


IMPORTS = "import dicodec.cli.main, dicodec.codec.pipeline"  # what a `dicodec encode` imports


def startup_phases(
    device: str, width: int, height: int, quality: int, repeats: int, mode: str, model: str | None = None
) -> dict:
    """Seconds of each phase of a fresh process that encodes and decodes one image (run it in one).

    Imports are timed in a process of their own (this script has imported torch already).
    """
    import dicodec

    code = f"import time; t = time.perf_counter(); {IMPORTS}; print(time.perf_counter() - t)"
    t_import = float(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    )

    def timed(fn) -> tuple[float, object]:
        start = time.perf_counter()
        out = fn()
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start, out

    t_device, _ = timed(lambda: torch.zeros(1, device="cuda") if device == "cuda" else None)
    img = sample_image(width, height)
    codec = dicodec.Codec(model, device=device)
    t_weights, _ = timed(lambda: codec.load(generative=mode == "generative"))
    enc_first, data = timed(lambda: codec.encode(img, quality))
    enc = [timed(lambda: codec.encode(img, quality))[0] for _ in range(repeats)]
    dec_first, _ = timed(lambda: codec.decode(data, mode=mode))
    dec = [timed(lambda: codec.decode(data, mode=mode))[0] for _ in range(repeats)]
    return {
        "device": device,
        "model": codec.model,
        "size": f"{width}x{height}",
        "mode": mode,
        "import_s": t_import,
        "device_s": t_device,
        "weights_s": t_weights,
        "encode_first_s": enc_first,
        "encode_s": statistics.median(enc),
        "decode_first_s": dec_first,
        "decode_s": statistics.median(dec),
        "gpu": torch.cuda.get_device_name() if device == "cuda" else None,
        "threads": torch.get_num_threads(),
    }


def _wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def end_to_end(
    device: str,
    width: int,
    height: int,
    quality: int,
    repeats: int,
    batch: int,
    mode: str,
    model: str | None = None,
) -> dict:
    """CLI wall time for one file and per file of a ``batch``-file folder, and the library's times."""
    cli = [sys.executable, "-m", "dicodec"]
    work = Path(tempfile.mkdtemp(prefix="dicodec-bench-"))
    try:
        one = work / "one.png"
        Image.fromarray(sample_image(width, height)).save(one)
        folder = work / "photos"
        folder.mkdir()
        for i in range(batch):
            shutil.copyfile(one, folder / f"img{i:04d}.png")
        common = ["--device", device, "--force", "--quiet"]
        quality_model = ["-q", str(quality), *(["--model", model] if model else [])]
        enc_cmd = [*cli, "encode", str(one), "-o", str(work / "one.dic"), *quality_model, *common]
        dec_cmd = [*cli, "decode", str(work / "one.dic"), "-o", str(work / "one_out.png"), "--mode", mode]
        one_encode = statistics.median(_wall(enc_cmd) for _ in range(repeats))
        one_decode = statistics.median(_wall([*dec_cmd, *common]) for _ in range(repeats))
        batch_encode = _wall([*cli, "encode", str(folder), "-o", str(work / "dics"), *quality_model, *common])
        batch_decode = _wall(
            [*cli, "decode", str(work / "dics"), "-o", str(work / "decoded"), "--mode", mode, *common]
        )
        phases_cmd = [sys.executable, __file__, "--phases", f"{device}:{width}x{height}", "--mode", mode]
        phases_cmd += ["--quality", str(quality), "--repeats", str(repeats)]
        phases_cmd += ["--model", model] if model else []
        out = subprocess.run(phases_cmd, capture_output=True, text=True, check=True).stdout
        phases = json.loads(out.strip().splitlines()[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        **phases,
        "batch": batch,
        "cli_one_encode_s": one_encode,
        "cli_one_decode_s": one_decode,
        "cli_batch_encode_s": batch_encode / batch,
        "cli_batch_decode_s": batch_decode / batch,
        "cpus": os.cpu_count(),
    }


def _device_name(row: dict) -> str:
    return row["gpu"] or f"CPU ({row['threads']} threads)"


def format_end_to_end(rows: list[dict]) -> str:
    """The two markdown tables of ``--end-to-end``: what a user waits for, and where start-up goes."""
    out = [
        "| device | model, size, decode mode | CLI, one file: encode / decode s | CLI, batch: s per file "
        "(encode / decode) | API, model loaded: encode / decode s |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {_device_name(r)} | {r['model']}, {r['size']}, {r['mode']} "
            f"| {r['cli_one_encode_s']:.2f} / {r['cli_one_decode_s']:.2f} "
            f"| {r['cli_batch_encode_s']:.2f} / {r['cli_batch_decode_s']:.2f} (N={r['batch']}) "
            f"| {r['encode_s']:.3f} / {r['decode_s']:.3f} |"
        )
    out += [
        "",
        "| device | imports s | device init s | weights s | first encode s (later ones) "
        "| first decode s (later ones) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {_device_name(r)} | {r['import_s']:.2f} | {r['device_s']:.2f} | {r['weights_s']:.2f} "
            f"| {r['encode_first_s']:.3f} ({r['encode_s']:.3f}) "
            f"| {r['decode_first_s']:.3f} ({r['decode_s']:.3f}) |"
        )
    return "\n".join(out)


@click.command()
@click.option("--devices", default="cpu,cuda", help="Comma-separated devices; cuda is skipped without a GPU.")
@click.option("--sizes", default="768x512,1920x1080,2048x2048", help="Comma-separated WxH sizes.")
@click.option("--quality", type=int, default=50, help="Quality 0..100.")
@click.option(
    "--qualities", default=None, help="Comma-separated qualities to time per size (overrides --quality)."
)
@click.option(
    "--goal-ms", type=float, default=None, help="Mark each decode as meeting or missing this time (ms)."
)
@click.option("--repeats", type=int, default=3, help="Timed repetitions per case (after one warm-up).")
@click.option("--model", default=None, help="Registry model name (default model if omitted).")
@click.option(
    "--mode", type=click.Choice(["fast", "generative"]), default="fast", help="Decode mode to time."
)
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default="float32",
    show_default=True,
    help="Arithmetic of the transforms when encoding and decoding (dicodec.encode's and decode's precision).",
)
@click.option(
    "--untrained-decoder",
    default=None,
    help="Generative preset to time with random weights when the model ships no decoder (e.g. dit-ic-s).",
)
@click.option("--json-out", type=click.Path(), default=None, help="Also write all results to this file.")
@click.option(
    "--end-to-end",
    "e2e",
    is_flag=True,
    help="Time the dicodec command (one file; a batch) and the library with the model loaded, instead.",
)
@click.option("--e2e-size", default="1920x1080", show_default=True, help="--end-to-end: image size WxH.")
@click.option("--batch", type=int, default=100, show_default=True, help="--end-to-end: files in the batch.")
@click.option("--one", default=None, hidden=True, help="Internal: run one DEVICE:WxH case and print JSON.")
@click.option("--phases", default=None, hidden=True, help="Internal: start-up phases of DEVICE:WxH as JSON.")
def main(
    devices: str,
    sizes: str,
    quality: int,
    qualities: str | None,
    goal_ms: float | None,
    repeats: int,
    model: str | None,
    mode: str,
    precision: str,
    untrained_decoder: str | None,
    json_out: str | None,
    e2e: bool,
    e2e_size: str,
    batch: int,
    one: str | None,
    phases: str | None,
) -> None:
    if one:
        device, size = one.split(":")
        w, h = (int(v) for v in size.split("x"))
        print(json.dumps(run_case(device, w, h, quality, repeats, model, mode, untrained_decoder, precision)))
        return
    if phases:
        device, size = phases.split(":")
        w, h = (int(v) for v in size.split("x"))
        print(json.dumps(startup_phases(device, w, h, quality, repeats, mode, model)))
        return
    if e2e:
        w, h = (int(v) for v in e2e_size.split("x"))
        rows = []
        for device in devices.split(","):
            if device == "cuda" and not torch.cuda.is_available():
                click.echo("cuda: no GPU here, skipped", err=True)
                continue
            rows.append(end_to_end(device, w, h, quality, repeats, batch, mode, model))
        click.echo(format_end_to_end(rows))
        if json_out:
            with open(json_out, "w") as f:
                json.dump(rows, f, indent=1)
        return
    if mode == "generative":  # fail here, once, with the clear message; each case builds its decoder
        from dicodec.codec import registry

        generative_source(registry.get_entry(model), untrained_decoder)
    results = []
    for device in devices.split(","):
        if device == "cuda" and not torch.cuda.is_available():
            click.echo("cuda: no GPU here, skipped", err=True)
            continue
        for size, q in [(z, q) for z in sizes.split(",") for q in (qualities or str(quality)).split(",")]:
            cmd = [
                sys.executable,
                __file__,
                "--one",
                f"{device}:{size}",
                "--quality",
                q,
                "--repeats",
                str(repeats),
                "--mode",
                mode,
                "--precision",
                precision,
            ]
            cmd += ["--model", model] if model else []
            cmd += ["--untrained-decoder", untrained_decoder] if untrained_decoder else []
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            row = json.loads(out.strip().splitlines()[-1])
            results.append(row)
            click.echo(format_row(row, goal_ms))
    if json_out:
        with open(json_out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
