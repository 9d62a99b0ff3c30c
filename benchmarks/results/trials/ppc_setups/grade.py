"""Grade candidate pick_place_can perturbations in the simulator (eval seeds 10000-10005), to choose
setups whose real success rates span low to high.

    PYTHONPATH=. python benchmarks/results/trials/ppc_setups/grade.py --horizon 200 >> grade.log   # (resumed with --skip 3, --skip 7, --skip 9)
"""
import argparse
import json

import numpy as np

from benchmarks.policy_eval import make_real_env
from policies.scripted import PolicySetup, ScriptedPolicy

CANDIDATES = [PolicySetup("expert")] + [PolicySetup(f"noise_{m}cm", action_noise_m=m / 100) for m in (1, 2, 1.5)] \
    + [PolicySetup(f"offset_{m}cm", grasp_offset_m=m / 100) for m in (2.5, 3.5)] \
    + [PolicySetup(f"early_close_{m}cm", close_high_m=m / 100) for m in (2,)] \
    + [PolicySetup(f"offset_{m}cm", grasp_offset_m=m / 100) for m in (1.5, 2)] \
    + [PolicySetup(f"offset_{m}cm", grasp_offset_m=m / 100) for m in (1.75,)] \
    + [PolicySetup(f"noise_{m}cm", action_noise_m=m / 100) for m in (1.25,)] \
    + [PolicySetup(f"early_close_{m}cm", close_high_m=m / 100) for m in (5,)]   # the last 5 added in steps

p = argparse.ArgumentParser()
p.add_argument("--horizon", type=int, default=200)
p.add_argument("--seeds", type=int, default=6)
p.add_argument("--skip", type=int, default=0, help="candidates already graded (resume)")
a = p.parse_args()
env = make_real_env("pick_place_can", 64, a.horizon)
for setup in CANDIDATES[a.skip:]:
    rows = []
    for seed in range(10000, 10000 + a.seeds):
        obs, _ = env.reset(seed=seed)
        pol = ScriptedPolicy(setup)
        pol.reset(env, seed)
        first, t, done = None, 0, False
        while not done:
            obs, _, term, trunc, info = env.step(pol.act(obs))
            t += 1
            if info["is_success"] and first is None:
                first = t
            done = term or trunc
        rows.append(first)
    sr = float(np.mean([r is not None for r in rows]))
    print(json.dumps({"setup": setup.name, "sr_real": round(sr, 3), "first_success_step": rows}), flush=True)
