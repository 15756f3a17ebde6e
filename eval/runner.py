"""The image evaluation loop: every image through every codec, quality and metric.

For each image the source is read once (RGB, 8 bit), its no-reference score and FID patches are
computed once, then each codec encodes it at every quality of its sweep; each bitstream is decoded
(once per decode mode for dicodec) and scored. Rates are the byte length of the complete file the
encoder produced, times 8, over the source pixel count.

Failures are reported, never hidden and never fatal: a codec whose library is missing, or a
dicodec mode that raises ``NotImplementedError`` / ``dicodec.UnavailableError``, is listed as "not
available" with the reason; an unexpected exception from a baseline encoder on one image is
recorded in ``errors`` (and shown at the top of the report) and the run goes on.

``jobs > 1`` evaluates images in worker processes (spawned, so every worker builds its own codecs
and metric networks); keep ``jobs=1`` for GPU runs.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from dicodec.images import read_image

from . import niqe as niqe_mod
from .aggregate import Record, average_curves, bd_table
from .colors import luma
from .config import EvalConfig
from .fid import extract_patches, frechet_distance, kernel_inception_distance
from .image_codecs import CodecUnavailable, ImageCodec, make_codec
from .learned import LearnedMetrics, metric_status
from .metrics import (
    caveat,
    compute_pair_metrics,
    format_notes,
    na_reason,
)
from .sysinfo import machine_info, package_versions, resolve_device

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm"}
VIDEO_EXTENSIONS = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".y4m", ".ivf", ".m4v", ".mpg", ".mpeg", ".ts"}


def collect_inputs(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[Path]]:
    """Split files and folders (searched recursively, sorted) into image and video files."""
    images: list[Path] = []
    videos: list[Path] = []
    for p in map(Path, paths):
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            ext = f.suffix.lower()
            if ext in IMAGE_EXTENSIONS:
                images.append(f)
            elif ext in VIDEO_EXTENSIONS:
                videos.append(f)
    return images, videos


def load_image(path: Path) -> np.ndarray:
    """8-bit RGB as ``dicodec encode`` reads it (:func:`dicodec.images.read_image`: EXIF orientation
    applied, gray replicated), with alpha dropped and 16 bits reduced (codecs here code 8-bit RGB)."""
    return read_image(path, alpha="drop", bit_depth="reduce")


def image_name(path: Path, taken: set[str]) -> str:
    """Unique short name for tables (file stem, disambiguated by the parent folder if needed)."""
    name = path.stem
    if name in taken:
        name = f"{path.parent.name}/{path.stem}"
    taken.add(name)
    return name


class ImageEvaluator:
    """Holds the codecs and metric networks of one process and evaluates one image at a time."""

    def __init__(self, cfg: EvalConfig, learned: LearnedMetrics | None = None) -> None:
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.metrics = list(cfg.metrics)
        self.learned = learned or LearnedMetrics(cfg.weights_dir, self.device)
        self.codecs: list[ImageCodec] = []
        self.unavailable: dict[str, str] = {}
        self.errors: list[str] = []
        self.notes: dict[str, dict[str, list[str]]] = {}  # metric -> message -> items it applies to
        for name in cfg.codecs:
            codec = make_codec(
                name,
                device=cfg.device,
                dicodec_model=cfg.dicodec_model,
                refine_steps=cfg.dicodec_refine_steps,
            )
            reason = codec.check()
            if reason:
                for curve in codec.curves:
                    self.unavailable[curve] = f"not available ({reason})"
            self.codecs.append(codec)
        self.want_set = [m for m in ("fid", "kid") if m in self.metrics]

    # -- helpers
    def _note(self, metric: str, message: str, item: str) -> None:
        items = self.notes.setdefault(metric, {}).setdefault(message, [])
        if item not in items:
            items.append(item)

    def _set_features(self, img: np.ndarray) -> np.ndarray | None:
        if not self.want_set or not self.learned.available("fid"):
            return None
        return self.learned.inception_features(extract_patches(img, self.cfg.patch_size))

    def _score(self, src: np.ndarray, dec: np.ndarray) -> dict[str, float | None]:
        vals: dict[str, float | None] = compute_pair_metrics(src, dec, self.metrics, self.device)
        vals.update(self.learned.pair_metrics(src, dec, self.metrics))
        if "niqe" in self.metrics:
            vals["niqe"] = niqe_mod.niqe(luma(dec)) if na_reason("niqe", dec.shape) is None else None
        return vals

    def steps(self) -> int:
        """Encodes per image (for the progress bar)."""
        return sum(len(self.cfg.qualities_for(c.name)) for c in self.codecs)

    # -- one image
    def evaluate(
        self, path: Path, name: str, tick: Callable[[], None] = lambda: None
    ) -> tuple[Record, list[Record], dict[Any, np.ndarray]]:
        """All codecs and qualities on one image.

        Returns:
            (source info, per-(curve, quality) records, FID/KID features keyed by "source" or
            (curve, quality); empty when FID/KID are off or unavailable).
        """
        src = load_image(path)
        h, w = src.shape[:2]
        for m in self.metrics:
            reason = na_reason(m, src.shape) or caveat(m, src.shape)
            if reason:
                self._note(m, reason, f"{name} ({w}x{h})")
        info: Record = {"image": name, "path": str(path), "width": w, "height": h}
        if "niqe" in self.metrics:
            info["niqe_source"] = niqe_mod.niqe(luma(src)) if na_reason("niqe", src.shape) is None else None
        feats: dict[Any, np.ndarray] = {}
        f = self._set_features(src)
        if f is not None:
            feats["source"] = f
            info["patches"] = len(f)
        records: list[Record] = []
        for codec in self.codecs:
            for q in self.cfg.qualities_for(codec.name):
                tick()
                if all(c in self.unavailable for c in codec.curves):
                    continue
                try:
                    t0 = time.perf_counter()
                    data = codec.encode(src, q)
                    enc_s = time.perf_counter() - t0
                except CodecUnavailable as e:
                    for curve in codec.curves:
                        self.unavailable.setdefault(curve, f"not available ({e})")
                    continue
                except Exception as e:
                    self.errors.append(
                        f"{codec.name} q={q} on {name}: encode failed: {type(e).__name__}: {e}"
                    )
                    continue
                for curve in codec.curves:
                    if curve in self.unavailable:
                        continue
                    rec = self._decode_and_score(codec, curve, data, src, q, name, enc_s, feats)
                    if rec is not None:
                        records.append(rec)
        return info, records, feats

    def _decode_and_score(
        self,
        codec: ImageCodec,
        curve: str,
        data: bytes,
        src: np.ndarray,
        q: float,
        name: str,
        enc_s: float,
        feats: dict[Any, np.ndarray],
    ) -> Record | None:
        h, w = src.shape[:2]
        try:
            t0 = time.perf_counter()
            dec = codec.decode(data, curve)
            dec_s = time.perf_counter() - t0
        except CodecUnavailable as e:
            self.unavailable.setdefault(curve, f"not available ({e})")
            return None
        except Exception as e:
            self.errors.append(f"{curve} q={q} on {name}: decode failed: {type(e).__name__}: {e}")
            return None
        if codec.may_pad and dec.shape[0] >= h and dec.shape[1] >= w:
            dec = dec[:h, :w]
        if dec.shape != src.shape:
            self.errors.append(f"{curve} q={q} on {name}: decoded {dec.shape}, source {src.shape}")
            return None
        rec: Record = {
            "image": name,
            "codec": curve,
            "family": codec.name,
            "quality": q,
            "bytes": len(data),
            "bpp": len(data) * 8.0 / (h * w),
            "encode_s": enc_s,
            "decode_s": dec_s,
        }
        rec.update(self._score(src, dec))
        f = self._set_features(dec)
        if f is not None:
            feats[(curve, q)] = f
        return rec


# --------------------------------------------------------------------------- worker processes

_WORKER: ImageEvaluator | None = None


def _init_worker(cfg_dict: dict[str, Any], threads: int) -> None:
    import torch

    global _WORKER
    torch.set_num_threads(threads)
    _WORKER = ImageEvaluator(EvalConfig(**cfg_dict))


def _work(path: Path, name: str) -> tuple[Any, ...]:
    assert _WORKER is not None
    info, records, feats = _WORKER.evaluate(path, name)
    return info, records, feats, dict(_WORKER.unavailable), list(_WORKER.errors), _WORKER.notes


# --------------------------------------------------------------------------- the image run


def set_metrics(
    feats_per_image: list[dict[Any, np.ndarray]], rows: list[Record], metrics: list[str], patch_size: int
) -> dict[str, str]:
    """Fill FID/KID into the averaged rows from the pooled patch features; returns notes per metric."""
    notes: dict[str, str] = {}
    want = [m for m in ("fid", "kid") if m in metrics]
    if not want:
        return notes
    src = [f["source"] for f in feats_per_image if "source" in f]
    if not src:
        for row in rows:
            for m in want:
                row[m] = None
        return notes
    ref = np.concatenate(src)
    for row in rows:
        key = (row["codec"], row["quality"])
        parts = [f[key] for f in feats_per_image if key in f]
        test = np.concatenate(parts) if parts else np.zeros((0, ref.shape[1]), np.float32)
        for m in want:
            row[m] = None
        if len(ref) < 2 or len(test) < 2:
            for m in want:
                notes[m] = (
                    f"too few {patch_size}x{patch_size} patches ({len(ref)}); images smaller than a patch"
                )
            continue
        if "fid" in want:
            row["fid"] = frechet_distance(ref, test)
        if "kid" in want:
            row["kid"], row["kid_std"] = kernel_inception_distance(ref, test)
        row["patches"] = len(test)
    for m in want:
        if len(ref) < ref.shape[1]:
            notes.setdefault(
                m,
                f"{len(ref)} patches of {patch_size} px for {ref.shape[1]}-d features: "
                "FID has a large small-sample bias; compare only within this run (KID is unbiased)",
            )
    return notes


def run_images(paths: list[Path], cfg: EvalConfig, learned: LearnedMetrics | None = None) -> dict[str, Any]:
    """Evaluate the image codecs of ``cfg`` on ``paths``; returns the JSON-ready "image" section."""
    if cfg.max_images is not None:
        paths = paths[: cfg.max_images]
    taken: set[str] = set()
    names = [image_name(p, taken) for p in paths]
    ev = ImageEvaluator(cfg, learned)
    sources: list[Record] = []
    records: list[Record] = []
    feats_all: list[dict[Any, np.ndarray]] = []
    if cfg.jobs > 1 and len(paths) > 1:
        threads = max(1, (os.cpu_count() or 1) // cfg.jobs)
        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(
            cfg.jobs, mp_context=ctx, initializer=_init_worker, initargs=(asdict(cfg), threads)
        ) as pool:
            futures = [pool.submit(_work, p, n) for p, n in zip(paths, names, strict=True)]
            for fut in tqdm(futures, desc="images", disable=not cfg.progress, unit="img"):
                info, recs, feats, unavailable, errors, notes = fut.result()
                sources.append(info)
                records.extend(recs)
                feats_all.append(feats)
                for k, v in unavailable.items():
                    ev.unavailable.setdefault(k, v)
                ev.errors.extend(e for e in errors if e not in ev.errors)
                for m, per in notes.items():
                    for msg, items in per.items():
                        for item in items:
                            ev._note(m, msg, item)
    else:
        with tqdm(
            total=len(paths) * ev.steps(), desc="image encodes", disable=not cfg.progress, unit="enc"
        ) as bar:
            for p, n in zip(paths, names, strict=True):
                bar.set_postfix_str(n)
                info, recs, feats = ev.evaluate(p, n, bar.update)
                sources.append(info)
                records.extend(recs)
                feats_all.append(feats)

    curves = [c for codec in ev.codecs for c in codec.curves]
    quals = {c: cfg.qualities_for(codec.name) for codec in ev.codecs for c in codec.curves}
    rows = average_curves(records, curves, quals, cfg.metrics)
    set_notes = set_metrics(feats_all, rows, cfg.metrics, cfg.patch_size)
    anchor = (
        cfg.anchor
        if cfg.anchor in curves
        else next((c for c in curves if c.startswith(cfg.anchor)), cfg.anchor)
    )
    codecs_info = {}
    for codec in ev.codecs:
        for curve in codec.curves:
            codecs_info[curve] = {
                "codec": codec.name,
                "param": codec.param,
                "qualities": cfg.qualities_for(codec.name),
                "settings": codec.settings,
                "library": codec.library(),
                "status": ev.unavailable.get(curve, "ok"),
            }
    notes = format_notes(ev.notes)
    for m, text in set_notes.items():
        notes.setdefault(m, []).append(text)
    return {
        "kind": "image",
        "sources": sources,
        "codecs": codecs_info,
        "records": records,
        "average": rows,
        "bd": bd_table(rows, curves, anchor, cfg.metrics, cfg.bd_method),  # type: ignore[arg-type]
        "metric_status": metric_status(cfg.metrics, ev.learned, notes),
        "errors": ev.errors,
        "rate_unit": "bpp",
    }


# --------------------------------------------------------------------------- everything


def evaluate(
    inputs: Iterable[str | os.PathLike[str]],
    cfg: EvalConfig,
    out: str | os.PathLike[str],
    command: str | None = None,
    learned: LearnedMetrics | None = None,
) -> dict[str, Any]:
    """Run the image and video evaluations on ``inputs`` and write every output into ``out``.

    Args:
        inputs: image/video files and folders (searched recursively).
        cfg: what to run.
        out: output folder (created).
        command: the command line, recorded in the report.
        learned: injected learned-metric holder (tests use random backbones); built from ``cfg``
            otherwise and shared by the image and video sections.

    Returns:
        The results dictionary that was written to ``results.json``.
    """
    from .report import write_all
    from .video import run_videos

    images, videos = collect_inputs(inputs)
    if not images and not videos:
        raise ValueError(
            "no image or video files found in the inputs "
            f"(images: {', '.join(sorted(IMAGE_EXTENSIONS))}; videos: {', '.join(sorted(VIDEO_EXTENSIONS))})"
        )
    t0 = time.perf_counter()
    results: dict[str, Any] = {
        "meta": {
            "command": command or "dicodec.eval.runner.evaluate(...)",
            "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": machine_info(cfg.device),
            "versions": package_versions(),
            "config": asdict(cfg),
        }
    }
    # One holder for both sections: each network is loaded at most once per run.
    learned = learned or LearnedMetrics(cfg.weights_dir, resolve_device(cfg.device))
    if images:
        results["image"] = run_images(images, cfg, learned)
    if videos:
        results["video"] = run_videos(videos, cfg, cfg.video_metrics, learned)
    results["meta"]["duration_s"] = time.perf_counter() - t0
    results["meta"]["outputs"] = write_all(results, Path(out))["files"]
    return results
