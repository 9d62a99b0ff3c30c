"""Actions -> commanded robot state, shared by Robo4DSim-v0 and Kinema4D-v0 (DESIGN.md "Action modes").

The commanded TCP target (not the measured pose) is what ``ee_delta`` integrates, so a kinematic
robot and a simulated robot given the same commands stay aligned.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pytorch_kinematics.transforms.rotation_conversions import axis_angle_to_matrix
import torch
from gymnasium import spaces

from robo4d_env.kinematics import GripperModel, IKResult, RobotModel

ACTION_MODES = ("ee_abs", "ee_delta", "joint_pos")
ACTION_DIMS = {"ee_abs": 7, "ee_delta": 7, "joint_pos": 8}   # last entry: gripper, -1 open .. 1 closed


@dataclass
class ActionConfig:
    mode: str = "ee_delta"
    chunk: int = 1
    # Commanded TCP position box, robot base frame (metres).
    pos_low_m: tuple[float, float, float] = (0.2, -0.6, -0.25)
    pos_high_m: tuple[float, float, float] = (1.0, 0.6, 0.8)
    delta_pos_scale_m: float = 0.05        # ee_delta: action 1.0 moves the target this far
    delta_rot_scale_rad: float = 0.25
    control_dt_s: float = 0.05             # one control step (20 Hz); joint targets move at most
                                           # URDF velocity limit x dt per step, in both envs


def action_space(cfg: ActionConfig, robot: RobotModel) -> spaces.Box:
    if cfg.mode not in ACTION_MODES:
        raise ValueError(f"Unknown action_mode '{cfg.mode}'. Known modes: {list(ACTION_MODES)}")
    if cfg.chunk < 1:
        raise ValueError(f"action_chunk must be >= 1, got {cfg.chunk}")
    if cfg.mode == "ee_abs":
        low = np.r_[cfg.pos_low_m, [-np.pi] * 3, -1.0]
        high = np.r_[cfg.pos_high_m, [np.pi] * 3, 1.0]
    elif cfg.mode == "ee_delta":
        low, high = -np.ones(7), np.ones(7)
    else:
        low = np.r_[robot.q_low.numpy(), -1.0]
        high = np.r_[robot.q_high.numpy(), 1.0]
    A = ACTION_DIMS[cfg.mode]
    shape = (cfg.chunk, A) if cfg.chunk > 1 else (A,)
    low = np.broadcast_to(low, shape).astype(np.float32)
    high = np.broadcast_to(high, shape).astype(np.float32)
    return spaces.Box(low, high, dtype=np.float32)


def check_action(action, space: spaces.Box) -> tuple[np.ndarray, bool]:
    """Validate an action: wrong shape or NaN/inf raise ValueError; out-of-range values are clipped.

    Returns the action as (K, A) float64 and whether anything was clipped."""
    a = np.asarray(action, dtype=np.float64)
    if a.shape != space.shape:
        raise ValueError(f"Action has shape {a.shape}, expected {space.shape} "
                         f"(action_chunk={space.shape[0] if len(space.shape) == 2 else 1}, "
                         f"{space.shape[-1]} values per step).")
    if not np.all(np.isfinite(a)):
        bad = np.argwhere(~np.isfinite(a)).tolist()
        raise ValueError(f"Action contains NaN or inf at index {bad}; actions must be finite.")
    clipped = np.clip(a, space.low, space.high)
    return clipped.reshape(-1, space.shape[-1]), bool(np.any(clipped != a))


def pose_to_matrix(pos, axis_angle) -> torch.Tensor:
    T = torch.eye(4)
    T[:3, :3] = axis_angle_to_matrix(torch.as_tensor(axis_angle, dtype=torch.float32))
    T[:3, 3] = torch.as_tensor(pos, dtype=torch.float32)
    return T


class Commander:
    """Holds the commanded robot state of one env and turns one control-step action into joint targets."""

    def __init__(self, robot: RobotModel, cfg: ActionConfig, gripper: GripperModel | None = None):
        self.robot, self.cfg = robot, cfg
        self.gripper = gripper or GripperModel(finger_open_m=robot.config.finger_open_m)
        self.q_cmd = robot.home_q.clone()
        self.T_target = robot.fk(self.q_cmd[None])[0]
        self.generator = torch.Generator()        # IK restarts: seeded per episode for determinism

    def reset(self, q_arm: np.ndarray, gripper_state: float = -1.0, finger_m: float | None = None,
              seed: int = 0) -> None:
        self.generator.manual_seed(seed)
        self.q_cmd = torch.as_tensor(q_arm, dtype=torch.float32).clone()
        self.T_target = self.robot.fk(self.q_cmd[None])[0]
        self.gripper.reset(gripper_state, finger_m)

    def step(self, a: np.ndarray) -> dict:
        """One control step from a validated (A,) action. Updates and returns the commanded state."""
        return step_commanders([self], [a])[0]

    def _target(self, a: np.ndarray, info: dict) -> torch.Tensor | None:
        """The TCP target (4, 4) base frame of an end-effector action (clamped to the workspace);
        joint_pos actions are applied here and give None."""
        mode = self.cfg.mode
        if mode == "joint_pos":
            q = torch.clamp(torch.as_tensor(a[:7], dtype=torch.float32), self.robot.q_low, self.robot.q_high)
            self.q_cmd = self._rate_limit(q, info)
            self.T_target = self.robot.fk(q[None])[0]
            return None
        if mode == "ee_abs":
            T = pose_to_matrix(a[:3], a[3:6])
        else:
            T = self.T_target.clone()
            T[:3, 3] += torch.as_tensor(a[:3] * self.cfg.delta_pos_scale_m, dtype=torch.float32)
            dR = axis_angle_to_matrix(torch.as_tensor(a[3:6] * self.cfg.delta_rot_scale_rad, dtype=torch.float32))
            T[:3, :3] = dR @ T[:3, :3]
        lo, hi = torch.tensor(self.cfg.pos_low_m), torch.tensor(self.cfg.pos_high_m)
        clamped = torch.clamp(T[:3, 3], lo, hi)
        info["target_clipped"] = bool((clamped != T[:3, 3]).any())
        T[:3, 3] = clamped
        return T

    def _apply_ik(self, T: torch.Tensor, res: IKResult, info: dict) -> None:
        self.q_cmd = self._rate_limit(res.q[0], info)
        info["ik_unreachable"] = not bool(res.converged[0])
        info["ik_pos_err_m"] = float(res.pos_err_m[0])
        info["ik_rot_err_rad"] = float(res.rot_err_rad[0])
        # Unreachable: keep the pose actually reached, so deltas do not wind up beyond reach.
        self.T_target = T if not info["ik_unreachable"] else self.robot.fk(self.q_cmd[None])[0]

    def _rate_limit(self, q: torch.Tensor, info: dict) -> torch.Tensor:
        """Joint targets move at most the URDF velocity limit per control step (real arms can't jump)."""
        step = self.robot.qd_max * self.cfg.control_dt_s
        dq = torch.clamp(q - self.q_cmd, -step, step)
        info["rate_limited"] = bool((dq != q - self.q_cmd).any())
        return self.q_cmd + dq

    @property
    def finger_m(self) -> float:
        return self.gripper.finger_m


def step_commanders(commanders: list[Commander], actions: list[np.ndarray]) -> list[dict]:
    """One control step of several commanders (one per env) with a single batched IK solve.

    Each target's solve, restarts included (drawn from its env's own generator), is independent of
    the rest of the batch, so a batch gives each env what it alone would get."""
    infos = [{"ik_unreachable": False, "target_clipped": False} for _ in commanders]
    targets = [c._target(a, i) for c, a, i in zip(commanders, actions, infos)]
    rows = [k for k, T in enumerate(targets) if T is not None]
    if rows:
        robot = commanders[0].robot
        T = torch.stack([targets[k] for k in rows])
        q0 = torch.stack([commanders[k].q_cmd for k in rows])
        res = robot.ik(T, q0, generator=[commanders[k].generator for k in rows])
        for j, k in enumerate(rows):
            commanders[k]._apply_ik(targets[k], res.row(j), infos[k])
    for c, a, info in zip(commanders, actions, infos):
        c.gripper.step(float(a[-1]))
        info["gripper_cmd"] = float(a[-1])
    return infos
