#!/usr/bin/env bash
# DDP scaling check on a machine with several GPUs: the same global batch on 1 GPU and on N GPUs,
# from scratch, for MINUTES each; JSON logs to $OUT for images/s and loss-at-equal-samples comparisons.
set -euo pipefail
minutes=${MINUTES:-1}
global=${GLOBAL_BATCH:-32}
gpus=$(python3 -c 'import torch; print(torch.cuda.device_count())')
source scripts/gpu_env.sh
src=$PWD
cd /tmp
common=(-m dicodec.codec.training.train --data "$src/${PACK:-data/pack}" --max-minutes "$minutes" --log-every 20 --seed 0)
rm -rf /tmp/scale1 /tmp/scaleN
python3 "${common[@]}" --out /tmp/scale1 --batch-size "$global" | tail -n 1
torchrun --standalone --nproc_per_node "$gpus" "${common[@]}" --out /tmp/scaleN --batch-size $((global / gpus)) | tail -n 1
cp /tmp/scale1/log.jsonl "$OUT/scale_1gpu.jsonl"
cp /tmp/scaleN/log.jsonl "$OUT/scale_${gpus}gpu.jsonl"
