# control for queue_act.sh: the same action-token DiT with the commanded finger opening
set -x
COMMON="--preset default --data data/lift_train_mf --vae out/s21/vae --holdout-episodes 10 --batch-size 4 --lr 3e-4"
robo4d train $COMMON --variant action --out out/s26/act_cmd --steps 5000 --latent-cache on --threads 2 \
  --workers 1 --eval-every 0 --checkpoint-every 1000 --no-progress > out/s26/act_cmd.log 2>&1
PYTHONPATH=. python benchmarks/results/trials/vae_encoder/oracle_vae.py --checkpoint out/s26/act_cmd/model --dit --data data/lift_calib_mf --episodes 40 --out benchmarks/results/trials/grasp_contact/dit_calib_mf_action_cmd.json > out/s26/oracle_act_cmd.log 2>&1
echo done > out/s26/act_cmd.done
