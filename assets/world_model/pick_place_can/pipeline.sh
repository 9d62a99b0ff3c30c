#!/usr/bin/env bash
# pick_place_can default world model, stop 16: the lift VAE fine-tuned on pick-place clips, then the DiT.
set -euo pipefail
echo "vae start $(date -Is)"
robo4d train-vae --preset default --data data/ppc_train --out out/vae_ppc/ft --steps 600 --batch-size 1 --lr 2e-4 --clip-frames 17 --threads 2 --checkpoint-every 100 --init-vae out/world_model/vae_default/vae --no-progress
COMMON="--preset default --data data/ppc_train --vae out/vae_ppc/ft/vae --holdout-episodes 10 --batch-size 4 --lr 3e-4"
echo "cache start $(date -Is)"
robo4d train $COMMON --out out/wm_ppc_ft/kinema4d --steps 0 --latent-cache on --threads 2 --no-progress   # cache only
echo "dit start $(date -Is)"
robo4d train $COMMON --variant kinema4d --out out/wm_ppc_ft/kinema4d --steps 5000 --latent-cache auto --threads 2 --eval-every 1000 --checkpoint-every 500 --no-progress
echo "done $(date -Is)"
