#!/usr/bin/env bash
# The goal figures of #26 for one exported candidate, as the shipping rule reads them: the first 100
# New York val pairs (fp32, no dropout run), Vegas roads, Dakota dry land as water, Korea as water and
# the held-out labelled images, every scene through `geotrans run`'s default path (palette auto).
# usage: bash training/experiments/goals.sh MODEL.safetensors   (writes MODEL.eval.json beside it)
# then:  python -m training.compare v3=V3.eval.json new=MODEL.eval.json
set -euo pipefail
model=$1 scenes=${SCENES:-../shared/data/scenes}
python -m training.evaluate --model "$model" --data "${MAPS_VAL:-../shared/data/maps/val}" --limit 100 \
  --no-dropout-run --precision fp32 --labelled training/mixes/beyond_new_york.json \
  --roads "$scenes/vegas_rgba_epsg4326.tif" "$scenes/vegas_roads.geojson" \
  --water "$scenes/dakota_naip_rgbn_nodata.tif" --no-water "$scenes/korea_cog_jpeg_3857.tif" \
  --json "${model%.safetensors}.eval.json"
