"""Robo4DSim-v0: the ground-truth simulator (robosuite Panda) with 4D observations."""
from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

from robo4d_env.cameras import (Camera, CameraSpec, ShellSampling, jitter_spec, make_camera,
                                sample_shell_cameras)
from robo4d_env.envs.control import ActionConfig, Commander, action_space, check_action
from robo4d_env.envs.observation import observation_space, proprio_vector, stack_frames
from robo4d_env.envs.randomization import RandomizationConfig, SceneRandomizer
from robo4d_env.envs.robosuite_backend import ControllerConfig, RobosuiteBackend
from robo4d_env.envs.tasks import get_task
from robo4d_env.kinematics import RobotConfig, RobotModel
from robo4d_env.projection import RobotPointmapConfig, RobotPointmapRenderer, unproject_depth


@dataclass
class SimEnvConfig:
    task: str = "lift"
    action_mode: str = "ee_delta"
    action_chunk: int = 1
    resolution: int = 64                         # square images, pixels
    cameras: tuple[CameraSpec, ...] = ()         # extra cameras at given poses -> obs["views"]
    n_shell_cameras: int = 0                     # extra cameras sampled on the Robo4DGen shell
    shell: ShellSampling = field(default_factory=ShellSampling)
    horizon: int | None = None                   # control steps before truncation; None: the task's
                                                 # (gym.make's max_episode_steps counts env steps instead)
    terminate_on_success: bool = True            # False: run to the horizon (long clips for drift benchmarks)
    # "commanded" arm and fingers; "measured" both; "measured_fingers": commanded arm, measured fingers. A
    # grasp shows only in the measured fingers (stopped by the object), so world models train on that one
    # and Kinema4D-v0 stops its fingers on the generated object (``envs/grasp.py``).
    robot_pointmap_from: str = "commanded"
    sim_robot_segmentation: bool = False         # also render the simulator's robot mask into info
    render_observations: bool = True             # False: images are left zero (fast physics-only rollouts)
    render_mode: str | None = None
    randomization: RandomizationConfig | None = None   # None: the task's default scene
    robot: RobotConfig = field(default_factory=RobotConfig)
    pointmap: RobotPointmapConfig = field(default_factory=RobotPointmapConfig)
    controller: ControllerConfig = field(default_factory=ControllerConfig)


ROBOT_POINTMAP_SOURCES = ("commanded", "measured", "measured_fingers")


class Robo4DSimEnv(gym.Env):
    """Observation: rgb, pointmap, valid, robot_pointmap, robot_mask, proprio (+ views). See DESIGN.md."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, config: SimEnvConfig | None = None, **kwargs):
        cfg = self.config = config or SimEnvConfig(**kwargs)
        if cfg.robot_pointmap_from not in ROBOT_POINTMAP_SOURCES:
            raise ValueError(f"robot_pointmap_from must be one of {ROBOT_POINTMAP_SOURCES}, "
                             f"got {cfg.robot_pointmap_from!r}")
        if cfg.render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {cfg.render_mode!r}")
        self.task = get_task(cfg.task)
        self.render_mode = cfg.render_mode
        self.horizon = cfg.horizon or self.task.horizon_steps
        self.metadata = dict(self.metadata, render_fps=self.task.control_freq_hz)
        res = cfg.resolution
        self.robot = RobotModel(cfg.robot)
        self.pointmap_renderer = RobotPointmapRenderer(self.robot, cfg.pointmap)
        self.backend = RobosuiteBackend(self.task, res, res, cfg.controller)
        specs = [self.task.workspace_camera, *cfg.cameras]
        specs += sample_shell_cameras(cfg.n_shell_cameras, self.task.table_center_m,
                                      np.random.default_rng(0), cfg.shell)
        self.camera_specs = specs
        self.cameras: dict[str, Camera] = {s.name: make_camera(s, res, res) for s in specs}
        if len(self.cameras) != len(specs):
            raise ValueError(f"camera names must be unique, got {[s.name for s in specs]}")
        self.randomizer = SceneRandomizer(self.backend.model, list(self.backend.object_poses()) or [])
        self.main_camera = self.task.workspace_camera.name
        self.action_cfg = ActionConfig(mode=cfg.action_mode, chunk=cfg.action_chunk,
                                       control_dt_s=1.0 / self.task.control_freq_hz)
        self.action_space = action_space(self.action_cfg, self.robot)
        self.observation_space = observation_space(res, res, list(self.cameras)[1:])
        self.commander = Commander(self.robot, self.action_cfg)
        self._t = 0
        self._last_obs = None

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.backend.reset(int(self.np_random.integers(2**31)))
        self.scene_params = self._randomize()
        self.T_world_base = self.backend.T_world_base
        self.commander.reset(self.backend.joint_pos(), self.backend.gripper_state(),
                            float(self.backend.finger_qpos()[0]), seed=int(self.np_random.integers(2**31)))
        self._t = 0
        obs, extra = self._observe()
        self._last_obs = obs
        return obs, {"is_success": self.backend.success(), **extra, **self.camera_info(),
                     "scene": self.scene_params}

    def step(self, action):
        if self._last_obs is None:
            raise gym.error.ResetNeeded("Cannot call step() before reset().")
        actions, clipped = check_action(action, self.action_space)
        frames, extras, infos = [], [], []
        success = False
        for a in actions:
            cinfo = self.commander.step(a)
            self.backend.apply(self.commander.q_cmd.numpy(), float(a[-1]))
            self._t += 1
            obs, extra = self._observe()
            frames.append(obs)
            extras.append(extra)
            infos.append(cinfo)
            success = self.backend.success()     # the state after this control step
            if success and self.config.terminate_on_success:
                break
        self._last_obs = frames[-1]
        terminated = success and self.config.terminate_on_success
        truncated = self._t >= self.horizon and not terminated
        info = {
            "is_success": success,
            "action_clipped": clipped,
            "ik_unreachable": any(i["ik_unreachable"] for i in infos),
            "target_clipped": any(i["target_clipped"] for i in infos),
            "frames": stack_frames(frames),
            **stack_frames(extras),
            "control_steps": len(frames),
        }
        return frames[-1], float(success), terminated, truncated, info

    def render(self):
        if self.render_mode != "rgb_array" or self._last_obs is None:
            return None
        from robo4d_env.video import compose_frame
        return compose_frame(self._last_obs)

    def close(self):
        self.backend.close()

    def _randomize(self) -> dict:
        cfg = self.config.randomization
        if cfg is None:
            return {}
        applied = self.randomizer.apply(cfg, self.np_random)
        if cfg.camera_jitter_m > 0:
            res = self.config.resolution
            self.cameras = {s.name: make_camera(jitter_spec(s, self.np_random, cfg.camera_jitter_m), res, res)
                            for s in self.camera_specs}
        return applied

    # ------------------------------------------------------------------ observation
    def camera_info(self) -> dict:
        """K (3, 3) and T_world_cam (4, 4, OpenCV) of every camera, and the robot base pose."""
        return {"cameras": {n: {"K": c.K.copy(), "T_world_cam": c.T_world_cam.copy()}
                            for n, c in self.cameras.items()},
                "T_world_base": self.T_world_base.copy()}

    def _robot_state(self) -> tuple[torch.Tensor, torch.Tensor]:
        source = self.config.robot_pointmap_from
        q = self.commander.q_cmd if source != "measured" else \
            torch.as_tensor(self.backend.joint_pos(), dtype=torch.float32)
        finger = self.commander.finger_m if source == "commanded" else float(self.backend.finger_qpos()[0])
        return q, torch.tensor(finger)

    def _observe(self) -> tuple[dict, dict]:
        if not self.config.render_observations:
            obs = _zeros(self.observation_space)
            obs["proprio"] = proprio_vector(self.robot, self.backend.joint_pos(), self.backend.finger_qpos())
            return obs, {}
        q, finger = self._robot_state()
        cams = list(self.cameras.values())
        T_cam_base = torch.as_tensor(np.stack([c.T_cam_world @ self.T_world_base for c in cams]))
        K = torch.as_tensor(np.stack([c.K for c in cams]))
        n = len(cams)
        rpm, rmask = self.pointmap_renderer.render(q.expand(n, 7), finger.expand(n), T_cam_base, K,
                                                   cams[0].height, cams[0].width)
        views, extra = {}, {}
        for i, cam in enumerate(cams):
            r = self.backend.render(cam, segmentation=self.config.sim_robot_segmentation)
            views[cam.name] = {"rgb": r["rgb"], "pointmap": unproject_depth(r["depth"], cam.K),
                               "valid": r["valid"], "robot_pointmap": rpm[i].numpy(),
                               "robot_mask": rmask[i].numpy()}
            if "robot_seg" in r:
                extra.setdefault("sim_robot_mask", {})[cam.name] = r["robot_seg"]
        obs = dict(views.pop(self.main_camera))
        obs["proprio"] = proprio_vector(self.robot, self.backend.joint_pos(), self.backend.finger_qpos())
        if views:
            obs["views"] = views
        return obs, extra


def _zeros(space: gym.spaces.Space):
    if isinstance(space, gym.spaces.Dict):
        return {k: _zeros(v) for k, v in space.spaces.items()}
    return np.zeros(space.shape, dtype=space.dtype)
