"""The arithmetic of the synthesis transform at decode time: the release's float32, or bfloat16.

Why: on the CPU a 1080p fast decode is mostly the synthesis transform's float32 convolutions, which
already run near the cores' float32 peak (docs/models.md). The codec's transforms were trained under
bfloat16 autocast with channels-last tensors (training preset ``hp32g`` on), so the same arithmetic at
decode time is what they learned under, and on CPUs with bfloat16 dot products (AVX512-BF16, AMX) it
halves the decode time. It is opt-in because it changes pixels: the default keeps decoding every file
byte for byte as the release that wrote it did (``tests/test_golden.py``, lean_synthesis.py).

Measured (``hp32-v7``, the bundled sample at 1920x1080, 2 threads of an AMD EPYC with AVX512-BF16,
``python scripts/bench.py --devices cpu --sizes 1920x1080 --qualities 10,50,90 --precision bfloat16``,
docs/models.md): fast decode ~3.7-4.1 s -> ~1.9 s; every decoded value within 2 levels of the float32
decode, PSNR to the source 0.02-0.07 dB lower. The latents, and so the bitstream contract, do not
change: only the pixels computed from them do.

On a CPU without bfloat16 instructions oneDNN emulates them and the synthesis gets much slower, not
faster (same machine and latents, oneDNN limited with ``ONEDNN_MAX_CPU_ISA``: AVX512 without BF16
8.3 s against 4.6 s in float32, AVX2 100 s against 5.0 s), so there a bfloat16 request decodes in
float32 (:func:`effective_precision`; the command line says so in one line).

The precision is a context variable, not a model attribute: models are cached and shared by every
:class:`dicodec.Codec` of a process (and their threads), so one caller's choice must not leak into
another's decode.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import functools
import weakref
from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn

PRECISIONS = ("float32", "bfloat16")
DEFAULT_PRECISION = "float32"

_PRECISION: contextvars.ContextVar[str] = contextvars.ContextVar("precision", default=DEFAULT_PRECISION)
# synthesis transform -> its channels-last copy (the layout oneDNN's and cuDNN's bf16 kernels are fast in),
# kept outside the model so that it never enters a state_dict and goes away with the model
_CHANNELS_LAST: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} ({' or '.join(PRECISIONS)})")
    return precision


@contextlib.contextmanager
def synthesis_precision(precision: str) -> Iterator[None]:
    """Run the synthesis transforms of decodes inside the block in ``precision``."""
    token = _PRECISION.set(check_precision(precision))
    try:
        yield
    finally:
        _PRECISION.reset(token)


def current_precision() -> str:
    return _PRECISION.get()


@functools.cache
def cpu_has_bfloat16() -> bool | None:
    """Whether this CPU has bfloat16 dot-product instructions (x86 AVX512-BF16 or AMX-BF16, Arm BF16);
    ``None`` where the CPU's flags cannot be read (not Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    flags = {word for line in text.splitlines() if line.startswith(("flags", "Features"))
             for word in line.split(":", 1)[-1].split()}  # fmt: skip
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def effective_precision(device: torch.device | str, precision: str | None = None) -> str:
    """The arithmetic a decode on ``device`` runs for ``precision`` (default: the current one): bfloat16
    becomes float32 on a CPU known to lack bfloat16 instructions (module docstring)."""
    precision = check_precision(precision or current_precision())
    if precision == "bfloat16" and torch.device(device).type == "cpu" and cpu_has_bfloat16() is False:
        return "float32"
    return precision


def _channels_last_copy(transform: nn.Module) -> nn.Module:
    twin = _CHANNELS_LAST.get(transform)
    if twin is None:
        twin = copy.deepcopy(transform).to(memory_format=torch.channels_last).eval()
        _CHANNELS_LAST[transform] = twin
    return twin


def bfloat16_synthesis(transform: nn.Module) -> Callable[[Tensor], Tensor]:
    """``latent -> pixels`` of ``transform`` in bfloat16 autocast on channels-last tensors (float32 out)."""
    twin = _channels_last_copy(transform)

    def run(latent: Tensor) -> Tensor:
        with torch.autocast(latent.device.type, torch.bfloat16):
            pixels = twin(latent.float().contiguous(memory_format=torch.channels_last))
        return pixels.float()

    return run


__all__ = [
    "PRECISIONS",
    "DEFAULT_PRECISION",
    "check_precision",
    "synthesis_precision",
    "current_precision",
    "cpu_has_bfloat16",
    "effective_precision",
    "bfloat16_synthesis",
]
