# stop 26: the benchmark's ablations on the measured-finger lift data, same recipe as kin_mf, each with its own refiner
set -x
COMMON="--preset default --data data/lift_train_mf --vae out/s21/vae --holdout-episodes 10 --batch-size 4 --lr 3e-4 --steps 5000 --latent-cache auto --threads 2 --workers 1 --eval-every 0 --checkpoint-every 1000 --no-progress"
for v in rgb_only action; do
  mkdir -p out/s26/abl_$v && cp -n out/s26/kin_mf/latent_cache.safetensors out/s26/abl_$v/
  robo4d train $COMMON --variant $v --out out/s26/abl_$v > out/s26/abl_$v.log 2>&1
  robo4d train-refiner --model out/s26/abl_$v/model --data data/lift_train_mf --rollout-frames 36 --threads 2 --cache-dir out/s26/refcache_$v --no-progress > out/s26/abl_${v}_ref.log 2>&1
done
echo done > out/s26/abl.done
