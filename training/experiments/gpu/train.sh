#!/usr/bin/env bash
# GPU call 3 of 3 (see pack.py): the labelled sources and the warm start, then one run of v4's recipe on
# the v3 mix for about TRAIN_S seconds (the lr decays over its second half), in two pieces with a
# candidate exported after each, split into parts that come back (16 MiB a file).
# usage: [TRAIN_S=390] [SEED=0] bash training/experiments/gpu/train.sh
set -u
P=.gpudata/p3 TRAIN_S=${TRAIN_S:-390} SEED=${SEED:-0}
[ -d /tmp/site/shapely ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site $P/*.whl
cp $P/init.safetensors geotrans/default_model/generator.safetensors  # the mix's style comes from its card
mkdir -p /tmp/gd/maps/train && cp -r $P/stub /tmp/gd/ && cp -r $P/dubai $P/epfl_roads /tmp/gd/ || exit 1
[ -d $P/maps ] && cp $P/maps/* /tmp/gd/maps/train/
n=$(ls /tmp/gd/maps/train | wc -l); echo "pairs: $n"
[ "$n" -ge 1096 ] || { echo "only $n New York pairs here (the machine went back between calls): not training"; exit 3; }
export PYTHONPATH=/tmp/gd/stub:/tmp/site:$PWD PYTHONUNBUFFERED=1
python3 - <<'PY' || exit 1
import json
mix = json.load(open("training/mixes/v3.json"))
where = {"pairs": "/tmp/gd/maps/train", "dubai": "/tmp/gd/dubai", "epfl-suburbs": "/tmp/gd/epfl_roads"}
for s in mix["sources"]:
    s["path" if s["kind"] == "pairs" else "root"] = where[s["kind"] if s["kind"] == "pairs" else s["name"]]
json.dump(mix, open("/tmp/gd/mix.json", "w"))
PY
read steps half epochs decay < <(python3 -c "
import math; n = int(float(open('/tmp/gd/rate').read()) * $TRAIN_S * 0.9) // 100 * 100
e = math.ceil(n / 300); print(n, n // 2 // 100 * 100, e, e // 2)")  # 300 steps an epoch of the v3 mix
echo "$steps steps, a candidate at $half, $epochs epochs, the lr decays over the last $decay" | tee "$OUT/train.log"
run=/tmp/gd/run-$SEED
for target in $half $steps; do
  python3 -m training.train --data /tmp/gd/maps --out $run --mix /tmp/gd/mix.json --init-generator $P/init.safetensors \
    --batch-size 4 --lambda-fm 10 --jitter 0.2 --grey 0.1 --ema 0.999 --gan-ramp-steps 600 --dark-land 0.3 \
    --dark-of vegetation --seed $SEED --epochs $epochs --decay-epochs $decay --resume --max-steps $target \
    --max-minutes "$(python3 -c "print($TRAIN_S / 120 + 0.4)")" 2>&1 | tail -2 | tee -a "$OUT/train.log"
  step=$(python3 -c "import json; print(json.load(open('$run/run.json'))['progress']['step'])")
  name=gpu-s$SEED-$step
  python3 -m training.export --run $run --out /tmp/gd/$name.safetensors --name $name 2>&1 | tail -1 | tee -a "$OUT/train.log"
  split -b 15000000 /tmp/gd/$name.safetensors "$OUT/$name.safetensors.part-" && cp /tmp/gd/$name.json "$OUT/"
  sha256sum /tmp/gd/$name.safetensors | tee -a "$OUT/train.log"
done
tar -C $run -cf "$OUT/run-$SEED.tar" run.json losses.csv loss_curve.png
