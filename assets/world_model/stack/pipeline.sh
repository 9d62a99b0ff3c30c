#!/bin/bash
set -e
COMMON="--preset default --data data/stack_train --vae out/world_model/vae_default/vae --holdout-episodes 10 --batch-size 4 --lr 3e-4"
echo "cache start $(date -u +%FT%TZ)"
robo4d train $COMMON --out out/wm_stack/kinema4d --steps 0 --latent-cache on --threads 2 --no-progress
echo "cache done $(date -u +%FT%TZ)"
robo4d train $COMMON --variant kinema4d --out out/wm_stack/kinema4d --steps 5000 --latent-cache auto --threads 2 --eval-every 1000 --checkpoint-every 500
echo "dit done $(date -u +%FT%TZ)"
