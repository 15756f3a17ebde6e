"""The import contract: which part of dicodec may import which, and no import cycles.

Layers (folder -> package, from pyproject.toml's ``package-dir``)::

    dicodec/          dicodec                  public API: __init__, api, errors, images, version,
                                               session (dicodec.Codec) and its helpers
    codec/            dicodec.codec            shipping: everything encode and decode need
    codec/training/   dicodec.codec.training   training only
    bitstream/        dicodec.bitstream        the container format
    eval/             dicodec.eval             evaluation
    cli/              dicodec.cli              the command line

and where video goes when it comes: ``codec/video/`` (``dicodec.codec.video``: the contextual latent
codec and the video DiT) is shipping code that reuses ``latent_codec``, ``transforms`` and ``dit``;
``bitstream/video.py`` (``dicodec.bitstream.video``) is the video container next to ``container.py``.
The rules below already cover both names, so the first video commit is checked where it lands.

Why a test and not a tool: it needs nothing beyond ``ast`` (no new dependency), it runs in the default
``python -m pytest`` that CI runs (``.ci/run``), and it reads the same ``package-dir`` mapping that
setuptools installs from, so a new folder cannot escape it. It counts every ``import`` statement,
including those inside functions: a lazy import still runs in the same process, so it can still close
a cycle (one was ``weights_io -> dicodec -> api -> registry -> weights_io`` through ``__version__``)
and still makes shipping code depend on what it imports. Imports of a package's parents that Python
performs implicitly (``import dicodec.codec.x`` first runs ``dicodec/__init__``) are not counted: every
module would otherwise depend on the public API.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_API = {
    "dicodec",
    "dicodec.api",
    "dicodec.errors",
    "dicodec.images",
    "dicodec.version",
    # dicodec.Codec and dicodec.Result (exported by ``dicodec``) live here: a codec loaded once, whose
    # encode/decode dicodec.encode/decode call and whose encode_many/decode_many the CLI's batch mode
    # (cli/batch.py) runs; so it is public API, and the CLI may import it.
    "dicodec.session",
    # Below the two above: the argument checks and conversions api and session share (so neither
    # imports the other's caller: no cycle), and the ordered read-ahead under encode_many/decode_many
    # (stdlib only). Part of the public package, imported by nothing but it.
    "dicodec.arguments",
    "dicodec.readahead",
    # Video files in and out through PyAV (what encode_video reads from a path; what the CLI's video
    # decode writes): the video counterpart of dicodec.images.
    "dicodec.videofiles",
}
ENTRY_POINTS = {"dicodec.__main__"}  # ``python -m dicodec``: runs the CLI
# The only places the CLI names training code: ``dicodec train`` and ``dicodec data`` are the training
# package's own click commands (the training loop; building training data), mounted by name
# (LAZY_COMMANDS) and imported only when they run; the CLI calls no training function and imports
# nothing from it.
CLI_MOUNTED_COMMANDS = {"dicodec.codec.training.train", "dicodec.codec.training.dataprep.cli"}


def package_dirs() -> dict[str, Path]:
    """``package-dir`` of pyproject.toml: package name -> folder (parsed by hand: Python 3.10 has no
    tomllib, and the table is one line)."""
    text = (ROOT / "pyproject.toml").read_text()
    line = re.search(r"^package-dir\s*=\s*\{(.*)\}\s*$", text, re.M)
    assert line, "pyproject.toml: package-dir not found"
    return {k: ROOT / v for k, v in re.findall(r'"([\w.]+)"\s*=\s*"([\w./-]+)"', line[1])}


def listed_packages() -> set[str]:
    text = (ROOT / "pyproject.toml").read_text()
    return set(re.findall(r'"([\w.]+)"', re.search(r"^packages\s*=\s*\[(.*)\]\s*$", text, re.M)[1]))


def all_modules() -> dict[str, Path]:
    """Every module of the installed packages: dotted name -> file."""
    modules: dict[str, Path] = {}
    for package, folder in package_dirs().items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            modules[".".join([package, *parts])] = path
    return modules


MODULES = all_modules()


def _resolve(name: str) -> str | None:
    """The dicodec module an import of ``name`` loads: ``name`` itself, or the package it is an
    attribute of (``from dicodec.codec import registry`` -> ``dicodec.codec.registry``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> Iterator[tuple[str, int, str]]:
    """``(imported module, line, how)`` for every import of a dicodec module in ``module``'s source;
    ``how`` is ``"import"``, ``"lazy"`` (inside a function) or ``"mounted"`` (the ``"module:attr"``
    target of a lazily loaded click command, in the CLI)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    lazy_lines = {
        n.lineno for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
        for n in ast.walk(f) if isinstance(n, ast.Import | ast.ImportFrom)
    }  # fmt: skip
    for node in ast.walk(tree):
        names: list[str] = []
        how = "lazy" if getattr(node, "lineno", None) in lazy_lines else "import"
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[: len(parent) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            names = [f"{base}.{a.name}" for a in node.names]
        elif layer(module) == "cli" and isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = re.fullmatch(r"(dicodec(?:\.\w+)+):\w+", node.value)  # a LazyCommand target
            names, how = ([match[1]] if match else []), "mounted"
        for name in names:
            target = _resolve(name) if name.startswith("dicodec") else None
            if target and target != module:
                yield target, node.lineno, how


def layer(module: str) -> str:
    for prefix, name in (
        ("dicodec.codec.training", "training"),
        ("dicodec.codec.video", "video"),
        ("dicodec.codec", "shipping"),
        ("dicodec.bitstream", "bitstream"),
        ("dicodec.eval", "eval"),
        ("dicodec.cli", "cli"),
    ):
        if module == prefix or module.startswith(prefix + "."):
            return name
    if module in ENTRY_POINTS:
        return "entry"
    return "public" if module in PUBLIC_API else "other"


# layer -> predicate on the imported module's layer (and name) that must hold
LEAVES = {"dicodec.errors", "dicodec.version"}  # what every layer may import: they import nothing
RULES = {
    # Encoding and decoding never pull in training, evaluation, the command line or the API above them.
    "shipping": lambda t: layer(t) in ("shipping", "video", "bitstream") or t in LEAVES,
    # Video is shipping code: it reuses the image codec's pieces, never training (see module docstring).
    "video": lambda t: layer(t) in ("shipping", "video", "bitstream") or t in LEAVES,
    # The container knows nothing of what its strings hold: parsed and fuzzed without any model.
    "bitstream": lambda t: layer(t) == "bitstream" or t in LEAVES,
    # The command line parses arguments and calls the library (public API) and the evaluation suite.
    "cli": lambda t: layer(t) in ("cli", "eval") or t in PUBLIC_API or t in CLI_MOUNTED_COMMANDS,
    # Training builds on the shipping codec and may score with eval's metrics; never the CLI.
    "training": lambda t: layer(t) != "cli",
    # Evaluation measures codecs; it does not depend on how they were trained.
    "eval": lambda t: layer(t) != "training",
    # The public API calls shipping code and the container; it never depends on its own callers.
    "public": lambda t: layer(t) in ("public", "shipping", "video", "bitstream"),
    "entry": lambda t: layer(t) in ("cli", "public"),
}


def test_every_package_folder_is_installed():
    """A sub-package missing from pyproject's ``packages`` works in a checkout and vanishes from a
    wheel; so is a folder holding modules without an ``__init__.py``."""
    packages = {m for m, p in MODULES.items() if p.name == "__init__.py"}
    assert packages == listed_packages()
    for module, path in MODULES.items():
        assert (path.parent / "__init__.py").is_file(), f"{module}: its folder is not a package"


def test_the_rules_cover_every_module_and_video():
    assert {layer(m) for m in MODULES} <= set(RULES), sorted(
        m for m in MODULES if layer(m) == "other"
    )
    assert layer("dicodec.codec.video.latent_codec") == "video"
    assert layer("dicodec.bitstream.video") == "bitstream"
    assert not RULES["video"]("dicodec.codec.training.train") and RULES["video"]("dicodec.codec.dit")
    assert not RULES["bitstream"]("dicodec.codec.latent_codec")
    for leaf in LEAVES:
        assert list(imports_of(leaf)) == [], leaf


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer(m) in RULES))
def test_imports_go_in_the_allowed_direction(module):
    rule = RULES[layer(module)]
    bad = [f"line {line}: {target} ({how})" for target, line, how in imports_of(module) if not rule(target)]
    assert not bad, f"{module} ({layer(module)}) must not import: {bad}"


def test_the_cli_mounts_training_only_by_name():
    """The lazily mounted ``train`` and ``data`` commands are the only references from the CLI to
    training code, and they are strings, not imports."""
    cli = [m for m in MODULES if layer(m) == "cli"]
    refs = [(t, how) for m in cli for t, _, how in imports_of(m) if layer(t) == "training"]
    assert sorted(refs) == [(t, "mounted") for t in sorted(CLI_MOUNTED_COMMANDS)]
    from dicodec.cli.main import LAZY_COMMANDS

    mounted = {c.target.partition(":")[0] for c in LAZY_COMMANDS.values()}
    assert mounted & {t for t in MODULES if layer(t) == "training"} == CLI_MOUNTED_COMMANDS
    for name in ("train", "data"):
        assert LAZY_COMMANDS[name].target.partition(":")[0] in CLI_MOUNTED_COMMANDS


def test_no_import_cycles():
    """Between modules, every import counted: lazy ones (they run in the same process) and those under
    ``if TYPE_CHECKING`` too (a cycle a type checker follows is still one a reader has to)."""
    edges = {m: {t for t, _, _ in imports_of(m)} for m in MODULES}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(MODULES):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_no_module_over_600_lines():
    """STYLE.md: split a module near 500-600 lines (scripts/ excepted: not part of the package)."""
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 600}
    assert not long, long


def test_readme_says_where_things_live():
    """README's "Where things live" table answers a newcomer's first questions with files that exist
    (video's places excepted: they are where the first video commit goes)."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index("## Where things live") :].split("\n\n")[1]
    rows = {r.split("|")[1].strip(): r.split("|")[2] for r in table.splitlines()[2:]}
    for topic in ("bitstream", "entropy model", "DiT decoder", "training", "evaluation", "CLI", "video"):
        assert any(topic in key for key in rows), topic
    for key, cell in rows.items():
        for path in re.findall(r"`([\w./-]+)`", cell):
            assert (ROOT / path).exists() or "video" in key, path
    video = next(cell for key, cell in rows.items() if key.startswith("video"))
    assert "`codec/video/`" in video and "`bitstream/video.py`" in video
    assert layer("dicodec.codec.video") == "video" and layer("dicodec.bitstream.video") == "bitstream"
