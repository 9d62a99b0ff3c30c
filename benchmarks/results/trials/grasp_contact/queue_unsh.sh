set -x
COMMON="--preset default --data data/lift_train_mf --vae out/s21/vae --holdout-episodes 10 --batch-size 4 --lr 3e-4"
robo4d train $COMMON --variant kinema4d --set mask_packing='"unshuffle"' --out out/s26/kin_mf_unsh --steps 5000 --latent-cache on --threads 2 \
  --workers 1 --eval-every 0 --checkpoint-every 1000 --no-progress > out/s26/kin_mf_unsh.log 2>&1
python - <<'PY'
import json
p='out/s26/kin_mf_unsh/model/config.json'; c=json.load(open(p)); c.update(ghost_tolerance_m=0.01, carry_radius_m=0.06, grasp_scene_tolerance_m=0.03); json.dump(c,open(p,'w'),indent=2)
PY
PYTHONPATH=. python benchmarks/results/trials/vae_encoder/oracle_vae.py --checkpoint out/s26/kin_mf_unsh/model --dit --data data/lift_calib_mf --episodes 40 --out benchmarks/results/trials/grasp_contact/dit_calib_mf_unsh.json > out/s26/oracle_mf_unsh.log 2>&1
echo done > out/s26/unsh.done
