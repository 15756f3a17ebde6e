"""Plain-text formatting shared by the commands: sizes, versions, aligned tables, which file an error
concerns."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from dicodec.errors import DicodecError


@contextlib.contextmanager
def about(source: str) -> Iterator[None]:
    """Record which file a library error concerns, so the one-line message can name it."""
    try:
        yield
    except DicodecError as exc:
        if getattr(exc, "dicodec_source", None) is None:
            exc.dicodec_source = source  # type: ignore[attr-defined]
        raise


def human_size(n: int) -> str:
    """Decimal units (1 KB = 1000 bytes), as file managers and ``ls -h --si`` show them."""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    units = ("KB", "MB", "GB")
    for i, unit in enumerate(units):
        value /= 1000
        if value < 1000 or i == len(units) - 1:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def version_text(v: Any) -> str:
    if isinstance(v, (tuple, list)):
        return ".".join(str(x) for x in v)
    return str(v)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns two spaces apart; the last column is not padded (it may be long)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return lines


def precision_notice(precision: str, device: str, quiet: bool) -> None:
    """One line on stderr when ``--precision bfloat16`` will run in float32 (a CPU without bfloat16
    instructions, where emulation is several times slower: dicodec.api.decode_precision)."""
    if precision == "float32" or quiet:
        return
    import click

    from dicodec.api import decode_precision

    if decode_precision(precision, device) != precision:
        click.echo(
            "note: this CPU has no bfloat16 instructions (AVX512-BF16, AMX); running in float32, "
            "which is faster here",
            err=True,
        )
