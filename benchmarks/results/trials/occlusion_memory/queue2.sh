#!/bin/bash
# stop 25, after adding the inpainted reference for pixels hidden since frame 0 (queue.sh was stopped after the
# stack policy evaluation): the official commands again with the final code, in order
set -x
cd /work/main
while pgrep -f "benchmarks.policy_eval --task stack" > /dev/null; do sleep 10; done
python -m benchmarks.world_model --out benchmarks/results/world_model_lift_5methods.json --data data/lift_eval --method kinema4d=assets/world_model/lift --method action=out/s23/abl_action/model --method rgb_only=out/s23/abl_rgb_only/model --episodes 16 --threads 2 --artifacts benchmarks/results/world_model_lift_5methods
python -m benchmarks.world_model --out benchmarks/results/world_model_stack.json --data data/stack_detect3 --method kinema4d=assets/world_model/stack --episodes 16 --threads 2 --artifacts benchmarks/results/world_model_stack
python -m benchmarks.world_model --out benchmarks/results/world_model_pick_place_can.json --data data/ppc_detect3 --method kinema4d=assets/world_model/pick_place_can --episodes 8 --chunks 8 --threads 1 --no-extras --artifacts benchmarks/results/world_model_pick_place_can
python -m benchmarks.policy_eval --task pick_place_can --out benchmarks/results/policy_eval/pick_place_can.json --episodes 2 --horizon 156
python -m benchmarks.policy_eval --out benchmarks/results/policy_eval/lift.json --episodes 6 --horizon 48
python -m benchmarks.world_model --out out/s25/tune_calib_final.json --data data/lift_calib --method kinema4d=assets/world_model/lift --episodes 16 --threads 2 --no-extras
echo done
