set -e
COMMON="--preset default --data data/lift_train_mf --vae out/s21/vae --holdout-episodes 10 --batch-size 4 --lr 3e-4"
robo4d train $COMMON --variant kinema4d --set region_loss_weight=19 --out out/s27/kin_mf_rl --steps 5000 --latent-cache auto --threads 2 \
  --workers 1 --eval-every 0 --checkpoint-every 1000 --no-progress > out/s27/kin_mf_rl.log 2>&1
PYTHONPATH=. python benchmarks/results/trials/dit_fit/teacher_forced.py --checkpoint out/s27/kin_mf_rl/model --data data/lift_calib_mf --start 24 --out out/s27/tf_rl_24.json > out/s27/tf_rl_24.log 2>&1
touch out/s27/rl.done
