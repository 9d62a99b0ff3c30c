#!/bin/bash
# stop 23 (for stop 24): the benchmark's ablations on horizon data, same recipe as kin_h, each with its own refiner
set -x
COMMON="--preset default --data data/lift_train20h --vae out/s21/vae --holdout-episodes 10 --batch-size 4 --lr 3e-4 --steps 5000 --latent-cache auto --threads 2 --workers 1 --eval-every 0 --checkpoint-every 1000 --no-progress"
for v in rgb_only action; do
  mkdir -p out/s23/abl_$v && cp -n out/s23/kin_h/latent_cache.safetensors out/s23/abl_$v/
  robo4d train $COMMON --variant $v --out out/s23/abl_$v
  robo4d train-refiner --model out/s23/abl_$v/model --data data/lift_train20h --rollout-frames 36 --threads 2 --cache-dir out/s23/refcache_$v --no-progress
done
echo done
