"""Lift detector on ground truth, oracle-DiT and DiT rollouts dumped by ``dump.py``, for a few
``lift_mass_frac`` values (the episode rule of the env: ``SuccessTracker``, reference = true frame 0).

    PYTHONPATH=. python benchmarks/results/trials/lift_detector_gen/evaluate.py out/detector_gen/lift_eval.npz out/detector_gen/lift_detect3.npz
"""
import sys
from dataclasses import replace

import numpy as np

from robo4d_env.success import SuccessTracker, detector_config

EYE = np.eye(4)


def frame(d, i, t, src):
    true = src == "gt" or t == 0
    pick = lambda k: d[k][i][t] if true else d[f"{src}_{k}"][i][t - 1]  # noqa: E731
    return {"rgb": pick("rgb"), "pointmap": pick("pointmap"), "T_world_cam": EYE,
            "valid": d["valid"][i][t] if true else np.ones(d["valid"].shape[2:], bool),
            "robot_mask": d["robot_mask"][i][t], "finger_m": float(d["finger"][i][t]), "tcp_world": d["tcp"][i][t]}


def main():
    ds = [dict(np.load(p)) for p in sys.argv[1:]]
    for frac in (0.1, 0.2, 0.3):
        cfg, row = replace(detector_config("lift"), lift_mass_frac=frac), {}
        for src in ("gt", "oracle", "gen"):
            tp = fp = pos = neg = 0
            for d in ds:
                for i in range(len(d["success"])):
                    tr, hit = SuccessTracker("lift", cfg), False
                    tr.reset(reference=frame(d, i, 0, "gt"))
                    for t in range(1, d["rgb"].shape[1]):
                        hit = tr.update(frame(d, i, t, src)) or hit
                    y = bool(d["success"][i])
                    tp, fp, pos, neg = tp + (hit and y), fp + (hit and not y), pos + y, neg + (not y)
            row[src] = f"lifts found {tp}/{pos}, false fires {fp}/{neg}"
        print(f"lift_mass_frac {frac}: {row}", flush=True)


if __name__ == "__main__":
    main()
