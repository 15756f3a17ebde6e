#!/usr/bin/env bash
# Train the default preset on a GPU machine with no network (run from the repo root there).
#
#   bash scripts/gpu_train.sh first   # 1-GPU throughput baseline, then DDP training from scratch
#   bash scripts/gpu_train.sh resume  # continue the DDP run (same machine: /tmp/run/ckpt.pt)
#
# Needs: .whl/ (compressai, pytorch-msssim cp312 wheels: scripts/gpu_prepare.sh) and data/pack/
# (scripts/prepare_data.py). Results go to $OUT: the exported EMA weights (split in 15 MB parts),
# logs as JSON lines, and a quick real-coding RD check.
set -euo pipefail
phase=${1:-first}
minutes=${MINUTES:-8}
schedule=${SCHEDULE_MINUTES:-17}
gpus=$(python3 -c 'import torch; print(torch.cuda.device_count())')
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --upgrade --target /tmp/site .
export PYTHONPATH=/tmp/site
cd /tmp  # import the installed copy, not the source folders
src=$OLDPWD
train=(-m dicodec.codec.train --data "$src/${PACK:-data/pack}" --schedule-minutes "$schedule" --resume)
if [ "$phase" = first ]; then
  rm -rf /tmp/base1 /tmp/run
  # Same global batch (32) on one GPU, for images/s and loss-at-equal-samples comparisons.
  python3 "${train[@]}" --out /tmp/base1 --batch-size 32 --max-minutes 1 | tail -n 3
fi
torchrun --standalone --nproc_per_node "$gpus" "${train[@]}" --out /tmp/run --batch-size "${BATCH:-16}" \
  --max-minutes "$minutes" | grep -E "step=[0-9]*000 |resumed|process" || true
python3 -c "from dicodec.codec.train import export; print('sha256', export('/tmp/run/ckpt.pt', '/tmp/hp32.safetensors', 'hp32-v1'))"
split -b 15000000 /tmp/hp32.safetensors "$OUT/hp32.safetensors.part-"
cp /tmp/run/log.jsonl "$OUT/train_log.jsonl"
[ -f /tmp/base1/log.jsonl ] && cp /tmp/base1/log.jsonl "$OUT/base1_log.jsonl"
python3 "$src/scripts/rd_quick.py" /tmp/hp32.safetensors "$src/${EVAL:-data/eval}" --device cuda --max-images 6 \
  --qualities 0,25,50,75,100 | tee "$OUT/rd_quick.txt"
