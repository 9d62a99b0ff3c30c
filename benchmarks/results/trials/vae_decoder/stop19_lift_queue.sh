#!/usr/bin/env bash
# stop 19: the XYZ-dynamic decoder in the shipped lift model and both ablations, each with its own refiner, then the 5-method benchmark
set -euo pipefail
cd /work/main
for m in lift_dec_dynxyz10 action_dynxyz10 rgb_only_dynxyz10; do
  echo "refiner $m start $(date -Is)"
  robo4d train-refiner --model out/s19/$m --data data/lift_train --rollout-frames 36 --threads 2 --cache-dir out/s19/refcache_$m --no-progress
done
echo "bench start $(date -Is)"
python -m benchmarks.world_model --out out/s19/wm_lift5.json --data data/lift_eval --method kinema4d=out/s19/lift_dec_dynxyz10 --method action=out/s19/action_dynxyz10 --method rgb_only=out/s19/rgb_only_dynxyz10 --episodes 16 --threads 2 --artifacts out/s19/wm_lift5
echo "done $(date -Is)"
