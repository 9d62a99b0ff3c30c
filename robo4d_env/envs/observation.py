"""The observation dict shared by Robo4DSim-v0 and Kinema4D-v0 (DESIGN.md "Observation dict")."""
from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces

PROPRIO_DIM = 16   # 7 arm joints (rad), 2 finger joints (m), TCP position (3, m) and quaternion (4, wxyz), base frame
POINT_LIMIT_M = 100.0


def frame_space(height: int, width: int) -> spaces.Dict:
    img = (height, width)
    return spaces.Dict({
        "rgb": spaces.Box(0, 255, img + (3,), dtype=np.uint8),
        "pointmap": spaces.Box(-POINT_LIMIT_M, POINT_LIMIT_M, img + (3,), dtype=np.float32),
        "valid": spaces.Box(0, 1, img, dtype=np.bool_),
        "robot_pointmap": spaces.Box(-POINT_LIMIT_M, POINT_LIMIT_M, img + (3,), dtype=np.float32),
        "robot_mask": spaces.Box(0, 1, img, dtype=np.bool_),
    })


def observation_space(height: int, width: int, extra_views: list[str]) -> spaces.Dict:
    d = dict(frame_space(height, width).spaces)
    d["proprio"] = spaces.Box(-np.inf, np.inf, (PROPRIO_DIM,), dtype=np.float32)
    if extra_views:
        d["views"] = spaces.Dict({n: frame_space(height, width) for n in extra_views})
    return spaces.Dict(d)


def proprio_vector(robot, q_arm: np.ndarray, finger_qpos: np.ndarray) -> np.ndarray:
    """(16,) float32 proprioception with the TCP pose from our own FK (same in both envs)."""
    import pytorch_kinematics as pk
    T = robot.fk(torch.as_tensor(q_arm, dtype=torch.float32)[None])[0]
    quat = pk.matrix_to_quaternion(T[:3, :3])
    return np.concatenate([q_arm, finger_qpos, T[:3, 3].numpy(), quat.numpy()]).astype(np.float32)


def stack_frames(frames: list[dict]) -> dict:
    """List of per-step observation dicts -> one dict of arrays with a leading time axis (K, ...)."""
    out = {}
    for k, v in frames[0].items():
        out[k] = stack_frames([f[k] for f in frames]) if isinstance(v, dict) else np.stack([f[k] for f in frames])
    return out
