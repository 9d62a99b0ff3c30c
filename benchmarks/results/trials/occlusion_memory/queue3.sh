#!/bin/bash
# stop 25: after queue2.sh, the stack policy evaluation again with the final code (queue.sh's ran before the
# inpainted reference for pixels hidden since frame 0 was added)
set -x
cd /work/main
until grep -q '^done' out/s25/queue2.log; do sleep 20; done
python -m benchmarks.policy_eval --task stack --out benchmarks/results/policy_eval/stack.json --episodes 6 --horizon 90 --threads 1
echo done
