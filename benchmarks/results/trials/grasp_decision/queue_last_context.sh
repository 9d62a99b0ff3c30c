set -e
COMMON="--preset default --data data/lift_train20h --vae out/s21/vae --holdout-episodes 10 --batch-size 4 --lr 3e-4"
robo4d train $COMMON --variant kinema4d --set 'future_condition="last_context"' --out out/s27/kin_lc --steps 5000 --latent-cache auto --threads 2 \
  --workers 1 --eval-every 0 --checkpoint-every 1000 --no-progress > out/s27/kin_lc.log 2>&1
PYTHONPATH=. python benchmarks/results/trials/grasp_decision/mass_curve.py --checkpoint out/s27/kin_lc/model --data data/lift_calib --refine-robot off --out benchmarks/results/trials/grasp_decision/mass_curve_last_context_0_refoff.json > out/s27/mc_lc.log 2>&1
touch out/s27/lc.done
