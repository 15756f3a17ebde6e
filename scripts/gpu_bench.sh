#!/usr/bin/env bash
# Install the package on the GPU machine (no network: wheels from .whl/) and run scripts/bench.py on CUDA.
set -euo pipefail
source scripts/gpu_env.sh
src=$PWD
cd /tmp
python3 "$src/scripts/bench.py" --devices cuda --repeats 5 --json-out "$OUT/bench_cuda.json"
