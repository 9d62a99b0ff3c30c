"""Stack ground-truth episodes -> one npz of detector frames + the simulator's per-frame predicate.

    PYTHONPATH=. python benchmarks/results/trials/stack_detector/dump.py out/stack_detector/calib.npz data/stack_detect data/stack_detect2
"""
import sys

import numpy as np
import torch  # noqa: F401  (RobotModel's FK)

from benchmarks.detectors import episode_frames
from robo4d_env.data.dataset import expand_paths
from robo4d_env.data.storage import episode_names, open_h5
from robo4d_env.kinematics import RobotModel

KEYS = ("rgb", "pointmap", "valid", "robot_mask", "finger_m", "tcp_world")


def main(out: str, paths: list[str]) -> None:
    robot, acc, labels, ep = RobotModel(), {k: [] for k in KEYS}, [], []
    for path in expand_paths(paths):
        with open_h5(path) as f:
            for name in episode_names(f):
                g = f["data"][name]
                lab = np.r_[False, np.asarray(g["rewards"][()]) > 0.5]
                for fr in episode_frames(g, robot):
                    for k in KEYS:
                        acc[k].append(np.asarray(fr[k]))
                ep += [len(labels)] * len(lab)
                labels.append(lab)
    np.savez_compressed(out, **{k: np.stack(v) for k, v in acc.items()}, label=np.concatenate(labels), ep=np.array(ep))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
