set -x
COMMON="--preset default --data data/lift_train_mfa --vae out/s21/vae --holdout-episodes 10 --batch-size 4 --lr 3e-4"
robo4d train $COMMON --variant action --out out/s26/act_mfa --steps 5000 --latent-cache on --threads 2 \
  --workers 1 --eval-every 0 --checkpoint-every 1000 --no-progress > out/s26/act_mfa.log 2>&1
PYTHONPATH=. python benchmarks/results/trials/vae_encoder/oracle_vae.py --checkpoint out/s26/act_mfa/model --dit --data data/lift_calib_mfa --episodes 40 --out benchmarks/results/trials/grasp_contact/dit_calib_mfa_action.json > out/s26/oracle_mfa.log 2>&1
echo done > out/s26/act.done
