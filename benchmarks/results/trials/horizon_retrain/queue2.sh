#!/bin/bash
# stop 24: after queue.sh: the lift benchmarks re-run on the shipped asset, the latent cache timed, the stack benchmarks,
# CFG 3/6, then the 1x1-patch lift DiT on horizon data (stop 22 tried it on truncated data only)
set -x
cd /work/main
until grep -q '^done' out/s24/queue.log; do sleep 20; done
python -m benchmarks.world_model --out benchmarks/results/world_model_lift_5methods.json --data data/lift_eval \
  --method kinema4d=assets/world_model/lift --method action=out/s23/abl_action/model \
  --method rgb_only=out/s23/abl_rgb_only/model --episodes 16 --threads 2 --artifacts benchmarks/results/world_model_lift_5methods
python -m benchmarks.policy_eval --out benchmarks/results/policy_eval/lift.json --episodes 6 --horizon 48
rm -rf out/s24/cache_time && mkdir -p out/s24/cache_time && /usr/bin/time -v robo4d train --preset default --data data/lift_train20h --vae out/s21/vae --holdout-episodes 10 --out out/s24/cache_time --steps 0 --latent-cache on --threads 2 --workers 1 --no-progress 2> out/s24/cache_time.log
python -m benchmarks.world_model --out out/s24/wm_stack_h.json --data data/stack_detect3 --method kinema4d=assets/world_model/stack --method horizon=out/s24/stack_h_ref --episodes 16 --threads 2 --no-extras --artifacts out/s24/wm_stack_h
python -m benchmarks.policy_eval --task stack --out out/s24/pe_stack_h.json --checkpoint out/s24/stack_h_ref --episodes 6 --horizon 90 --threads 2
for g in 3 6; do PYTHONPATH=. python benchmarks/results/trials/vae_encoder/oracle_vae.py --checkpoint out/s23/kin_h/model --dit --data data/lift_calib --guidance-scale $g --out out/s24/kin_h_cfg$g.json; done
COMMON="--preset default --data data/lift_train20h --vae out/s21/vae --holdout-episodes 10 --batch-size 4 --lr 3e-4 --steps 5000 --latent-cache auto --threads 2 --workers 1 --eval-every 0 --checkpoint-every 500 --no-progress"
mkdir -p out/s24/kin_h_p1 && cp -n out/s23/kin_h/latent_cache.safetensors out/s24/kin_h_p1/
robo4d train $COMMON --variant kinema4d --set 'patch_size=[1,1,1]' --out out/s24/kin_h_p1
PYTHONPATH=. python benchmarks/results/trials/vae_encoder/oracle_vae.py --checkpoint out/s24/kin_h_p1/model --dit --data data/lift_calib --out out/s24/p1_calib.json
echo done
