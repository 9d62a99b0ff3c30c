#!/usr/bin/env bash
# pick_place_can default world model: the lift VAE frozen, DiT on 100 pick_place_can episodes.
set -euo pipefail
COMMON="--preset default --data data/ppc_train --vae out/world_model/vae_default/vae --holdout-episodes 10 --batch-size 4 --lr 3e-4"
echo "cache start $(date -Is)"
robo4d train $COMMON --out out/wm_ppc/kinema4d --steps 0 --latent-cache on --threads 2 --no-progress   # cache only
echo "dit start $(date -Is)"
robo4d train $COMMON --variant kinema4d --out out/wm_ppc/kinema4d --steps 5000 --latent-cache auto --threads 2 --eval-every 1000 --checkpoint-every 500 --no-progress
echo "done $(date -Is)"
