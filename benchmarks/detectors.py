"""Success detectors against the simulator's predicate on ground-truth episodes (HDF5 shards).

    python -m benchmarks.detectors --data data/lift_eval --task lift --out results.json

Episode level: the env's rule (``SuccessTracker``: ``min_consecutive_frames`` detected frames in a
row) against the simulator's predicate holding at any frame. Use episodes that run past success
(``robo4d data generate --run-to-horizon``): Kinema4D-v0 keeps generating until its detector fires,
while an episode cut at the predicate's first frame gives the detector a single frame to agree on.
Frame level: per-frame detections against the reward labels (frame t+1 carries the predicate after
action t).
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from benchmarks.common import detector_overrides, parser, write_results
from robo4d_env.data.dataset import expand_paths
from robo4d_env.data.storage import camera_key, episode_names, open_h5
from robo4d_env.kinematics import RobotModel
from robo4d_env.success import DetectorConfig, SuccessTracker, detector_config

EYE = np.eye(4)


def episode_frames(g, robot: RobotModel, cam: str = "main"):
    """Yield detector frames (world-frame pointmaps, so T_world_cam = I) of one stored episode."""
    obs = g["obs"]
    rgb, pm, valid, rmask = (obs[camera_key(cam, k)][()] for k in ("rgb", "pointmap", "valid", "robot_mask"))
    fingers = obs["finger_cmd"][()]
    T_wb = np.asarray(g.attrs["T_world_base"])
    tcp = robot.fk(torch.as_tensor(obs["q_cmd"][()], dtype=torch.float32))[:, :3, 3].numpy()
    tcp = tcp @ T_wb[:3, :3].T + T_wb[:3, 3]
    for t in range(len(pm)):
        yield {"rgb": rgb[t], "pointmap": pm[t].astype(np.float32), "valid": valid[t], "robot_mask": rmask[t],
               "T_world_cam": EYE, "finger_m": float(fingers[t]), "tcp_world": tcp[t]}


def evaluate(paths, task: str, cfg: DetectorConfig | None = None) -> dict:
    cfg = cfg or detector_config(task)
    robot = RobotModel()
    ep_agree, frame_agree, n_frames = [], [], 0
    for path in expand_paths(paths):
        with open_h5(path) as f:
            for name in tqdm(episode_names(f), desc=path.name, leave=False):
                g = f["data"][name]
                labels = np.r_[False, np.asarray(g["rewards"][()]) > 0.5]
                frames = list(episode_frames(g, robot))
                dets, tracker, ep_success = [], SuccessTracker(task, cfg), False
                tracker.reset(reference=frames[0])
                for fr in frames:
                    ep_success = tracker.update(fr) or ep_success
                    dets.append(tracker.detected)
                dets = np.asarray(dets)
                frame_agree.extend(dets == labels)
                n_frames += len(dets)
                ep_agree.append(ep_success == bool(labels.any()))
    return {"task": task, "episodes": len(ep_agree), "frames": n_frames,
            "detector_agreement": float(np.mean(ep_agree)), "frame_agreement": float(np.mean(frame_agree))}


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--data", nargs="+", required=True, help="shard files or directories")
    p.add_argument("--task", default="lift")
    p.add_argument("--detector", nargs="*", metavar="FIELD=VALUE", help="override DetectorConfig fields, e.g. lift_mass_frac=0.3")
    a = p.parse_args()
    res = evaluate(a.data, a.task, detector_overrides(a.task, a.detector))
    res["detector_overrides"] = a.detector or []
    write_results(a.out, res)


if __name__ == "__main__":
    main()
