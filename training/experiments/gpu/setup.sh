#!/usr/bin/env bash
# GPU call 1 of 3 (see pack.py): packages, the first part of the New York pairs, and a speed test of
# plain pairs whose steps a second, written to /tmp/gd/rate, size the run of call 3.
set -u
P=.gpudata/p1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $P/*.whl || exit 1
mkdir -p /tmp/gd/maps/train && cp $P/maps/* /tmp/gd/maps/train/ && cp -r $P/stub /tmp/gd/ || exit 1
echo "pairs: $(ls /tmp/gd/maps/train | wc -l)"
nvidia-smi -L
export PYTHONPATH=/tmp/gd/stub:/tmp/site:$PWD PYTHONUNBUFFERED=1
timeout 100 python3 -m training.train --data /tmp/gd/maps --out /tmp/gd/speed --batch-size 4 --lambda-fm 10 \
  --ema 0.999 --epochs 50 --max-minutes 0.6 2>&1 | tail -3 | tee "$OUT/speed.log"
python3 -c "
import json; p = json.load(open('/tmp/gd/speed/run.json'))['progress']
print('steps', p['step'], 'seconds', round(p['seconds'], 1), 'rate', round(p['step'] / p['seconds'], 2))
open('/tmp/gd/rate', 'w').write(str(p['step'] / p['seconds']))" | tee -a "$OUT/speed.log"
