"""Peak host memory of one CPU decode, with and without strip-wise synthesis (docs/dit.md "Speed").

    python scripts/decode_memory_probe.py FILE.dic fast|generative on|off

Runs one decode in this process after loading the default models and prints ru_maxrss before and
after: the increment is the decode's working set. ``off`` disables the strips (one synthesis pass).
Run each case in a fresh process (ru_maxrss never goes down).
"""

from __future__ import annotations

import resource
import sys
import time

import dicodec
from dicodec.codec import registry, windowed_synthesis


def main() -> None:
    path, mode, strips = sys.argv[1], sys.argv[2], sys.argv[3]
    if strips == "off":
        windowed_synthesis.MAX_STRIP_LATENTS = 10**9
    with open(path, "rb") as f:
        data = f.read()
    registry.load(None, "cpu")
    registry.load_generative(registry.get_entry(None).name, "cpu")
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    dicodec.decode(data, mode=mode, device="cpu")
    t = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{mode} strips={strips}: after load {base:.0f} MB, peak {peak:.0f} MB, ", end="")
    print(f"decode +{peak - base:.0f} MB, {t:.1f} s")


if __name__ == "__main__":
    main()
