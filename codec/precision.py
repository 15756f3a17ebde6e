"""The arithmetic of the codec's transforms: the release's float32, or bfloat16 on request.

Why: on the CPU a 1080p fast decode is mostly the synthesis transform's float32 convolutions, which
already run near the cores' float32 peak (docs/models.md), and an encode is mostly the analysis. The
transforms were trained under bfloat16 autocast with channels-last tensors (training preset ``hp32g``
on), so that arithmetic is what they learned under, and on CPUs with bfloat16 dot products
(AVX512-BF16, AMX) it halves both. It is opt-in because it changes pixels: by default every file keeps
decoding byte for byte as the release that wrote it did (``tests/test_golden.py``, lean_synthesis.py).
When encoding it changes only which latent is coded (any latent decodes), not the format.

Measured (``hp32-v7``, the bundled sample at 1920x1080, 2 threads of an AMD EPYC with AVX512-BF16,
docs/models.md): fast decode 3.7-4.2 s -> 1.7-2.0 s (``scripts/bench.py --precision``), every decoded
value within 3 levels of the float32 decode, PSNR to the source within 0.08 dB
(``scripts/precision_check.py``); encode 3.0-3.5 s -> 1.5 s, file sizes within 0.2%. The entropy
coding is the same exact code in both: a file's latents decode identically.

On a CPU without bfloat16 instructions oneDNN emulates them and the transforms get much slower, not
faster (same machine and latents, oneDNN limited with ``ONEDNN_MAX_CPU_ISA``: AVX512 without BF16
8.3 s against 4.6 s in float32, AVX2 100 s against 5.0 s), so there a bfloat16 request runs
float32 (:func:`effective_precision`; the command line says so in one line).

The precision is a context variable, not a model attribute: models are cached and shared by every
:class:`dicodec.Codec` of a process (and their threads), so one caller's choice must not leak into
another's call.
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
def transform_precision(precision: str) -> Iterator[None]:
    """Run the analysis (encode) and synthesis (decode) transforms inside the block in ``precision``."""
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
    """The arithmetic the transforms run on ``device`` for ``precision`` (default: the current one):
    bfloat16 becomes float32 on a CPU known to lack bfloat16 instructions (module docstring)."""
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


def bfloat16_transform(transform: nn.Module) -> Callable[[Tensor], Tensor]:
    """``transform`` (a synthesis, or an analysis when encoding) in bfloat16 autocast on channels-last
    tensors; float32 out."""
    twin = _channels_last_copy(transform)

    def run(x: Tensor) -> Tensor:
        with torch.autocast(x.device.type, torch.bfloat16):
            out = twin(x.float().contiguous(memory_format=torch.channels_last))
        return out.float()

    return run


__all__ = [
    "PRECISIONS",
    "DEFAULT_PRECISION",
    "check_precision",
    "transform_precision",
    "current_precision",
    "cpu_has_bfloat16",
    "effective_precision",
    "bfloat16_transform",
]
