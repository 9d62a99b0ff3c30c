#!/usr/bin/env bash
# stop 21: the bigger DiT with its own robot refiner (the shipped recipe), then refiners on, against the shipped model
set -x
cd /work/main
robo4d train-refiner --model out/s21/k40big/model --data data/lift_train --rollout-frames 36 --threads 2 --cache-dir out/s21/refcache_k40big --no-progress
python -m benchmarks.world_model --out out/s21/wm_k40big_ref.json --data data/lift_eval --method kinema4d=assets/world_model/lift \
  --method k40big=out/s21/k40big/model --episodes 16 --threads 2 --no-extras --artifacts out/s21/wm_k40big_ref_art
echo done
