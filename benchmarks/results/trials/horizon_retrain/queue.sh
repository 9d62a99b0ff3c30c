#!/bin/bash
# stop 24: after the lift ablations (out/s23/queue_ablations.sh): lift benchmarks, then stack on horizon data
set -x
cd /work/main
until grep -q '^done' out/s23/queue_ablations.log; do sleep 20; done
python -m benchmarks.world_model --out out/s24/wm_lift_h.json --data data/lift_eval \
  --method kinema4d=out/s23/kin_h_ref --method action=out/s23/abl_action/model \
  --method rgb_only=out/s23/abl_rgb_only/model --episodes 16 --threads 2 --no-extras --artifacts out/s24/wm_lift_h
python -m benchmarks.policy_eval --out out/s24/pe_lift_h.json --checkpoint out/s23/kin_h_ref --episodes 6 --horizon 48 --threads 2
[ -f data/stack_train_h/manifest.json ] || robo4d data generate --task stack --episodes 20 --workers 2 --episodes-per-shard 5 --out data/stack_train_h --no-randomize --run-to-horizon --max-steps 90
COMMON="--preset default --data data/stack_train_h --vae out/s21/vae --holdout-episodes 10 --batch-size 4 --lr 3e-4"
robo4d train $COMMON --variant kinema4d --out out/s24/stack_h --steps 5000 --latent-cache on --threads 2 --workers 1 --eval-every 0 --checkpoint-every 1000 --no-progress
rm -rf out/s24/stack_h_ref && cp -r out/s24/stack_h/model out/s24/stack_h_ref
robo4d train-refiner --model out/s24/stack_h_ref --data data/stack_train_h --threads 2 --cache-dir out/s24/refcache_stack --no-progress
echo done
