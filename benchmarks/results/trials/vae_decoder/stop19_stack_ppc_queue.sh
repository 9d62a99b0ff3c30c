#!/usr/bin/env bash
# stop 19: stack and pick-place models with their XYZ-dynamic decoders -> their refiners -> benchmarks
set -euo pipefail
cd /work/main
while pgrep -f "bash out/s19/queue3.sh" > /dev/null; do sleep 10; done
echo "refiner stack start $(date -Is)"
robo4d train-refiner --model out/s19/stack_dec_dynxyz10 --data data/stack_train --threads 2 --cache-dir out/s19/refcache_stack --no-progress
echo "refiner ppc start $(date -Is)"
robo4d train-refiner --model out/s19/ppc_dec_dynxyz10 --data data/ppc_train --rollout-frames 96 --threads 2 --cache-dir out/s19/refcache_ppc --no-progress
echo "bench stack start $(date -Is)"
python -m benchmarks.world_model --out out/s19/wm_stack_ref.json --data data/stack_detect3 --method kinema4d=out/s19/stack_dec_dynxyz10 --episodes 16 --threads 2 --no-extras --artifacts out/s19/wm_stack_ref
echo "bench ppc start $(date -Is)"
python -m benchmarks.world_model --out out/s19/wm_ppc_ref.json --data data/ppc_detect3 --method kinema4d=out/s19/ppc_dec_dynxyz10 --episodes 8 --chunks 8 --threads 2 --no-extras --artifacts out/s19/wm_ppc_ref
echo "done $(date -Is)"
