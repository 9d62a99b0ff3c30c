#!/bin/bash
# stop 25: the 2-process gloo test, repeated, to see whether the end_processes pause (stop 24) holds
cd "$(dirname "$0")/../../../.."   # the repository root
for i in $(seq 1 25); do
  s=$(date +%s)
  timeout 400 python -m pytest -q tests/test_world_model_benchmark.py -k multi_process > /tmp/gloo_run_$i.log 2>&1
  rc=$?
  echo "run $i rc=$rc seconds=$(( $(date +%s) - s )) $(tail -1 /tmp/gloo_run_$i.log)"
done
echo done
