#!/usr/bin/env bash
# Compare generator widths under the same wall-clock training budget, by val metrics.
# usage: bash training/experiments/compare_ngf.sh DATA_DIR RUNS_DIR MINUTES VAL_PAIRS
set -euo pipefail
data=${1:-../shared/data/maps} runs=${2:-runs} minutes=${3:-7} val_pairs=${4:-100}
for ngf in 32 48 64; do
  python -m training.train --data "$data" --out "$runs/ngf$ngf" --ngf "$ngf" --epochs 100 --max-minutes "$minutes"
  python -m training.export --run "$runs/ngf$ngf" --out "$runs/ngf$ngf/generator.safetensors"
  python -m training.evaluate --model "$runs/ngf$ngf/generator.safetensors" --data "$data/val" \
    --limit "$val_pairs" --no-dropout-run --json "$runs/ngf$ngf/eval.json"
done
