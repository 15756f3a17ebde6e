#!/usr/bin/env bash
# Train a codec preset on a GPU machine with no network (run from the repo root there).
# Job: one codec training run in device calls of at most 10 minutes (slices), then its export and checks.
# When: training a codec preset that fits one pack carried with the tree; larger packs: gpu_long_run.sh.
# Output: $OUT: weights in 15 MB parts, train/val logs, rd_quick.txt, scale_probe.txt.
#
#   CONFIG=hp32b NAME=hp32-v2 INIT=codec/weights/hp32-v1.safetensors bash scripts/gpu_train.sh first
#   CONFIG=hp32b NAME=hp32-v2 bash scripts/gpu_train.sh resume   # same machine: /tmp/run/ckpt.pt
#
# BATCH overrides the per-GPU batch, EXTRA passes further training options (e.g. "--amp none").
# VAL names a folder of images outside the training set (and outside what the model card reports):
# every checkpoint is scored on it and the best one so far, /tmp/run/best.pt, is what gets exported.
# Needs: .whl/ (compressai, pytorch-msssim cp312 wheels: scripts/gpu_prepare.sh) and a training pack
# (dicodec data prepare; PACK=folder, with photo/ and graphics/ subfolders for the hp32b mix).
# Results go to $OUT: the exported EMA weights (split in 15 MB parts), logs as JSON lines, a quick
# real-coding RD check on EVAL and scripts/scale_probe.py's log-scale ranges on EVAL at quality 0.
# Every slice runs at most MINUTES of wall time (start-up included); the learning rate anneals over
# SCHEDULE_MINUTES of total training time (start-ups excluded), so plan the slices before the first.
set -euo pipefail
phase=${1:-first}
config=${CONFIG:-hp32b}
name=${NAME:-hp32-v2}
minutes=${MINUTES:-9}
schedule=${SCHEDULE_MINUTES:-18}
gpus=$(python3 -c 'import torch; print(torch.cuda.device_count())')
source scripts/gpu_env.sh
src=$PWD
cd /tmp  # import the installed copy, not the source folders
train=(-m dicodec.codec.training.train --config "$config" --data "$src/${PACK:-data/pack}" --schedule-minutes "$schedule"
  --resume --out /tmp/run --max-minutes "$minutes" ${BATCH:+--batch-size "$BATCH"}
  ${VAL:+--val-data "$src/$VAL"} ${EXTRA:-})
if [ "$phase" = first ]; then
  rm -rf /tmp/run
  [ -n "${INIT:-}" ] && train+=(--init "$src/$INIT")
fi
torchrun --standalone --nproc_per_node "$gpus" "${train[@]}" 2>&1 | grep -E "step=[0-9]*00 |resumed|process|warm|Error|error" || true
ckpt=/tmp/run/ckpt.pt
if [ -n "${VAL:-}" ] && [ -f /tmp/run/best.pt ]; then
  ckpt=/tmp/run/best.pt
  cp /tmp/run/val.jsonl "$OUT/val_log.jsonl"
fi
python3 -c "from dicodec.codec.training.train import export; print('$ckpt sha256', export('$ckpt', '/tmp/model.safetensors', '$name'))"
split -b 15000000 /tmp/model.safetensors "$OUT/$name.safetensors.part-"
cp /tmp/run/log.jsonl "$OUT/train_log.jsonl"
python3 "$src/scripts/rd_quick.py" /tmp/model.safetensors "$src/${EVAL:-data/eval}" --device cuda \
  --qualities 0,15,30,50,75,100 | tee "$OUT/rd_quick.txt"
# the entropy model's log-scale range and top-scale share (docs/training.md, "The late rate blow-up")
python3 "$src/scripts/scale_probe.py" /tmp/model.safetensors "$src/${EVAL:-data/eval}" --quality 0 \
  | tee "$OUT/scale_probe.txt"
