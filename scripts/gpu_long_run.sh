#!/usr/bin/env bash
# One codec training run that outlasts a device call, with more data than one call carries
# (docs/training.md, "Long runs on one warm machine"). Run from the repository root on the GPU machine;
# a warm machine keeps /tmp and background processes between back-to-back calls.
# Job: stage pack shards over several calls, measure throughput, train in the background, export.
# When: a codec run whose pack or training time does not fit one device call (the hp32g run), or runs
# of several presets side by side, one GPU each, judged on held-out photos (training.md, "Residual
# autoencoding").
# Output: $OUT: throughput_*.jsonl, weights in 15 MB parts, train/val logs, scale_probe.txt; judge:
# ceiling_NAME.json/.txt (scripts/transform_ceiling.py) and rd_quick_NAME.txt (scripts/rd_quick.py);
# cache: inductor_cache.tar.gz.part-* (joined here into .carry/inductor_cache.tar.gz, which gpu_env.sh
# unpacks on the next machine, so its runs skip the ~3-minute compilation of the training step).
#
#   bash scripts/gpu_long_run.sh stage .carry/packA [INIT]  # copy a pack shard (and the init weights)
#   bash scripts/gpu_long_run.sh stage .carry/packB         # next call: the next shard
#   bash scripts/gpu_long_run.sh throughput                 # crops/s of $BEFORE (default hp32f), MINUTES
#   bash scripts/gpu_long_run.sh start                      # train $CONFIG in the background (setsid)
#   bash scripts/gpu_long_run.sh wait 540                   # follow the log for up to 540 s
#   bash scripts/gpu_long_run.sh export                     # best.pt -> $OUT (15 MB parts), logs
#   bash scripts/gpu_long_run.sh judge                      # ceiling and real-coding RD of NAME's export
#   bash scripts/gpu_long_run.sh cache                      # torch.compile's cache -> $OUT (15 MB parts)
#
# CONFIG (default hp32g), NAME, SCHEDULE_MINUTES (cosine length in training minutes, default 14; the run
# ends with it, 3-5 minutes of start-up later), MINUTES (a cap on the run's wall time, default the
# schedule + 8), VAL (selection folder, default .carry/select), HELDOUT (photos for
# judge, default .carry/heldout), EXTRA (more training options). RUN (default /tmp/run) names the run's
# folder, its log RUN.txt; GPUS (e.g. 1) the CUDA devices it trains on: two runs with their own RUN and
# GPUS train side by side on one host. Shards are folders with photo/ and graphics/ subfolders (dicodec
# data mix-pack).
set -euo pipefail
phase=${1:?usage: gpu_long_run.sh stage DIR [INIT] | throughput | start | wait SECONDS | export | judge | cache}
stage=/tmp/stage
run=${RUN:-/tmp/run}
config=${CONFIG:-hp32g}
name=${NAME:-hp32-v7}
schedule=${SCHEDULE_MINUTES:-14}
src=$PWD
[ -n "${GPUS:-}" ] && export CUDA_VISIBLE_DEVICES=$GPUS
gpus() { python3 -c 'import torch; print(torch.cuda.device_count())'; }

case $phase in
stage)
  shard=${2:?stage needs a folder}
  mkdir -p "$stage/pack"
  cp -r "$shard/." "$stage/pack/"
  [ -n "${3:-}" ] && cp "$3" "$stage/init.safetensors"
  # replaced, not copied into: a second `cp -r` would nest a copy that list_images (rglob) reads twice
  [ -d "${VAL:-.carry/select}" ] && rm -rf "$stage/select" && cp -r "${VAL:-.carry/select}" "$stage/select"
  [ -d "${HELDOUT:-.carry/heldout}" ] && rm -rf "$stage/heldout" && cp -r "${HELDOUT:-.carry/heldout}" "$stage/heldout"
  for d in "$stage"/pack/*/; do echo "staged $(find "$d" -type f | wc -l) files in $d"; done
  du -sh "$stage/pack"
  ;;
throughput)
  source scripts/gpu_env.sh
  cd /tmp
  before=${BEFORE:-hp32f}
  rm -rf /tmp/tp
  torchrun --standalone --nproc_per_node "$(gpus)" -m dicodec.codec.training.train --config "$before" \
    --data "$stage/pack" --out /tmp/tp --max-minutes "${MINUTES:-3.2}" --log-every 20 \
    --init "$stage/init.safetensors" ${EXTRA:-} >/tmp/tp.txt 2>&1 || tail -n 5 /tmp/tp.txt
  cp /tmp/tp/log.jsonl "$OUT/throughput_$before.jsonl"
  python3 - /tmp/tp/log.jsonl "$before" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])][1:]  # the first window holds the compilation
print(f"{sys.argv[2]}: {statistics.median(r['images_per_s'] for r in rows):.0f} crops/s "
      f"(median of {len(rows)} windows of 20 steps after the first)")
PY
  ;;
start)
  source scripts/gpu_env.sh
  cd /tmp
  # the run ends with its schedule; MINUTES only caps its wall time (default: the schedule + 8 minutes
  # of start-up, which the schedule's clock does not count)
  cap=${MINUTES:-$(awk -v s="$schedule" 'BEGIN { print s + 8 }')}
  launch() {
    rm -rf "$run"
    : >"$run.txt"  # exists before `wait` reads it
    # the wrapper shell logs how the run ended: a run killed without a word shows its status (137: KILL)
    setsid nohup bash -c '"$@"; echo "training process exited with status $?"' _ \
      torchrun --standalone --nproc_per_node "$(gpus)" -m dicodec.codec.training.train --config "$config" \
      --data "$stage/pack" --out "$run" --schedule-minutes "$schedule" --max-minutes "$cap" \
      --init "$stage/init.safetensors" --val-data "$stage/select" ${EXTRA:-} \
      >"$run.txt" 2>&1 </dev/null &
    pid=$!
    sleep "${START_GRACE:-15}"  # past setsid (a call ending now no longer takes the run) and the imports
  }
  launch
  # Twice (2026-12-07 and 12-08) a run started right after `stage` in the same call was gone within
  # seconds with an empty log; the same start in the next call ran. One more try costs 15 s, not a call.
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "training stopped at once ($(tail -n 3 "$run.txt" | tr '\n' ' ')); starting it again" >&2
    launch
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "training did not start:" >&2
    tail -n 20 "$run.txt" >&2
    exit 1
  fi
  echo "started $config in $run on GPU(s) ${GPUS:-all} (pid $pid), cosine over $schedule minutes"
  ;;
wait)
  deadline=$((SECONDS + ${2:?wait needs seconds}))
  shown=0
  while [ $SECONDS -lt $deadline ]; do
    lines=$(wc -l <"$run.txt")
    [ "$lines" -gt "$shown" ] && sed -n "$((shown + 1)),${lines}p" "$run.txt" | grep -E "step=[0-9]*00 |val|warm|resumed|process|rror" || true
    shown=$lines
    pgrep -f -- "--out $run " >/dev/null || { echo "training in $run ended"; break; }
    sleep 10
  done
  if [ -f "$run/val.jsonl" ]; then tail -n 3 "$run/val.jsonl"; fi
  ;;
export)
  SKIP_INSTALL=1 source scripts/gpu_env.sh
  cd /tmp
  ckpt=$run/ckpt.pt
  [ -f "$run/best.pt" ] && ckpt=$run/best.pt
  python3 -c "from dicodec.codec.training.train import export; print('$ckpt sha256', export('$ckpt', '/tmp/$name.safetensors', '$name'))"
  split -b 15000000 "/tmp/$name.safetensors" "$OUT/$name.safetensors.part-"
  suffix=${RUN:+_$name}  # runs side by side keep their logs apart
  cp "$run/log.jsonl" "$OUT/train_log$suffix.jsonl"
  cp "$run/val.jsonl" "$OUT/val_log$suffix.jsonl" 2>/dev/null || true
  python3 "$src/scripts/scale_probe.py" "/tmp/$name.safetensors" "$stage/select" --quality 0 | tee "$OUT/scale_probe$suffix.txt"
  ;;
judge)
  SKIP_INSTALL=1 source scripts/gpu_env.sh
  cd /tmp
  photos=$stage/heldout
  python3 "$src/scripts/transform_ceiling.py" "$photos" --model "/tmp/$name.safetensors" --device cuda \
    --json "$OUT/ceiling_$name.json" | tail -n 2 | tee "$OUT/ceiling_$name.txt"
  python3 "$src/scripts/rd_quick.py" "/tmp/$name.safetensors" "$photos" --device cuda \
    --qualities 0,20,40,60,80,100 | tee "$OUT/rd_quick_$name.txt"
  # a detail layer (codec/detail_layer.py): does it carry anything? (other codecs: one line saying no)
  python3 "$src/scripts/detail_usage.py" "/tmp/$name.safetensors" "$stage/select" || true
  ;;
cache)
  # after a run's first steps (its compilation) at the earliest, e.g. in the call that waits on it
  SKIP_INSTALL=1 source scripts/gpu_env.sh
  [ -d "$TORCHINDUCTOR_CACHE_DIR" ] || { echo "no compile cache in $TORCHINDUCTOR_CACHE_DIR" >&2; exit 1; }
  tar czf /tmp/inductor_cache.tar.gz --exclude=./.unpacked --exclude=./locks -C "$TORCHINDUCTOR_CACHE_DIR" .
  rm -f "$OUT"/inductor_cache.tar.gz.part-*
  split -b 15000000 /tmp/inductor_cache.tar.gz "$OUT/inductor_cache.tar.gz.part-"
  echo "compile cache: $(du -b /tmp/inductor_cache.tar.gz | cut -f1) bytes in $(ls "$OUT"/inductor_cache.tar.gz.part-* | wc -l) part(s)"
  ;;
*)
  echo "unknown phase $phase" >&2
  exit 2
  ;;
esac
