set -e
robo4d train-refiner --model out/s27/kin_lc_ref --data data/lift_train20h --rollout-frames 36 --cache-dir out/s27/rcache_lc --threads 2 --no-progress > out/s27/kin_lc_ref.log 2>&1
python -m benchmarks.policy_eval --out out/s27/pe_lc/lift.json --episodes 6 --horizon 48 --checkpoint out/s27/kin_lc_ref --threads 2 > out/s27/pe_lc.log 2>&1
touch out/s27/lcpe.done
