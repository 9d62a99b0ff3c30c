"""Detector agreement on randomized scenes, split by whether colour separates the object from the table
(the colour rule) or not (the XYZ fallback).

    PYTHONPATH=. python benchmarks/results/trials/randomized_scenes/breakdown.py lift data/lift_detect_rand
    PYTHONPATH=. python benchmarks/results/trials/randomized_scenes/breakdown.py stack data/stack_detect_rand
"""
import json
import sys

import numpy as np

from benchmarks.detectors import episode_frames
from robo4d_env.data.dataset import expand_paths
from robo4d_env.data.storage import episode_names, open_h5
from robo4d_env.kinematics import RobotModel
from robo4d_env.success import SuccessTracker, _resting_cube, _stack_cubes, detector_config

task = sys.argv[1]
cfg, robot, rows = detector_config(task), RobotModel(), []


def uses_colour(reference: dict) -> bool:
    if task == "stack":
        return _stack_cubes(reference, cfg) is not None
    _, table_c, cube_c = _resting_cube(reference, cfg)
    return bool(np.linalg.norm(cube_c - table_c) >= cfg.lift_min_chroma_contrast)


for path in expand_paths(sys.argv[2:]):
    with open_h5(path) as f:
        for name in episode_names(f):
            g = f["data"][name]
            truth = bool((np.asarray(g["rewards"][()]) > 0.5).any())
            frames = list(episode_frames(g, robot))
            tracker, hit = SuccessTracker(task, cfg), False
            tracker.reset(reference=frames[0])
            for fr in frames:
                hit = tracker.update(fr) or hit
            rows.append({"colour_rule": uses_colour(frames[0]), "truth": truth, "detected": hit,
                         "scene": json.loads(g.attrs["scene"])})
colour = [r for r in rows if r["colour_rule"]]
xyz = [r for r in rows if not r["colour_rule"]]
agree = lambda rs: (float(np.mean([r["truth"] == r["detected"] for r in rs])) if rs else None)  # noqa: E731
print(json.dumps({"episodes": len(rows), "agreement": agree(rows),
                  "colour_rule": {"episodes": len(colour), "agreement": agree(colour)},
                  "xyz_fallback": {"episodes": len(xyz), "agreement": agree(xyz)},
                  "errors": [r for r in rows if r["truth"] != r["detected"]]}, indent=1))
