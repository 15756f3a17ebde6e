#!/usr/bin/env bash
# DiT-IC training on a GPU machine with no network (docs/dit.md), one phase per device call: each phase
# fits the 10-minute limit of a call, checkpoints stay in /tmp/dit on the warm machine between
# back-to-back calls, and what a person needs comes back through $OUT (at most 8 files per call).
#
#   bash scripts/gpu_dit.sh prior     # flow-matching prior (DDP, PRIOR_MIN=7), sample grid
#   bash scripts/gpu_dit.sh onestep   # one-step decoder from the prior (DDP, ONESTEP_MIN=5), compare
#   bash scripts/gpu_dit.sh ablate    # 5 one-step variants, ABLATE_MIN=1.5 each, one per GPU at a time
#   bash scripts/gpu_dit.sh gan       # GAN stage + fine-tuned synthesis (DDP, GAN_MIN=6), compare, export
#
# Needs .whl/ (scripts/gpu_prepare.sh) and a pack (PACK, default data/pack) and held-out images (EVAL,
# default data/eval) in the tree or carried. SIZE=tiny runs the same phases with the tiny CPU configs
# (DEVICE=cpu) in seconds: that is how this script is tested where there is no GPU.
set -euo pipefail
phase=${1:?usage: gpu_dit.sh prior|onestep|ablate|gan}
size=${SIZE:-s}
device=${DEVICE:-cuda}
qualities=${QUALITIES:-0,15,30,50}
src=$PWD
pack=$src/${PACK:-data/pack}
eval_dir=$src/${EVAL:-data/eval}
out=${OUT:?OUT must name the folder for results}
run=/tmp/dit
export PYTHONUNBUFFERED=1
if [ "$device" = cuda ]; then
  source scripts/gpu_env.sh
  gpus=$(python3 -c 'import torch; print(torch.cuda.device_count())')
  launch=(torchrun --standalone --nproc_per_node "$gpus")
else
  gpus=1
  launch=(python3)
fi
cd /tmp  # import the installed copy (or the editable one on CPU), not the source folders
T=(-m dicodec.codec.train_dit)
codec=()
extra=()
if [ "$size" = tiny ]; then
  codec=(--codec preset:tiny)
  extra=(--steps 6)
fi
common=(--data "$pack" --device "$device" --resume --log-every "${LOG_EVERY:-100}" "${extra[@]}")
compare() {  # compare CKPT NAME [more compare options]
  python3 "${T[@]}" compare --ckpt "$1" "${codec[@]}" --data "$eval_dir" --qualities "$qualities" \
    --device "$device" --out "$run/compare_$2.json" "${@:3}" | tail -n 20
}

case $phase in
prior)
  m=${PRIOR_MIN:-7}
  "${launch[@]}" "${T[@]}" train --config "prior-$size" --out "$run/prior" --schedule-minutes "$m" \
    --max-minutes "$m" "${common[@]}" | grep -E "step=|process|Error" || true
  python3 "${T[@]}" sample --ckpt "$run/prior/ckpt.pt" "${codec[@]}" --out "$out/prior_samples.png" \
    --num 8 --size "${SAMPLE_SIZE:-512}" --steps 32 --data "$pack" --device "$device"
  cp "$run/prior/log.jsonl" "$out/prior_log.jsonl"
  ;;
onestep)
  m=${ONESTEP_MIN:-5}
  "${launch[@]}" "${T[@]}" train --config "onestep-$size" --init "$run/prior/ckpt.pt" --out "$run/onestep" \
    --schedule-minutes "$m" --max-minutes "$m" "${common[@]}" | grep -E "step=|process|Error" || true
  compare "$run/onestep/ckpt.pt" onestep --teacher "$run/prior/ckpt.pt" --teacher-steps 8
  cp "$run/compare_onestep.json" "$out/"
  cp "$run/onestep/log.jsonl" "$out/onestep_log.jsonl"
  ;;
ablate)
  m=${ABLATE_MIN:-1.5}
  # name:options; every variant trains the same minutes on one GPU from the same prior, "base" included
  variants=("base:" "no-guidance:--uncertainty none" "no-align:--w-align 0 --w-distill 0"
    "no-condition:--no-latent-condition" "learned-uncertainty:--uncertainty learned")
  i=0
  for v in "${variants[@]}"; do
    name=${v%%:*}
    read -r -a opts <<<"${v#*:}"
    gpu=$((i % gpus))
    CUDA_VISIBLE_DEVICES=$gpu python3 "${T[@]}" train --config "onestep-$size" --init "$run/prior/ckpt.pt" \
      --out "$run/ablate-$name" --schedule-minutes "$m" --max-minutes "$m" "${common[@]}" "${opts[@]}" \
      >"$run/ablate-$name.txt" 2>&1 &
    i=$((i + 1))
    if [ $((i % gpus)) -eq 0 ]; then wait; fi
  done
  wait
  for v in "${variants[@]}"; do
    name=${v%%:*}
    teacher=()
    [ "$name" = base ] && teacher=(--teacher "$run/prior/ckpt.pt" --teacher-steps 8)
    compare "$run/ablate-$name/ckpt.pt" "ablate-$name" "${teacher[@]}"
  done
  python3 - "$run" "$out/ablation.json" <<'EOF'
import json, sys
from pathlib import Path
run, dest = Path(sys.argv[1]), sys.argv[2]
rows = {}
for f in sorted(run.glob("compare_ablate-*.json")):
    name = f.stem.removeprefix("compare_ablate-")
    log = run / f"ablate-{name}" / "log.jsonl"
    last = json.loads(log.read_text().splitlines()[-1]) if log.is_file() else None
    rows[name] = {"compare": json.loads(f.read_text()), "last_log": last}
Path(dest).write_text(json.dumps(rows, indent=1))
print(f"wrote {dest}: {', '.join(rows)}")
EOF
  ;;
gan)
  m=${GAN_MIN:-6}
  "${launch[@]}" "${T[@]}" train --config "gan-$size" --init "$run/onestep/ckpt.pt" \
    --teacher "$run/prior/ckpt.pt" --out "$run/gan" --schedule-minutes "$m" --max-minutes "$m" \
    "${common[@]}" | grep -E "step=|process|Error" || true
  compare "$run/gan/ckpt.pt" gan
  python3 "${T[@]}" export "$run/gan/ckpt.pt" "$run/dit-ic-$size.safetensors" --name "dit-ic-$size-v1"
  split -b 15000000 "$run/dit-ic-$size.safetensors" "$out/dit-ic-$size.safetensors.part-"
  cp "$run/compare_gan.json" "$out/"
  cp "$run/gan/log.jsonl" "$out/gan_log.jsonl"
  ;;
*)
  echo "unknown phase $phase (prior, onestep, ablate, gan)" >&2
  exit 2
  ;;
esac
