"""codec/compressai_lazy.py: dicodec loads CompressAI's coding modules without its package __init__
(which pulls in torch_geometric for point-cloud datasets), and a user's own `import compressai` still
gets the whole package. Each case runs in a fresh interpreter: sys.modules is what is tested."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run_fresh(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_coding_without_the_package_init_then_the_full_package_on_demand():
    out = run_fresh("""
        import sys
        import numpy as np
        import dicodec
        image = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
        data = dicodec.encode(image, quality=50, device="cpu")
        assert dicodec.decode(data, mode="fast", device="cpu").shape == image.shape
        print("heavy before:", "compressai.datasets" in sys.modules, "torch_geometric" in sys.modules)
        import compressai
        assert compressai.get_entropy_coder() == "ans" and compressai.available_entropy_coders() == ["ans"]
        try:
            compressai.set_entropy_coder("nope")
        except ValueError:
            print("bad coder refused")
        print("version:", compressai.__version__)  # not a coding function: the real __init__ runs
        print("heavy after:", "compressai.datasets" in sys.modules)
        from compressai.zoo import bmshj2018_factorized  # the user's own CompressAI code works
        assert callable(bmshj2018_factorized) and hasattr(compressai, "models")
    """)
    assert "heavy before: False False" in out
    assert "bad coder refused" in out and "version: 1.2.8" in out and "heavy after: True" in out


def test_does_nothing_when_compressai_is_already_imported():
    out = run_fresh("""
        import compressai
        from dicodec.codec import compressai_lazy
        print("active:", compressai_lazy.install(), hasattr(compressai, "zoo"))
    """)
    assert "active: False True" in out


def test_scipy_stats_loads_only_when_compressai_builds_tables():
    out = run_fresh("""
        import sys
        import numpy as np
        import dicodec
        image = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
        dicodec.decode(dicodec.encode(image, quality=50, device="cpu"), mode="fast", device="cpu")
        print("stats before:", "scipy.stats" in sys.modules)
        from dicodec.codec.config import PRESETS
        from dicodec.codec.model import ImageCodec
        ImageCodec(PRESETS["tiny"]).update()  # GaussianConditional.update calls scipy.stats.norm.ppf
        import scipy.stats
        print("stats after:", type(sys.modules["scipy.stats"]).__name__, hasattr(scipy.stats, "norm"))
    """)
    assert "stats before: False" in out and "stats after: module True" in out
