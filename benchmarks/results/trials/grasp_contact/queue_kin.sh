# DiT + refiner on measured-finger lift data (stop 26); same recipe as the shipped stop-24 model
set -e
while [ ! -f out/s26/gen.done ]; do sleep 5; done
COMMON="--preset default --data data/lift_train_mf --vae out/s21/vae --holdout-episodes 10 --batch-size 4 --lr 3e-4"
date +%s > out/s26/kin_start
robo4d train $COMMON --variant kinema4d --out out/s26/kin_mf --steps 5000 --latent-cache on --threads 2 \
  --workers 1 --eval-every 1000 --checkpoint-every 500 --no-progress > out/s26/kin_mf.log 2>&1
rm -rf out/s26/kin_mf_ref; cp -r out/s26/kin_mf/model out/s26/kin_mf_ref
robo4d train-refiner --model out/s26/kin_mf_ref --data data/lift_train_mf --rollout-frames 36 --threads 2 > out/s26/kin_mf_ref.log 2>&1
date +%s > out/s26/kin_done
