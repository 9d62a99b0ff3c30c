"""Detector agreement on randomized scenes, split by whether colour separates the object from the table
(the colour rule) or not (the XYZ fallback).

    PYTHONPATH=. python benchmarks/results/trials/randomized_scenes/breakdown.py data/lift_detect_rand
"""
import json
import sys

import numpy as np

from benchmarks.detectors import episode_frames
from robo4d_env.data.dataset import expand_paths
from robo4d_env.data.storage import episode_names, open_h5
from robo4d_env.kinematics import RobotModel
from robo4d_env.success import SuccessTracker, _resting_cube, detector_config

cfg, robot, rows = detector_config("lift"), RobotModel(), []
for path in expand_paths(sys.argv[1:]):
    with open_h5(path) as f:
        for name in episode_names(f):
            g = f["data"][name]
            truth = bool((np.asarray(g["rewards"][()]) > 0.5).any())
            frames = list(episode_frames(g, robot))
            _, table_c, cube_c = _resting_cube(frames[0], cfg)
            tracker, hit = SuccessTracker("lift", cfg), False
            tracker.reset(reference=frames[0])
            for fr in frames:
                hit = tracker.update(fr) or hit
            rows.append({"contrast": float(np.linalg.norm(cube_c - table_c)), "truth": truth, "detected": hit,
                         "scene": json.loads(g.attrs["scene"])})
colour = [r for r in rows if r["contrast"] >= cfg.lift_min_chroma_contrast]
xyz = [r for r in rows if r["contrast"] < cfg.lift_min_chroma_contrast]
agree = lambda rs: (float(np.mean([r["truth"] == r["detected"] for r in rs])) if rs else None)  # noqa: E731
print(json.dumps({"episodes": len(rows), "agreement": agree(rows),
                  "colour_rule": {"episodes": len(colour), "agreement": agree(colour)},
                  "xyz_fallback": {"episodes": len(xyz), "agreement": agree(xyz)},
                  "errors": [r for r in rows if r["truth"] != r["detected"]]}, indent=1))
