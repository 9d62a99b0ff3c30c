"""Kinema4D-v0: the generative simulator. Kinematics is exact; the world's reaction is generated.

One step: actions -> commanded targets (control.py) -> IK -> robot pointmaps (projection.py) ->
world model (world_model/) -> next RGB + world pointmap -> success detectors (success.py).
Spaces and the observation dict are those of Robo4DSim-v0 (DESIGN.md), so a policy runs unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from robo4d_env.envs import initial_frames
from robo4d_env.envs.control import ActionConfig, Commander, action_space, check_action, step_commanders
from robo4d_env.envs.grasp import GraspConfig, SceneMemory, stop_on_scene
from robo4d_env.envs.observation import observation_space, proprio_vector, proprio_vectors, stack_frames
from robo4d_env.envs.tasks import get_task
from robo4d_env.kinematics import RobotConfig, RobotModel
from robo4d_env.projection import RobotPointmapConfig, RobotPointmapRenderer, transform_points
from robo4d_env.success import DetectorConfig, SuccessTracker

ASSETS = Path(__file__).resolve().parents[2] / "assets"
INIT_SOURCES = ("sim", "dataset", "image")


@dataclass
class GenEnvConfig:
    task: str = "lift"
    action_mode: str = "ee_delta"
    action_chunk: int = 1
    resolution: int = 64
    checkpoint: str | None = None            # None: assets/world_model/<task>
    init_source: str = "sim"                 # sim | dataset | image (reset(options={"frame": ...}))
    dataset: str | None = None               # shards for init_source="dataset"
    horizon: int | None = None               # control steps before truncation; None: the task's
                                             # (gym.make's max_episode_steps counts env steps instead)
    history_frames: int = 16                 # generated frames kept as context candidates (+ frame 0)
    num_inference_steps: int | None = None   # None: the checkpoint's own setting
    guidance_scale: float | None = None
    residual_decoding: bool | None = None    # None: the checkpoint's (WorldModelConfig.residual_decoding)
    contact_radius_m: float | None = None     # None: the checkpoint's; < 0: generate every pixel
    robot_points_from_kinematics: bool | None = None   # None: the checkpoint's
    snap_to_camera_rays: bool | None = None  # None: the checkpoint's (generated points onto their pixel rays)
    refine_robot: bool | None = None         # None: on when the checkpoint has a robot refiner (robot_refiner/)
    ghost_tolerance_m: float | None = None   # None: the checkpoint's (arm ghosts out of the world pointmap); < 0: off
    grasp_contact: bool | None = None        # stop the fingers on the generated object (envs/grasp.py); None: when
                                             # the checkpoint learned measured fingers (WorldModelConfig.robot_fingers)
    grasp_scene_tolerance_m: float | None = None   # None: the checkpoint's; < 0: every generated point counts
    grasp: GraspConfig = field(default_factory=GraspConfig)
    render_mode: str | None = None
    device: str = "cpu"                      # the world model and the robot renderer ("cuda" on a GPU)
    robot: RobotConfig = field(default_factory=RobotConfig)
    pointmap: RobotPointmapConfig = field(default_factory=RobotPointmapConfig)
    detector: DetectorConfig | None = None   # None: the task's (success.detector_config)


def default_checkpoint(task: str) -> Path:
    return ASSETS / "world_model" / task


class Kinema4DEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, config: GenEnvConfig | None = None, world_model=None, share_with: "Kinema4DEnv | None" = None,
                 **kwargs):
        cfg = self.config = config or GenEnvConfig(**kwargs)
        if cfg.init_source not in INIT_SOURCES:
            raise ValueError(f"init_source must be one of {INIT_SOURCES}, got {cfg.init_source!r}")
        if cfg.init_source == "dataset" and not cfg.dataset:
            raise ValueError("init_source='dataset' needs dataset=<shard file or directory>")
        self.task = get_task(cfg.task)
        self.render_mode = cfg.render_mode
        self.horizon = cfg.horizon or self.task.horizon_steps
        if share_with is not None:      # vector envs: one world model, robot and renderer for all
            world_model = share_with.model
            self.robot, self.pointmap_renderer = share_with.robot, share_with.pointmap_renderer
        else:
            self.robot = RobotModel(cfg.robot)
            self.pointmap_renderer = RobotPointmapRenderer(self.robot, cfg.pointmap, device=cfg.device)
        self.model = world_model if world_model is not None else self._load_model()
        self.action_cfg = ActionConfig(mode=cfg.action_mode, chunk=cfg.action_chunk,
                                       control_dt_s=1.0 / self.task.control_freq_hz)
        self.action_space = action_space(self.action_cfg, self.robot)
        self.observation_space = observation_space(cfg.resolution, cfg.resolution, [])
        self.commander = Commander(self.robot, self.action_cfg)
        self.grasp_contact = cfg.grasp_contact if cfg.grasp_contact is not None else \
            self.model.wm.robot_fingers == "measured"
        self._scene: SceneMemory | None = None
        tol = cfg.grasp_scene_tolerance_m if cfg.grasp_scene_tolerance_m is not None else \
            self.model.wm.grasp_scene_tolerance_m
        if tol is not None and not np.isfinite(tol):
            raise ValueError(f"grasp_scene_tolerance_m must be a distance in metres (>= 0), negative for every "
                             f"generated point, or None for the checkpoint's; got {tol}")
        self._scene_tolerance_m = None if tol is None or tol < 0 else float(tol)
        self.success_tracker = SuccessTracker(cfg.task, cfg.detector)
        self._sim = None
        self._generator = torch.Generator()
        self._history: list[dict] | None = None
        self._done = False

    def _load_model(self):
        from robo4d_env.world_model.modeling_world_model import load_world_model
        path = Path(self.config.checkpoint) if self.config.checkpoint else default_checkpoint(self.config.task)
        model = load_world_model(path, height=self.config.resolution, width=self.config.resolution)
        if not model.wm.predict_pointmap or model.wm.robot_condition != "pointmap":
            raise ValueError(f"{path} is a benchmark ablation (robot_condition={model.wm.robot_condition!r}, "
                             f"predict_pointmap={model.wm.predict_pointmap}); Kinema4D-v0 needs the 4D model "
                             f"conditioned on robot pointmaps: robo4d train --variant kinema4d ...")
        return model.to(self.config.device).eval()

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        ep_seed = int(self.np_random.integers(2**31))
        self._generator.manual_seed(ep_seed)
        # The user's seed, when given, seeds the simulator too: Kinema4D-v0 and Robo4DSim-v0 reset with
        # the same seed then start from the same scene (the policy-evaluation protocol needs this).
        frame = self._initial_frame(seed if seed is not None else ep_seed, options or {})
        self.K, self.T_world_cam = frame["K"], frame["T_world_cam"]
        self.T_world_base = frame["T_world_base"]
        self.T_cam_base = np.linalg.inv(self.T_world_cam) @ self.T_world_base
        self.commander.reset(frame["q_arm"], frame["gripper_state"], frame["finger_m"], seed=ep_seed)
        rpm, rmask = self._robot_pointmaps([self.commander.q_cmd], [self.commander.finger_m])
        first = {"rgb": frame["rgb"], "pointmap": frame["pointmap"], "valid": frame["valid"],
                 "robot_pointmap": rpm[0], "robot_mask": rmask[0]}
        self._history, self._t, self._done = [first], 0, False
        if self.grasp_contact:           # the scene the closing fingers may meet
            self._scene = SceneMemory(self._to_world(first["pointmap"], first["valid"]).numpy(), first["valid"],
                                      first["robot_mask"], self._scene_tolerance_m)
        self.success_tracker.reset(reference={**first, "T_world_cam": self.T_world_cam})
        obs = self._obs(first)
        return obs, {"is_success": False, "cameras": {"main": {"K": self.K.copy(),
                                                                "T_world_cam": self.T_world_cam.copy()}},
                     "T_world_base": self.T_world_base.copy()}

    def step(self, action):
        plan = self.plan_step(action)
        rpm, rmask = self._robot_pointmaps(plan["qs"], plan["fingers"])
        frames = generate_frames([self], [rpm], [rmask], [plan["tcp_world"]])[0]
        return self.finish_step(plan, frames)

    def plan_step(self, action) -> dict:
        """Kinematics of one step: validated actions -> commanded joints and fingers per control step."""
        return plan_steps([self], [action])[0]

    def finish_step(self, plan: dict, frames: list[dict]):
        """Success detection on the generated frames, history update, and the gym step tuple."""
        qs, fingers, cinfos = plan["qs"], plan["fingers"], plan["cinfos"]
        success, kept = False, []
        T_tcp, tcp = plan["T_tcp"], plan["tcp_world"]
        for i, fr in enumerate(frames):
            kept.append(fr)
            if self.grasp_contact:
                world = self._to_world(fr["pointmap"], fr["valid"]).numpy()
                self._scene.update(world, fr["valid"], fr["robot_mask"])
            self._t += 1
            success = self.success_tracker.update({**fr, "T_world_cam": self.T_world_cam, "finger_m": fingers[i],
                                                   "tcp_world": tcp[i]})
            if success:
                break
        self._history = [self._history[0]] + (self._history[1:] + kept)[-self.config.history_frames:]
        truncated = self._t >= self.horizon and not success
        self._done = success or truncated
        n = len(kept)
        proprio = proprio_vectors(self.robot, torch.stack(qs[:n]).numpy(),
                                  np.array([[g, -g] for g in fingers[:n]], dtype=np.float32), T_tcp[:n])
        obs_frames = [self._obs(f, proprio=p) for f, p in zip(kept, proprio)]
        info = {"is_success": success, "action_clipped": plan["clipped"],
                "ik_unreachable": any(c["ik_unreachable"] for c in cinfos),
                "target_clipped": any(c["target_clipped"] for c in cinfos),
                "frames": stack_frames(obs_frames), "control_steps": len(kept)}
        return obs_frames[-1], float(success), success, truncated, info

    def render(self):
        if self.render_mode != "rgb_array" or self._history is None:
            return None
        from robo4d_env.video import compose_frame
        return compose_frame(self._history[-1])

    def close(self):
        if self._sim is not None:
            self._sim.close()

    # ------------------------------------------------------------------ internals
    def _initial_frame(self, seed: int, options: dict) -> dict:
        if "frame" in options:          # a user's image (initial_frames.from_user_image) or any frame dict
            return options["frame"]
        if self.config.init_source == "image":
            raise ValueError("init_source='image': pass reset(options={'frame': initial_frames.from_user_image(...)})")
        if self.config.init_source == "dataset":
            return initial_frames.from_dataset(self.config.dataset, seed)
        if self._sim is None:
            self._sim = gym.make("Robo4DSim-v0", task=self.config.task, resolution=self.config.resolution,
                                 action_mode=self.config.action_mode, robot=self.config.robot,
                                 pointmap=self.config.pointmap)
        return initial_frames.from_simulator(self._sim, seed)

    def _robot_pointmaps(self, qs: list, fingers: list) -> tuple[np.ndarray, np.ndarray]:
        """Camera-frame robot pointmaps (T, H, W, 3) and masks (T, H, W) of commanded states."""
        n, res = len(qs), self.config.resolution
        pm, mask = self.pointmap_renderer.render(
            torch.stack(qs), torch.tensor(fingers, dtype=torch.float32),
            torch.as_tensor(self.T_cam_base).expand(n, 4, 4), torch.as_tensor(self.K).expand(n, 3, 3), res, res)
        return pm.numpy(), mask.numpy()

    def check_grasp(self, reach_m: float) -> None:
        """After a control step that closed the fingers from ``reach_m``: stop them where they meet an
        object of the world the env remembers (``envs/grasp.py``). They stay there until the gripper opens."""
        gripper = self.commander.gripper
        if not self.grasp_contact or gripper.stop_m is not None or gripper.finger_m >= reach_m:
            return                       # nothing to decide: spares the FK
        T_world_tcp = np.asarray(self.T_world_base, np.float64) @ \
            self.robot.fk(self.commander.q_cmd[None])[0].double().numpy()
        stop_on_scene(gripper, self._scene, T_world_tcp, reach_m, self.task.table_center_m[2], self.config.grasp)

    def _to_world(self, pm_cam: np.ndarray, mask: np.ndarray) -> torch.Tensor:
        T = torch.as_tensor(self.T_world_cam, dtype=torch.float32)
        p = transform_points(T, torch.as_tensor(pm_cam).reshape(-1, pm_cam.shape[-2] * pm_cam.shape[-3], 3))
        p = p.reshape(pm_cam.shape)
        return torch.where(torch.as_tensor(mask)[..., None], p, torch.zeros_like(p))

    def _obs(self, frame: dict, proprio: np.ndarray | None = None) -> dict:
        """Observation of a frame; ``proprio`` (16,): the commander's current state when None."""
        obs = {k: np.array(frame[k]) for k in ("rgb", "pointmap", "valid", "robot_pointmap", "robot_mask")}
        if proprio is None:
            finger = self.commander.finger_m
            proprio = proprio_vector(self.robot, self.commander.q_cmd.numpy(),
                                     np.array([finger, -finger], dtype=np.float32))
        obs["proprio"] = proprio
        return obs


def _context(env: Kinema4DEnv, length: int) -> dict:
    """The env's history as world-frame tensors, front-padded with frame 0 to ``length`` frames.

    Padding with the memory frame leaves the model's choice of context frames unchanged (it takes
    frame 0 plus the latest ones, repeating frame 0 when fewer exist), so a batch of envs with
    different history lengths generates what each env alone would."""
    h = [env._history[0]] * (length - len(env._history)) + env._history
    c = {k: np.stack([f[k] for f in h]) for k in h[0]}
    return {"context_rgb": torch.as_tensor(c["rgb"]), "context_pointmap": env._to_world(c["pointmap"], c["valid"]),
            "context_valid": torch.as_tensor(c["valid"]),
            "context_robot_pointmap": env._to_world(c["robot_pointmap"], c["robot_mask"]),
            "context_robot_mask": torch.as_tensor(c["robot_mask"])}


def generate_frames(envs: list[Kinema4DEnv], rpms: list[np.ndarray], rmasks: list[np.ndarray],
                    tcps: list[np.ndarray] | None = None) -> list[list[dict]]:
    """One batched world-model call for several envs (same step length): each env's history and
    future robot pointmaps (T, H, W, 3) camera frame -> its T generated frames (camera frame).
    tcps: each env's (T, 3) world-frame tool-centre points (``plan_steps``), for ghost removal."""
    first = envs[0]
    length = max(len(e._history) for e in envs)
    ctx = [_context(e, length) for e in envs]
    batch = {k: torch.stack([c[k] for c in ctx]) for k in ctx[0]}
    out = first.model.rollout(
        **batch, robot_pointmaps=torch.stack([e._to_world(p, m) for e, p, m in zip(envs, rpms, rmasks)]),
        robot_masks=torch.as_tensor(np.stack(rmasks)), generator=[e._generator for e in envs],
        num_steps=first.config.num_inference_steps, guidance_scale=first.config.guidance_scale,
        residual_decoding=first.config.residual_decoding, contact_radius_m=first.config.contact_radius_m,
        robot_points_from_kinematics=first.config.robot_points_from_kinematics,
        camera_K=torch.as_tensor(np.stack([e.K for e in envs]), dtype=torch.float32),
        T_world_cam=torch.as_tensor(np.stack([e.T_world_cam for e in envs]), dtype=torch.float32),
        snap_to_camera_rays=first.config.snap_to_camera_rays, refine_robot=first.config.refine_robot,
        tcp_world=None if tcps is None else torch.as_tensor(np.stack(tcps), dtype=torch.float32),
        ghost_tolerance_m=first.config.ghost_tolerance_m)
    result = []
    for b, env in enumerate(envs):
        T_cw = torch.as_tensor(np.linalg.inv(env.T_world_cam), dtype=torch.float32)
        pm_w = out["pointmap"][b]
        pm = transform_points(T_cw, pm_w.reshape(1, -1, 3)).reshape(pm_w.shape).numpy()
        valid = np.isfinite(pm).all(-1) & (pm[..., 2] > 0)
        result.append([{"rgb": out["rgb"][b, i].numpy(), "pointmap": np.where(valid[i][..., None], pm[i], 0).astype(np.float32),
                        "valid": valid[i], "robot_pointmap": rpms[b][i], "robot_mask": rmasks[b][i]}
                       for i in range(len(rpms[b]))])
    return result


def plan_steps(envs: list[Kinema4DEnv], actions: list) -> list[dict]:
    """Kinematics of one env step for several envs: per control step, one batched IK for all of them.
    Returns per env {"qs", "fingers", "cinfos", "clipped"}, one entry per control step, and "T_tcp" (T, 4, 4)
    base frame and "tcp_world" (T, 3) world metres, the commanded tool-centre points."""
    checked = []
    for env, action in zip(envs, actions):
        if env._history is None:
            raise gym.error.ResetNeeded("Cannot call step() before reset().")
        if env._done:
            raise gym.error.ResetNeeded("The episode has ended (terminated or truncated): call reset().")
        checked.append(check_action(action, env.action_space))
    plans = [{"qs": [], "fingers": [], "cinfos": [], "clipped": clipped} for _, clipped in checked]
    for t in range(len(checked[0][0])):
        reach = [e.commander.finger_m for e in envs]
        infos = step_commanders([e.commander for e in envs], [acts[t] for acts, _ in checked])
        for env, plan, info, reach_m in zip(envs, plans, infos, reach):
            env.check_grasp(reach_m)
            plan["cinfos"].append(info)
            plan["qs"].append(env.commander.q_cmd.clone())
            plan["fingers"].append(env.commander.finger_m)
    for env, plan in zip(envs, plans):
        plan["T_tcp"] = env.robot.fk(torch.stack(plan["qs"]))          # (T, 4, 4) base frame
        plan["tcp_world"] = tcp_world(plan["T_tcp"], env.T_world_base)
    return plans


def tcp_world(T_tcp: torch.Tensor, T_world_base) -> np.ndarray:
    """(T, 3) float32 world-frame tool-centre points of base-frame TCP poses T_tcp (T, 4, 4)."""
    T_wb = np.asarray(T_world_base, dtype=np.float64)
    return (T_tcp[:, :3, 3].double().numpy() @ T_wb[:3, :3].T + T_wb[:3, 3]).astype(np.float32)
