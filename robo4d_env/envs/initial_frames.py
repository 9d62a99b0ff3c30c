"""Initial world frames for Kinema4D-v0: from the simulator, a dataset episode, or a user's image.

An initial frame is a dict: rgb (H, W, 3) uint8, pointmap (H, W, 3) float32 camera frame metres,
valid (H, W) bool, K (3, 3), T_world_cam (4, 4, OpenCV camera-to-world), T_world_base (4, 4),
q_arm (7,) rad, finger_m (float), gripper_state (float, -1 open .. 1 closed).
"""
from __future__ import annotations

import numpy as np

from robo4d_env.projection import unproject_depth


def from_simulator(sim_env, seed: int) -> dict:
    """Render-only: reset the ground-truth simulator at ``seed`` and take its main-camera frame."""
    obs, info = sim_env.reset(seed=seed)
    u = sim_env.unwrapped
    cam = info["cameras"][u.main_camera]
    return {"rgb": obs["rgb"], "pointmap": obs["pointmap"], "valid": obs["valid"], "K": cam["K"],
            "T_world_cam": cam["T_world_cam"], "T_world_base": info["T_world_base"],
            "q_arm": u.commander.q_cmd.numpy().copy(), "finger_m": u.commander.finger_m,
            "gripper_state": u.commander.gripper.state}


def from_dataset(paths, index: int, camera: str = "main") -> dict:
    """Frame 0 of episode ``index`` (modulo the episode count) of Robo4D HDF5 shards."""
    from robo4d_env.data.dataset import Robo4DDataset
    from robo4d_env.data.storage import camera_key, open_h5
    ds = Robo4DDataset(paths, context_frames=1, clip_frames=2, cameras=camera)
    if not ds.episodes:
        raise ValueError(f"no episodes in {paths}")
    ref = ds.episodes[index % len(ds.episodes)]
    with open_h5(ref.path) as f:
        g = f["data"][ref.name]
        obs = g["obs"]
        T_wc = np.asarray(g.attrs[f"{camera}_T_world_cam"], dtype=np.float64)
        pm_world = obs[camera_key(camera, "pointmap")][0].astype(np.float32)
        valid = obs[camera_key(camera, "valid")][0]
        T_cw = np.linalg.inv(T_wc)
        pm = np.where(valid[..., None], pm_world @ T_cw[:3, :3].T.astype(np.float32) + T_cw[:3, 3], 0.0)
        return {"rgb": obs[camera_key(camera, "rgb")][0], "pointmap": pm.astype(np.float32), "valid": valid,
                "K": np.asarray(g.attrs[f"{camera}_K"]), "T_world_cam": T_wc,
                "T_world_base": np.asarray(g.attrs["T_world_base"]), "q_arm": obs["q_cmd"][0].astype(np.float32),
                "finger_m": float(obs["finger_cmd"][0]), "gripper_state": gripper_state(float(obs["finger_cmd"][0]))}


def gripper_state(finger_m: float) -> float:
    """The gripper command state (-1 open .. 1 closed) whose set-point is ``finger_m``, so that an episode
    restored from a dataset does not start with its fingers drifting (``kinematics.GripperModel``)."""
    from robo4d_env.kinematics import RobotConfig
    return float(np.clip(1.0 - 2.0 * finger_m / RobotConfig().finger_open_m, -1.0, 1.0))


def from_user_image(rgb, K, T_world_cam, T_world_base, q_arm, depth=None, finger_m: float = 0.04,
                    resolution: int | None = None) -> dict:
    """A user's own RGB image (+ metric depth along +z if any) with its calibration.

    rgb (H, W, 3) uint8; depth (H, W) metres or None (then the world pointmap is unknown: all invalid);
    K (3, 3) for this H x W; T_world_cam (4, 4) OpenCV camera-to-world; q_arm (7,) the robot's joints.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    H, W = rgb.shape[:2]
    if resolution is not None and (H, W) != (resolution, resolution):
        raise ValueError(f"image is {H}x{W} but the env renders {resolution}x{resolution}; resize it and "
                         "scale K (fx, cx by W'/W; fy, cy by H'/H) first")
    K, T_wc = np.asarray(K, dtype=np.float64), np.asarray(T_world_cam, dtype=np.float64)
    if K.shape != (3, 3) or not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"K must be a finite (3, 3) intrinsic matrix with positive focal lengths, got {K}")
    if not (0 <= K[0, 2] <= W and 0 <= K[1, 2] <= H):
        raise ValueError(f"principal point ({K[0, 2]}, {K[1, 2]}) lies outside the {W}x{H} image: K does not "
                         "belong to this image size")
    R = T_wc[:3, :3]
    if T_wc.shape != (4, 4) or not np.allclose(R @ R.T, np.eye(3), atol=1e-4):
        raise ValueError("T_world_cam must be a (4, 4) rigid transform (orthonormal rotation)")
    if depth is None:
        pm, valid = np.zeros((H, W, 3), np.float32), np.zeros((H, W), bool)
    else:
        depth = np.asarray(depth, dtype=np.float32)
        if depth.shape != (H, W):
            raise ValueError(f"depth is {depth.shape}, the image is {(H, W)}")
        valid = np.isfinite(depth) & (depth > 0)
        pm = unproject_depth(np.where(valid, depth, 0.0), K)
    return {"rgb": rgb, "pointmap": pm, "valid": valid, "K": K, "T_world_cam": T_wc,
            "T_world_base": np.asarray(T_world_base, dtype=np.float64),
            "q_arm": np.asarray(q_arm, dtype=np.float32), "finger_m": float(finger_m), "gripper_state": gripper_state(finger_m)}
