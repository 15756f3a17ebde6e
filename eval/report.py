"""Writing results: JSON, CSV, RD plots (PNG and SVG) and a markdown report.

Output folder layout::

    results.json             everything (meta, settings, per-item records, averages, BD tables)
    image_per_image.csv      one row per image x codec curve x quality
    image_average.csv        one row per codec curve x quality (the RD curves)
    image_bd.csv             BD-rate / BD-metric per codec curve and metric vs the anchor
    video_per_clip.csv, video_average.csv, video_bd.csv   the same for video inputs
    plots/image_<metric>.png|svg, plots/video_<metric>.png|svg
    report.md

Non-finite numbers (PSNR of a lossless decode is +inf) are written as the strings "inf" / "-inf" /
"nan" in JSON, which has no literal for them, and n/a as ``null`` (empty cells in CSV).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from .metrics import METRICS

_PALETTE = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]


def _jsonable(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if hasattr(x, "item") and callable(x.item):  # numpy scalars
        return _jsonable(x.item())
    return x


def write_json(results: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(_jsonable(results), indent=1, allow_nan=False) + "\n")


def write_csv(rows: list[dict[str, Any]], path: Path, drop: tuple[str, ...] = ("per_frame",)) -> None:
    """CSV with the union of keys as columns (first-seen order); None -> empty cell."""
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols and k not in drop)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})


def bd_rows(bd: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for curve, per_metric in bd["rows"].items():
        for m, v in per_metric.items():
            out.append({"codec": curve, "anchor": bd["anchor"], "metric": m, "method": bd["method"], **v})
    return out


# --------------------------------------------------------------------------- plots


def _fmt_rate(x: float, _pos: int = 0) -> str:
    return f"{x:g}"


def plot_metric(section: dict[str, Any], metric: str, path_stem: Path, title: str) -> bool:
    """One RD plot (log-rate x axis) for ``metric``; returns False when there is nothing to plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    info = METRICS[metric]
    rows = section["average"]
    series = []
    for k, c in enumerate(section["codecs"]):  # colour and marker follow the codec, the same in every plot
        pts = [(r["bpp"], r.get(metric)) for r in rows if r["codec"] == c]
        pts = sorted((b, v) for b, v in pts if b is not None and v is not None and math.isfinite(v))
        if pts:
            series.append((k, c, pts))
    if not series:
        return False
    anchor = section["bd"]["anchor"]
    fig, ax = plt.subplots(figsize=(7.2, 4.8), dpi=100)
    for i, c, pts in series:
        xs, ys = zip(*pts, strict=True)
        is_anchor = c == anchor
        ax.plot(
            xs,
            ys,
            marker=_MARKERS[i % len(_MARKERS)],
            color=_PALETTE[i % len(_PALETTE)],
            markersize=5,
            linewidth=2.4 if is_anchor else 1.5,
            label=f"{c} (anchor)" if is_anchor else c,
        )
    ref = None
    if metric == "niqe":
        src = [s.get("niqe_source") for s in section["sources"] if s.get("niqe_source") is not None]
        if src:
            ref = (sum(src) / len(src), "mean of the source images")
    if info.higher_is_better is None:
        ref = (1.0, "source (ratio 1)")
    if ref is not None:
        ax.axhline(ref[0], color="black", linestyle="--", linewidth=1, label=ref[1])
        lo, hi = ax.get_ylim()  # axhline does not take part in autoscaling: keep it inside the frame
        lo, hi = min(lo, ref[0]), max(hi, ref[0])
        pad = 0.05 * (hi - lo or 1.0)
        ax.set_ylim(lo - pad if ref[0] <= lo else lo, hi + pad if ref[0] >= hi else hi)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(_fmt_rate))
    x0, x1 = ax.get_xlim()
    majors = [t for t in ax.get_xticks() if x0 <= t <= x1]
    # A narrow rate range may hold fewer than two of the 1-2-5 ticks: then label the minor ticks too.
    ax.xaxis.set_minor_formatter(FuncFormatter(_fmt_rate) if len(majors) < 2 else NullFormatter())
    unit = section.get("rate_unit", "bpp")
    ax.set_xlabel(f"rate [{unit}] (log scale)" if unit == "bpp" else f"rate [{unit}, log scale]")
    ax.set_ylabel(info.axis_label)
    ax.set_title(title, fontsize=11)
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)
    ax.legend(fontsize=8, loc="best", framealpha=0.85)
    fig.tight_layout()
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path_stem.with_suffix(".png"), dpi=150)
    fig.savefig(path_stem.with_suffix(".svg"))
    plt.close(fig)
    return True


# --------------------------------------------------------------------------- markdown


def _num(v: Any, metric: str | None = None) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    if isinstance(v, float) and not math.isfinite(v):
        return "inf" if v > 0 else ("nan" if math.isnan(v) else "-inf")
    if metric in ("psnr_rgb", "psnr_y", "ms_ssim_db"):
        return f"{v:.2f}"
    if metric == "kid":
        return f"{v:.5f}"
    if metric in ("fid", "niqe"):
        return f"{v:.2f}"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _section_md(section: dict[str, Any], prefix: str, plots: dict[str, str]) -> list[str]:
    kind = section["kind"]
    unit = section["rate_unit"]
    lines: list[str] = []
    lines.append(f"## {'Images' if kind == 'image' else 'Video'}")
    lines.append("")
    if section["errors"]:
        lines.append(f"**{len(section['errors'])} error(s)** during the run (those points are missing):")
        lines += [f"- {e}" for e in section["errors"][:20]]
        lines.append("")
    src = section["sources"]
    key = "image" if kind == "image" else "video"
    lines.append(f"### Inputs ({len(src)})")
    lines.append("")
    if kind == "image":
        rows = [
            [
                s[key],
                f"{s['width']}x{s['height']}",
                _num(s.get("niqe_source"), "niqe"),
                str(s.get("patches", "-")),
            ]
            for s in src
        ]
        lines += _table(["image", "size", "NIQE (source)", "FID patches"], rows)
    else:
        rows = [
            [
                s[key],
                f"{s['width']}x{s['height']}",
                str(s["frames"]),
                f"{s['fps']:g}",
                s["source_format"],
                s["rgb_conversion"],
            ]
            for s in src
        ]
        lines += _table(["clip", "size", "frames", "fps", "source format", "RGB conversion"], rows)
    lines.append("")
    lines.append("### Codecs")
    lines.append("")
    rows = [
        [
            f"`{c}`",
            i["status"],
            i["library"],
            i["settings"],
            f"{i['param']}: {', '.join(f'{q:g}' for q in i['qualities'])}",
        ]
        for c, i in section["codecs"].items()
    ]
    lines += _table(["curve", "status", "library", "settings", "sweep"], rows)
    if kind == "video":
        enc = section.get("encoders_available", {})
        lines.append("")
        lines.append(
            "Encoders in this PyAV/FFmpeg build: "
            + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in enc.items())
            + "."
        )
    lines.append("")
    lines.append("### Metrics")
    lines.append("")
    rows = []
    for m, st in section["metric_status"].items():
        info = METRICS[m]
        direction = (
            "1.0 = source"
            if info.higher_is_better is None
            else ("higher" if info.higher_is_better else "lower")
        )
        notes = "; ".join(st["notes"]) if st["notes"] else ""
        rows.append([m, info.description, direction, st["status"], notes])
    lines += _table(["metric", "what", "better", "status", "notes"], rows)
    lines.append("")
    bd = section["bd"]
    metrics = [m for m in bd["metrics"] if any(r.get(m) is not None for r in section["average"])]
    live = {c: v for c, v in bd["rows"].items() if section["codecs"].get(c, {}).get("status", "ok") == "ok"}
    if live and metrics:
        lines.append(f"### BD-rate vs `{bd['anchor']}` ({bd['method']} on log-rate)")
        lines.append("")
        lines.append(
            "Average rate difference at equal quality; negative = fewer bits than the anchor. "
            "n/a: curves do not overlap, too few points, or a non-monotone curve (reasons in "
            f"`{prefix}_bd.csv`)."
        )
        lines.append("")
        rows = [[f"`{c}`"] + [_fmt_bd(v[m], "bd_rate") for m in metrics] for c, v in live.items()]
        lines += _table(["codec"] + [METRICS[m].label for m in metrics], rows)
        lines.append("")
        lines.append(f"### BD-metric vs `{bd['anchor']}`")
        lines.append("")
        lines.append(
            "Average metric difference at equal rate (test minus anchor); the arrow gives the better sign."
        )
        lines.append("")
        arrows = {m: "↑" if METRICS[m].higher_is_better else "↓" for m in metrics}
        hdr = ["codec"] + [f"{METRICS[m].label} {arrows[m]}" for m in metrics]
        rows = [[f"`{c}`"] + [_fmt_bd(v[m], "bd_metric", m) for m in metrics] for c, v in live.items()]
        lines += _table(hdr, rows)
        lines.append("")
    skipped = [c for c in bd["rows"] if c not in live]
    if skipped:
        lines.append(
            f"Not in the BD tables (not available, see Codecs): {', '.join(f'`{c}`' for c in skipped)}."
        )
        lines.append("")
    anchor_status = section["codecs"].get(bd["anchor"], {}).get("status")
    if anchor_status is None or anchor_status != "ok":
        lines.append(
            f"**No BD numbers: the anchor `{bd['anchor']}` has no results** ({anchor_status or 'not run'})."
        )
        lines.append("")
    lines.append(f"### Averaged RD points (mean over {'images' if kind == 'image' else 'clips'})")
    lines.append("")
    avg = section["average"]
    shown = [m for m in section["metric_status"] if any(r.get(m) is not None for r in avg)]
    hdr = ["codec", "q", unit if unit == "bpp" else "bpp/frame", "enc s", "dec s"] + shown
    rows = [
        [
            f"`{r['codec']}`",
            f"{r['quality']:g}",
            f"{r['bpp']:.4f}",
            f"{r['encode_s']:.3f}",
            f"{r['decode_s']:.3f}",
        ]
        + [_num(r.get(m), m) for m in shown]
        for r in avg
    ]
    lines += _table(hdr, rows)
    lines.append("")
    if plots:
        lines.append("### Plots")
        lines.append("")
        for m, rel in plots.items():
            lines.append(f"![{METRICS[m].label}]({rel}.png)")
            lines.append("")
            lines.append(f"[SVG]({rel}.svg)")
            lines.append("")
    return lines


def _fmt_bd(v: dict[str, Any], key: str, metric: str | None = None) -> str:
    val = v[key]
    if val is None:
        return "n/a"
    if key == "bd_rate":
        return f"{val:+.1f}%"
    if metric in ("psnr_rgb", "psnr_y", "ms_ssim_db", "fid"):
        return f"{val:+.2f}"
    return f"{val:+.5f}" if metric == "kid" else f"{val:+.4f}"  # [0, 1]-range scores need 4 digits


def write_markdown(results: dict[str, Any], path: Path, plots: dict[str, dict[str, str]]) -> None:
    meta = results["meta"]
    lines = ["# dicodec evaluation report", ""]
    lines.append(f"- command: `{meta['command']}`")
    lines.append(f"- started: {meta['started']}, wall time {meta['duration_s']:.1f} s")
    m = meta["machine"]
    dev = m["device"] + (f" ({m['gpu']})" if m.get("gpu") else "")
    lines.append(
        f"- machine: {m['platform']}, {m['cpu']} x{m['cpu_count']}, torch threads {m['torch_threads']}, "
        f"device {dev}, Python {m['python']}"
    )
    lines.append("- packages: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    lines.append(
        "- rate: file size in bytes x 8 (complete files, headers included) over the pixel count"
        " (per frame for video)"
    )
    lines.append("")
    for key in ("image", "video"):
        if results.get(key):
            lines += _section_md(results[key], key, plots.get(key, {}))
    lines.append("See `docs/eval.md` in the dicodec repository for what each metric means and its caveats.")
    path.write_text("\n".join(lines) + "\n")


def write_all(results: dict[str, Any], out: Path) -> dict[str, Any]:
    """Write every output file into ``out``; returns {"files": [...]} relative paths."""
    out.mkdir(parents=True, exist_ok=True)
    files: list[str] = []
    plots: dict[str, dict[str, str]] = {}
    for key in ("image", "video"):
        section = results.get(key)
        if not section:
            continue
        per = "per_image" if key == "image" else "per_clip"
        write_csv(section["records"], out / f"{key}_{per}.csv")
        write_csv(section["average"], out / f"{key}_average.csv")
        write_csv(bd_rows(section["bd"]), out / f"{key}_bd.csv")
        files += [f"{key}_{per}.csv", f"{key}_average.csv", f"{key}_bd.csv"]
        n = len(section["sources"])
        what = ("image" if key == "image" else "clip") + ("s" if n != 1 else "")
        plots[key] = {}
        for metric in section["metric_status"]:
            title = f"{METRICS[metric].label} vs rate: {n} {what}"
            if key == "video":
                frames = sorted({s["frames"] for s in section["sources"]})
                title += f", {'/'.join(map(str, frames))} frames"
            stem = out / "plots" / f"{key}_{metric}"
            if plot_metric(section, metric, stem, title):
                plots[key][metric] = f"plots/{key}_{metric}"
                files += [f"plots/{key}_{metric}.png", f"plots/{key}_{metric}.svg"]
    write_json(results, out / "results.json")
    write_markdown(results, out / "report.md", plots)
    files += ["results.json", "report.md"]
    return {"files": files}
