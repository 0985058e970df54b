#!/usr/bin/env bash
# Compare training recipes at an equal budget: the same number of steps (batch 4, bf16 where native),
# a group at a time with one torch thread each (on 2 cores, 1-thread processes train fastest in sum).
# Each run is configured as the long run (100 epochs, lr decay over the last 50), so the winner can
# simply be continued with --resume.
# usage: bash training/experiments/compare_recipes.sh DATA_DIR RUNS_DIR STEPS
set -euo pipefail
data=${1:-../shared/data/maps} runs=${2:-runs/compare} steps=${3:-1200}
declare -A recipe=(
  [base]=""
  [fm]="--lambda-fm 10"
  [rot]="--rotations"
  [grad]="--lambda-grad 100"
  [robust]="--jitter 0.2 --grey 0.1"
)
train() {  # name
  # shellcheck disable=SC2086
  python -m training.train --data "$data" --out "$runs/$1" --ngf 32 --batch-size 4 --epochs 100 \
    --decay-epochs 50 --threads 1 --max-steps "$steps" --resume ${recipe[$1]} > "$runs/$1.log" 2>&1
}
mkdir -p "$runs"
for group in "base fm" "rot grad robust"; do
  pids=()
  for name in $group; do
    train "$name" & pids+=($!)
  done
  wait "${pids[@]}"
done
