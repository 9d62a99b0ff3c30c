#!/usr/bin/env bash
# stop 21, CPU: a 6x larger DiT (6 layers x 256 wide instead of 4 x 128) on the same 40 scenes, cache and budget
set -x
cd /work/main
COMMON="--preset default --data data/lift_train_s20 data/lift_train20 --vae out/s21/vae --holdout-episodes 10 --batch-size 4 --lr 3e-4"
robo4d train $COMMON --variant kinema4d --out out/s21/k40big --steps 5000 --latent-cache auto --threads 2 --eval-every 0 \
  --checkpoint-every 500 --no-progress --set num_layers=6 --set attention_head_dim=64 --set ffn_dim=1024
python -m benchmarks.world_model --out out/s21/wm_k40big.json --data data/lift_eval --method k40big=out/s21/k40big/model \
  --episodes 16 --threads 2 --no-extras --refine-robot off --artifacts out/s21/wm_k40big_art
echo done
