"""Machine, device and library versions for the report: a result without them is not reproducible."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from typing import Any

import torch

_PACKAGES = (
    "dicodec",
    "torch",
    "torchvision",
    "numpy",
    "scipy",
    "Pillow",
    "av",
    "imagecodecs",
    "pytorch-msssim",
    "piq",
    "lpips",
    "scikit-video",
    "compressai",
    "matplotlib",
)


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; anything else is passed through."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: str) -> dict[str, Any]:
    """Host, CPU, thread count and the torch device actually used for the learned parts."""
    dev = resolve_device(device)
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": dev,
    }
    if dev.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(dev))
    return info


def package_versions() -> dict[str, str]:
    """Installed versions of the packages the evaluation depends on ("not installed" otherwise)."""
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
