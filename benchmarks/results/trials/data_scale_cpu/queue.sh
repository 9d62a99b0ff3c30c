#!/usr/bin/env bash
# stop 21, CPU: the shipped lift recipe on 2x the scenes (seeds 0-39 instead of 0-19), same VAE, DiT budget and
# settings; then both DiTs on the held-out benchmark with the refiner off (the DiT alone).
set -x
cd /work/main
robo4d export-vae --model assets/world_model/lift --out out/s21/vae
COMMON="--preset default --data data/lift_train_s20 data/lift_train20 --vae out/s21/vae --holdout-episodes 10 --batch-size 4 --lr 3e-4"
/usr/bin/time -v robo4d train $COMMON --out out/s21/k40 --steps 0 --latent-cache on --threads 2 --workers 1 --no-progress 2> out/s21/cache_time.log
robo4d train $COMMON --variant kinema4d --out out/s21/k40 --steps 5000 --latent-cache auto --threads 2 --eval-every 0 --checkpoint-every 500 --no-progress
python -m benchmarks.world_model --out out/s21/wm_k40.json --data data/lift_eval --method kinema4d=assets/world_model/lift \
  --method k40=out/s21/k40/model --episodes 16 --threads 2 --no-extras --refine-robot off --artifacts out/s21/wm_k40_art
echo done
