#!/usr/bin/env bash
# Install the package on the GPU machine (no network: wheels from .whl/) and run scripts/bench.py on CUDA.
set -euo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --upgrade --target /tmp/site .
export PYTHONPATH=/tmp/site
src=$PWD
cd /tmp
python3 "$src/scripts/bench.py" --devices cuda --repeats 5 --json-out "$OUT/bench_cuda.json"
