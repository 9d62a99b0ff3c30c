# the action-token DiT told the finger opening: measured (trial copy lift_train_mfa, made by
# measured_finger_actions.py) and, as the control, commanded (lift_train_mf); same recipe, then the frame-0 test
set -x
for run in "act_mfa lift_train_mfa lift_calib_mfa dit_calib_mfa_action" "act_cmd lift_train_mf lift_calib_mf dit_calib_mf_action_cmd"; do
  set -- $run
  robo4d train --preset default --data data/$2 --vae out/s21/vae --holdout-episodes 10 --batch-size 4 --lr 3e-4 \
    --variant action --out out/s26/$1 --steps 5000 --latent-cache on --threads 2 --workers 1 --eval-every 0 \
    --checkpoint-every 1000 --no-progress > out/s26/$1.log 2>&1
  PYTHONPATH=. python benchmarks/results/trials/vae_encoder/oracle_vae.py --checkpoint out/s26/$1/model --dit \
    --data data/$3 --episodes 40 --out benchmarks/results/trials/grasp_contact/$4.json > out/s26/oracle_$1.log 2>&1
done
