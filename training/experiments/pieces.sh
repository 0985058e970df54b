#!/usr/bin/env bash
# Train one run in pieces and export a candidate at each listed step, so that a machine lost
# with its run folder loses one piece, not the run (it happened three times).
# usage: DEADLINE=HH:MM bash training/experiments/pieces.sh RUN CANDIDATES "1500 2000" TRAIN_ARGS...
# Every piece is `torchrun ... --resume --max-steps S --max-minutes M`, M the minutes left before
# DEADLINE (less 3 for the checkpoint), so it resumes wherever the last piece stopped; DEADLINE is read by
# `date -d`: HH:MM is today's, so a deadline past midnight needs its date ("2026-12-08 00:35"). At each step S
# reached, the run is exported to CANDIDATES/<run name>-S.safetensors. To pause: `touch RUN/STOP`,
# then SIGTERM the workers (pkill -TERM -f "python -u -m training.train"), which checkpoints them.
set -euo pipefail
run=$1 candidates=$2 steps=$3
shift 3
: "${DEADLINE:?set DEADLINE=HH:MM, when the session ends}"
mkdir -p "$run" "$candidates"
name=$(basename "$run")
step_of() {  # the step the run's last piece reached (0 before the first)
  python -c 'import json,sys; print(json.load(open(sys.argv[1]))["progress"]["step"])' "$run/run.json" \
    2>/dev/null || echo 0
}
for target in $steps; do
  while [ "$(step_of)" -lt "$target" ]; do
    [ -e "$run/STOP" ] && { echo "stopped by $run/STOP at step $(step_of)"; exit 0; }
    minutes=$(( ($(date -d "$DEADLINE" +%s) - $(date +%s)) / 60 - 3 ))
    [ "$minutes" -ge 2 ] || { echo "deadline $DEADLINE: stopped at step $(step_of)"; exit 0; }
    before=$(step_of)
    torchrun --standalone --nproc_per_node 2 -m training.train --out "$run" --resume \
      --max-steps "$target" --max-minutes "$minutes" "$@"
    [ "$(step_of)" -gt "$before" ] || { echo "no progress from step $before"; exit 1; }
  done
  out="$candidates/$name-$target.safetensors"
  [ "$(step_of)" -eq "$target" ] || { echo "the run is past step $target: no candidate for it"; continue; }
  [ -e "$out" ] || python -m training.export --run "$run" --out "$out" --name "$name-$target"
done
