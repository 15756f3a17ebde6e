"""Helpers that were written several times are written once: the file sha256 and PSNR."""

from __future__ import annotations

import ast
from pathlib import Path

from test_import_contract import MODULES, ROOT


def _sources() -> dict[str, Path]:
    scripts = {f"scripts.{p.stem}": p for p in (ROOT / "scripts").glob("*.py")}
    return {**MODULES, **scripts}


def _functions_where(predicate) -> list[str]:
    """``module.function`` of every function (or module level, ``module.<module>``) whose own body
    holds a node for which ``predicate`` is true."""
    found = []
    for module, path in sorted(_sources().items()):
        tree = ast.parse(path.read_text())
        owners = [(f"{module}.{f.name}", f) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)]
        inner = {id(n) for _, f in owners for n in ast.walk(f)}
        for name, f in owners:
            if any(predicate(n) for n in ast.walk(f)):
                found.append(name)
        if any(predicate(n) and id(n) not in inner for n in ast.walk(tree)):
            found.append(f"{module}.<module>")
    return sorted(set(found))


def _call_to(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Attribute) and node.func.attr == name)
        or (isinstance(node.func, ast.Name) and node.func.id == name)
    )


def test_one_file_sha256():
    """Hashing a file's bytes: weights_io, model_store and the evaluation's weight finder each had
    their own copy."""

    def reads_a_file_into_sha256(node: ast.AST) -> bool:
        calls = [n for n in ast.walk(node) if isinstance(n, ast.Call)]
        hashes = any(_call_to(n, "sha256") for n in calls)
        return isinstance(node, ast.FunctionDef) and hashes and any(_call_to(n, "open") for n in calls)

    hashers = set(_functions_where(reads_a_file_into_sha256))
    # scripts/prepare_data.py, which kept its own, is now the package's 'dicodec data' (dataprep)
    assert hashers == {"dicodec.codec.model_store.sha256_file"}


def test_one_psnr():
    """``10 * log10(...)``: written in the two trainers, two scripts and the evaluation before."""

    def ten_log10(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Mult)
            and isinstance(node.left, ast.Constant)
            and node.left.value == 10
            and _call_to(node.right, "log10")
        )

    assert _functions_where(ten_log10) == ["dicodec.eval.metrics.psnr_from_mse"]
