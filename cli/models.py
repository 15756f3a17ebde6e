"""``dicodec models``: list the model zoo, and install its models for offline use (``fetch``, ``add``).

Thin like every command: the listing is :func:`dicodec.api.list_models`, installing is
:func:`dicodec.api.fetch_model` and :func:`dicodec.api.add_model`. Errors propagate to the group's
single handler in :mod:`dicodec.cli.main` (one ``error:`` line, exit 1); a failed install leaves no
file under the model's name (:mod:`dicodec.codec.model_store`).
"""

from __future__ import annotations

import json

import click

from dicodec import api

from .text import human_size, table, version_text


@click.group(
    invoke_without_command=True,
    help="""List every released model and whether it is installed; install models.

The default codec ships inside the package (with its generative decoder, when it has one). Every other
released model (retired ones included: files written with them stay decodable) is installed into the cache
(DICODEC_HOME, default ~/.cache/dicodec) on first use, or ahead of time with 'fetch' (download from
DICODEC_MODEL_URL) or 'add' (a local copy, for machines without network).

\b
Examples:
  dicodec models
  dicodec models --json
  dicodec models fetch hp32-v5
  dicodec models add hp32-v5.safetensors
""",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the zoo as a JSON list (the keys of dicodec.list_models).",
)
@click.pass_context
def models(ctx: click.Context, as_json: bool) -> None:
    if ctx.invoked_subcommand is not None:
        return
    entries = api.list_models()
    if as_json:
        click.echo(json.dumps(entries, indent=2, default=str))
        return
    if not entries:
        click.echo("no codec models are registered (no weights are installed)", err=True)
        return
    header = ("NAME", "KIND", "STATUS", "INSTALLED", "FORMAT", "SIZE", "WITH")
    rows = [
        (
            str(m.get("name", "?")),
            str(m.get("kind", "codec")),
            _status(m),
            str(m.get("installed") or "no"),
            version_text(m["bitstream_version"]) if m.get("bitstream_version") else "-",
            human_size(int(m["size"])) if m.get("size") else "-",
            str(m.get("paired_with") or ""),
        )
        for m in entries
    ]
    for line in table(header, rows):
        click.echo(line)


def _status(m: dict) -> str:
    status = str(m.get("status") or ("default" if m.get("default") else ""))
    if status == "retired" and m.get("retired"):
        return f"retired {m['retired']}"  # the release that stopped shipping it
    return status


@models.command(
    help="""Download released models into the cache (hash-checked, resumable).

NAME is a name from 'dicodec models'; for a codec its paired generative decoder is fetched too
(what 'dicodec decode' uses by default) unless --no-decoder is given. Files come from
URL/FILE, URL being --url, else DICODEC_MODEL_URL. A model already installed is left as it is.
An interrupted download resumes where it stopped the next time.

\b
Examples:
  dicodec models fetch hp32-v5
  dicodec models fetch hp32-v3 --no-decoder --url https://example.org/dicodec-models
  dicodec models fetch --all
"""
)
@click.argument("names", nargs=-1, metavar="NAME...")
@click.option("--all", "fetch_all", is_flag=True, help="Every released model that is not installed yet.")
@click.option("--url", default=None, metavar="URL", help="Base URL of the release assets.")
@click.option("--no-decoder", is_flag=True, help="Fetch a codec without its generative decoder.")
@click.option("--quiet", is_flag=True, help="No progress bar and no summary lines.")
def fetch(names: tuple[str, ...], fetch_all: bool, url: str | None, no_decoder: bool, quiet: bool) -> None:
    if fetch_all:
        names = tuple(m["name"] for m in api.list_models() if m.get("installed") is None)
    elif not names:
        raise click.UsageError("name at least one model, or pass --all")
    for name in names:
        for record in api.fetch_model(name, url=url, with_decoder=not no_decoder, progress=not quiet):
            if not quiet:
                done = "downloaded to" if record["fetched"] else "already installed:"
                click.echo(f"{record['name']}: {done} {record['path']}", err=True)


@models.command(
    help="""Install local copies of released weights files (for machines without network).

Each FILE is recognised by its sha256, whatever its name, and copied into the cache under the
zoo's file name; a file whose hash is in no zoo entry is refused and nothing is copied. A copy can
come from a release's assets, another machine's cache, or a dicodec git clone: 'dicodec models'
--json names the commit holding each file (git show COMMIT:codec/weights/FILE > FILE).

\b
Examples:
  dicodec models add hp32-v5.safetensors
  dicodec models add /media/usb/dicodec/*.safetensors
"""
)
@click.argument("files", nargs=-1, required=True, metavar="FILE...", type=click.Path(dir_okay=False))
@click.option("--quiet", is_flag=True, help="No summary lines.")
def add(files: tuple[str, ...], quiet: bool) -> None:
    for path in files:
        record = api.add_model(path)  # its errors name the file
        if not quiet:
            done = "installed as" if record["added"] else "already installed as"
            click.echo(f"{path}: {done} {record['name']} ({record['path']})", err=True)
