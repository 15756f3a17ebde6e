#!/usr/bin/env bash
# Training throughput of the hp32b recipe under the options that change host-device synchronisation
# and batch size (docs/training.md), MINUTES each on all GPUs (DDP), from the shipped weights; one
# JSON log per variant to $OUT and a summary line each (median crops/s after the first log line).
#
#   PACK=.carry3/pack MINUTES=0.75 bash scripts/gpu_throughput.sh
set -euo pipefail
minutes=${MINUTES:-0.75}
gpus=$(python3 -c 'import torch; print(torch.cuda.device_count())')
source scripts/gpu_env.sh
src=$PWD
cd /tmp
common=(-m dicodec.codec.training.train --config hp32b --data "$src/${PACK:-data/pack}" --max-minutes "$minutes"
  --log-every 20 --seed 0 --init "$src/codec/weights/hp32-v6.safetensors")
variants=(
  "b16:--batch-size 16"
  "b32:--batch-size 32"
  "b32-lean:--batch-size 32 --sync-every 20 --no-guard-nonfinite"
  "b32-lean-bf16:--batch-size 32 --sync-every 20 --no-guard-nonfinite --amp bf16"
)
for v in "${variants[@]}"; do
  name=${v%%:*}
  read -r -a opts <<<"${v#*:}"
  rm -rf "/tmp/tp-$name"
  torchrun --standalone --nproc_per_node "$gpus" "${common[@]}" --out "/tmp/tp-$name" "${opts[@]}" \
    >"/tmp/tp-$name.txt" 2>&1 || tail -n 5 "/tmp/tp-$name.txt"
  cp "/tmp/tp-$name/log.jsonl" "$OUT/throughput_$name.jsonl" 2>/dev/null || echo "$name: no log"
  python3 - "/tmp/tp-$name/log.jsonl" "$name" <<'PY'
import json, statistics, sys
try:
    rows = [json.loads(line) for line in open(sys.argv[1])][1:]
except FileNotFoundError:
    sys.exit(0)
if rows:
    print(f"{sys.argv[2]}: {statistics.median(r['images_per_s'] for r in rows):.0f} crops/s, "
          f"{len(rows) + 1} log lines, last psnr {rows[-1]['psnr']:.2f}, skipped {rows[-1]['skipped']}")
PY
done
