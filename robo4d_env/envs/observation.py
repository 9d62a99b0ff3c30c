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


def proprio_vectors(robot, q_arm: np.ndarray, finger_qpos: np.ndarray,
                    T_tcp: torch.Tensor | None = None) -> np.ndarray:
    """(N, 16) float32 proprioception of N states (q_arm (N, 7) rad, finger_qpos (N, 2) m) with the TCP pose
    from our own FK, base frame (same in both envs). One FK call for all N (per-frame calls were a third of
    a 256-env ``Kinema4D-v0`` step on a GPU machine); ``T_tcp`` (N, 4, 4): that FK, when the caller has it."""
    import pytorch_kinematics as pk
    q = np.asarray(q_arm, dtype=np.float32)
    T = robot.fk(torch.as_tensor(q)) if T_tcp is None else T_tcp
    quat = pk.matrix_to_quaternion(T[:, :3, :3])
    return np.concatenate([q, np.asarray(finger_qpos, np.float32), T[:, :3, 3].numpy(), quat.numpy()],
                          axis=1).astype(np.float32)


def proprio_vector(robot, q_arm: np.ndarray, finger_qpos: np.ndarray) -> np.ndarray:
    """(16,) ``proprio_vectors`` of one state."""
    return proprio_vectors(robot, np.asarray(q_arm)[None], np.asarray(finger_qpos)[None])[0]


def stack_frames(frames: list[dict]) -> dict:
    """List of per-step observation dicts -> one dict of arrays with a leading time axis (K, ...)."""
    out = {}
    for k, v in frames[0].items():
        out[k] = stack_frames([f[k] for f in frames]) if isinstance(v, dict) else np.stack([f[k] for f in frames])
    return out
