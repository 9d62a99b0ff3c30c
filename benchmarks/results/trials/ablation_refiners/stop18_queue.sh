#!/usr/bin/env bash
# stop 18 queue: (1) stack model with its own VAE -> its refiner -> benchmark; (2) lift ablations retrained + refiners
set -euo pipefail
export MUJOCO_GL=egl
while pgrep -f "out/stack_vae18/pipeline.sh" > /dev/null; do sleep 20; done
echo "stack refiner start $(date -Is)"
robo4d train-refiner --model out/wm_stack_ft/kinema4d/model --data data/stack_train --threads 2 --cache-dir out/q18/stack_ft_cache --no-progress
echo "stack bench start $(date -Is)"
python -m benchmarks.world_model --out out/q18/wm_stack_ft.json --data data/stack_detect3 --method kinema4d=out/wm_stack_ft/kinema4d/model --episodes 16 --threads 2 --artifacts out/q18/wm_stack_ft
echo "lift data start $(date -Is)"
robo4d data generate --task lift --episodes 20 --workers 2 --episodes-per-shard 5 --out data/lift_train20 --no-randomize
COMMON="--preset default --data data/lift_train20 --vae out/world_model/vae_default/vae --holdout-episodes 10 --batch-size 4 --lr 3e-4"
echo "lift cache start $(date -Is)"
robo4d train $COMMON --out out/wm_bench/kinema4d --steps 0 --latent-cache on --threads 2 --no-progress
for v in action rgb_only; do
  mkdir -p out/wm_bench/$v && cp out/wm_bench/kinema4d/latent_cache.safetensors out/wm_bench/$v/
  echo "dit $v start $(date -Is)"
  robo4d train $COMMON --variant $v --out out/wm_bench/$v --steps 5000 --latent-cache auto --threads 2 --eval-every 0 --checkpoint-every 1000 --no-progress
done
for v in action rgb_only; do
  echo "refiner $v start $(date -Is)"
  robo4d train-refiner --model out/wm_bench/$v/model --data data/lift_train --rollout-frames 36 --threads 2 --cache-dir out/q18/${v}_cache --no-progress
done
echo "lift bench start $(date -Is)"
python -m benchmarks.world_model --out out/q18/wm_lift5.json --data data/lift_eval --method kinema4d=assets/world_model/lift --method action=out/wm_bench/action/model --method rgb_only=out/wm_bench/rgb_only/model --episodes 16 --threads 2 --artifacts out/q18/wm_lift5
echo "done $(date -Is)"
