#!/usr/bin/env bash
# Lift world model trained on a GPU machine with 5x the scenes of the shipped CPU model (stop 21).
# Everything is generated and trained on the device: a call carries 64 MiB, the data are ~1 GB.
# Carry: .whl (py3.12 wheels incl. mujoco 3.3.7, pyopengl), .gl (EGL loader debs), .gpu/rs (robosuite 1.4.0
# trimmed to what the lift scene and our URDF load, as a tar.xz). Same architecture (`default` preset) and the
# shipped VAE; the three learned methods get the same data, steps, batch and refiner recipe.
set -uo pipefail
SCENES=${SCENES:-100}; WORKERS=${WORKERS:-16}; GEN_TIMEOUT=${GEN_TIMEOUT:-270}
STEPS=${STEPS:-5000}; BATCH=${BATCH:-32}; LR=${LR:-5e-4}; REF_STEPS=${REF_STEPS:-3000}
EVAL_EPISODES=${EVAL_EPISODES:-16}; HOLDOUT=${HOLDOUT:-10}; THREADS=${THREADS:-4}; DEVICE=${DEVICE:-cuda}; W=${W:-/tmp/gds}; OUT=${OUT:-$W/out}
VARIANTS=${VARIANTS:-"kinema4d rgb_only action"}
# RES != 64 needs its own VAE: VAE_STEPS > 0 trains one from scratch on the new data (else the shipped one).
# SET: more model-config overrides for the DiTs, e.g. SET="--set num_layers=6 --set attention_head_dim=64"
# VAE_DIR: a VAE directory that travels with the call (e.g. stop 22's encoder fine-tune, ../vae_encoder),
# used as is at RES 64, or as the start of the VAE_STEPS run (VAE_ARGS: more train-vae flags, e.g.
# "--object-loss-weight 10 --dynamic-loss-weight 10").
RES=${RES:-64}; VAE_STEPS=${VAE_STEPS:-0}; VAE_BATCH=${VAE_BATCH:-8}; SET=${SET:-}; VAE_DIR=${VAE_DIR:-}; VAE_ARGS=${VAE_ARGS:-}
# ROBOT_POINTMAP: how the data draw the fingers (commanded | measured_fingers: the simulator's opening, so a grasp
# shows; ../grasp_contact). DECIDE=1 adds the grasp-decision checks of stop 27 (../grasp_decision) at the end.
ROBOT_POINTMAP=${ROBOT_POINTMAP:-commanded}; DECIDE=${DECIDE:-1}
mkdir -p $W $OUT
if [ -z "${LOCAL:-}" ]; then
  for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  tar xJf .gpu/rs/robosuite_lift.tar.xz -C /tmp/site
  export PYTHONPATH=/tmp/site:$PWD
else
  mkdir -p $W/site && tar xJf .gpu/rs/robosuite_lift.tar.xz -C $W/site && export PYTHONPATH=$W/site:$PWD
fi
export MUJOCO_GL=egl PYOPENGL_PLATFORM=egl PYTHONUNBUFFERED=1
R="python3 -m robo4d_env.cli"
t0=$(date +%s); stamp() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
stamp start; nvidia-smi -L 2>/dev/null
python3 -c "import gymnasium as gym, robo4d_env; e = gym.make('Robo4DSim-v0', task='lift'); e.reset(seed=0); print('sim ok')" || exit 1
# 1. data: train seeds 0..SCENES-1 (the shipped model's 20 are 0..19), held-out eval seeds 10000..10003
ls $W/lift_eval/*.hdf5 >/dev/null 2>&1 || { rm -rf $W/lift_eval; $R data generate --task lift --split eval --episodes 4 --workers 4 --episodes-per-shard 2 \
  --out $W/lift_eval --no-randomize --run-to-horizon --max-steps 48 --resolution $RES --robot-pointmap $ROBOT_POINTMAP --quiet; } &
ls $W/lift_train/*.hdf5 >/dev/null 2>&1 || { rm -rf $W/lift_train; timeout $GEN_TIMEOUT $R data generate --task lift --episodes $SCENES \
  --workers $((WORKERS - 4)) --episodes-per-shard 5 --out $W/lift_train --no-randomize --run-to-horizon --max-steps 48 \
  --resolution $RES --robot-pointmap $ROBOT_POINTMAP --quiet; }; wait   # to the horizon: cut at success, no lift is ever held up (../dit_fit)
ls $W/lift_train/*.hdf5 $W/lift_eval/*.hdf5 >/dev/null || exit 1
stamp "data: $(ls $W/lift_train/*.hdf5 | wc -l) train shards, $(ls $W/lift_eval/*.hdf5 | wc -l) eval shards"
# 2. the VAE (the shipped one, or trained here); the latent cache, built once and shared by the three methods
RESSET="--set height=$RES --set width=$RES"
if [ "$VAE_STEPS" -gt 0 ]; then
  VAE=$W/vaerun/vae
  [ -d $VAE ] || $R train-vae --preset default --data $W/lift_train --out $W/vaerun --steps $VAE_STEPS \
    --batch-size $VAE_BATCH --clip-frames 17 --eval-episodes $HOLDOUT --threads 8 $RESSET $VAE_ARGS \
    ${VAE_DIR:+--init-vae $VAE_DIR} --no-progress > $W/vae.log 2>&1 \
    || { tail -30 $W/vae.log; exit 1; }
  mkdir -p $OUT/vae && cp $VAE/* $OUT/vae/; stamp "VAE trained: $(head -c 300 $W/vaerun/vae_eval.json 2>/dev/null)"
elif [ -n "$VAE_DIR" ]; then
  VAE=$VAE_DIR
else
  VAE=$W/vae; [ -d $VAE ] || $R export-vae --model assets/world_model/lift --out $VAE
fi
COMMON="--preset default --data $W/lift_train --vae $VAE --holdout-episodes $HOLDOUT --batch-size $BATCH --lr $LR $RESSET $SET --no-progress"
[ -f $W/cache/latent_cache.safetensors ] || $R train $COMMON --out $W/cache --steps 0 --latent-cache on --threads 8 --workers 8 > $W/cache.log 2>&1 || { tail -30 $W/cache.log; exit 1; }
stamp "cache: $(du -h $W/cache/latent_cache.safetensors | cut -f1)"
# 3. the three DiTs at once (a 1.3M-parameter DiT leaves the GPU mostly idle)
for v in $VARIANTS; do
  [ -d $W/$v/model ] && continue; mkdir -p $W/$v; cp $W/cache/latent_cache.safetensors $W/$v/
  $R train $COMMON --variant $v --out $W/$v --steps $STEPS --latent-cache auto --threads $THREADS \
    --eval-every 0 --checkpoint-every 1000 > $W/$v.log 2>&1 &
done; wait
for v in $VARIANTS; do tail -2 $W/$v.log; cp $W/$v/model/diffusion_pytorch_model.safetensors $OUT/$v.safetensors; done
stamp "DiTs trained"
tar czf $OUT/small.tar.gz -C $W $(cd $W && ls */model/config.json */log.jsonl *.log)   # replaced at the end
[ -n "${STOP_AFTER_DIT:-}" ] && exit 0
# 4. each method's robot refiner, the shipped recipe (seeds 0-9, 36 frames)
for v in $VARIANTS; do
  [ -d $W/$v/model/robot_refiner ] && continue
  $R train-refiner --model $W/$v/model --data $(ls $W/lift_train/*.hdf5 | head -2) \
    --rollout-frames 36 --steps $REF_STEPS --device $DEVICE --cache-dir $W/refcache_$v --threads $THREADS --no-progress \
    > $W/ref_$v.log 2>&1 &
done; wait
for v in $VARIANTS; do tail -2 $W/ref_$v.log; done; stamp "refiners trained"
# 5. held-out comparison, refiners on (the README's lift table protocol)
M=""; for v in $VARIANTS; do M="$M --method $v=$W/$v/model"; done
python3 -m benchmarks.world_model --out $OUT/wm.json --data $W/lift_eval $M --episodes $EVAL_EPISODES \
  --threads 8 --device $DEVICE --no-extras --artifacts $W/artifacts > $W/bench.log 2>&1 || tail -30 $W/bench.log
stamp "benchmark done"
# 6. does the model decide grasps? (kinema4d, refiner on; ../grasp_decision/README.md): from frame 0, and from true
# frames up to 36 (the env's chunk boundary after the grasp), lifts found / false fires / AUC; cube mass per frame
if [ "$DECIDE" = 1 ] && [ -d $W/kinema4d/model ]; then
  python3 benchmarks/results/trials/vae_encoder/oracle_vae.py --checkpoint $W/kinema4d/model --dit --refine-robot \
    --data $W/lift_eval --out $OUT/decide_frame0.json > $W/decide0.log 2>&1 || tail -5 $W/decide0.log
  python3 benchmarks/results/trials/dit_fit/teacher_forced.py --checkpoint $W/kinema4d/model --data $W/lift_eval \
    --start 36 --out $OUT/decide_tf36.json > $W/decide36.log 2>&1 || tail -5 $W/decide36.log
  python3 benchmarks/results/trials/grasp_decision/mass_curve.py --checkpoint $W/kinema4d/model --data $W/lift_eval \
    --out $OUT/mass_curve.json > $W/mass_curve.log 2>&1 || tail -5 $W/mass_curve.log
  stamp "grasp decision: $(grep -h 'min mass left' $W/decide0.log | tail -1)"
fi
tar czf $OUT/small.tar.gz -C $W --exclude='*/model/diffusion_pytorch_model.safetensors' --exclude='*latent_cache*' \
  --exclude='*/checkpoint*' $VARIANTS $(cd $W && ls *.log) artifacts
stamp end
