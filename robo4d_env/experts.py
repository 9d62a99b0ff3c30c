"""Scripted experts: privileged pick / place waypoint followers emitting ``ee_abs`` actions.

They read object poses from the simulator (they are data generators, not policies under test)
and command the TCP in the robot base frame with a speed limit, so the kinematic robot and the
simulated robot stay aligned.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

OPEN, CLOSED = -1.0, 1.0


@dataclass
class ExpertConfig:
    max_step_m: float = 0.012          # TCP speed limit per control step (0.24 m/s at 20 Hz)
    max_yaw_step_rad: float = 0.15
    hover_m: float = 0.10              # approach height above the grasp point
    lift_m: float = 0.15
    grasp_depth_m: float = 0.0         # TCP height relative to the object's centre at grasp
    close_steps: int = 8               # robosuite's gripper takes ~8 control steps to close
    settle_steps: int = 3
    reach_tol_m: float = 0.006


def _top_down(yaw: float) -> np.ndarray:
    """TCP rotation pointing straight down (tool z = -z of the base), rotated by yaw."""
    return Rotation.from_euler("z", yaw).as_matrix() @ np.diag([1.0, -1.0, -1.0])


def _yaw_of(quat_wxyz: np.ndarray, symmetry_rad: float) -> float:
    yaw = Rotation.from_quat(np.r_[quat_wxyz[1:], quat_wxyz[0]]).as_euler("xyz")[2]
    return float((yaw + symmetry_rad / 2) % symmetry_rad - symmetry_rad / 2)


class ScriptedExpert:
    """Phase machine over waypoints. Subclasses define ``plan()``: a list of (name, pos_world, gripper, hold)."""

    symmetry_rad = np.pi / 2           # cube-like grasp symmetry

    def __init__(self, env, config: ExpertConfig | None = None):
        self.env = env.unwrapped
        self.cfg = config or ExpertConfig()
        if self.env.action_cfg.mode != "ee_abs":
            raise ValueError("Scripted experts emit ee_abs actions: make the env with action_mode='ee_abs'.")

    def reset(self) -> None:
        T = self.env.T_world_base
        self.T_base_world = np.linalg.inv(T)
        T0 = self.env.robot.fk(self.env.commander.q_cmd[None])[0].numpy()
        self.pos = T0[:3, 3].copy()                 # commanded TCP position, base frame
        self.yaw = float(Rotation.from_matrix(T0[:3, :3] @ np.diag([1.0, -1.0, -1.0])).as_euler("xyz")[2])
        self.grip = OPEN
        self.phase, self.hold = 0, 0
        self.waypoints = self.plan()

    def to_base(self, p_world) -> np.ndarray:
        return (self.T_base_world @ np.r_[p_world, 1.0])[:3]

    def objects(self) -> dict:
        return self.env.backend.object_poses()

    def plan(self) -> list:
        raise NotImplementedError

    def act(self, obs=None) -> np.ndarray:
        """Next ee_abs action (7,) float32: TCP position + axis-angle in the base frame, gripper."""
        if self.phase < len(self.waypoints):
            name, target, grip, hold, yaw = self.waypoints[self.phase]
            target = self.to_base(target() if callable(target) else target)
            step = target - self.pos
            dist = np.linalg.norm(step)
            self.pos = self.pos + step * min(1.0, self.cfg.max_step_m / max(dist, 1e-9))
            dyaw = np.clip(yaw - self.yaw, -self.cfg.max_yaw_step_rad, self.cfg.max_yaw_step_rad)
            self.yaw += dyaw
            self.grip = grip
            if dist <= self.cfg.reach_tol_m and abs(yaw - self.yaw) < 1e-3:
                self.hold += 1
                if self.hold >= hold:
                    self.phase, self.hold = self.phase + 1, 0
        rotvec = Rotation.from_matrix(_top_down(self.yaw)).as_rotvec()
        return np.r_[self.pos, rotvec, self.grip].astype(np.float32)

    # -- shared pick and place plans --------------------------------------------------------
    def _pick(self, obj: str, yaw: float) -> list:
        c = self.cfg
        p0 = self.objects()[obj][0]
        above = p0 + [0, 0, c.hover_m]
        grasp = p0 + [0, 0, c.grasp_depth_m]
        return [("approach", above, OPEN, 1, yaw),
                ("descend", grasp, OPEN, c.settle_steps, yaw),
                ("close", grasp, CLOSED, c.close_steps, yaw),
                ("lift", grasp + [0, 0, c.lift_m], CLOSED, c.settle_steps, yaw)]

    def _place(self, over_m: np.ndarray, release_z_m: float, yaw: float) -> list:
        c = self.cfg
        over = np.r_[over_m[:2], release_z_m + c.hover_m]
        release = np.r_[over_m[:2], release_z_m]
        return [("carry", over, CLOSED, 1, yaw),
                ("lower", release, CLOSED, c.settle_steps, yaw),
                ("release", release, OPEN, c.close_steps, yaw),
                ("retreat", release + [0, 0, c.hover_m], OPEN, 1000, yaw)]


class LiftExpert(ScriptedExpert):
    def plan(self):
        name, (p, q) = next(iter(self.objects().items()))
        return self._pick(name, _yaw_of(q, self.symmetry_rad)) + [
            ("hold", p + [0, 0, self.cfg.lift_m + 0.05], CLOSED, 1000, _yaw_of(q, self.symmetry_rad))]


class StackExpert(ScriptedExpert):
    cube_half_a_m = 0.02
    cube_half_b_m = 0.025

    def plan(self):
        objs = self.objects()
        (na, (pa, qa)), (_, (pb, qb)) = list(objs.items())[:2]
        yaw_a, yaw_b = _yaw_of(qa, self.symmetry_rad), _yaw_of(qb, self.symmetry_rad)
        # Release with cube A's bottom a few mm above cube B's top.
        release_z = pb[2] + self.cube_half_b_m + self.cube_half_a_m + 0.012
        return self._pick(na, yaw_a) + self._place(pb, release_z, yaw_b)


class PickPlaceCanExpert(ScriptedExpert):
    symmetry_rad = np.pi          # a cylinder: any yaw grasps; keep the nearest
    release_margin_m = 0.03       # stay this far inside the accepted quadrant

    def plan(self):
        env = self.env.backend.env
        name, (p, q) = next(iter(self.objects().items()))
        target = np.asarray(env.target_bin_placements[env.object_to_id[name.lower()]], dtype=float)
        # Release inside the target quadrant but on its side nearest the robot: the far corners of
        # the bin are at the edge of the Panda's reach. robosuite accepts +-bin_size/4 around it.
        base = self.env.T_world_base[:3, 3]
        margin = np.asarray(env.bin_size[:2]) / 4.0 - self.release_margin_m
        release_xy = target[:2] - np.sign(target[:2] - base[:2]) * np.minimum(np.abs(target[:2] - base[:2]), margin)
        return self._pick(name, 0.0) + self._place(np.r_[release_xy, 0.0], target[2] + 0.10, 0.0)


EXPERTS = {"lift": LiftExpert, "stack": StackExpert, "pick_place_can": PickPlaceCanExpert}


def make_expert(env, config: ExpertConfig | None = None) -> ScriptedExpert:
    task = env.unwrapped.task.name
    if task not in EXPERTS:
        raise ValueError(f"No scripted expert for task '{task}'. Known: {sorted(EXPERTS)}")
    return EXPERTS[task](env, config)


def rollout_expert(env, seed: int, expert: ScriptedExpert | None = None, on_step=None) -> dict:
    """Run one expert episode; returns {'success', 'steps', 'actions' (T, 7)}.

    ``on_step(obs, action, info)`` is called after every env step (for recording)."""
    obs, info = env.reset(seed=seed)
    expert = expert or make_expert(env)
    expert.reset()
    actions, done, success = [], False, False
    while not done:
        a = expert.act(obs)
        obs, _, term, trunc, info = env.step(a)
        actions.append(a)
        success = bool(info["is_success"])
        if on_step is not None:
            on_step(obs, a, info)
        done = term or trunc
    return {"success": success, "steps": len(actions), "actions": np.asarray(actions)}
