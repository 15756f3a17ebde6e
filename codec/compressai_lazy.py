"""Import CompressAI's coding parts without running its package ``__init__``.

``import compressai`` executes ``compressai/__init__.py``, which imports every subpackage, among them
``compressai.datasets`` and, through it, ``torch_geometric`` for point-cloud datasets: 2.5-3.5 s of
every ``dicodec encode`` / ``decode`` on a 2-core CPU (measured 2026-12-01 with compressai 1.2.8: a
600x400 encode took 7.5 s in a fresh process, 0.5 s of it coding). dicodec needs three leaf modules
(``compressai.ans``, ``compressai.entropy_models``, ``compressai.layers``), which import nothing heavy.

:func:`install` puts a *lazy* ``compressai`` package into ``sys.modules`` before those imports: its
``__path__`` is the real one, so ``import compressai.X`` loads submodules as usual, and it answers the
three entropy-coder functions the entropy models call at run time (``get_entropy_coder``,
``available_entropy_coders``, ``set_entropy_coder``). The first access to any other attribute (say
``compressai.zoo`` or ``compressai.__version__`` in a user's own code) runs the real ``__init__`` in
the same module object, so the package behaves exactly as the full import from then on. The shim is
written for the pinned compressai (pyproject.toml); with anything unexpected it does nothing and the
normal import runs.

``compressai.entropy_models`` also imports ``scipy.stats`` at module level (0.4-1.0 s on the 2-core
CPU, more than the rest of CompressAI) for one call, ``norm.ppf`` in
``GaussianConditional._standardized_quantile``, which runs only when CDF tables are built
(``LatentCodec.update()``: training and tests); shipped weights carry their tables.
:func:`import_entropy_models` imports that module with ``scipy.stats`` answered by an empty placeholder
and removes the placeholder right after: CompressAI's module keeps a reference to the real ``scipy``
package only, so its ``scipy.stats.norm`` goes through scipy's own lazy submodule access and imports
the real ``scipy.stats`` the first time (if ever) it runs. Nobody else ever sees the placeholder
unless another thread imports ``scipy.stats`` during those milliseconds.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import types

_LOCK = threading.RLock()
_CODERS = ("ans",)  # compressai's own default; range_coder is optional there and never used here


def _run_real_init(module: types.ModuleType) -> None:
    origin = module.__spec__.origin
    with open(origin, encoding="utf-8") as f:
        code = compile(f.read(), origin, "exec")
    module.__dict__.pop("__getattr__", None)
    exec(code, module.__dict__)  # the package's own __init__, in place


def _make_lazy(spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
    module = types.ModuleType(spec.name, "compressai (lazy: see dicodec.codec.compressai_lazy)")
    module.__spec__, module.__file__, module.__package__ = spec, spec.origin, spec.name
    module.__path__ = list(spec.submodule_search_locations)
    state = {"coder": "ans"}

    def get_entropy_coder() -> str:
        return state["coder"]

    def available_entropy_coders() -> list[str]:
        return list(_CODERS)

    def set_entropy_coder(name: str) -> None:
        if name not in _CODERS:
            raise ValueError(f'Invalid entropy coder "{name}", choose from ({", ".join(_CODERS)}).')
        state["coder"] = name

    def __getattr__(name: str):  # PEP 562: a submodule loads alone, anything else runs the real init
        if name.startswith("__") and name not in ("__version__", "__all__"):
            raise AttributeError(name)
        with _LOCK:
            if importlib.util.find_spec(f"{spec.name}.{name}") is not None:  # `from compressai import ans`
                return importlib.import_module(f"{spec.name}.{name}")
            if "__getattr__" in module.__dict__:
                _run_real_init(module)
        return getattr(module, name)

    module.get_entropy_coder = get_entropy_coder
    module.available_entropy_coders = available_entropy_coders
    module.set_entropy_coder = set_entropy_coder
    module.__getattr__ = __getattr__
    return module


def import_entropy_models() -> types.ModuleType:
    """``compressai.entropy_models``, without importing ``scipy.stats`` until CompressAI calls it."""
    with _LOCK:
        if "compressai.entropy_models" in sys.modules or "scipy.stats" in sys.modules:
            return importlib.import_module("compressai.entropy_models")
        try:
            import scipy
        except ImportError:  # CompressAI's own import will say what is missing
            return importlib.import_module("compressai.entropy_models")
        if "__getattr__" not in vars(scipy):  # a scipy without lazy submodules: the plain import
            return importlib.import_module("compressai.entropy_models")
        placeholder = types.ModuleType("scipy.stats", "placeholder: see dicodec.codec.compressai_lazy")
        sys.modules["scipy.stats"] = placeholder
        try:
            return importlib.import_module("compressai.entropy_models")
        finally:
            if sys.modules.get("scipy.stats") is placeholder:
                del sys.modules["scipy.stats"]
            if vars(scipy).get("stats") is placeholder:
                delattr(scipy, "stats")  # scipy.__getattr__ now imports the real module on first use


def install() -> bool:
    """Make the next ``import compressai.X`` skip the package ``__init__``; True if the shim is active.

    Does nothing when compressai is already imported (then it is the real package) or not installed.
    """
    with _LOCK:
        if "compressai" in sys.modules:
            return getattr(sys.modules["compressai"], "__getattr__", None) is not None
        spec = importlib.util.find_spec("compressai")
        if spec is None or not spec.submodule_search_locations or not spec.origin:
            return False
        sys.modules["compressai"] = _make_lazy(spec)
        return True
