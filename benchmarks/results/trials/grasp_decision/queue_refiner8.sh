set -e
robo4d train-refiner --model out/s27/ship_r8 --data data/lift_train20h --rollout-frames 36 --mask-dilation-px 8 --cache-dir out/s27/rcache --threads 2 --no-progress > out/s27/ship_r8.log 2>&1
PYTHONPATH=. python benchmarks/results/trials/vae_encoder/oracle_vae.py --checkpoint out/s27/ship_r8 --dit --refine-robot --data data/lift_calib --out out/s27/oracle_r8.json > out/s27/oracle_r8.log 2>&1
touch out/s27/r8.done
