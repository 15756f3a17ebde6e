#!/usr/bin/env bash
# DiT-IC training on a GPU machine with no network (docs/dit.md). Phases run in the order given, so one
# device call can hold several; checkpoints stay in /tmp/dit on the warm machine between back-to-back
# calls, and what a person needs comes back through $OUT (at most 8 files per call: big files are split
# into 15 MB parts).
# Job: train, compare and export the DiT-IC generative decoder (prior, one-step, GAN stages).
# When: a new generative decoder, e.g. after a codec retrain (docs/dit.md); needs a GPU (or SIZE=tiny).
# Output: $OUT: exported decoders in 15 MB parts, prior samples, comparison JSON per stage.
#
#   bash scripts/gpu_dit.sh prior            # flow-matching prior (DDP, PRIOR_MIN=7), sample grid, export
#   bash scripts/gpu_dit.sh onestep          # the one-step decoder and its ablation variants, export base
#   bash scripts/gpu_dit.sh onestep-compare  # real-coded comparison of those variants -> onestep.json
#   bash scripts/gpu_dit.sh gan              # GAN stage + fine-tuned synthesis from the onestep base,
#                                            # comparison -> gan.json, export of every variant
#
# The GAN stage can also go on from released weights: GAN_INIT=.carry/dit/dit-ic-s-v5.safetensors (a copy
# of the released file, carried: it does not fit the transfer as a tracked file, docs/history.md)
# GAN_TEACHER= GAN_OPTS="--w-distill 0 ..." (no prior needed); SKIP_COMPARE=1 leaves the comparison to
# a later call or to the CPU (the exports come back either way). SCHEDULE_MIN stretches the cosine of a
# phase over several calls (each call trains its *_MIN minutes and resumes where the last one stopped).
#
# `onestep` trains the variants of ONESTEP_VARIANTS ("name:options;..."; "base" is the decoder the GAN
# stage starts from) at the same time, one process each, spread over the GPUs: on one GPU they share
# it, which costs each variant steps but keeps the comparison fair (same minutes, same sharing) and
# fills a GPU that a single small-DiT process leaves idle between kernel launches. `gan` does the same
# with GAN_VARIANTS. PRIOR_OPTS, ONESTEP_OPTS and GAN_OPTS add training options to every run of a phase.
# `onestep-compare` may run in the background of `gan` (SKIP_INSTALL=1 on the second of two scripts
# started in one call keeps them from installing into /tmp/site at the same time).
#
# Needs .whl/ (scripts/gpu_prepare.sh) and a pack (PACK, default data/pack) and held-out images (EVAL,
# default data/eval) in the tree or carried. SIZE=tiny runs the same phases with the tiny CPU configs
# (DEVICE=cpu) in about three minutes: that is how this script is checked where there is no GPU.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: gpu_dit.sh prior|onestep|onestep-compare|gan [more phases]" >&2; exit 2; }
size=${SIZE:-s}
device=${DEVICE:-cuda}
qualities=${QUALITIES:-0,15,30,50}
src=$PWD
pack=$src/${PACK:-data/pack}
eval_dir=$src/${EVAL:-data/eval}
out=${OUT:?OUT must name the folder for results}
run=${RUN:-/tmp/dit}  # checkpoints and comparisons; stays on the warm machine between calls
mkdir -p "$run"
export PYTHONUNBUFFERED=1
if [ "$device" = cuda ]; then
  source scripts/gpu_env.sh
  gpus=$(python3 -c 'import torch; print(torch.cuda.device_count())')
  launch=(torchrun --standalone --nproc_per_node "$gpus")
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}  # several processes share the host's cores
else
  gpus=1
  launch=(python3)
fi
cd /tmp  # import the installed copy (or the editable one on CPU), not the source folders
T=(-m dicodec.codec.training.train_dit)
codec=()
extra=()
if [ "$size" = tiny ]; then
  codec=(--codec preset:tiny)
  extra=(--steps 6)
fi
# "base" first: the decoder the GAN stage starts from; the others are the ablations of the issue
variants=${ONESTEP_VARIANTS:-"base:;no-guidance:--uncertainty none;no-align:--w-align 0 --w-distill 0;no-condition:--no-latent-condition;learned-uncertainty:--uncertainty learned"}
common=(--data "$pack" --device "$device" --resume --log-every "${LOG_EVERY:-100}" "${extra[@]}")

compare() {  # compare CKPT NAME [more compare options]: rows to $run/compare_NAME.json, means to stdout
  python3 "${T[@]}" compare --ckpt "$1" "${codec[@]}" --data "$eval_dir" --qualities "$qualities" \
    --device "$device" --out "$run/compare_$2.json" "${@:3}" >"$run/compare_$2.txt" 2>&1
}

export_split() {  # export_split CKPT NAME: EMA weights as fp16 safetensors, in parts that fit $OUT
  echo "$2: $(python3 "${T[@]}" export "$1" "$run/$2.safetensors" --name "$2")"
  split -b 15000000 "$run/$2.safetensors" "$out/$2.safetensors.part-"
}

train_variants() {  # train_variants STAGE MINUTES "name:options;..." [options for all]
  local stage=$1 minutes=$2 i=0 v name pids=() list opts
  IFS=';' read -r -a list <<<"$3"
  for v in "${list[@]}"; do
    name=${v%%:*}
    read -r -a opts <<<"${v#*:}"
    CUDA_VISIBLE_DEVICES=$((i % gpus)) python3 "${T[@]}" train --config "$stage-$size" \
      --out "$run/$stage-$name" --schedule-minutes "${SCHEDULE_MIN:-$minutes}" --max-minutes "$minutes" "${common[@]}" \
      "${@:4}" "${opts[@]}" >"$run/$stage-$name.txt" 2>&1 &
    pids+=($!)
    i=$((i + 1))
  done
  for pid in "${pids[@]}"; do wait "$pid" || echo "a $stage variant failed (see $run/$stage-*.txt)"; done
  for v in "${list[@]}"; do
    name=${v%%:*}
    echo "== $stage-$name: $(grep -c . "$run/$stage-$name/log.jsonl" 2>/dev/null || echo 0) log lines"
    tail -n 2 "$run/$stage-$name.txt"
  done
}

compare_variants() {  # compare_variants STAGE "name:options;..." [compare options for "base"]
  local stage=$1 v name pids=() list
  IFS=';' read -r -a list <<<"$2"
  for v in "${list[@]}"; do
    name=${v%%:*}
    if [ "$name" = base ]; then
      compare "$run/$stage-$name/ckpt.pt" "$stage-$name" "${@:3}" &
    else
      compare "$run/$stage-$name/ckpt.pt" "$stage-$name" &
    fi
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || echo "a $stage compare failed"; done
  for v in "${list[@]}"; do
    echo "== compare $stage-${v%%:*}"
    cat "$run/compare_$stage-${v%%:*}.txt"
  done
  python3 - "$run" "$stage" "$out/$stage.json" <<'EOF'
import json, sys
from pathlib import Path
run, stage, dest = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
rows = {}
for f in sorted(run.glob(f"compare_{stage}-*.json")):
    name = f.stem.removeprefix(f"compare_{stage}-")
    log = run / f"{stage}-{name}" / "log.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
    rows[name] = {"compare": json.loads(f.read_text()), "log": records}
Path(dest).write_text(json.dumps(rows, indent=1))
print(f"wrote {dest}: {', '.join(rows)}")
EOF
}

for phase in "$@"; do
  case $phase in
  prior)
    m=${PRIOR_MIN:-7}
    read -r -a opts <<<"${PRIOR_OPTS:-}"
    "${launch[@]}" "${T[@]}" train --config "prior-$size" --out "$run/prior" --schedule-minutes "$m" \
      --max-minutes "$m" "${common[@]}" "${opts[@]}" | grep -E "step=|process|Error" || true
    python3 "${T[@]}" sample --ckpt "$run/prior/ckpt.pt" "${codec[@]}" --out "$out/prior_samples.png" \
      --num 8 --size "${SAMPLE_SIZE:-512}" --steps 32 --data "$pack" --device "$device"
    cp "$run/prior/log.jsonl" "$out/prior_log.jsonl"
    tail -n 1 "$out/prior_log.jsonl"
    export_split "$run/prior/ckpt.pt" "dit-prior-$size"
    ;;
  onestep)
    m=${ONESTEP_MIN:-5}
    read -r -a opts <<<"${ONESTEP_OPTS:-}"
    train_variants onestep "$m" "$variants" --init "$run/prior/ckpt.pt" "${opts[@]}"
    export_split "$run/onestep-base/ckpt.pt" "dit-onestep-$size"
    ;;
  onestep-compare)
    compare_variants onestep "$variants" --teacher "$run/prior/ckpt.pt" --teacher-steps 8
    ;;
  gan)
    m=${GAN_MIN:-6}
    read -r -a opts <<<"${GAN_OPTS:-}"
    gan_variants=${GAN_VARIANTS:-"base:"}
    init=${GAN_INIT:-$run/onestep-base/ckpt.pt}
    [[ $init = /* ]] || init=$src/$init  # the phases run from /tmp
    teacher=${GAN_TEACHER-$run/prior/ckpt.pt}
    train_variants gan "$m" "$gan_variants" --init "$init" --teacher "$teacher" "${opts[@]}"
    [ -n "${SKIP_COMPARE:-}" ] || compare_variants gan "$gan_variants"
    IFS=';' read -r -a list <<<"$gan_variants"
    for v in "${list[@]}"; do export_split "$run/gan-${v%%:*}/ckpt.pt" "dit-ic-$size-${v%%:*}"; done
    ;;
  *)
    echo "unknown phase $phase (prior, onestep, onestep-compare, gan)" >&2
    exit 2
    ;;
  esac
done
