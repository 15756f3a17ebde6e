#!/usr/bin/env bash
# Install the package on the GPU machine (no network: wheels from .whl/) and run scripts/bench.py on CUDA.
# Question: how fast are encoding and decoding on the GPU (scripts/bench.py on CUDA)?
# When: on the GPU machine, after a change to the coding or decoding path; needs .whl/ (gpu_prepare.sh).
# Output: $OUT/bench_cuda.json.
set -euo pipefail
source scripts/gpu_env.sh
src=$PWD
cd /tmp
python3 "$src/scripts/bench.py" --devices cuda --repeats 5 --json-out "$OUT/bench_cuda.json"
