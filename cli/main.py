"""The ``dicodec`` command line: a thin click layer over :mod:`dicodec.api`.

Commands parse arguments, read and write files (:mod:`dicodec.cli.imagefiles`,
:mod:`dicodec.cli.atomic`) and call the library; they hold no codec logic, so a script using
``dicodec.encode`` and a shell using ``dicodec encode`` get the same bytes. Several files per call
go through :mod:`dicodec.cli.batch` (``dicodec.Codec``'s ``encode_many`` / ``decode_many``).

Errors are handled in one place, :meth:`DicodecGroup.invoke`, so every command fails the same way:

====  =====================================================================================
code  meaning
====  =====================================================================================
0     success
1     a :class:`~dicodec.errors.DicodecError`: bad input, corrupt bitstream, output exists,
      unavailable feature. One line ``error: ...`` on stderr.
2     usage error (unknown option, value out of range), reported by click.
3     internal error (a bug): one line, and the traceback with ``DICODEC_DEBUG=1``.
130   interrupted (Ctrl-C).
====  =====================================================================================

No output file is left behind on any of these: outputs are written last, atomically.

``data``, ``eval``, ``eval-weights`` and ``train`` live in modules with heavy or optional dependencies,
so they are registered lazily (:data:`LAZY_COMMANDS`): ``dicodec --help`` lists them without importing
anything, and a missing module or dependency turns into a one-line error when the command is actually used.
"""

from __future__ import annotations

import importlib
import os
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click

import dicodec
from dicodec import api
from dicodec.arguments import PRECISIONS
from dicodec.errors import DicodecError, UnavailableError

from . import batch, video
from .atomic import atomic_write, check_output, is_stdio
from .imagefiles import display_name, encode_image, extension_for, format_for, read_bytes, read_image
from .info import info
from .models import models
from .text import about as _about
from .text import human_size, precision_notice

EXIT_OK = 0
EXIT_ERROR = 1  # a DicodecError: the user's input or environment, not a bug
EXIT_USAGE = 2  # click's own code for usage errors
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C

DEBUG_ENV = "DICODEC_DEBUG"
DEVICES = ("auto", "cpu", "cuda")
IMAGE_FORMATS = ("png", "jpeg", "webp", "tiff", "ppm")

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
OFFLINE_HELP = (
    "Never download: a model that is not installed is an error saying how to install it "
    "(also DICODEC_OFFLINE=1). Without it, a missing model is fetched from DICODEC_MODEL_URL."
)

PRECISION_OPTION = click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default="float32",
    show_default=True,
    help="Arithmetic of the codec's transforms. float32: the release's (reproducible bytes and pixels); "
    "bfloat16: about twice as fast on CPUs with bfloat16 instructions (float32 on others); decoded "
    "values within 3 levels of float32's, encoded files of the same size.",
)


# ----------------------------------------------------------------------------------------------
# Lazy commands and the single error handler
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LazyCommand:
    """A command imported only when used.

    Attributes:
        target: ``"module:attribute"`` naming a :class:`click.Command`.
        short_help: shown by ``dicodec --help`` without importing ``target``.
        extra: the optional-dependency group that provides its imports, named in the error message.
    """

    target: str
    short_help: str
    extra: str | None = None


LAZY_COMMANDS: dict[str, LazyCommand] = {
    "data": LazyCommand(
        "dicodec.codec.training.dataprep.cli:data_group",
        "Build training data from packaged images (pack, eval sets).",
    ),
    "eval": LazyCommand(
        "dicodec.eval.cli:eval_command", "Measure rate-distortion of dicodec and baselines.", extra="eval"
    ),
    "eval-weights": LazyCommand(
        "dicodec.eval.weights_cli:weights_group", "Get the LPIPS/DISTS weights for 'dicodec eval' (once)."
    ),
    "train": LazyCommand(
        "dicodec.codec.training.train:train_command",
        "Train (or continue training) a codec on a folder of images.",
    ),
}


class DicodecGroup(click.Group):
    """A click group with lazily imported commands and one place that turns errors into exit codes."""

    def __init__(self, *args: Any, lazy_commands: Mapping[str, LazyCommand] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy_commands: dict[str, LazyCommand] = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in self.lazy_commands:
            return super().get_command(ctx, cmd_name)
        return _load_lazy(cmd_name, self.lazy_commands[cmd_name])

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Like click's, but lazy commands show their stored help instead of being imported."""
        rows: list[tuple[str, str]] = []
        limit = formatter.width - 6 - max((len(n) for n in self.list_commands(ctx)), default=0)
        for name in self.list_commands(ctx):
            if name in self.commands:
                cmd = self.commands[name]
                if cmd.hidden:
                    continue
                rows.append((name, cmd.get_short_help_str(limit)))
            else:
                rows.append((name, self.lazy_commands[name].short_help))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; map every failure to one stderr line and a documented exit code."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # usage errors and explicit exits: click reports them itself
        except BrokenPipeError:
            raise  # the reader went away (``| head``); click exits quietly
        except DicodecError as exc:
            _print_traceback_if_debugging()
            _fail(ctx, f"error: {_message(exc)}", EXIT_ERROR)
        except KeyboardInterrupt:
            _fail(ctx, "interrupted", EXIT_INTERRUPTED)
        except Exception as exc:
            _print_traceback_if_debugging()
            hint = "" if _debugging() else f" (rerun with {DEBUG_ENV}=1 to see the traceback)"
            _fail(ctx, f"internal error: {type(exc).__name__}: {_one_line(exc)}{hint}", EXIT_INTERNAL)


def _load_lazy(name: str, spec: LazyCommand) -> click.Command:
    """Import a lazy command, or return a stand-in that explains why it is not available."""
    module_name, _, attr = spec.target.partition(":")
    try:
        module = importlib.import_module(module_name)
        command = getattr(module, attr)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            reason = "it is not part of this installation"
        elif missing.partition(".")[0] == "dicodec":
            reason = f"it could not be loaded: no module named {missing!r}"
        else:
            reason = f"it needs the Python package {missing!r}"
            if spec.extra:
                reason += (
                    f" (install dicodec with the '{spec.extra}' extra: pip install 'dicodec[{spec.extra}]')"
                )
        return _unavailable_command(name, reason)
    except (ImportError, AttributeError) as exc:
        return _unavailable_command(name, f"it could not be loaded: {_one_line(exc)}")
    if not isinstance(command, click.Command):
        return _unavailable_command(name, f"{spec.target} is not a click command")
    return command


def _unavailable_command(name: str, reason: str) -> click.Command:
    """A command that accepts any arguments (even --help) and fails with ``reason``."""

    def callback(args: Sequence[str]) -> NoReturn:
        raise UnavailableError(f"'dicodec {name}' is not available: {reason}")

    return click.Command(
        name,
        callback=callback,
        params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
        help=f"Not available: {reason}.",
    )


def _fail(ctx: click.Context, line: str, code: int) -> NoReturn:
    click.echo(line, err=True)
    ctx.exit(code)
    raise AssertionError("unreachable")  # ctx.exit raises; this keeps type checkers honest


def _debugging() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def _print_traceback_if_debugging() -> None:
    if _debugging():
        traceback.print_exc()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _message(exc: DicodecError) -> str:
    """The one-line message, prefixed with the file it concerns when a command recorded it."""
    text = _one_line(exc)
    source = getattr(exc, "dicodec_source", None)
    if source and not text.startswith(source):
        text = f"{source}: {text}"
    return text


# ----------------------------------------------------------------------------------------------
# Formatting helpers
# ----------------------------------------------------------------------------------------------


def _default_output(input_path: str, suffix: str) -> str:
    """``photo.png`` -> ``photo.dic``; stdin input goes to stdout."""
    if is_stdio(input_path):
        return "-"
    return os.fspath(Path(input_path).with_suffix(suffix))


# ----------------------------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------------------------


@click.group(
    cls=DicodecGroup,
    lazy_commands=LAZY_COMMANDS,
    context_settings=CONTEXT_SETTINGS,
    help="""dicodec: a neural image codec (32x latents, bit-exact entropy coding).

\b
Examples:
  dicodec encode photo.png                   # writes photo.dic
  dicodec decode photo.dic -o photo.png
  dicodec info photo.dic
  cat photo.png | dicodec encode - -q 60 > photo.dic

\b
Exit codes: 0 ok, 1 error (one line on stderr), 2 usage error,
            3 internal error (set DICODEC_DEBUG=1 for the traceback), 130 interrupted.
""",
)
@click.version_option(
    dicodec.__version__, "-V", "--version", prog_name="dicodec", message="%(prog)s %(version)s"
)
def cli() -> None:
    """The dicodec command group (help text above)."""


@cli.command(
    help="""Compress image files to .dic bitstreams.

IN is a PNG, JPEG, WebP, TIFF or PPM/PGM file, or - for stdin. Gray, palette and CMYK images are
converted to RGB; an EXIF orientation is applied so the coded image is the one a viewer shows.
A one-line summary goes to stderr.

Several INs, or a folder, code every file with the model loaded once: -o then names an output
folder (created if missing), existing outputs are skipped unless --force, a bad file is reported
on one line and the rest go on (exit status 1 if any failed).

\b
Examples:
  dicodec encode photo.png                    # -> photo.dic
  dicodec encode photo.png -o small.dic -q 40
  dicodec encode scan.tif --bit-depth reduce --alpha drop
  dicodec encode - -o - < photo.png > photo.dic
  dicodec encode a.png b.jpg photos/ -o out/  # -> out/a.dic, out/b.dic, out/<photos' files>.dic
  dicodec encode -r photos/ -o out/           # subfolders too, their layout kept under out/
"""
)
@click.argument("inputs", metavar="IN...", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option(
    "-o",
    "--output",
    type=click.Path(allow_dash=True),
    default=None,
    help="Output file, - for stdout, or a folder (existing, or ending in /). Default: IN with its suffix "
    "replaced by .dic (stdout for stdin). With several INs or a folder: the output folder.",
)
@click.option(
    "-q",
    "--quality",
    type=click.IntRange(0, 100),
    default=75,
    show_default=True,
    help="0 (smallest file) to 100 (best quality); file size grows with it.",
)
@click.option(
    "--tile-size",
    type=int,
    default=None,
    metavar="PIXELS",
    help="Tile side, a multiple of 128 from 128 to 4096; default: the library's (2048). Smaller tiles "
    "bound decoder memory on large images at a small cost in size.",
)
@click.option(
    "--model",
    default=None,
    metavar="NAME",
    help="Codec model; default: the zoo's default. See 'dicodec models'.",
)
@click.option(
    "--device",
    type=click.Choice(DEVICES),
    default="auto",
    show_default=True,
    help="Where to run the codec; auto picks CUDA when available.",
)
@click.option(
    "--alpha",
    type=click.Choice(["error", "drop"]),
    default="error",
    show_default=True,
    help=(
        "Images with transparent pixels: error, or drop the alpha channel (colours kept as stored, "
        "not composited). A fully opaque alpha channel is always dropped."
    ),
)
@click.option(
    "--bit-depth",
    type=click.Choice(["error", "reduce"]),
    default="error",
    show_default=True,
    help="Images with 16 bits per channel: error, or reduce them to 8 bits.",
)
@click.option(
    "--refine-steps",
    type=click.IntRange(0, 1000),
    default=0,
    show_default=True,
    metavar="N",
    help="Fit the latent to the image with N gradient steps before coding (e.g. 30): a smaller file for "
    "the same quality, decoded as any other; encoding takes ~3N times longer. Best on a GPU.",
)
@PRECISION_OPTION
@click.option("--offline", is_flag=True, help=OFFLINE_HELP)
@click.option("-f", "--force", is_flag=True, help="Overwrite the output file if it exists.")
@click.option("--quiet", is_flag=True, help="Do not print the summary line (nor a progress bar).")
@batch.options
def encode(
    inputs: tuple[str, ...],
    output: str | None,
    quality: int,
    tile_size: int | None,
    model: str | None,
    device: str,
    alpha: str,
    bit_depth: str,
    refine_steps: int,
    precision: str,
    offline: bool,
    force: bool,
    quiet: bool,
    recursive: bool,
    jobs: int | None,
) -> None:
    precision_notice(precision, device, quiet)
    if batch.is_batch(inputs, output):
        batch.encode_files(
            inputs, output, recursive=recursive, jobs=jobs, quality=quality, tile_size=tile_size,
            model=model, device=device, alpha=alpha, bit_depth=bit_depth, offline=offline or None,
            force=force, quiet=quiet, refine_steps=refine_steps, precision=precision,
        )  # fmt: skip
        return
    input_path = inputs[0]
    output = batch.into_folder(input_path, output, ".dic")
    out = output if output is not None else _default_output(input_path, ".dic")
    src = display_name(input_path)
    image = read_image(input_path, alpha=alpha, bit_depth=bit_depth)  # type: ignore[arg-type]
    check_output(out, force)  # before the slow part, so a refusal costs no waiting
    extra: dict[str, Any] = {"refine_steps": refine_steps} if refine_steps else {}  # only when asked for
    if tile_size is not None:
        extra["tile_size"] = tile_size
    if offline:
        extra["offline"] = True  # otherwise the library reads DICODEC_OFFLINE
    if precision != "float32":
        extra["precision"] = precision
    start = time.perf_counter()
    with _about(src):
        data = api.encode(image, quality, model=model, device=device, **extra)
    elapsed = time.perf_counter() - start
    atomic_write(out, data, force=force)
    if not quiet:
        h, w = image.shape[:2]
        bpp = 8 * len(data) / (w * h)
        click.echo(
            f"{src} -> {display_name(out, output=True)}: {w}x{h}, {human_size(len(data))}, "
            f"{bpp:.3f} bpp, q={quality}, {elapsed:.2f} s",
            err=True,
        )


@cli.command(
    help="""Decompress .dic bitstreams to image files.

IN is a .dic file, or - for stdin. The output format comes from --format, else from the output's
extension (.png .jpg .webp .tif .ppm); stdout and names without an extension get PNG. JPEG is
written at quality 95 (4:4:4), WebP losslessly.

Several INs, or a folder, decode every .dic file with the models loaded once, in the --format
(default png): -o then names an output folder, existing outputs are skipped unless --force, a bad
file is reported on one line and the rest go on (exit status 1 if any failed).

\b
Examples:
  dicodec decode photo.dic                    # -> photo.png
  dicodec decode photo.dic -o photo.webp
  dicodec decode photo.dic --mode generative -o sharp.png
  dicodec decode - --format ppm < photo.dic > photo.ppm
  dicodec decode out/*.dic -o decoded/        # -> decoded/<name>.png
"""
)
@click.argument("inputs", metavar="IN...", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option(
    "-o",
    "--output",
    type=click.Path(allow_dash=True),
    default=None,
    help="Output image, - for stdout, or a folder (existing, or ending in /). Default: IN with the "
    "format's suffix (stdout for stdin). With several INs or a folder: the output folder.",
)
@click.option(
    "--mode",
    type=click.Choice(api.DECODE_MODES),
    default="auto",
    show_default=True,
    help="fast: synthesis transform only; generative: Diffusion Transformer decoder (needs its weights); "
    "auto: generative where the file's model ships a DiT decoder (hp32-v7: up to quality 40), else fast.",
)
@click.option(
    "--device",
    type=click.Choice(DEVICES),
    default="auto",
    show_default=True,
    help="Where to run the codec; auto picks CUDA when available.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(IMAGE_FORMATS, case_sensitive=False),
    default=None,
    help="Output image format; default from the output's extension, png for stdout.",
)
@click.option(
    "--realism",
    type=click.FloatRange(0.0, 1.0),
    default=1.0,
    show_default=True,
    help="Generative mode: blend from the fast decode (0, fidelity) to the full generative one (1, texture).",
)
@click.option(
    "--max-pixels",
    type=click.IntRange(min=0),
    default=api.DEFAULT_MAX_PIXELS,
    show_default=True,
    help="Refuse to decode larger images (a guard against decompression bombs); 0 = no limit.",
)
@click.option(
    "--decoder",
    default=None,
    metavar="NAME",
    help="Generative mode: another DiT decoder released for the file's model (e.g. dit-ic-s-v1 for "
    "hp32-v3 files, as dicodec 0.3 decoded them); default: the one paired with it in 'dicodec models'.",
)
@PRECISION_OPTION
@click.option("--offline", is_flag=True, help=OFFLINE_HELP)
@click.option("-f", "--force", is_flag=True, help="Overwrite the output file if it exists.")
@click.option("--quiet", is_flag=True, help="Do not print the summary line (nor a progress bar).")
@batch.options
def decode(
    inputs: tuple[str, ...],
    output: str | None,
    mode: str,
    device: str,
    realism: float,
    max_pixels: int,
    fmt: str | None,
    decoder: str | None,
    precision: str,
    offline: bool,
    force: bool,
    quiet: bool,
    recursive: bool,
    jobs: int | None,
) -> None:
    precision_notice(precision, device, quiet)
    if batch.is_batch(inputs, output):
        fmt_name = format_for("", fmt or "png")
        batch.decode_files(
            inputs, output, recursive=recursive, jobs=jobs, fmt=fmt_name, suffix=extension_for(fmt_name),
            mode=mode, device=device, realism=realism, max_pixels=max_pixels or None, decoder=decoder,
            precision=precision, offline=offline or None, force=force, quiet=quiet,
        )  # fmt: skip
        return
    input_path = inputs[0]
    output = batch.into_folder(input_path, output, extension_for(fmt or "png"))
    if output is None:
        output = _default_output(input_path, extension_for(fmt or "png"))
    fmt_name = format_for(output, fmt)
    src = display_name(input_path)
    data = read_bytes(input_path)
    check_output(output, force)  # before the slow part, so a refusal costs no waiting
    extra: dict[str, Any] = {"offline": True} if offline else {}  # else the library reads DICODEC_OFFLINE
    if decoder is not None:
        extra["decoder"] = decoder
    if precision != "float32":
        extra["precision"] = precision
    start = time.perf_counter()
    with _about(src):
        image = api.decode(
            data,
            mode=mode,  # type: ignore[arg-type]
            device=device,
            output="numpy",
            realism=realism,
            max_pixels=max_pixels or None,
            **extra,
        )
        about = api.inspect(data)  # what "auto" stood for, for the summary
        mode = api.decode_mode(about["model"], mode, about["quality"])
    elapsed = time.perf_counter() - start
    atomic_write(output, encode_image(image, fmt_name), force=force)
    if not quiet:
        h, w = image.shape[:2]
        click.echo(
            f"{src} -> {display_name(output, output=True)}: {w}x{h}, {fmt_name}, {mode}, {elapsed:.2f} s",
            err=True,
        )


cli.add_command(models)
cli.add_command(info)
video.install(encode, decode, info)


def main() -> None:
    """Entry point for ``python -m dicodec.cli.main``."""
    cli()


if __name__ == "__main__":
    main()
