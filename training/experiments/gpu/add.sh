#!/usr/bin/env bash
# GPU call 2 of 3 (see pack.py): the second part of the New York pairs.
cp .gpudata/p2/maps/* /tmp/gd/maps/train/ && echo "pairs: $(ls /tmp/gd/maps/train | wc -l), $(cat /tmp/gd/rate) steps/s"
